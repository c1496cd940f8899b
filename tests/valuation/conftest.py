"""Shared fixtures and brute-force references for the valuation tests."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

warnings.filterwarnings("ignore", category=FutureWarning, module="deprecate")


def _knn_utility(
    subset: list[int],
    x_train: np.ndarray,
    u: np.ndarray,
    x_val_row: np.ndarray,
    k: int,
) -> float:
    """Jia et al. KNN utility of ``subset`` at one validation point.

    ``u[j]`` is record ``j``'s contribution (label match or similarity); neighbours
    ordered by squared distance, ties by index; normalised by ``k`` (not ``|S|``).
    """
    if not subset:
        return 0.0
    idx = np.asarray(sorted(subset))
    d = ((x_train[idx] - x_val_row) ** 2).sum(1)
    order = idx[np.lexsort((idx, d))]
    return float(u[order[:k]].sum() / k)


def _brute_shapley(n: int, utility) -> np.ndarray:
    """Exact Shapley values by enumerating all subsets (n <= ~10)."""
    values = np.zeros(n)
    cache: dict[frozenset[int], float] = {}

    def u(s: frozenset[int]) -> float:
        if s not in cache:
            cache[s] = utility(sorted(s))
        return cache[s]

    for i in range(n):
        others = [j for j in range(n) if j != i]
        for r in range(n):
            w = math.factorial(r) * math.factorial(n - r - 1) / math.factorial(n)
            for c in itertools.combinations(others, r):
                s = frozenset(c)
                values[i] += w * (u(s | {i}) - u(s))
    return values


@pytest.fixture(scope="session")
def digits_split():
    """Digits shuffled once: (x_val, y_val, x_pool, y_pool)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    p = rng.permutation(len(x))
    x, y = x[p].astype(np.float64), y[p]
    return x[:400], y[:400], x[400:], y[400:]


@pytest.fixture(scope="session")
def knn_utility():
    return _knn_utility


@pytest.fixture(scope="session")
def brute_shapley():
    return _brute_shapley


@pytest.fixture(autouse=True)
def _single_thread_torch():
    """Run these small-tensor tests single-threaded, restoring the setting after.

    On small shared machines intra-op threading of tiny ops mostly adds contention
    (measured 2-7x slower on a 2-core box under load); results are unaffected.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
