"""Repeatable quality checks giving each provider a factor ``q_i`` in ``[0, 1]``.

Every check is a pure function of public inputs (the validated records in provider
order, the buyer's validation set, the config), so any oracle or auditor recomputes
the same factors. Each check returns a per-provider :class:`CheckResult` with its
factor and a human-readable reason; ``q_i`` is the product of the factors.

Checks:

``schema``
    Labels in the allowed set, finite features, right dimension, non-empty. Any
    failure makes ``q_i = 0`` (see :func:`.data.validate_provider`).
``duplicates``
    Exact and near duplicates, within one provider and across providers. Records are
    put in a global order -- provider index (on-chain order: pass providers in that
    order), then row -- and a record is a duplicate if some *earlier* record is
    identical or lies within ``near_dup_rel_tol x`` the validation set's median
    nearest-neighbour distance. Duplicates get zero credit: they are removed from the
    pool before valuation (so the original keeps exactly the value it would have had
    without the copy) and the factor is the provider's kept fraction. Consequence: a
    copier never profits from copies of another provider's records, whichever of the
    two it claims; if the copier has the *lower* index the original loses the credit
    for the copied records instead, so the order must be one the copier cannot pick
    after seeing the data (commit order does this: datasets are bound by
    ``datasetRoot`` at commit time).
``label_agreement``
    For each record, the fraction of its ``agreement_k`` nearest validation points
    that carry the same label; the provider mean is divided by the same statistic of
    the validation set itself (leave-one-out) times ``1 - agreement_slack``, capped at
    1, so clean data scores 1 whatever the task's difficulty (the slack absorbs
    sampling noise), and a provider with a fraction ``f`` of random labels scores
    about ``1 - f``. Skipped (factor 1) for label-free valuation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .data import ValidatedProvider

__all__ = [
    "CheckResult",
    "DuplicateReport",
    "QualityConfig",
    "QualityReport",
    "find_duplicates",
    "label_agreement",
    "run_quality_checks",
    "smallest_k_mask",
    "validation_nn_scale",
]


@dataclass(frozen=True)
class QualityConfig:
    """Parameters of the quality checks (recorded in transcripts)."""

    near_duplicates: bool = True
    near_dup_rel_tol: float = 0.05
    max_candidate_pairs: int = 2**25
    agreement_k: int = 5
    agreement_slack: float = 0.05
    chunk_size: int = 1024

    def to_dict(self) -> dict[str, Any]:
        return {
            "near_duplicates": self.near_duplicates,
            "near_dup_rel_tol": self.near_dup_rel_tol,
            "max_candidate_pairs": self.max_candidate_pairs,
            "agreement_k": self.agreement_k,
            "agreement_slack": self.agreement_slack,
            "chunk_size": self.chunk_size,
        }


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome for one provider."""

    name: str
    factor: float
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "factor": self.factor,
            "reason": self.reason,
            "details": self.details,
        }


@dataclass
class DuplicateReport:
    """Global duplicate analysis: ``keep`` mask over the concatenated valid records."""

    keep: np.ndarray
    source: np.ndarray  # index (global) of the earlier record it duplicates, or -1
    exact: np.ndarray  # bool: duplicate is exact (else near)


@dataclass
class QualityReport:
    """Per-provider checks and combined quality, aligned with the provider order."""

    checks: list[list[CheckResult]]
    quality: np.ndarray
    keep_masks: list[np.ndarray | None]


def _pairwise_sq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared euclidean distances, clamped at 0 (matmul form, batched)."""
    d = (a * a).sum(1, keepdim=True) - 2.0 * (a @ b.T) + (b * b).sum(1).unsqueeze(0)
    return d.clamp_min_(0.0)


def validation_nn_scale(x_val: torch.Tensor, chunk_size: int = 1024) -> float:
    """Median distance from a validation point to its nearest *distinct* other point.

    The data's own length scale: near-duplicate tolerance is relative to it, so the
    check works for pixels, embeddings or standardised tabular features alike.
    Exact repeats are removed first and each point's own entry is excluded by index,
    never by testing for a zero distance: in the matmul form a point's distance to
    itself is rounding noise (~1e-16, not 0), which would collapse the scale.
    """
    xu = torch.unique(x_val, dim=0)
    m = xu.shape[0]
    if m < 2:
        return 0.0
    mins = []
    for s in range(0, m, chunk_size):
        d = _pairwise_sq(xu[s : s + chunk_size], xu)
        rows = torch.arange(d.shape[0], device=d.device)
        d[rows, rows + s] = float("inf")  # self, by index
        mins.append(d.min(1).values)
    nn = torch.cat(mins)
    return float(torch.sqrt(nn.median()).item())


def _verify_pairs(
    x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, tol_sq: float, chunk: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep candidate pairs whose direct squared distance is within ``tol_sq``.

    The final decision always uses ``sum((x_a - x_b)^2)``, whichever generator
    proposed the pair, so both search paths define "near" identically.
    """
    keep = []
    for s in range(0, a.shape[0], chunk):
        aa, bb = a[s : s + chunk], b[s : s + chunk]
        keep.append(((x[aa] - x[bb]) ** 2).sum(1) <= tol_sq)
    if not keep:
        return a, b
    k = torch.cat(keep)
    return a[k], b[k]


