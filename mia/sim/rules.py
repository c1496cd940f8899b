"""The allocation rules the simulator compares, behind one call.

On-chain mechanisms go through `mia.mechanism.settle` (the reference the contracts mirror to the
wei); baselines come from `baselines` and are marked `on_chain=False`. Every rule returns an
`Allocation`: who won, cash and MUT (at face value) per provider, and the cash the buyer escrowed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mia.mechanism import WAD, cash_escrow, settle
from mia.mechanism.mixed import CashAndMut
from mia.mechanism.settlement import FAIRSHARE, MIXED_MIA, MUT, QMIA
from mia.sim import baselines

__all__ = ["DSIC_RULES", "RULES", "Allocation", "RoundInput", "Rule", "get_rule", "provider_utilities"]

#: λ used for Mixed-MIA in the experiments: half cash now, half MUT.
MIXED_LIQUIDITY = WAD // 2


@dataclass(frozen=True)
class RoundInput:
    """Everything one round's rule may look at. Integers: wei for money, 18 decimals for q and w."""

    bids: tuple[int, ...]
    weights: tuple[int, ...]
    budget: int
    rho: int
    reported_quality: tuple[int, ...]
    n_records: tuple[int, ...]

    def with_bids(self, bids: Sequence[int]) -> RoundInput:
        return RoundInput(tuple(bids), self.weights, self.budget, self.rho, self.reported_quality, self.n_records)


@dataclass(frozen=True)
class Allocation(CashAndMut):
    won: tuple[bool, ...]
    cash: tuple[int, ...]
    mut: tuple[int, ...]
    escrow: int  # cash the buyer locked for the round


@dataclass(frozen=True)
class Rule:
    name: str
    on_chain: bool
    dsic: bool  # claimed dominant-strategy incentive compatible
    run: Callable[[RoundInput], Allocation]


def _onchain(mechanism: int, liquidity: int = WAD) -> Callable[[RoundInput], Allocation]:
    def run(r: RoundInput) -> Allocation:
        s = settle(mechanism, r.bids, r.weights, r.budget, liquidity=liquidity, rho=r.rho)
        return Allocation(s.won, s.cash, s.mut, cash_escrow(mechanism, r.budget, liquidity))

    return run


def _pay_as_bid(fn: Callable[[RoundInput], baselines.PayAsBid]) -> Callable[[RoundInput], Allocation]:
    def run(r: RoundInput) -> Allocation:
        out = fn(r)
        return Allocation(out.won, out.payments, tuple(0 for _ in r.bids), r.budget)

    return run


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule("Q-MIA", True, True, _onchain(QMIA)),
        Rule("Mixed-MIA", True, True, _onchain(MIXED_MIA, MIXED_LIQUIDITY)),
        Rule("MUT", True, True, _onchain(MUT)),
        Rule("Fairshare", True, True, _onchain(FAIRSHARE)),
        Rule("First-price", False, False, _pay_as_bid(lambda r: baselines.first_price(r.bids, r.weights, r.budget))),
        Rule("Volume", False, False, _pay_as_bid(lambda r: baselines.volume_based(r.bids, r.n_records, r.budget))),
        Rule(
            "Trust",
            False,
            False,
            _pay_as_bid(lambda r: baselines.trust_based(r.bids, r.reported_quality, r.n_records, r.budget)),
        ),
    )
}
DSIC_RULES = tuple(n for n, r in RULES.items() if r.dsic)


def get_rule(name: str) -> Rule:
    try:
        return RULES[name]
    except KeyError:
        raise ValueError(f"unknown rule {name!r}; choose from {', '.join(RULES)}") from None


def provider_utilities(alloc: Allocation, costs: Sequence[int]) -> list[int]:
    """Payment (cash + MUT at face value) minus true cost for winners, 0 for the rest."""
    return [p - c if w else 0 for w, p, c in zip(alloc.won, alloc.payments, costs, strict=True)]
