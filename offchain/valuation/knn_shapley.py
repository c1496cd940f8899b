"""Exact KNN-Shapley values (Jia et al., PVLDB 12(11), 2019).

For an unweighted K-nearest-neighbour model the Shapley value of every training
record w.r.t. one validation point follows from a single sort of the training set
by distance and a backward recursion over the sorted positions (1-based ``i``)::

    s[N] = u[N] * min(K, N) / (N K)          (= u[N] / N when N >= K)
    s[i] = s[i+1] + (u[i] - u[i+1]) / max(K, i)

where ``u`` is the per-record utility contribution (``1[y_train == y_val]`` for
classification; the similarity to the validation point in the label-free variant).
The recursion unrolls to a reverse cumulative sum, so a chunk of validation points is
handled with one batched ``argsort``, one ``cumsum`` and one ``scatter`` -- no Python
loop over records. Validation points are processed in chunks sized to a memory budget,
so the full ``M x N`` matrix is never materialised when it would be too large.

Determinism: float64 by default, ``argsort(stable=True)`` so distance ties are broken
by training index, and scatter (a permutation, not an atomic add) to un-sort values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from numpy.typing import ArrayLike

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "DEFAULT_MEMORY_BUDGET_CUDA",
    "Metric",
    "auto_batch_size",
    "encode_labels",
    "knn_shapley",
    "knn_shapley_similarity",
]

Metric = Literal["euclidean", "cosine"]

#: Bytes one validation chunk may use (distances, sort indices, utilities, recursion
#: and un-sorted values: about 64 bytes per (val, train) pair). On CPU, chunks that
#: stay near cache size sort fastest; on GPU, larger chunks keep the device busy.
DEFAULT_MEMORY_BUDGET = 128 * 2**20
DEFAULT_MEMORY_BUDGET_CUDA = 2 * 2**30
_BYTES_PER_PAIR = 64


def auto_batch_size(n_train: int, n_val: int, memory_budget: int) -> int:
    """Largest validation-chunk size whose ``chunk x n_train`` work fits the budget."""
    per_row = max(1, n_train) * _BYTES_PER_PAIR
    return int(max(1, min(max(1, n_val), memory_budget // per_row)))


def encode_labels(*label_arrays: ArrayLike) -> list[np.ndarray]:
    """Map int / str labels to shared int64 codes (only equality matters to KNN).

    Integer labels are kept as they are; string labels get their index in the sorted
    union of all arrays. Mixing integer and string labels is an error.
    """
    from .data import normalize_labels

    arrays = [normalize_labels(np.asarray(a).reshape(-1)) for a in label_arrays]
    kinds = {a.dtype.kind for a in arrays}
    if len(kinds) > 1:
        raise ValueError("labels mix integers and strings")
    if not arrays or kinds == {"i"}:
        return arrays
    _, codes = np.unique(np.concatenate(arrays), return_inverse=True)
    bounds = np.cumsum([0] + [a.size for a in arrays])
    return [codes.reshape(-1)[bounds[t] : bounds[t + 1]].astype(np.int64) for t in range(len(arrays))]


def _as_tensor(x: ArrayLike | torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)


def _prepare_features(
    x_train: ArrayLike | torch.Tensor,
    x_val: ArrayLike | torch.Tensor,
    device: torch.device,
    dtype: torch.dtype,
    metric: Metric,
) -> tuple[torch.Tensor, torch.Tensor]:
    xt = _as_tensor(x_train, device, dtype)
    xv = _as_tensor(x_val, device, dtype)
    if xt.ndim != 2 or xv.ndim != 2:
        raise ValueError(f"features must be 2-D, got train {tuple(xt.shape)}, val {tuple(xv.shape)}")
    if xt.shape[1] != xv.shape[1]:
        raise ValueError(f"feature dimension mismatch: train {xt.shape[1]}, val {xv.shape[1]}")
    if not (torch.isfinite(xt).all() and torch.isfinite(xv).all()):
        raise ValueError("features contain NaN or inf")
    if metric == "cosine":
        xt = torch.nn.functional.normalize(xt, dim=1)
        xv = torch.nn.functional.normalize(xv, dim=1)
    elif metric != "euclidean":
        raise ValueError(f"unknown metric {metric!r}; use 'euclidean' or 'cosine'")
    return xt, xv


def _rank_keys(xt: torch.Tensor, xt_sq: torch.Tensor, xv_chunk: torch.Tensor, metric: Metric) -> torch.Tensor:
    """Per-row keys whose ascending order is the distance order (train norms shared).

    Euclidean: ``|t|^2 - 2<t, v>`` (the ``|v|^2`` term is constant within a row, so it
    is dropped: same order, one matmul). Cosine: ``-<t, v>`` on unit vectors.
    """
    dots = xv_chunk @ xt.T
    if metric == "cosine":
        return -dots
    return xt_sq.unsqueeze(0) - 2.0 * dots


def _shapley_from_sorted(u_sorted: torch.Tensor, k: int) -> torch.Tensor:
    """Vectorised Jia et al. recursion on utilities already sorted by distance.

    ``u_sorted`` is ``(B, N)``; returns the per-position Shapley values ``(B, N)``.
    """
    b, n = u_sorted.shape
    s = u_sorted.new_empty((b, n))
    if n == 0:
        return s
    # farthest record: in the top-K of S + {it} iff |S| < K, i.e. for min(K, N) of
    # the N equally likely coalition sizes. Jia et al. (and pyDVL) write u[N] / N,
    # which is the same when N >= K but breaks efficiency when N < K.
    last = u_sorted[:, -1:] * (min(k, n) / (n * k))
    if n == 1:
        return last.clone()
    # d[j] = (u[j] - u[j+1]) / max(K, j) for 1-based j = 1..N-1
    pos = torch.arange(1, n, device=u_sorted.device, dtype=u_sorted.dtype)
    denom = torch.clamp(pos, min=float(k))
    d = (u_sorted[:, :-1] - u_sorted[:, 1:]) / denom
    # s[i] = s[N] + sum_{j >= i} d[j]  (reverse cumulative sum)
    tail = torch.flip(torch.cumsum(torch.flip(d, dims=[1]), dim=1), dims=[1])
    s[:, :-1] = tail + last
    s[:, -1:] = last
    return s


def _knn_shapley_core(
    xt: torch.Tensor,
    xv: torch.Tensor,
    utility: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    k: int,
    metric: Metric,
    batch_size: int | None,
    memory_budget: int | None,
    progress: bool,
) -> torch.Tensor:
    """Average over validation points of the per-point KNN-Shapley vectors.

    ``utility(rows, order, dots)`` returns the sorted ``(B, N)`` utility matrix for
    validation rows ``rows`` given the sort permutation ``order``.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n, m = xt.shape[0], xv.shape[0]
    total = torch.zeros(n, dtype=xt.dtype, device=xt.device)
    if n == 0 or m == 0:
        return total
    if memory_budget is None:
        memory_budget = DEFAULT_MEMORY_BUDGET_CUDA if xt.device.type == "cuda" else DEFAULT_MEMORY_BUDGET
    bs = batch_size or auto_batch_size(n, m, memory_budget)
    xt_sq = (xt * xt).sum(dim=1)
    starts = range(0, m, bs)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="knn-shapley", unit="chunk", total=(m + bs - 1) // bs)
    for start in starts:
        rows = torch.arange(start, min(start + bs, m), device=xt.device)
        keys = _rank_keys(xt, xt_sq, xv[rows], metric)
        order = torch.argsort(keys, dim=1, stable=True)
        del keys
        u_sorted = utility(rows, order, xt)
        s_sorted = _shapley_from_sorted(u_sorted, k)
        del u_sorted
        s = torch.empty_like(s_sorted).scatter_(1, order, s_sorted)
        total += s.sum(dim=0)
        del s, s_sorted, order
    return total / m


