"""Experiment 1: one round, every rule, truthful bids, on real data.

Metrics per rule: test accuracy of the model trained on what was bought, accuracy gain over buying
nothing per token spent, mean oracle quality of the bought datasets, share of the budget used (cash
and MUT at face value, reported separately) and providers' utilities. Trust-based and volume-based
rules see truthful bids too; their weakness here is what they rank on, not the bids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mia.mechanism import WAD
from mia.sim.accounting import Ledger
from mia.sim.market import TOKEN, Market, evaluate_purchase
from mia.sim.progress import Progress
from mia.sim.rules import RULES, RoundInput, provider_utilities

__all__ = ["SingleRoundResult", "round_input", "run_single_round"]


def round_input(market: Market, bids: tuple[int, ...] | None = None) -> RoundInput:
    """The round as the rules see it; truthful bids unless given."""
    return RoundInput(
        bids=market.costs if bids is None else bids,
        weights=market.scores.weights,
        budget=market.budget,
        rho=market.rho,
        reported_quality=tuple(p.reported_quality for p in market.providers),
        n_records=tuple(p.n_records for p in market.providers),
    )


@dataclass
class SingleRoundResult:
    rows: list[dict[str, Any]]
    providers: list[dict[str, Any]]
    ledger: Ledger


def run_single_round(market: Market, *, model: str = "logreg", progress: Progress | None = None) -> SingleRoundResult:
    prog = progress or Progress.silent()
    rin = round_input(market)
    ledger = Ledger()
    sellers = [p.pid for p in market.providers]
    baseline_acc = evaluate_purchase(market, [False] * len(sellers), model)
    all_acc = evaluate_purchase(market, [True] * len(sellers), model)
    rows: list[dict[str, Any]] = []
    for name, rule in prog.iter(RULES.items(), "single round: rules", total=len(RULES)):
        alloc = rule.run(rin)
        ledger.book(name, sellers, market.budget, alloc)
        acc = evaluate_purchase(market, alloc.won, model)
        spent = alloc.total_cash + alloc.total_mut
        utils = provider_utilities(alloc, market.costs)
        winners = [i for i, w in enumerate(alloc.won) if w]
        rows.append(
            {
                "rule": name,
                "on_chain": rule.on_chain,
                "winners": len(winners),
                "accuracy": acc,
                "accuracy_gain": acc - baseline_acc,
                "gain_per_token": (acc - baseline_acc) / (spent / TOKEN) if spent else 0.0,
                "mean_quality_bought": (
                    sum(market.scores.q_wad[i] for i in winners) / len(winners) / WAD if winners else 0.0
                ),
                "weight_bought": sum(market.scores.weights[i] for i in winners) / WAD,
                "cash_paid": alloc.total_cash / TOKEN,
                "mut_minted": alloc.total_mut / TOKEN,
                "budget_used": spent / market.budget if market.budget else 0.0,
                "provider_utility_total": sum(utils) / TOKEN,
                "provider_utility_min": min(utils) / TOKEN,
            }
        )
    ledger.check()
    rows.append(
        {"rule": "(nothing bought)", "on_chain": False, "winners": 0, "accuracy": baseline_acc,
         "accuracy_gain": 0.0, "budget_used": 0.0}
    )  # fmt: skip
    rows.append(
        {"rule": "(all data, free)", "on_chain": False, "winners": len(sellers), "accuracy": all_acc,
         "accuracy_gain": all_acc - baseline_acc}
    )  # fmt: skip
    providers = [
        {
            "provider": p.pid,
            "records": p.n_records,
            "unique_records": p.n_unique,
            "label_noise": round(p.noise, 3),
            "strategic": p.strategic,
            "cost": p.cost / TOKEN,
            "reported_quality": p.reported_quality / WAD,
            "q": q / WAD,
            "delta": d / WAD,
            "w": w / WAD,
        }
        for p, q, d, w in zip(
            market.providers, market.scores.q_wad, market.scores.delta_wad, market.scores.weights, strict=True
        )
    ]
    return SingleRoundResult(rows, providers, ledger)
