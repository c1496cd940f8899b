"""Named experiments at two sizes, written as CSV tables, PNG plots and a summary.json.

`run_experiment("strategic", out_dir, size="small")` is what `mia simulate` calls. Sizes: `small`
(seconds; what CI runs) and `full` (the numbers in docs/experiments.md). Seeds are fixed by `seed`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mia.sim.market import MarketConfig, build_market
from mia.sim.plots import plot_active_sellers, plot_cumulative_utility, plot_misreport, plot_single_round
from mia.sim.progress import Progress
from mia.sim.repeated import PRICING_RULES, RepeatedConfig, build_repeated, crossover, run_repeated
from mia.sim.single_round import run_single_round
from mia.sim.strategic import collusion, copying, misreport_sweep, sweep_summary, sybil

__all__ = ["EXPERIMENTS", "SIZES", "ExperimentError", "Sizes", "run_experiment", "write_csv"]


class ExperimentError(ValueError):
    """A request the simulator cannot run (unknown experiment, size, dataset...)."""


@dataclass(frozen=True)
class Sizes:
    market: MarketConfig
    repeated: RepeatedConfig
    sybil_targets: int | None  # first n providers split (None: all)
    copy_pairs: int  # copiers per victim


SIZES = {
    "small": Sizes(MarketConfig(n_providers=5, max_records=260), RepeatedConfig(
        periods=40, n_sellers=6, budgets=(1.5, 0.6), max_records=300, validation_size=100), 1, 1),
    "full": Sizes(MarketConfig(), RepeatedConfig(), None, 3),
}  # fmt: skip


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return path


def _single(sizes: Sizes, out: Path, prog: Progress, model: str) -> dict[str, Any]:
    market = build_market(sizes.market)
    res = run_single_round(market, model=model, progress=prog)
    write_csv(out / "single_round.csv", res.rows)
    write_csv(out / "providers.csv", res.providers)
    plot_single_round(res.rows, out / "single_round.png")
    return {"single_round": res.rows, "budget_tokens": market.budget / 10**18}


def _strategic(sizes: Sizes, out: Path, prog: Progress, model: str) -> dict[str, Any]:
    market = build_market(sizes.market)
    sweep = misreport_sweep(market, progress=prog)
    summary = sweep_summary(sweep)
    write_csv(out / "misreport.csv", sweep)
    write_csv(out / "misreport_summary.csv", summary)
    plot_misreport(sweep, out / "utility_vs_misreport.png")
    coal_rows, coal_summary = collusion(market, progress=prog)
    write_csv(out / "collusion.csv", coal_rows)
    write_csv(out / "collusion_summary.csv", coal_summary)
    n = len(market.providers)
    targets = range(n if sizes.sybil_targets is None else min(n, sizes.sybil_targets))
    syb = sybil(market, targets=list(targets), progress=prog)
    write_csv(out / "sybil.csv", syb)
    victim = max(range(n), key=lambda i: market.scores.weights[i])
    pairs = [(c, victim) for c in [j for j in range(n) if j != victim][: sizes.copy_pairs]]
    cop = copying(market, pairs=pairs, progress=prog)
    write_csv(out / "copying.csv", cop)
    return {"misreport": summary, "collusion": coal_summary,
            "sybil_max_gain_wei": {r: max(x["gain_wei"] for x in syb if x["rule"] == r) for r in dict.fromkeys(
                x["rule"] for x in syb)},
            "copying_max_copier_gain_wei": {r: max(x["copier_gain_wei"] for x in cop if x["rule"] == r)
                                            for r in dict.fromkeys(x["rule"] for x in cop)}}  # fmt: skip


def _repeated(sizes: Sizes, out: Path, prog: Progress, model: str) -> dict[str, Any]:
    market = build_repeated(sizes.repeated)
    res = run_repeated(market, progress=prog)
    write_csv(out / "repeated.csv", res.rows)
    cross = {r: crossover(res.rows, r) for r in PRICING_RULES if r != "Fairshare"}
    plot_active_sellers(res.rows, out / "active_sellers.png")
    plot_cumulative_utility(res.rows, out / "cumulative_utility.png", cross["Exploitative"])
    last = {r["rule"]: r for r in res.rows if r["period"] == sizes.repeated.periods}
    return {"crossover_vs_fairshare": cross, "final": list(last.values())}


EXPERIMENTS: dict[str, Callable[[Sizes, Path, Progress, str], dict[str, Any]]] = {
    "single-round": _single,
    "strategic": _strategic,
    "repeated": _repeated,
}


def run_experiment(
    name: str, out: Path, *, size: str = "small", seed: int = 0, dataset: str | None = None,
    model: str = "logreg", progress: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Run one experiment (or `all`), write its files under `out`, return the summary it wrote."""
    names = list(EXPERIMENTS) if name == "all" else [name]
    if any(n not in EXPERIMENTS for n in names):
        raise ExperimentError(f"unknown experiment {name!r}; choose from {', '.join([*EXPERIMENTS, 'all'])}")
    if size not in SIZES:
        raise ExperimentError(f"unknown size {size!r}; choose from {', '.join(SIZES)}")
    if model not in ("logreg", "knn"):
        raise ExperimentError(f"unknown model {model!r}; choose logreg or knn")
    sizes = SIZES[size]
    market = replace(sizes.market, seed=seed, dataset=dataset or sizes.market.dataset)
    rep = replace(sizes.repeated, seed=seed, dataset=dataset or sizes.repeated.dataset)
    sizes = replace(sizes, market=market, repeated=rep)
    out.mkdir(parents=True, exist_ok=True)
    prog = Progress(enabled=progress)
    summary: dict[str, Any] = {"size": size, "seed": seed, "dataset": market.dataset}
    for n in names:
        try:
            summary[n] = EXPERIMENTS[n](sizes, out, prog, model)
        except ValueError as exc:  # bad dataset name, too few records for the providers, ...
            raise ExperimentError(f"{n}: {exc}") from exc
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary
