"""Q-MIA: quality-weighted marginal-incentive auction, in exact integers (docs/design.md §3).

Mirror of `contracts/mechanism/QMIA.sol`. Virtual cost φ_i = b_i / w_i with w_i = q_i·max(Δ_i, 0)/1e18;
sort ascending (ties by index); winners are the longest prefix with b_k·W_k ≤ B·w_k; each winner is
paid its Myerson threshold p_i = max_r min(w_i·φ'_r, B·w_i/(W'_{r-1}+w_i)), found by binary search
at the crossing of the rising and the falling term. Every division rounds down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cmp_to_key

from mia.protocol.constants import MAX_ABS_DELTA, MAX_QUALITY, WAD
from mia.protocol.constants import MAX_COST as MAX_BID

__all__ = [
    "MAX_ABS_DELTA",
    "MAX_BID",
    "MAX_QUALITY",
    "WAD",
    "Outcome",
    "critical_payment",
    "critical_payment_bruteforce",
    "qmia",
    "sort_by_virtual_cost",
    "weight",
]

_INF = 2**256 - 1


def weight(q: int, delta: int) -> int:
    """w = q · max(Δ, 0) / 1e18, rounded down."""
    if delta <= 0:
        return 0
    return (q * delta) // WAD


@dataclass(frozen=True)
class Outcome:
    """Result of a settlement, indexed like the inputs."""

    won: tuple[bool, ...]
    payments: tuple[int, ...]
    weights: tuple[int, ...]
    order: tuple[int, ...]  # eligible providers (w > 0) by ascending virtual cost

    @property
    def total_paid(self) -> int:
        return sum(self.payments)

    @property
    def winners(self) -> tuple[int, ...]:
        return tuple(i for i, w in enumerate(self.won) if w)


def sort_by_virtual_cost(bids: Sequence[int], weights: Sequence[int]) -> list[int]:
    """Indices with w > 0, ascending by b/w via cross-multiplication, ties by index."""

    def cmp(i: int, j: int) -> int:
        left, right = bids[i] * weights[j], bids[j] * weights[i]
        if left != right:
            return -1 if left < right else 1
        return -1 if i < j else (1 if i > j else 0)

    return sorted((i for i, w in enumerate(weights) if w > 0), key=cmp_to_key(cmp))


def qmia(bids: Sequence[int], weights: Sequence[int], budget: int) -> Outcome:
    """Q-MIA allocation and critical payments for bids b_i and weights w_i under budget B."""
    if len(bids) != len(weights):
        raise ValueError("bids and weights must have the same length")
    if any(b < 0 for b in bids) or any(w < 0 for w in weights) or budget < 0:
        raise ValueError("bids, weights and budget must be non-negative")
    n = len(bids)
    order = sort_by_virtual_cost(bids, weights)
    m = len(order)
    prefix = [0] * (m + 1)
    for s, i in enumerate(order):
        prefix[s + 1] = prefix[s] + weights[i]

    winners = 0
    while winners < m:
        i = order[winners]
        if bids[i] * prefix[winners + 1] > budget * weights[i]:
            break
        winners += 1

    payments = [0] * n
    won = [False] * n
    for s in range(winners):
        i = order[s]
        payments[i] = critical_payment(order, prefix, bids, weights, budget, s)
        won[i] = True
    return Outcome(tuple(won), tuple(payments), tuple(weights), tuple(order))


def critical_payment(
    order: Sequence[int], prefix: Sequence[int], bids: Sequence[int], weights: Sequence[int], budget: int, s: int
) -> int:
    """Threshold bid of the provider at sorted position s (see module docstring)."""
    m = len(order)
    ws = weights[order[s]]

    def a(r: int) -> int:
        if r == m:
            return _INF
        g = order[r - 1 if r - 1 < s else r]
        return (ws * bids[g]) // weights[g]

    def c(r: int) -> int:
        others = prefix[r - 1] if r - 1 <= s else prefix[r] - ws
        return (budget * ws) // (others + ws)

    lo, hi = 1, m
    while lo < hi:
        mid = (lo + hi) // 2
        if a(mid) >= c(mid):
            hi = mid
        else:
            lo = mid + 1
    p = c(lo)
    if lo > 1:
        p = max(p, a(lo - 1))
    return p


def critical_payment_bruteforce(bids: Sequence[int], weights: Sequence[int], budget: int, i: int) -> int:
    """O(n) scan of max_r min(A(r), C(r)) for provider i: an independent check of the binary search."""
    others = [j for j in sort_by_virtual_cost(bids, weights) if j != i]
    wi = weights[i]
    best = 0
    cum = 0
    for r in range(len(others) + 1):
        a = _INF if r == len(others) else (wi * bids[others[r]]) // weights[others[r]]
        c = (budget * wi) // (cum + wi)
        best = max(best, min(a, c))
        if r < len(others):
            cum += weights[others[r]]
    return best
