"""Matplotlib figures for the experiments (Agg backend: files only, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from mia.sim.market import TOKEN

__all__ = ["plot_active_sellers", "plot_cumulative_utility", "plot_misreport", "plot_single_round"]

_DPI = 90
# Rules often coincide (Q-MIA, Mixed-MIA and MUT share winners and payments): each line gets its own dash
# pattern and marker, and earlier lines are drawn wider, so a line hidden under a later one still shows.
_DASHES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 2)), (0, (8, 2))]
_MARKERS = ["o", "s", "^", "v", "D", "x", "+", "P"]


def _style(i: int, n: int, *, markers: bool = True) -> dict[str, Any]:
    """Line style of the i-th of n series: distinct dashes/markers, width shrinking with drawing order."""
    style: dict[str, Any] = {"ls": _DASHES[i % len(_DASHES)], "lw": 1.0 + 1.6 * (n - 1 - i) / max(n - 1, 1)}
    if markers:
        style |= {"marker": _MARKERS[i % len(_MARKERS)], "ms": 3 + (n - 1 - i) * 0.6, "markevery": 0.1}
    return style


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def plot_misreport(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Left: utility vs bid multiplier of the provider with the largest first-price gain (every rule).
    Right: the largest gain over all providers at each multiplier, as a fraction of that provider's cost."""
    rules = list(dict.fromkeys(r["rule"] for r in rows))
    fp = [r for r in rows if r["rule"] == "First-price"] or list(rows)
    focus = max(fp, key=lambda r: r["gain_wei"])["provider"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for k, rule in enumerate(rules):
        mine = sorted((r for r in rows if r["rule"] == rule and r["provider"] == focus), key=lambda r: r["multiplier"])
        style = _style(k, len(rules))
        a.plot([r["multiplier"] for r in mine], [r["utility_wei"] / TOKEN for r in mine], label=rule, **style)
        ms = sorted({r["multiplier"] for r in rows})
        best = [max(r["gain_wei"] / r["cost_wei"] for r in rows if r["rule"] == rule and r["multiplier"] == m)
                for m in ms]  # fmt: skip
        b.plot(ms, best, label=rule, **style)
    for ax in (a, b):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("bid / true cost")
        ax.axvline(1.0, color="grey", lw=0.8, ls=":")
    a.set_ylabel(f"utility of {focus} (tokens)")
    a.set_title(f"{focus}: utility vs misreport")
    b.set_ylabel("max gain over providers / cost")
    b.set_title("largest unilateral gain")
    b.axhline(0.0, color="grey", lw=0.8)
    b.legend(fontsize=7)
    return _save(fig, path)


def _by_rule(rows: Sequence[dict[str, Any]], key: str) -> dict[str, tuple[list[int], list[float]]]:
    out: dict[str, tuple[list[int], list[float]]] = {}
    for r in rows:
        ts, vs = out.setdefault(r["rule"], ([], []))
        ts.append(r["period"])
        vs.append(r[key])
    return out


def plot_active_sellers(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    series = _by_rule(rows, "active_sellers")
    for k, (rule, (ts, vs)) in enumerate(series.items()):
        ax.step(ts, vs, where="post", label=rule, **_style(k, len(series), markers=False))
    ax.set_xlabel("period")
    ax.set_ylabel("active sellers")
    ax.set_title("Sellers in the market")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_cumulative_utility(rows: Sequence[dict[str, Any]], path: Path, crossover: int | None) -> Path:
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in ((a, "buyer_cumulative_discounted"), (b, "seller_cumulative_profit")):
        series = _by_rule(rows, key)
        for k, (rule, (ts, vs)) in enumerate(series.items()):
            ax.plot(ts, vs, label=rule, **_style(k, len(series)))
    if crossover is not None:
        a.axvline(crossover, color="grey", ls=":", lw=1)
        a.annotate(f"crossover t={crossover}", (crossover, 0), xytext=(4, 8), textcoords="offset points", fontsize=8)
    a.set_xlabel("period")
    a.set_ylabel("tokens")
    a.set_title("Buyers' discounted cumulative utility")
    b.set_xlabel("period")
    b.set_title("Sellers' cumulative profit")
    a.legend(fontsize=8)
    return _save(fig, path)


def plot_single_round(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Left: test-accuracy gain per rule, with buying nothing and all data for free as reference lines.
    Right: accuracy gain per token spent. Rules that bought nothing show an empty bar."""
    rules = [r for r in rows if not r["rule"].startswith("(")]
    refs = {r["rule"]: r["accuracy_gain"] for r in rows if r["rule"].startswith("(")}
    names = [r["rule"] for r in rules]
    colours = ["tab:blue" if r.get("on_chain") else "tab:grey" for r in rules]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.bar(names, [r["accuracy_gain"] for r in rules], color=colours)
    for k, (label, value) in enumerate(refs.items()):
        a.axhline(value, color="black", lw=0.9, ls=_DASHES[(k + 1) % len(_DASHES)], label=label)
    a.set_ylabel("test accuracy gain")
    a.set_title("Accuracy bought (blue: on-chain rules)")
    a.legend(fontsize=7)
    b.bar(names, [r.get("gain_per_token", 0.0) for r in rules], color=colours)
    b.set_ylabel("accuracy gain per token spent")
    b.set_title("Value for money")
    for ax in (a, b):
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    return _save(fig, path)
