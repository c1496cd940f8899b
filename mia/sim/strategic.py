"""Experiment 2: strategic robustness of every rule, measured in exact integers.

- **Misreport sweep.** Each provider alone bids m × its true cost for every m on `MULTIPLIERS`
  (0.25×–4×, 1× included); its gain is utility(m) − utility(1×). For a DSIC rule the largest gain
  over all providers and multipliers is exactly 0 wei.
- **Collusion.** Every coalition of 2 or 3 providers raises all its bids by the same m > 1; the
  coalition's gain is the change in its members' summed utility. DSIC is a unilateral property:
  Q-MIA is not group-strategyproof (raising a partner's bid raises your threshold), and the table
  says by how much.
- **Sybil.** One provider splits its dataset into k identities (records dealt round-robin, cost
  split in proportion), all bidding truthfully; the oracle re-values the new round. Gain = the
  identities' summed utility − the single provider's.
- **Copying.** A copier adds a copy of a victim's records to its own submission at no extra cost;
  the oracle re-values the round. Reported for the copier committing after the victim (credit for
  duplicates goes to the earlier record) and before it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from mia.sim.market import TOKEN, Market, Provider
from mia.sim.progress import Progress
from mia.sim.rules import RULES, RoundInput, provider_utilities
from mia.sim.single_round import round_input

__all__ = [
    "COLLUSION_MULTIPLIERS",
    "MULTIPLIERS",
    "collusion",
    "copying",
    "misreport_sweep",
    "scale",
    "sweep_summary",
    "sybil",
]

MULTIPLIERS: tuple[Fraction, ...] = tuple(
    Fraction(m) for m in ("1/4", "1/3", "1/2", "2/3", "3/4", "9/10", "1", "11/10", "5/4", "3/2", "2", "5/2", "3", "4")
)
COLLUSION_MULTIPLIERS: tuple[Fraction, ...] = tuple(m for m in MULTIPLIERS if m > 1)


def scale(cost: int, m: Fraction) -> int:
    """m × cost in wei, rounded down."""
    return (cost * m.numerator) // m.denominator


def _utilities(rule_name: str, rin: RoundInput, costs: Sequence[int]) -> list[int]:
    return provider_utilities(RULES[rule_name].run(rin), costs)


def misreport_sweep(
    market: Market, *, rules: Sequence[str] | None = None, progress: Progress | None = None
) -> list[dict[str, Any]]:
    """One row per (rule, provider, multiplier): utility and gain over truthful, in wei."""
    prog = progress or Progress.silent()
    costs = market.costs
    rin = round_input(market)
    rows = []
    names = list(rules or RULES)
    for name in prog.iter(names, "misreport sweep", total=len(names)):
        truthful = _utilities(name, rin, costs)
        for i in range(len(costs)):
            for m in MULTIPLIERS:
                bids = list(costs)
                bids[i] = scale(costs[i], m)
                u = _utilities(name, rin.with_bids(bids), costs)[i]
                rows.append(
                    {"rule": name, "provider": market.providers[i].pid, "multiplier": float(m), "multiplier_exact":
                     str(m), "cost_wei": costs[i], "utility_wei": u, "gain_wei": u - truthful[i]}
                )  # fmt: skip
    return rows


def sweep_summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per rule: the largest unilateral gain found (wei and tokens), who and at which multiplier."""
    out = []
    for name in dict.fromkeys(r["rule"] for r in rows):
        mine = [r for r in rows if r["rule"] == name]
        best = max(mine, key=lambda r: (r["gain_wei"], -abs(r["multiplier"] - 1)))
        gainers = {r["provider"] for r in mine if r["gain_wei"] > 0}
        out.append(
            {"rule": name, "dsic_claimed": RULES[name].dsic, "max_gain_wei": best["gain_wei"],
             "max_gain_tokens": best["gain_wei"] / TOKEN, "at_provider": best["provider"] if best["gain_wei"] else "",
             "at_multiplier": best["multiplier_exact"] if best["gain_wei"] else "",
             "providers_with_gain": len(gainers)}
        )  # fmt: skip
    return out


