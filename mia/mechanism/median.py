"""Byzantine-robust aggregation of oracle reports, as the contract takes it (`MiaAuction.finalizeScores`).

Each posted report implies a weight per provider, w = q·max(Δ, 0)/1e18 (what the mechanism uses); the
aggregate is the lower median of those weights over EVERY posted report. With m ≥ 2f+1 reports of which
at most f are corrupted, the lower median sits at sorted position p = ⌊(m−1)/2⌋ ≥ f with m−1−p ≥ f
values above it, so it cannot lie below (or above) every honest weight: that would need p+1 ≥ f+1
(or m−p ≥ f+1) corrupted values. Medianing q and Δ separately has no such guarantee (a q from one
oracle times a Δ from another can exceed every honest weight), which is why weights are aggregated.
"""

from __future__ import annotations

from collections.abc import Sequence

from mia.mechanism.qmia import weight


def lower_median(values: Sequence[int]) -> int:
    """Median of k values; for even k the lower middle one, so the result is deterministic."""
    if not values:
        raise ValueError("median of no values")
    return sorted(values)[(len(values) - 1) // 2]


def report_weights(q: Sequence[int], delta: Sequence[int]) -> list[int]:
    """The weights one report implies: w_j = q_j·max(Δ_j, 0)/1e18, rounded down."""
    if len(q) != len(delta):
        raise ValueError("q and delta must have the same length")
    return [weight(a, b) for a, b in zip(q, delta, strict=True)]


def aggregate_weights(weights: Sequence[Sequence[int]]) -> list[int]:
    """Column-wise lower medians of every posted report's weight vector."""
    if not weights:
        raise ValueError("aggregate of no reports")
    n = len(weights[0])
    if any(len(w) != n for w in weights):
        raise ValueError("reports cover different numbers of providers")
    return [lower_median([w[j] for w in weights]) for j in range(n)]
