"""Exact KNN-Shapley values (Jia et al., PVLDB 12(11), 2019).

For an unweighted K-nearest-neighbour model the Shapley value of every training
record w.r.t. one validation point follows from a single sort of the training set
by distance and a backward recursion over the sorted positions (1-based ``i``)::

    s[N] = u[N] * min(K, N) / (N K)          (= u[N] / N when N >= K)
    s[i] = s[i+1] + (u[i] - u[i+1]) / max(K, i)

where ``u`` is the per-record utility contribution (``1[y_train == y_val]`` for
classification; the similarity to the validation point in the label-free variant).
The recursion unrolls to a reverse cumulative sum, so a chunk of validation points is
handled with one batched sort, one ``cumsum`` and one un-sorting add per row -- no
Python loop over records. Validation points are processed in chunks sized to a memory
budget, so the full ``M x N`` matrix is never materialised when it would be too large.

Speed: the sort is a plain value sort of int64 keys that pack the distance's top bits
above the record index (unique keys, ties broken by index by construction), with an
exact float64 re-sort of the rare runs whose packed prefixes collide.

Determinism (the same wei from every device and memory budget): the distance matmul
always runs on fixed :data:`ROW_BLOCK`-row blocks; the recursion's terms are rounded to
multiples of ``2^-56`` and summed in int64 (associative, so a GPU scan and a CPU loop
agree); the per-validation-point vectors are added into the total one row at a time in
row order. Two records whose float64 distances differ only in the last bits can still
be ordered differently by two devices' matmuls (continuous data: probability ~1e-16
per pair); label-match utilities are otherwise bit-identical everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import torch
from numpy.typing import ArrayLike

from .data import FeatureScaleError, feature_scale_problem

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "DEFAULT_MEMORY_BUDGET_CUDA",
    "ROW_BLOCK",
    "FeatureScaleError",
    "Metric",
    "auto_batch_size",
    "encode_labels",
    "knn_shapley",
    "knn_shapley_similarity",
]

Metric = Literal["euclidean", "cosine"]

#: Bytes one validation chunk may use (rank keys, packed sort keys, utilities and the
#: int64 recursion: about 48 bytes per (val, train) pair). A chunk is never smaller
#: than :data:`ROW_BLOCK` rows, so the floor is ``ROW_BLOCK x N x 48`` bytes.
DEFAULT_MEMORY_BUDGET = 512 * 2**20
DEFAULT_MEMORY_BUDGET_CUDA = 4 * 2**30
_BYTES_PER_PAIR = 48

#: Validation rows per distance matmul. Fixed (never derived from the memory budget
#: or the device) so every key is computed by the same-shaped product in every run.
ROW_BLOCK = 16

_LOW63 = (1 << 63) - 1
_FIXED_ONE = float(2**56)
_FIXED_ULP = 2.0**-56


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
    if metric == "cosine":  # scale-free: divide by the row's max first so |x|^2 cannot overflow
        xt = torch.nn.functional.normalize(_max_scaled(xt), dim=1)
        xv = torch.nn.functional.normalize(_max_scaled(xv), dim=1)
    elif metric == "euclidean":
        _check_scale(xt, xv)
    else:
        raise ValueError(f"unknown metric {metric!r}; use 'euclidean' or 'cosine'")
    return xt, xv


def _max_scaled(x: torch.Tensor) -> torch.Tensor:
    """Rows divided by their largest absolute entry (zero rows stay zero)."""
    if x.numel() == 0:
        return x
    m = x.abs().amax(dim=1, keepdim=True)
    return x / torch.where(m > 0, m, torch.ones_like(m))


def _rank_keys(xt: torch.Tensor, xt_sq: torch.Tensor, xv_chunk: torch.Tensor, metric: Metric) -> torch.Tensor:
    """Per-row keys whose ascending order is the distance order (train norms shared).

    Euclidean: ``|t|^2 - 2<t, v>`` (the ``|v|^2`` term is constant within a row, so it
    is dropped: same order, one matmul). Cosine: ``-<t, v>`` on unit vectors. The
    matmul always runs on blocks of exactly :data:`ROW_BLOCK` validation rows aligned
    to the global row index, so a key's bits never depend on the chunk size.
    """
    out = torch.empty((xv_chunk.shape[0], xt.shape[0]), dtype=xt.dtype, device=xt.device)
    for s in range(0, xv_chunk.shape[0], ROW_BLOCK):
        torch.matmul(xv_chunk[s : s + ROW_BLOCK], xt.T, out=out[s : s + ROW_BLOCK])
    if metric == "cosine":
        return out.neg_()
    return out.mul_(-2.0).add_(xt_sq.unsqueeze(0))


def _sort_order(keys: torch.Tensor) -> torch.Tensor:
    """Row-wise permutation sorting ``keys`` ascending, ties broken by column index.

    Exact and cheaper than a stable float argsort: each float64 key is mapped to a
    monotone int64, its top ``64 - b`` bits are packed above the ``b``-bit column
    index (``2^b >= N``) and the packed integers are sorted as plain values (unique,
    so any sort algorithm gives the one answer). Keys equal in the top bits but not
    in float64 (rare: they agree to ``~2^-(52-b)`` relative) are put back in float64
    order by :func:`_fix_near_ties`.
    """
    if keys.dtype != torch.float64:
        keys = keys.to(torch.float64)  # exact widening: same order
    b, n = keys.shape
    bits = max(1, int(n - 1).bit_length())
    low = (1 << bits) - 1
    keys.add_(0.0)  # -0.0 -> +0.0: equal floats must map to equal integers
    mono = keys.view(torch.int64)
    packed = (mono >> 63) & _LOW63
    packed ^= mono  # IEEE order -> signed integer order
    packed &= ~low
    packed |= torch.arange(n, device=keys.device, dtype=torch.int64)
    if packed.device.type == "cpu":
        arr = packed.numpy()
        workers = max(1, min(torch.get_num_threads(), b))
        if workers == 1:
            arr.sort(axis=1)
        else:
            step = -(-b // workers)
            with ThreadPoolExecutor(workers) as ex:  # numpy releases the GIL while sorting
                list(ex.map(lambda s: arr[s : s + step].sort(axis=1), range(0, b, step)))
    else:
        packed = torch.sort(packed, dim=1).values
    clash = (packed[:, 1:] ^ packed[:, :-1]) <= low  # same packed prefix
    packed &= low
    if bool(clash.any()):
        _fix_near_ties(packed, keys, clash)
    return packed


def _fix_near_ties(order: torch.Tensor, keys: torch.Tensor, clash: torch.Tensor) -> None:
    """Re-sort each run of equal packed prefixes by (float64 key, index), in place.

    Runs are short and rare, so this touches a handful of entries; within a run the
    packed sort already left indices ascending, so a stable sort by key finishes it.
    """
    b, n = order.shape
    in_run = torch.zeros((b, n), dtype=torch.bool, device=order.device)
    in_run[:, 1:] |= clash
    in_run[:, :-1] |= clash
    starts = in_run.clone()
    starts[:, 1:] &= ~clash
    run_id = torch.cumsum(starts.reshape(-1), 0).reshape(b, n)
    rows, cols = torch.nonzero(in_run, as_tuple=True)
    idx = order[rows, cols]
    k64 = keys[rows, idx]
    rid = run_id[rows, cols]
    perm = torch.argsort(k64, stable=True)
    perm = perm[torch.argsort(rid[perm], stable=True)]
    order[rows, cols] = idx[perm]


def _shapley_from_sorted(u_sorted: torch.Tensor, k: int) -> torch.Tensor:
    """Vectorised Jia et al. recursion on utilities already sorted by distance.

    ``u_sorted`` is ``(B, N)``; returns the per-position Shapley values ``(B, N)``.
    The recursion unrolls to ``s[i] = s[N] + sum_{j >= i} d[j]`` with
    ``d[j] = (u[j] - u[j+1]) / max(K, j)``; every term is rounded once to a multiple
    of ``2^-56`` and summed in int64 (exact, associative), so the result does not
    depend on the device's scan order: one forward cumsum ``C`` gives every reverse
    sum as ``C[-1] - C[i-1]``.
    """
    b, n = u_sorted.shape
    if n == 0:
        return u_sorted.new_empty((b, 0))
    dev = u_sorted.device
    # farthest record: in the top-K of S + {it} iff |S| < K, i.e. for min(K, N) of
    # the N equally likely coalition sizes. Jia et al. (and pyDVL) write u[N] / N,
    # which is the same when N >= K but breaks efficiency when N < K.
    last = _to_fixed(u_sorted[:, -1:].to(torch.float64) * (min(k, n) / (n * k)))
    if n == 1:
        return last.to(torch.float64) * _FIXED_ULP
    pos = torch.arange(1, n, device=dev, dtype=torch.float64)
    w = 1.0 / torch.clamp(pos, min=float(k))  # (N-1,)
    w_fix = _to_fixed(w)
    if u_sorted.dtype == torch.bool:
        # 0/1 utilities, summed by parts so one int64 cumsum does it:
        # s[p] = last - u[N-1] W[N-2] + G + u[p] W'[p] - F[p], where W' = W extended by
        # W[N-2], C[q] = W'[q] - W'[q-1] (0 for q = 0), F = cumsum(u C), G = F[N-1].
        w_ext = torch.cat([w_fix, w_fix[-1:]])
        c = torch.cat([w_ext.new_zeros(1), w_ext[1:] - w_ext[:-1]])
        f = torch.cumsum(torch.where(u_sorted, c, c.new_zeros(())), dim=1)
        const = last - u_sorted[:, -1:].to(torch.int64) * w_fix[-1] + f[:, -1:]
        torch.sub(const, f, out=f)
        f += torch.where(u_sorted, w_ext, w_ext.new_zeros(()))
        s_int = f
    else:
        uf = u_sorted.to(torch.float64)
        d_int = _to_fixed((uf[:, :-1] - uf[:, 1:]) * w)
        c = torch.cumsum(d_int, dim=1)
        s_int = last.expand(b, n).clone()
        s_int[:, :-1] += c[:, -1:]
        s_int[:, 1:-1] -= c[:, :-1]
    out = s_int.to(torch.float64)
    return out.mul_(_FIXED_ULP)


def _to_fixed(x: torch.Tensor) -> torch.Tensor:
    """Round to the nearest multiple of ``2^-56`` as int64 (exact power-of-two scaling)."""
    return torch.round(x * _FIXED_ONE).to(torch.int64)


def _check_scale(xt: torch.Tensor, xv: torch.Tensor) -> None:
    """Squared distances must be finite in float64: fail loudly instead of ranking ``inf``."""
    dmax = max(
        float(xt.abs().max()) if xt.numel() else 0.0,
        float(xv.abs().max()) if xv.numel() else 0.0,
    )
    problem = feature_scale_problem(dmax, xt.shape[1])
    if problem is not None:
        raise FeatureScaleError(problem)


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

    ``utility(rows, order, keys)`` returns the sorted ``(B, N)`` utility matrix for
    validation rows ``rows`` given the sort permutation ``order`` and the chunk's
    rank keys. Values are accumulated one validation row at a time, in row order
    (``total += s_row``: elementwise, correctly rounded), so the result is the same
    bits whatever the chunk size, memory budget or device.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n, m = xt.shape[0], xv.shape[0]
    total = torch.zeros(n, dtype=torch.float64, device=xt.device)
    if n == 0 or m == 0:
        return total.to(xt.dtype)
    if n >= 2**40:
        raise ValueError(f"too many training records ({n}); at most 2^40")
    if memory_budget is None:
        memory_budget = DEFAULT_MEMORY_BUDGET_CUDA if xt.device.type == "cuda" else DEFAULT_MEMORY_BUDGET
    bs = batch_size or auto_batch_size(n, m, memory_budget)
    bs = -(-bs // ROW_BLOCK) * ROW_BLOCK  # chunks start on row blocks: same matmul shapes
    xt_sq = (xt * xt).sum(dim=1)
    starts = range(0, m, bs)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="knn-shapley", unit="chunk", total=(m + bs - 1) // bs)
    for start in starts:
        rows = torch.arange(start, min(start + bs, m), device=xt.device)
        keys = _rank_keys(xt, xt_sq, xv[rows], metric)
        order = _sort_order(keys)
        u_sorted = utility(rows, order, keys)
        del keys
        s_sorted = _shapley_from_sorted(u_sorted, k)
        del u_sorted
        for r in range(rows.shape[0]):  # a permutation: each record touched once per row
            if total.device.type == "cpu":
                total.index_add_(0, order[r], s_sorted[r])
            else:  # same bits (one add per record); scatter is flagged deterministic on CUDA
                total += torch.empty_like(total).scatter_(0, order[r], s_sorted[r])
        del s_sorted, order
    return (total / m).to(xt.dtype)


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

    Utility of a subset ``S`` at validation point ``v`` is
    ``(1/K) * #{records among the min(K, |S|) nearest to v in S with label y_v}``
    -- divided by ``K`` even when ``|S| < K`` (Jia et al.'s utility; the empty set
    scores 0). Values are averaged over the validation points (pyDVL's convention), so
    by efficiency they sum to that utility of the whole training set: the soft K-NN
    validation accuracy when ``N >= K``, and ``N/K`` times the hit rate when ``N < K``.

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
    _, dense = np.unique(np.concatenate([yt_codes, yv_codes]), return_inverse=True)
    dense = dense.reshape(-1).astype(np.int32)  # small codes: the per-pair gather stays in cache
    yt = torch.as_tensor(dense[: yt_codes.shape[0]], device=dev)
    yv = torch.as_tensor(dense[yt_codes.shape[0] :], device=dev)

    def utility(rows: torch.Tensor, order: torch.Tensor, _keys: torch.Tensor) -> torch.Tensor:
        return yt[order] == yv[rows].unsqueeze(1)

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

    Utility of ``S`` at validation point ``v`` is ``(1/K)`` times the summed cosine
    similarity to ``v`` of the ``min(K, |S|)`` most similar records of ``S`` (the mean
    over the top-K when ``|S| >= K``; always divided by ``K``): "how well does the
    data cover what the buyer asked for". The utility is a per-record sum over the
    top-K, so the same exact recursion applies with ``u = cos(t, v)``.
    Off-topic records (negative similarity) receive negative values.
    """
    dev = torch.device(device)
    xt, xv = _prepare_features(x_train, x_val, dev, dtype, "cosine")

    def utility(rows: torch.Tensor, order: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return -torch.gather(keys, 1, order)  # cosine keys are -<t, v>

    return _knn_shapley_core(xt, xv, utility, k, "cosine", batch_size, memory_budget, progress)