def collusion(
    market: Market, *, sizes: Sequence[int] = (2, 3), rules: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """Best joint raise per coalition, and a per-rule summary (max gain, share of coalitions that gain)."""
    prog = progress or Progress.silent()
    costs = market.costs
    rin = round_input(market)
    n = len(costs)
    coalitions = [c for s in sizes for c in itertools.combinations(range(n), s)]
    names = list(rules or RULES)
    rows: list[dict[str, Any]] = []
    for name in prog.iter(names, "collusion", total=len(names)):
        truthful = _utilities(name, rin, costs)
        for c in coalitions:
            base = sum(truthful[i] for i in c)
            best_gain, best_m, best_spend = 0, Fraction(1), 0
            for m in COLLUSION_MULTIPLIERS:
                bids = list(costs)
                for i in c:
                    bids[i] = scale(costs[i], m)
                alloc = RULES[name].run(rin.with_bids(bids))
                u = provider_utilities(alloc, costs)
                gain = sum(u[i] for i in c) - base
                if gain > best_gain:
                    best_gain, best_m, best_spend = gain, m, sum(alloc.payments)
            rows.append(
                {"rule": name, "coalition": "+".join(market.providers[i].pid for i in c), "size": len(c),
                 "truthful_utility_wei": base, "best_multiplier": str(best_m), "gain_wei": best_gain,
                 "buyer_spend_at_best_wei": best_spend}
            )  # fmt: skip
    summary = []
    for name in names:
        for s in sizes:
            mine = [r for r in rows if r["rule"] == name and r["size"] == s]
            best = max(mine, key=lambda r: r["gain_wei"])
            base = best["truthful_utility_wei"]
            summary.append(
                {"rule": name, "size": s, "coalitions": len(mine),
                 "gaining": sum(1 for r in mine if r["gain_wei"] > 0),
                 "max_gain_tokens": best["gain_wei"] / TOKEN,
                 "max_gain_vs_truthful": best["gain_wei"] / base if base else None,
                 "coalition": best["coalition"] if best["gain_wei"] else "", "multiplier": best["best_multiplier"]
                 if best["gain_wei"] else ""}
            )  # fmt: skip
    return rows, summary


def _split(p: Provider, k: int) -> list[Provider]:
    parts = []
    for j in range(k):
        idx = np.arange(j, p.n_records, k)
        share_unique = len(range(j, p.n_unique, k))
        cost = (p.cost * idx.shape[0]) // p.n_records
        parts.append(Provider(f"{p.pid}s{j}", p.features[idx], p.labels[idx], cost, p.noise, share_unique, p.strategic))
    rest = p.cost - sum(q.cost for q in parts)
    parts[0] = Provider(parts[0].pid, parts[0].features, parts[0].labels, parts[0].cost + rest, p.noise,
                        parts[0].n_unique, p.strategic)  # fmt: skip
    return parts


def sybil(
    market: Market, *, ks: Sequence[int] = (2, 3), targets: Sequence[int] | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Gain of each target provider from splitting into k truthful identities, per rule (wei)."""
    prog = progress or Progress.silent()
    base_rin = round_input(market)
    base_u = {name: provider_utilities(rule.run(base_rin), market.costs) for name, rule in RULES.items()}
    jobs = [(i, k) for i in (targets if targets is not None else range(len(market.providers))) for k in ks]
    rows = []
    for i, k in prog.iter(jobs, "sybil (re-valuing)", total=len(jobs)):
        parts = _split(market.providers[i], k)
        provs = [*market.providers[:i], *parts, *market.providers[i + 1 :]]
        split = market.with_providers(provs)
        rin = round_input(split)
        ids = range(i, i + k)
        for name, rule in RULES.items():
            u = provider_utilities(rule.run(rin), split.costs)
            rows.append(
                {"rule": name, "provider": market.providers[i].pid, "identities": k,
                 "w_single": market.scores.weights[i], "w_identities": sum(split.scores.weights[j] for j in ids),
                 "utility_single_wei": base_u[name][i], "utility_identities_wei": sum(u[j] for j in ids),
                 "gain_wei": sum(u[j] for j in ids) - base_u[name][i]}
            )  # fmt: skip
    return rows


def copying(
    market: Market, *, pairs: Sequence[tuple[int, int]] | None = None, progress: Progress | None = None
) -> list[dict[str, Any]]:
    """Copier's gain and victim's loss per rule, with the copier committing after and before the victim.

    Default pairs: the most valuable provider (largest w) is the victim of each of up to three others.
    """
    prog = progress or Progress.silent()
    n = len(market.providers)
    if pairs is None:
        victim = max(range(n), key=lambda i: market.scores.weights[i])
        pairs = [(c, victim) for c in [j for j in range(n) if j != victim][:3]]
    jobs = [(c, v, order) for c, v in pairs for order in ("after", "before")]
    rows = []
    for c, v, order in prog.iter(jobs, "copying (re-valuing)", total=len(jobs)):
        provs = list(market.providers)
        # the copier's commit slot relative to the victim's: swap them if needed
        if (order == "after") != (c > v):
            provs[c], provs[v] = provs[v], provs[c]
            ci, vi = v, c
        else:
            ci, vi = c, v
        honest = market.with_providers(provs) if (ci, vi) != (c, v) else market
        cp, vp = provs[ci], provs[vi]
        copied = Provider(cp.pid, np.concatenate([cp.features, vp.features]), np.concatenate([cp.labels, vp.labels]),
                          cp.cost, cp.noise, cp.n_unique, cp.strategic)  # fmt: skip
        provs[ci] = copied
        attacked = market.with_providers(provs)
        for name, rule in RULES.items():
            a0, a1 = rule.run(round_input(honest)), rule.run(round_input(attacked))
            u0, u1 = provider_utilities(a0, honest.costs), provider_utilities(a1, attacked.costs)
            rows.append(
                {"rule": name, "copier": cp.pid, "victim": vp.pid, "copier_commits": order,
                 "copier_w_before": honest.scores.weights[ci], "copier_w_after": attacked.scores.weights[ci],
                 "victim_w_before": honest.scores.weights[vi], "victim_w_after": attacked.scores.weights[vi],
                 "copier_won_before": a0.won[ci], "copier_won_after": a1.won[ci],
                 "copier_gain_wei": u1[ci] - u0[ci], "victim_change_wei": u1[vi] - u0[vi]}
            )  # fmt: skip
    return rows
