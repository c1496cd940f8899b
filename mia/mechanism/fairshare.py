"""Fairshare posted prices (docs/design.md §3), in exact integers.

Each revealed provider is offered p_i = ρ·w_i · min(1, B / Σ_j ρ·w_j): its value at the buyer's
declared willingness to pay per unit of utility ρ, scaled down pro rata when the values together
exceed the budget. It sells iff its bid ≤ p_i. The price ignores the provider's own bid, so
truthful bidding is dominant, and Σ p_i ≤ B.

Fixed point: w is 18-decimal, so the value is v_i = floor(ρ·w_i / 1e18) wei; when Σ v > B the
price is floor(v_i·B / Σ v).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mia.protocol.constants import WAD


@dataclass(frozen=True)
class FairshareOutcome:
    sold: tuple[bool, ...]
    prices: tuple[int, ...]
    payments: tuple[int, ...]

    @property
    def total_paid(self) -> int:
        return sum(self.payments)


def fairshare_prices(weights: Sequence[int], rho: int, budget: int) -> list[int]:
    """Posted price of every provider (sold or not)."""
    values = [(rho * w) // WAD for w in weights]
    total = sum(values)
    if total <= budget:
        return values
    return [(v * budget) // total for v in values]


def fairshare(bids: Sequence[int], weights: Sequence[int], rho: int, budget: int) -> FairshareOutcome:
    """Who sells at the posted price, and what each is paid (a sale needs a positive price)."""
    if len(bids) != len(weights):
        raise ValueError("bids and weights must have the same length")
    prices = fairshare_prices(weights, rho, budget)
    sold = tuple(p > 0 and b <= p for b, p in zip(bids, prices, strict=True))
    payments = tuple(p if s else 0 for p, s in zip(prices, sold, strict=True))
    return FairshareOutcome(sold, tuple(prices), payments)
