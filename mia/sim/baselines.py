"""Simulation-only baselines (docs/experiments.md, "Baselines"). NOT ON-CHAIN: no contract implements these.

They exist to be measured against the on-chain mechanisms, so they are written as plainly as the
The design states them, in the same exact integers (wei, 18-decimal q and w):

- volume-based: rank by bid per record (cheapest first), pay bids, ignore quality;
- trust-based: rank by self-reported quality × records per unit bid, pay bids (the report is the
  provider's own claim, so a strategic provider inflates it);
- first-price: Q-MIA's ranking by virtual cost b/w, but pay bids;
- posted prices (repeated market): a multiple γ of the Fairshare price — reduced (γ < 1),
  exploitative (γ ≪ 1) or random (γ drawn per offer).

The pay-as-bid rules buy greedily in rank order: a provider whose bid no longer fits in what is left
of the budget is skipped and the next one is tried (a knapsack greedy), so Σ payments ≤ B.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cmp_to_key

import numpy as np

from mia.mechanism import fairshare_prices
from mia.mechanism.qmia import sort_by_virtual_cost

__all__ = [
    "PayAsBid",
    "first_price",
    "posted_price_sales",
    "random_posted_prices",
    "scaled_posted_prices",
    "trust_based",
    "volume_based",
]


@dataclass(frozen=True)
class PayAsBid:
    """Winners and payments of a pay-as-bid baseline, indexed like the inputs."""

    won: tuple[bool, ...]
    payments: tuple[int, ...]


def _greedy(order: Sequence[int], bids: Sequence[int], budget: int) -> PayAsBid:
    won = [False] * len(bids)
    left = budget
    for i in order:
        if bids[i] <= left:
            won[i] = True
            left -= bids[i]
    return PayAsBid(tuple(won), tuple(b if w else 0 for b, w in zip(bids, won, strict=True)))


def _ranked(eligible: Sequence[int], less: Callable[[int, int], bool]) -> list[int]:
    def cmp(i: int, j: int) -> int:
        if less(i, j):
            return -1
        if less(j, i):
            return 1
        return (i > j) - (i < j)

    return sorted(eligible, key=cmp_to_key(cmp))


def volume_based(bids: Sequence[int], n_records: Sequence[int], budget: int) -> PayAsBid:
    """Cheapest per record first (b_i/n_i by cross-multiplication, ties by index); pay bids."""
    eligible = [i for i, n in enumerate(n_records) if n > 0]
    order = _ranked(eligible, lambda i, j: bids[i] * n_records[j] < bids[j] * n_records[i])
    return _greedy(order, bids, budget)


def trust_based(
    bids: Sequence[int], reported_quality: Sequence[int], n_records: Sequence[int], budget: int
) -> PayAsBid:
    """Most claimed quality-weighted records per unit bid first; pay bids. Claims are not checked."""
    claimed = [q * n for q, n in zip(reported_quality, n_records, strict=True)]
    eligible = [i for i, c in enumerate(claimed) if c > 0]
    order = _ranked(eligible, lambda i, j: bids[i] * claimed[j] < bids[j] * claimed[i])
    return _greedy(order, bids, budget)


def first_price(bids: Sequence[int], weights: Sequence[int], budget: int) -> PayAsBid:
    """Q-MIA's ranking (ascending b/w, the reference's own sort), paid as bid."""
    return _greedy(sort_by_virtual_cost(bids, weights), bids, budget)


def scaled_posted_prices(weights: Sequence[int], rho: int, budget: int, gamma: Fraction) -> list[int]:
    """γ × the Fairshare price of every provider, rounded down (γ ≤ 1 keeps Σ prices ≤ B)."""
    if not 0 <= gamma <= 1:
        raise ValueError("gamma must be in [0, 1]")
    return [(p * gamma.numerator) // gamma.denominator for p in fairshare_prices(weights, rho, budget)]


def random_posted_prices(weights: Sequence[int], rho: int, budget: int, rng: np.random.Generator) -> list[int]:
    """Fairshare price × γ_i with γ_i uniform on {0.001, ..., 1.000}, drawn per offer."""
    gammas = rng.integers(1, 1001, size=len(weights))
    return [(p * int(g)) // 1000 for p, g in zip(fairshare_prices(weights, rho, budget), gammas, strict=True)]


def posted_price_sales(bids: Sequence[int], prices: Sequence[int]) -> PayAsBid:
    """Take-it-or-leave-it offers: a provider sells iff its bid ≤ a positive price, and is paid the price."""
    won = tuple(p > 0 and b <= p for b, p in zip(bids, prices, strict=True))
    return PayAsBid(won, tuple(p if w else 0 for p, w in zip(prices, won, strict=True)))
