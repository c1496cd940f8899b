"""`mia valuate` on files, its transcript, and `--verify` (including tamper detection)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from mia.cli.commands import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("valuate")
    x, y = load_digits(return_X_y=True)
    np.save(d / "vx.npy", x[1500:1700])
    np.save(d / "vy.npy", y[1500:1700])
    np.save(d / "ax.npy", x[:120])
    np.save(d / "ay.npy", y[:120])
    with open(d / "b.jsonl", "w") as f:
        for i in range(120, 240):
            f.write(json.dumps({"features": x[i].tolist(), "label": int(y[i])}) + "\n")
    (d / "bad.jsonl").write_text('{"features": [1, 2], "label": 1}\n')
    (d / "broken.jsonl").write_text("{not json\n")
    return d


def _args(d, out):
    return [
        "valuate", "--validation", f"{d}/vx.npy:{d}/vy.npy", "--provider", f"A={d}/ax.npy:{d}/ay.npy",
        "--provider", f"B={d}/b.jsonl", "--provider", f"C={d}/bad.jsonl", "--provider", f"D={d}/broken.jsonl",
        "--out", str(out),
    ]  # fmt: skip


def test_valuate_writes_verifiable_transcript(files, tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main([*_args(files, out), "--inline-inputs"]) == 0
    assert "transcript" in capsys.readouterr().out
    t = json.loads(out.read_text())
    reasons = {p["provider_id"]: json.dumps(p) for p in t["providers"]}
    assert "wrong feature dimension 2, expected 64" in reasons["C"]  # bad file: named, scored 0, round goes on
    assert "broken.jsonl" in reasons["D"]
    q = dict(zip(t["fixed_point"]["provider_ids"], t["fixed_point"]["q_wad"], strict=True))
    assert int(q["C"]) == 0 and int(q["D"]) == 0 and int(q["A"]) > 0 and int(q["B"]) > 0
    assert main(["valuate", "--verify", str(out)]) == 0
    assert "transcript verified" in capsys.readouterr().out


def test_verify_detects_tampering(files, tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main([*_args(files, out), "--inline-inputs"]) == 0
    t = json.loads(out.read_text())
    t["fixed_point"]["delta_wad"][0] = str(int(t["fixed_point"]["delta_wad"][0]) + 1)
    out.write_text(json.dumps(t))
    capsys.readouterr()
    assert main(["valuate", "--verify", str(out)]) == 1
    assert "does NOT verify" in capsys.readouterr().out


def test_verify_without_inline_inputs_needs_the_data(files, tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(_args(files, out)) == 0
    t = json.loads(out.read_text())
    assert "inputs" not in t  # providers' data never leaks into a published transcript by default
    capsys.readouterr()
    assert main(["valuate", "--verify", str(out)]) == 1
    assert "pass --validation and --provider" in capsys.readouterr().out
    verify = ["valuate", "--verify", str(out), *_args(files, out)[1:-2]]
    assert main(verify) == 0


def test_unreadable_validation_is_a_clear_error(tmp_path, capsys):
    assert main(["valuate", "--validation", str(tmp_path / "nope.npy"), "--provider", "A=x.npy"]) == 2
    err = capsys.readouterr().err
    assert "validation" in err and "unreadable" in err and "Traceback" not in err


def test_cli_methods_are_registered_estimators():
    from mia.cli.commands import VALUATE_METHODS
    from mia.valuation import ESTIMATORS

    assert set(VALUATE_METHODS) <= set(ESTIMATORS)


def test_unconverged_sampling_is_visible_in_the_output(files, tmp_path, capsys, monkeypatch):
    """A Monte-Carlo run stopped by its sample cap says so on screen, not only in metadata."""
    import functools

    import mia.valuation.api as api

    capped = functools.partial(api.value_providers, max_permutations=8, stderr_tol=None)
    monkeypatch.setattr(api, "value_providers", capped)
    out = tmp_path / "t.json"
    assert main([*_args(files, out), "--method", "mc_shapley"]) == 0
    text = capsys.readouterr().out
    assert "did NOT converge" in text and "max_samples" in text
    monkeypatch.undo()
    assert main([*_args(files, out)]) == 0
    assert "did NOT converge" not in capsys.readouterr().out


def test_record_key_is_private_and_checks_the_commitment(files, tmp_path, capsys):
    """`mia valuate` keeps the record key beside the transcript (owner-only); `--verify`
    uses it to check the per-record commitment, so a wrong key is caught."""
    out = tmp_path / "t.json"
    assert main([*_args(files, out), "--inline-inputs"]) == 0
    key = tmp_path / "t.json.record-key"
    assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
    assert "record_values" not in out.read_text()
    capsys.readouterr()
    assert main(["valuate", "--verify", str(out)]) == 0
    key.write_text("00" * 32 + "\n")
    assert main(["valuate", "--verify", str(out)]) == 1
    assert "record commitment" in capsys.readouterr().out


def test_estimator_options_from_the_command_line(files, tmp_path, capsys):
    """`--option NAME=VALUE` reaches the estimator, is recorded in the transcript (so `--verify` reruns it)
    and a misspelled, mistyped or flag-owned option is one clear line with exit 2."""

    out = tmp_path / "t.json"
    args = [*_args(files, out), "--method", "mc_shapley", "--inline-inputs"]
    assert main([*args, "--option", "max_permutations=8", "--option", "stderr_tol=null"]) == 0
    assert "did NOT converge" in capsys.readouterr().out  # the cap of 8 stopped it, as asked
    params = json.loads(out.read_text())["params"]
    assert params["max_permutations"] == 8 and params["stderr_tol"] is None
    assert main(["valuate", "--verify", str(out)]) == 0
    assert "transcript verified" in capsys.readouterr().out

    for option, message in [
        ("max_permutation=7", "unknown option max_permutation for mc_shapley (did you mean max_permutations?)"),
        ("max_permutations=0", "max_permutations"),
        ("max_permutations=many", "max_permutations"),
        ("k=3", "--option k: set it with --k"),
    ]:
        assert main([*args, "--option", option]) == 2, option
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    with pytest.raises(SystemExit) as exc:  # not NAME=VALUE: argparse's usage error
        main([*args, "--option", "max_permutations"])
    assert exc.value.code == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err
