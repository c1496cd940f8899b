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
    "validation_nn_scale",
]


@dataclass(frozen=True)
class QualityConfig:
    """Parameters of the quality checks (recorded in transcripts)."""

    near_duplicates: bool = True
    near_dup_rel_tol: float = 0.05
    agreement_k: int = 5
    agreement_slack: float = 0.05
    chunk_size: int = 1024

    def to_dict(self) -> dict[str, Any]:
        return {
            "near_duplicates": self.near_duplicates,
            "near_dup_rel_tol": self.near_dup_rel_tol,
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
    """
    m = x_val.shape[0]
    if m < 2:
        return 0.0
    mins = []
    for s in range(0, m, chunk_size):
        d = _pairwise_sq(x_val[s : s + chunk_size], x_val)
        d[d == 0] = float("inf")  # self and exact copies are not the length scale
        mins.append(d.min(1).values)
    nn = torch.cat(mins)
    nn = nn[torch.isfinite(nn)]
    if nn.numel() == 0:
        return 0.0
    return float(torch.sqrt(nn.median()).item())


def find_duplicates(
    features: np.ndarray,
    *,
    near_tol: float | None,
    device: torch.device,
    chunk_size: int = 1024,
    progress: bool = False,
) -> DuplicateReport:
    """Mark each record that repeats an earlier one (exactly or within ``near_tol``).

    Exact duplicates come from ``np.unique`` (first occurrence kept). Near duplicates:
    for each chunk of records, distances to all records, masked to earlier ones;
    ``O(N^2 d)`` matmul work but ``O(chunk x N)`` memory.
    """
    n = features.shape[0]
    source = np.full(n, -1, dtype=np.int64)
    exact = np.zeros(n, dtype=bool)
    if n == 0:
        return DuplicateReport(keep=np.ones(0, bool), source=source, exact=exact)
    _, first, inverse = np.unique(
        features, axis=0, return_index=True, return_inverse=True
    )
    first_of = first[inverse.reshape(-1)]
    is_exact = first_of != np.arange(n)
    source[is_exact] = first_of[is_exact]
    exact[is_exact] = True
    if near_tol is not None and near_tol > 0 and n > 1:
        x = torch.as_tensor(features, dtype=torch.float64, device=device)
        tol_sq = near_tol * near_tol
        starts = range(0, n, chunk_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="near-duplicates", unit="chunk")
        idx_all = torch.arange(n, device=device)
        for s in starts:
            rows = idx_all[s : s + chunk_size]
            d = _pairwise_sq(x[rows], x)
            d[idx_all.unsqueeze(0) >= rows.unsqueeze(1)] = float("inf")  # earlier only
            close = d <= tol_sq
            has = close.any(1)
            # earliest close record: argmax of a bool row returns its first True
            first_close = torch.argmax(close.to(torch.uint8), dim=1)
            has_np = has.cpu().numpy()
            fc_np = first_close.cpu().numpy()
            sl = slice(s, s + rows.shape[0])
            near_new = has_np & (source[sl] < 0)
            block = source[sl]
            block[near_new] = fc_np[near_new]
            source[sl] = block
    keep = source < 0
    return DuplicateReport(keep=keep, source=source, exact=exact)


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

    Neighbour order is by squared distance with ties broken by validation index
    (stable sort), so it is reproducible. ``exclude_self`` is for the validation set's
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
        nbr = torch.argsort(d, dim=1, stable=True)[:, :kk]
        agree = (y_val[nbr] == y_records[s : s + chunk_size].unsqueeze(1)).to(
            torch.float64
        )
        out[s : s + xs.shape[0]] = agree.mean(1)
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
            checks[v.index].append(
                CheckResult("schema", 1.0, f"{v.n_records} records, schema valid")
            )
        else:
            checks[v.index].append(CheckResult("schema", 0.0, str(v.error)))
    if not valid:
        return QualityReport(checks=checks, quality=quality, keep_masks=keep_masks)

    xv = torch.as_tensor(x_val, dtype=torch.float64, device=device)
    feats = np.concatenate([v.features for v in valid], axis=0)  # type: ignore[misc]
    owner = np.concatenate(
        [np.full(v.n_records, v.index, dtype=np.int64) for v in valid]
    )
    offsets = np.cumsum([0] + [v.n_records for v in valid])

    # --- duplicates --------------------------------------------------------
    scale = (
        validation_nn_scale(xv, config.chunk_size) if config.near_duplicates else 0.0
    )
    near_tol = (
        config.near_dup_rel_tol * scale
        if config.near_duplicates and scale > 0
        else None
    )
    dup = find_duplicates(
        feats,
        near_tol=near_tol,
        device=device,
        chunk_size=config.chunk_size,
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
        for o, c in zip(
            *np.unique(src_owner[src_owner != v.index], return_counts=True), strict=True
        ):
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
            checks[v.index].append(
                CheckResult("label_agreement", 1.0, "label-free task: not applicable")
            )
    else:
        yv = torch.as_tensor(_codes(y_val, label_set), device=device)
        base = float(
            label_agreement(xv, yv, xv, yv, config.agreement_k, exclude_self=True)
            .mean()
            .item()
        )
        for v in valid:
            xr = torch.as_tensor(v.features, dtype=torch.float64, device=device)
            yr = torch.as_tensor(_codes(v.labels, label_set), device=device)  # type: ignore[arg-type]
            agree = float(
                label_agreement(
                    xr, yr, xv, yv, config.agreement_k, chunk_size=config.chunk_size
                )
                .mean()
                .item()
            )
            if base <= 0.0:
                factor, reason = (
                    1.0,
                    "validation labels have no neighbour structure: not applicable",
                )
            else:
                factor = min(1.0, agree / (base * (1.0 - config.agreement_slack)))
                reason = (
                    f"label agreement {agree:.4f} vs validation baseline {base:.4f}"
                    f" (slack {config.agreement_slack:g})"
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
