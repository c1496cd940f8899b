"""Matplotlib figures for the experiments (Agg backend: files only, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from offchain.simulator.market import TOKEN

__all__ = ["plot_active_sellers", "plot_cumulative_utility", "plot_misreport"]

_DPI = 90


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
    for rule in rules:
        mine = sorted((r for r in rows if r["rule"] == rule and r["provider"] == focus), key=lambda r: r["multiplier"])
        a.plot([r["multiplier"] for r in mine], [r["utility_wei"] / TOKEN for r in mine], marker="o", ms=3,
               label=rule)  # fmt: skip
        ms = sorted({r["multiplier"] for r in rows})
        best = [max(r["gain_wei"] / r["cost_wei"] for r in rows if r["rule"] == rule and r["multiplier"] == m)
                for m in ms]  # fmt: skip
        b.plot(ms, best, marker="o", ms=3, label=rule)
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
    for rule, (ts, vs) in _by_rule(rows, "active_sellers").items():
        ax.step(ts, vs, where="post", label=rule)
    ax.set_xlabel("period")
    ax.set_ylabel("active sellers")
    ax.set_title("Sellers in the market")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_cumulative_utility(rows: Sequence[dict[str, Any]], path: Path, crossover: int | None) -> Path:
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for rule, (ts, vs) in _by_rule(rows, "buyer_cumulative_discounted").items():
        a.plot(ts, vs, label=rule)
    for rule, (ts, vs) in _by_rule(rows, "seller_cumulative_profit").items():
        b.plot(ts, vs, label=rule)
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