def _grid_candidate_pairs(x: torch.Tensor, tol: float, max_pairs: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Candidate pairs from a grid over ``m <= 4`` seeded random unit projections.

    ``|x_i - x_j| <= tol`` implies every projection differs by at most ``tol``, so
    with cells of width ``>= tol`` the pair sits in the same or an adjacent cell in
    each projection: looking in the ``3^m`` neighbouring cells finds every pair.
    Returns ``None`` when there would be more than ``max_pairs`` candidates.
    """
    n, d = x.shape
    dev = x.device
    m = min(d, 4)
    g = torch.Generator(device="cpu").manual_seed(0)
    r = torch.randn(d, m, generator=g, dtype=torch.float64)
    r = (r / r.norm(dim=0, keepdim=True)).to(dev)
    width = tol * (1 + 1e-9) + 1e-12  # never narrower than tol
    cells = torch.floor((x @ r) / width).to(torch.int64)
    cells = cells - cells.min(0).values + 1  # >= 1, so offsets -1 stay >= 0
    base = int(cells.max()) + 2
    if base**m >= 2**62:
        return None
    weights = base ** torch.arange(m, device=dev, dtype=torch.int64)
    key = (cells * weights).sum(1)
    order = torch.argsort(key, stable=True)
    skey = key[order]
    offsets = torch.cartesian_prod(*[torch.tensor([-1, 0, 1], device=dev)] * m)
    offsets = offsets.reshape(-1, m)
    a_all, b_all, total = [], [], 0
    for off in offsets:  # 3^m cell offsets, not records
        delta = int((off * weights).sum())
        if delta < 0:
            continue  # each unordered cell pair once (delta > 0) or same cell (== 0)
        target = key + delta
        lo = torch.searchsorted(skey, target, right=False)
        hi = torch.searchsorted(skey, target, right=True)
        cnt = hi - lo
        total += int(cnt.sum())
        if total > max_pairs:
            return None
        a = torch.repeat_interleave(torch.arange(n, device=dev), cnt)
        start = torch.repeat_interleave(lo - (torch.cumsum(cnt, 0) - cnt), cnt)
        b = order[start + torch.arange(a.shape[0], device=dev)]
        keep = a != b
        a_all.append(a[keep])
        b_all.append(b[keep])
    a = torch.cat(a_all)
    b = torch.cat(b_all)
    return torch.maximum(a, b), torch.minimum(a, b)


def _near_duplicate_sources(
    x: torch.Tensor,
    tol: float,
    *,
    chunk_size: int,
    max_pairs: int,
    progress: bool,
) -> np.ndarray:
    """For each record, the lowest-index *earlier* record within ``tol`` (or -1).

    Candidate pairs come from :func:`_grid_candidate_pairs` (``O(N log N + pairs)``);
    if that would exceed ``max_pairs`` (dense, clustered data) it falls back to
    chunked all-pairs distances (``O(N^2 d)`` work, ``O(chunk x N)`` memory). Every
    candidate is then checked exactly, so both paths give the same answer.
    """
    n, d = x.shape
    dev = x.device
    tol_sq = tol * tol
    pairs = _grid_candidate_pairs(x, tol, max_pairs)
    if pairs is not None:
        later, earlier = pairs
    else:
        later_l, earlier_l = [], []
        starts_it = range(0, n, chunk_size)
        if progress:
            from tqdm.auto import tqdm

            starts_it = tqdm(starts_it, desc="near-duplicates", unit="chunk")
        idx_all = torch.arange(n, device=dev)
        for s in starts_it:
            rows = idx_all[s : s + chunk_size]
            dm = _pairwise_sq(x[rows], x)
            cand = (dm <= tol_sq * (1 + 1e-6) + 1e-12) & (idx_all.unsqueeze(0) < rows.unsqueeze(1))
            rr, cc = torch.nonzero(cand, as_tuple=True)
            later_l.append(rows[rr])
            earlier_l.append(cc)
        later, earlier = torch.cat(later_l), torch.cat(earlier_l)
    if d > 16 and later.numel():  # cheap necessary condition before the exact check
        g = torch.Generator(device="cpu").manual_seed(1)
        r = torch.randn(d, 16, generator=g, dtype=torch.float64)
        p16 = x @ (r / r.norm(dim=0, keepdim=True)).to(dev)
        wide = tol * (1 + 1e-9) + 1e-12
        keep = [
            ((p16[later[s : s + 2**18]] - p16[earlier[s : s + 2**18]]).abs() <= wide).all(1)
            for s in range(0, later.shape[0], 2**18)
        ]
        k = torch.cat(keep)
        later, earlier = later[k], earlier[k]
    later, earlier = _verify_pairs(x, later, earlier, tol_sq, max(1, 2**22 // d))
    src = torch.full((n,), n, dtype=torch.int64, device=dev)
    src.scatter_reduce_(0, later, earlier, reduce="amin")
    out = src.cpu().numpy()
    out[out == n] = -1
    return out


def find_duplicates(
    features: np.ndarray,
    *,
    near_tol: float | None,
    device: torch.device,
    chunk_size: int = 1024,
    max_candidate_pairs: int = 2**25,
    progress: bool = False,
) -> DuplicateReport:
    """Mark each record that repeats an earlier one (exactly or within ``near_tol``).

    Exact duplicates come from ``np.unique`` (first occurrence kept). Near duplicates
    (``|x_i - x_j| <= near_tol`` with ``j < i``; the source is the lowest such ``j``)
    come from :func:`_near_duplicate_sources`.
    """
    n = features.shape[0]
    source = np.full(n, -1, dtype=np.int64)
    exact = np.zeros(n, dtype=bool)
    if n == 0:
        return DuplicateReport(keep=np.ones(0, bool), source=source, exact=exact)
    _, first, inverse = np.unique(features, axis=0, return_index=True, return_inverse=True)
    first_of = first[inverse.reshape(-1)]
    is_exact = first_of != np.arange(n)
    source[is_exact] = first_of[is_exact]
    exact[is_exact] = True
    if near_tol is not None and near_tol > 0 and n > 1:
        x = torch.as_tensor(features, dtype=torch.float64, device=device)
        near = _near_duplicate_sources(
            x,
            near_tol,
            chunk_size=chunk_size,
            max_pairs=max_candidate_pairs,
            progress=progress,
        )
        fill = (source < 0) & (near >= 0)
        source[fill] = near[fill]
    keep = source < 0
    return DuplicateReport(keep=keep, source=source, exact=exact)


def smallest_k_mask(d: torch.Tensor, k: int) -> torch.Tensor:
    """Bool mask of each row's ``k`` smallest entries, ties broken by lower column.

    ``topk`` values are exact but its choice among ties is unspecified, so take every
    entry below the k-th value plus the lowest-index entries equal to it: the same
    set as a stable sort, in ``O(rows x cols)`` without sorting.
    """
    kth = torch.topk(d, k, dim=1, largest=False).values[:, -1:]
    lt = d < kth
    eq = d == kth
    need = k - lt.sum(1, keepdim=True)
    return lt | (eq & (torch.cumsum(eq, dim=1) <= need))


def label_agreement(
    x_records: torch.Tensor,
    y_records: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    k: int,
    *,
    exclude_self: bool = False,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """Per-record fraction of its ``k`` nearest validation points with the same label.

    Neighbours are by squared distance with ties broken by validation index (see
    :func:`smallest_k_mask`), so the result is reproducible. ``exclude_self`` is for the validation set's
    own leave-one-out baseline.
    """
    m = x_val.shape[0]
    kk = min(k, m - (1 if exclude_self else 0))
    out = torch.zeros(x_records.shape[0], dtype=torch.float64, device=x_records.device)
    if kk <= 0 or x_records.shape[0] == 0:
        return out
    for s in range(0, x_records.shape[0], chunk_size):
        xs = x_records[s : s + chunk_size]
        d = _pairwise_sq(xs, x_val)
        if exclude_self:
            rows = torch.arange(s, s + xs.shape[0], device=xs.device)
            d[torch.arange(xs.shape[0], device=xs.device), rows] = float("inf")
        sel = smallest_k_mask(d, kk)
        same = y_val.unsqueeze(0) == y_records[s : s + chunk_size].unsqueeze(1)
        agree = (sel & same).sum(1).to(torch.float64) / kk
        out[s : s + xs.shape[0]] = agree
    return out


def _codes(labels: np.ndarray, label_set: np.ndarray) -> np.ndarray:
    return np.searchsorted(label_set, labels).astype(np.int64)


def run_quality_checks(
    validated: Sequence[ValidatedProvider],
    x_val: np.ndarray,
    y_val: np.ndarray | None,
    label_set: np.ndarray | None,
    config: QualityConfig,
    *,
    device: torch.device,
    progress: bool = False,
) -> QualityReport:
    """Run every check for every provider; invalid providers get ``q = 0``.

    Returns per-provider check lists (schema first), ``quality`` = product of factors,
    and each valid provider's mask of records that keep credit.
    """
    n_prov = len(validated)
    checks: list[list[CheckResult]] = [[] for _ in range(n_prov)]
    quality = np.zeros(n_prov, dtype=np.float64)
    keep_masks: list[np.ndarray | None] = [None] * n_prov
    valid = [v for v in validated if v.ok]
    for v in validated:
        if v.ok:
            checks[v.index].append(CheckResult("schema", 1.0, f"{v.n_records} records, schema valid"))
        else:
            checks[v.index].append(CheckResult("schema", 0.0, str(v.error)))
    if not valid:
        return QualityReport(checks=checks, quality=quality, keep_masks=keep_masks)

    xv = torch.as_tensor(x_val, dtype=torch.float64, device=device)
    feats = np.concatenate([v.features for v in valid], axis=0)  # type: ignore[misc]
    owner = np.concatenate([np.full(v.n_records, v.index, dtype=np.int64) for v in valid])
    offsets = np.cumsum([0] + [v.n_records for v in valid])

    # --- duplicates --------------------------------------------------------
    scale = validation_nn_scale(xv, config.chunk_size) if config.near_duplicates else 0.0
    near_tol = config.near_dup_rel_tol * scale if config.near_duplicates and scale > 0 else None
    dup = find_duplicates(
        feats,
        near_tol=near_tol,
        device=device,
        chunk_size=config.chunk_size,
        max_candidate_pairs=config.max_candidate_pairs,
        progress=progress,
    )
    ids = {v.index: v.provider_id for v in validated}
    for j, v in enumerate(valid):
        sl = slice(offsets[j], offsets[j + 1])
        keep = dup.keep[sl]
        keep_masks[v.index] = keep
        src = dup.source[sl]
        ex = dup.exact[sl]
        dup_rows = ~keep
        src_owner = owner[src[dup_rows]]
        n_dup = int(dup_rows.sum())
        within_exact = int(((src_owner == v.index) & ex[dup_rows]).sum())
        within_near = int(((src_owner == v.index) & ~ex[dup_rows]).sum())
        cross: dict[str, int] = {}
        for o, c in zip(*np.unique(src_owner[src_owner != v.index], return_counts=True), strict=True):
            cross[ids[int(o)]] = int(c)
        factor = float(keep.sum()) / v.n_records
        if n_dup == 0:
            reason = "no exact or near duplicates"
        else:
            parts = []
            if within_exact:
                parts.append(f"{within_exact} exact duplicate(s) of its own records")
            if within_near:
                parts.append(f"{within_near} near duplicate(s) of its own records")
            for pid, c in cross.items():
                parts.append(f"{c} copy/copies of provider {pid}'s records")
            reason = f"{n_dup}/{v.n_records} records get no credit: " + "; ".join(parts)
        checks[v.index].append(
            CheckResult(
                "duplicates",
                factor,
                reason,
                {
                    "duplicates": n_dup,
                    "within_exact": within_exact,
                    "within_near": within_near,
                    "copied_from": cross,
                    "near_tol": near_tol,
                },
            )
        )

    # --- label agreement ---------------------------------------------------
    if y_val is None or label_set is None:
        for v in valid:
            checks[v.index].append(CheckResult("label_agreement", 1.0, "label-free task: not applicable"))
    else:
        yv = torch.as_tensor(_codes(y_val, label_set), device=device)
        base = float(label_agreement(xv, yv, xv, yv, config.agreement_k, exclude_self=True).mean().item())
        for v in valid:
            xr = torch.as_tensor(v.features, dtype=torch.float64, device=device)
            yr = torch.as_tensor(_codes(v.labels, label_set), device=device)  # type: ignore[arg-type]
            agree = float(
                label_agreement(xr, yr, xv, yv, config.agreement_k, chunk_size=config.chunk_size).mean().item()
            )
            if base <= 0.0:
                factor, reason = (
                    1.0,
                    "validation labels have no neighbour structure: not applicable",
                )
            else:
                factor = min(1.0, agree / (base * (1.0 - config.agreement_slack)))
                reason = (
                    f"label agreement {agree:.4f} vs validation baseline {base:.4f} (slack {config.agreement_slack:g})"
                )
            checks[v.index].append(
                CheckResult(
                    "label_agreement",
                    factor,
                    reason,
                    {"agreement": agree, "baseline": base, "k": config.agreement_k},
                )
            )

    for v in valid:
        q = 1.0
        for c in checks[v.index]:
            q *= c.factor
        quality[v.index] = min(1.0, max(0.0, q))
    return QualityReport(checks=checks, quality=quality, keep_masks=keep_masks)
