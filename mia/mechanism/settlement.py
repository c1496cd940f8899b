"""One entry point for every on-chain settlement rule, as `MiaAuction.settle` applies them.

`MECHANISMS` numbers follow `IMiaAuction.Mechanism`. Each returns cash credited and MUT minted per
provider; the auditor and the simulator use this, never a copy of the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mia.mechanism.fairshare import fairshare
from mia.mechanism.mixed import CashAndMut, mixed_mia
from mia.protocol.constants import WAD
from mia.protocol.types import Mechanism

QMIA, MIXED_MIA, MUT, FAIRSHARE = Mechanism.QMIA, Mechanism.MIXED_MIA, Mechanism.MUT, Mechanism.FAIRSHARE
MECHANISMS = {QMIA: "Q-MIA", MIXED_MIA: "Mixed-MIA", MUT: "MUT", FAIRSHARE: "Fairshare"}


@dataclass(frozen=True)
class Settlement(CashAndMut):
    won: tuple[bool, ...]
    cash: tuple[int, ...]
    mut: tuple[int, ...]


def effective_liquidity(mechanism: int, liquidity: int = WAD) -> int:
    """λ a mechanism implies: 1 for Q-MIA and Fairshare, 0 for MUT, the given λ for Mixed-MIA."""
    if mechanism in (QMIA, FAIRSHARE):
        return WAD
    if mechanism == MUT:
        return 0
    if mechanism == MIXED_MIA:
        if not 0 <= liquidity <= WAD:
            raise ValueError("liquidity factor must be in [0, 1e18]")
        return liquidity
    raise ValueError(f"unknown mechanism {mechanism}")


def cash_escrow(mechanism: int, budget: int, liquidity: int = WAD) -> int:
    """Cash the buyer escrows at creation: floor(λ·B) for the MIA family, B for Fairshare."""
    if mechanism == FAIRSHARE:
        return budget
    return (budget * effective_liquidity(mechanism, liquidity)) // WAD


def settle(
    mechanism: int,
    bids: Sequence[int],
    weights: Sequence[int],
    budget: int,
    *,
    liquidity: int = WAD,
    rho: int = 0,
) -> Settlement:
    """Winners, cash and MUT per provider for any mechanism."""
    if mechanism == FAIRSHARE:
        out = fairshare(bids, weights, rho, budget)
        return Settlement(out.sold, out.payments, tuple(0 for _ in bids))
    mixed = mixed_mia(bids, weights, budget, effective_liquidity(mechanism, liquidity))
    return Settlement(mixed.won, mixed.cash, mixed.mut)
