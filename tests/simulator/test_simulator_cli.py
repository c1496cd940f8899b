"""`mia simulate` end to end at small size, and its errors."""

from __future__ import annotations

import csv
import itertools
import json

from mia.cli.commands import main


def test_simulate_all_writes_tables_and_plots(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", "all", "--size", "small", "--out", str(out), "--quiet", "--model", "knn"]) == 0
    assert "results in" in capsys.readouterr().out
    for name in ("single_round.csv", "providers.csv", "misreport.csv", "misreport_summary.csv", "collusion.csv",
                 "collusion_summary.csv", "sybil.csv", "copying.csv", "repeated.csv", "summary.json",
                 "utility_vs_misreport.png", "active_sellers.png", "cumulative_utility.png",
                 "single_round.png"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 200_000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["size"] == "small" and summary["seed"] == 0
    assert isinstance(summary["repeated"]["crossover_vs_fairshare"]["Exploitative"], int)
    with open(out / "misreport_summary.csv") as f:
        gains = {r["rule"]: int(r["max_gain_wei"]) for r in csv.DictReader(f)}
    assert gains["Q-MIA"] == gains["Mixed-MIA"] == gains["MUT"] == gains["Fairshare"] == 0
    assert gains["First-price"] > 0


def test_single_round_alone_writes_its_plot(tmp_path):
    out = tmp_path / "one"
    assert main(["simulate", "single-round", "--size", "small", "--out", str(out), "--quiet", "--model", "knn"]) == 0
    assert (out / "single_round.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_coinciding_series_stay_distinguishable():
    """Q-MIA, Mixed-MIA and MUT often draw the same line: each series needs its own dashes and marker,
    and a line drawn earlier must be wider than the ones drawn over it."""
    from mia.sim.plots import _style

    n = 8
    styles = [_style(i, n) for i in range(n)]
    assert len({(str(s["ls"]), s["marker"]) for s in styles}) == n
    assert all(a["lw"] > b["lw"] for a, b in itertools.pairwise(styles))


def test_bad_experiment_and_dataset_are_clear_errors(tmp_path, capsys):
    assert main(["simulate", "nonsense", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'nonsense'" in err and "single-round" in err and "Traceback" not in err
    assert main(["simulate", "single-round", "--dataset", "mnist", "--out", str(tmp_path), "--quiet"]) == 2
    assert "unknown dataset 'mnist'" in capsys.readouterr().err
    assert main(["simulate", "single-round", "--size", "huge", "--out", str(tmp_path), "--quiet"]) == 2
    assert "unknown size 'huge'" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["simulate", "repeated", "--out", str(blocker / "sub"), "--quiet"]) == 2
    assert "error" in capsys.readouterr().err