def knn_shapley(
    x_train: ArrayLike | torch.Tensor,
    y_train: ArrayLike | torch.Tensor,
    x_val: ArrayLike | torch.Tensor,
    y_val: ArrayLike | torch.Tensor,
    k: int = 5,
    *,
    device: str | torch.device = "cpu",
    batch_size: int | None = None,
    dtype: torch.dtype = torch.float64,
    metric: Metric = "euclidean",
    memory_budget: int | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Exact KNN-Shapley value of each training record for a K-NN classifier.

    Utility of a subset ``S`` at validation point ``v`` is the fraction of the
    ``min(K, |S|)`` nearest neighbours of ``v`` in ``S`` whose label equals ``y_v``;
    values are averaged over the validation points (same convention as pyDVL's
    ``KNNShapleyValuation``), so they sum to the soft K-NN validation accuracy.

    Args:
        x_train, y_train: ``(N, d)`` features and ``(N,)`` labels being valued.
        x_val, y_val: ``(M, d)`` features and ``(M,)`` labels of the buyer's set.
        k: number of neighbours ``K``.
        device: torch device for all work (same code path on CPU and GPU).
        batch_size: validation points per chunk; ``None`` derives it from
            ``memory_budget`` so the ``chunk x N`` working set stays bounded.
        dtype: float dtype; keep float64 for reproducible values.
        metric: ``"euclidean"`` or ``"cosine"`` distance for the neighbour order.
        memory_budget: bytes one chunk may use when ``batch_size`` is ``None``
            (default 128 MiB on CPU, 2 GiB on CUDA).
        progress: show a tqdm bar over chunks.

    Returns:
        ``(N,)`` tensor of values (on ``device``, in ``dtype``), in training order.
    """
    dev = torch.device(device)
    xt, xv = _prepare_features(x_train, x_val, dev, dtype, metric)
    yt_np, yv_np = (
        y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y) for y in (y_train, y_val)
    )
    if yt_np.reshape(-1).shape[0] != xt.shape[0] or yv_np.reshape(-1).shape[0] != xv.shape[0]:
        raise ValueError("labels and features disagree in length")
    yt_codes, yv_codes = encode_labels(yt_np, yv_np)
    yt = torch.as_tensor(yt_codes, device=dev)
    yv = torch.as_tensor(yv_codes, device=dev)

    def utility(rows: torch.Tensor, order: torch.Tensor, _xt: torch.Tensor) -> torch.Tensor:
        return (yt[order] == yv[rows].unsqueeze(1)).to(dtype)

    return _knn_shapley_core(xt, xv, utility, k, metric, batch_size, memory_budget, progress)


def knn_shapley_similarity(
    x_train: ArrayLike | torch.Tensor,
    x_val: ArrayLike | torch.Tensor,
    k: int = 5,
    *,
    device: str | torch.device = "cpu",
    batch_size: int | None = None,
    dtype: torch.dtype = torch.float64,
    memory_budget: int | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Label-free KNN-Shapley for unlabelled data such as text embeddings.

    Utility of ``S`` at validation point ``v`` is the mean cosine similarity of the
    ``min(K, |S|)`` nearest (by cosine) records of ``S`` to ``v``: "how well does the
    data cover what the buyer asked for". The utility is a per-record sum over the
    top-K, so the same exact recursion applies with ``u = cos(t, v)``.
    Off-topic records (negative similarity) receive negative values.
    """
    dev = torch.device(device)
    xt, xv = _prepare_features(x_train, x_val, dev, dtype, "cosine")

    def utility(rows: torch.Tensor, order: torch.Tensor, xt_: torch.Tensor) -> torch.Tensor:
        sims = xv[rows] @ xt_.T
        return torch.gather(sims, 1, order)

    return _knn_shapley_core(xt, xv, utility, k, "cosine", batch_size, memory_budget, progress)
