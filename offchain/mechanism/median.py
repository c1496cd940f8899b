"""Per-provider median of the oracle reports, as the contract takes it (`contracts/lib/Median.sol`)."""

from __future__ import annotations

from collections.abc import Sequence


def lower_median(values: Sequence[int]) -> int:
    """Median of k values; for even k the lower middle one, so the result is deterministic."""
    if not values:
        raise ValueError("median of no values")
    return sorted(values)[(len(values) - 1) // 2]


def median_scores(
    reports_q: Sequence[Sequence[int]], reports_delta: Sequence[Sequence[int]]
) -> tuple[list[int], list[int]]:
    """Column-wise lower medians of k reports' q and Δ vectors."""
    n = len(reports_q[0])
    q = [lower_median([r[j] for r in reports_q]) for j in range(n)]
    d = [lower_median([r[j] for r in reports_delta]) for j in range(n)]
    return q, d
