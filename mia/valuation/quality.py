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
    Exact and near duplicates, within one provider, across providers, and of the
    buyer's validation records. "Near" means within ``near_dup_rel_tol x`` the
    validation set's median nearest-neighbour distance (0.25 by default: honest records
    of the benchmarks never come that close to another record, see docs/valuation.md).
    All records are put in one order -- validation rows, then providers in on-chain
    order -- and each duplicate is chained to an earlier record it repeats; a chain's
    root stands for the whole cluster:

    * rooted in the validation set (a resold validation record): no credit, not valued;
    * held by one provider (padding): valued and credited once, extra copies dropped;
    * held by several providers (a copy, or data both bought elsewhere): the root stays
      in the valued pool -- so nobody else's value moves -- but is credited to nobody.

    No rule here depends on who committed first, so copying never pays, whichever
    position the copier takes; and duplicates lose their credit once, not again
    through ``q`` (the factor is 1; the reason lists what was found). The search does
    bounded work (see :func:`_near_duplicate_sources`): no input makes it quadratic.
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
    near_dup_rel_tol: float = 0.25
    own_dup_rel_tol: float = 0.5
    off_support_rel: float = 20.0
    bucket_cap: int = 64
    agreement_k: int = 5
    agreement_slack: float = 0.05
    chunk_size: int = 1024

    def to_dict(self) -> dict[str, Any]:
        return {
            "near_duplicates": self.near_duplicates,
            "near_dup_rel_tol": self.near_dup_rel_tol,
            "own_dup_rel_tol": self.own_dup_rel_tol,
            "off_support_rel": self.off_support_rel,
            "bucket_cap": self.bucket_cap,
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
    #: per provider: records whose value is credited to it
    keep_masks: list[np.ndarray | None]
    #: per provider: records that enter the valued pool but credit nobody (the one kept
    #: copy of a record shared by several providers); ``None`` = none
    shared_masks: list[np.ndarray | None] = field(default_factory=list)


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


_HASH_BITS = 20
_HASH_MULT = (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F)  # odd < 2^32: products < 2^52


def _cell_keys(cells: torch.Tensor) -> torch.Tensor:
    """Hash of integer cell coordinates (low bits only, no overflow): nearby cells never
    collide; far ones rarely do, and a collision only adds candidates that are checked."""
    mult = torch.tensor(_HASH_MULT[: cells.shape[1]], dtype=torch.int64, device=cells.device)
    return ((cells & ((1 << _HASH_BITS) - 1)) * mult).sum(1)


def _directions(d: int, basis: torch.Tensor | None) -> torch.Tensor:
    """Orthonormal ``(d, <= 20)`` directions: the principal axes of ``basis`` (largest
    variance first), completed by seeded random ones; any unit direction is 1-Lipschitz,
    so the grid's guarantee holds whichever are used."""
    k = min(d, 20)
    g = torch.Generator(device="cpu").manual_seed(0)
    rand = torch.randn(d, k, generator=g, dtype=torch.float64)
    if basis is None or basis.shape[0] < 2:
        return torch.linalg.qr(rand).Q[:, :k]
    b = basis.detach().to("cpu", torch.float64)
    b = b - b.mean(0)
    _, vecs = torch.linalg.eigh(b.T @ b)
    top = vecs[:, torch.arange(d - 1, d - 1 - min(k, b.shape[0]), -1)]
    q = torch.linalg.qr(torch.cat([top, rand], dim=1)).Q[:, :k]
    return q


def _near_duplicate_sources(
    x: torch.Tensor,
    tol: float,
    *,
    cap: int,
    progress: bool,
    groups: torch.Tensor | None = None,
    basis: torch.Tensor | None = None,
) -> np.ndarray:
    """For each record, the lowest-index *earlier* record within ``tol`` (or -1); with
    ``groups``, only an earlier record of the same group counts.

    Records are bucketed on a grid of cell width ``>= tol`` over ``m <= 4`` seeded
    random unit projections (``|x_i - x_j| <= tol`` implies every projection differs by
    at most ``tol``, so the pair sits in the same or an adjacent cell of each). Each
    record is compared with at most ``cap`` records -- the lowest-index ones -- of each
    of its ``3^m`` neighbouring cells, so the work is at most ``N x 3^m x cap`` pair
    checks whatever the data: an outlier cannot stretch the grid (cells are hashed,
    never enumerated) and a dense blob cannot make it quadratic. The search is exact
    whenever no cell holds more than ``cap`` records; in a denser cell a record is only
    matched against the cell's ``cap`` earliest members. Candidates must also agree
    within ``tol`` on 16 further directions, then pass the direct
    ``sum((x_a - x_b)^2) <= tol^2``. Directions are the principal axes of ``basis`` (the
    buyer's validation set, which providers cannot shape), so cells split the data
    where it actually varies -- random directions barely spread 384-dim embeddings.
    """
    n, d = x.shape
    dev = x.device
    m = min(d, 4)
    dirs = _directions(d, basis).to(dev)
    r = dirs[:, :m]
    width = tol * (1 + 1e-9) + 1e-300  # never narrower than tol
    cells = torch.floor(((x @ r) / width).clamp(-(2.0**60), 2.0**60)).to(torch.int64)
    # with groups, each group has its own cells, so the cap counts only its own records
    salt = 0 if groups is None else ((groups + 1) & ((1 << _HASH_BITS) - 1)) * 0x632BE5AB
    key = _cell_keys(cells) ^ salt
    order = torch.argsort(key, stable=True)  # equal keys: index ascending
    skey = key[order]
    p16 = x @ dirs[:, m : m + 16] if d > m + 16 else None
    tol_sq = tol * tol
    src = torch.full((n,), n, dtype=torch.int64, device=dev)
    arange = torch.arange(n, device=dev)
    offsets = torch.cartesian_prod(*[torch.tensor([-1, 0, 1], device=dev)] * m).reshape(-1, m)
    it = offsets
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(offsets, desc="near-duplicates", unit="cell offset")
    for off in it:  # 3^m cell offsets, not records
        target = _cell_keys(cells + off) ^ salt
        lo = torch.searchsorted(skey, target, right=False)
        hi = torch.searchsorted(skey, target, right=True)
        cnt = torch.clamp(hi - lo, max=cap)
        a = torch.repeat_interleave(arange, cnt)
        first = torch.repeat_interleave(lo - (torch.cumsum(cnt, 0) - cnt), cnt)
        b = order[first + torch.arange(a.shape[0], device=dev)]
        keep = b < a  # a sees the earliest members of each neighbouring cell
        a, b = a[keep], b[keep]
        if p16 is not None and a.numel():  # cheap necessary condition before the exact check
            ok = torch.cat([((p16[a[s : s + 2**18]] - p16[b[s : s + 2**18]]).abs() <= width).all(1)
                            for s in range(0, a.shape[0], 2**18)])  # fmt: skip
            a, b = a[ok], b[ok]
        if groups is not None:  # hash collisions between groups
            same = groups[a] == groups[b]
            a, b = a[same], b[same]
        a, b = _verify_pairs(x, a, b, tol_sq, max(1, 2**22 // d))
        src.scatter_reduce_(0, a, b, reduce="amin")
    out = src.cpu().numpy()
    out[out == n] = -1
    return out


def find_duplicates(
    features: np.ndarray,
    *,
    near_tol: float | None,
    device: torch.device,
    bucket_cap: int = 64,
    progress: bool = False,
    groups: np.ndarray | None = None,
    own_tol: float | None = None,
    basis: np.ndarray | None = None,
) -> DuplicateReport:
    """Mark each record that repeats an earlier one (exactly or within ``near_tol``).

    Exact duplicates come from ``np.unique`` (first occurrence kept). Near duplicates
    (``|x_i - x_j| <= near_tol`` with ``j < i``; the source is the lowest such ``j``
    among the candidates of :func:`_near_duplicate_sources`) fill in the rest; with
    ``groups`` and a wider ``own_tol``, a record with none of those may still repeat an
    earlier record of its own group within ``own_tol`` (padding with near-copies).
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
        bt = None if basis is None else torch.as_tensor(basis, dtype=torch.float64)
        near = _near_duplicate_sources(x, near_tol, cap=max(1, bucket_cap), progress=progress, basis=bt)
        fill = (source < 0) & (near >= 0)
        source[fill] = near[fill]
        if groups is not None and own_tol is not None and own_tol > near_tol:
            g = torch.as_tensor(groups, dtype=torch.int64, device=device)
            own = _near_duplicate_sources(x, own_tol, cap=max(1, bucket_cap), progress=progress, groups=g, basis=bt)
            fill = (source < 0) & (own >= 0)
            source[fill] = own[fill]
    keep = source < 0
    return DuplicateReport(keep=keep, source=source, exact=exact)


def duplicate_roots(source: np.ndarray) -> np.ndarray:
    """Root of each record's duplicate chain (follow ``source`` to a record with none)."""
    root = np.where(source >= 0, source, np.arange(source.shape[0]))
    while True:  # pointer jumping: O(log chain length) rounds
        nxt = root[root]
        if np.array_equal(nxt, root):
            return root
        root = nxt


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
        return QualityReport(checks=checks, quality=quality, keep_masks=keep_masks, shared_masks=[None] * n_prov)

    xv = torch.as_tensor(x_val, dtype=torch.float64, device=device)
    feats = np.concatenate([v.features for v in valid], axis=0)
    owner = np.concatenate([np.full(v.n_records, v.index, dtype=np.int64) for v in valid])
    offsets = np.cumsum([0] + [v.n_records for v in valid])

    # --- duplicates ------------------------------------------------------
    # One global order: the buyer's validation rows first, then every provider's
    # records in provider order. Each record's duplicate chain leads to a root; a
    # chain rooted in the validation set is a resold validation record (no credit,
    # not valued); a cluster held by one provider keeps its root (once) and drops the
    # rest; a cluster held by several providers keeps its root in the valued pool --
    # so nobody else's value moves -- but credits it to nobody.
    m_val = x_val.shape[0]
    scale = validation_nn_scale(xv, config.chunk_size) if config.near_duplicates else 0.0
    near_tol = config.near_dup_rel_tol * scale if config.near_duplicates and scale > 0 else None
    own_tol = config.own_dup_rel_tol * scale if near_tol is not None else None
    dup = find_duplicates(
        np.concatenate([x_val, feats], axis=0),
        near_tol=near_tol,
        device=device,
        bucket_cap=config.bucket_cap,
        progress=progress,
        groups=np.concatenate([np.full(m_val, -1, dtype=np.int64), owner]),
        own_tol=own_tol,
        basis=x_val,
    )
    root = duplicate_roots(dup.source)[m_val:]
    n_rec = feats.shape[0]
    is_root = root == np.arange(m_val, m_val + n_rec)
    from_val = root < m_val
    cl = np.where(from_val, 0, root - m_val)  # cluster id = root's record index
    lo_own = np.full(n_rec, np.iinfo(np.int64).max)
    hi_own = np.full(n_rec, -1)
    np.minimum.at(lo_own, cl[~from_val], owner[~from_val])
    np.maximum.at(hi_own, cl[~from_val], owner[~from_val])
    shared = ~from_val & (lo_own[cl] != hi_own[cl])
    credited = is_root & ~shared
    pooled_shared = is_root & shared
    # off the buyer's support: farther than off_support_rel x scale from every validation
    # point. Such a record cannot be a useful neighbour; any value it gets is an artefact
    # of coalitions smaller than K (and a flood of them crowds out honest records).
    far = np.zeros(n_rec, dtype=bool)
    if scale > 0 and config.off_support_rel > 0:
        xr = torch.as_tensor(feats, dtype=torch.float64, device=device)
        limit = (config.off_support_rel * scale) ** 2
        for s0 in range(0, n_rec, config.chunk_size):
            d = _pairwise_sq(xr[s0 : s0 + config.chunk_size], xv).min(1).values
            far[s0 : s0 + config.chunk_size] = (d > limit).cpu().numpy()
    credited &= ~far
    pooled_shared &= ~far
    ids = {v.index: v.provider_id for v in validated}
    shared_masks: list[np.ndarray | None] = [None] * n_prov
    for j, v in enumerate(valid):
        sl = slice(offsets[j], offsets[j + 1])
        keep_masks[v.index] = credited[sl]
        shared_masks[v.index] = pooled_shared[sl]
        n_val_copy = int(from_val[sl].sum())
        own_dup = ~is_root[sl] & ~from_val[sl] & ~shared[sl]
        n_own = int(own_dup.sum())
        n_shared = int(shared[sl].sum())
        partners: dict[str, int] = {}
        if n_shared:
            members = np.flatnonzero(shared)
            for c in np.unique(cl[sl][shared[sl]]):
                for o in np.unique(owner[members[cl[members] == c]]):
                    if int(o) != v.index:
                        partners[ids[int(o)]] = partners.get(ids[int(o)], 0) + 1
        parts = []
        if n_own:
            parts.append(f"{n_own} repeat(s) of its own records counted once")
        if n_shared:
            with_whom = ", ".join(f"{pid} ({c} cluster(s))" for pid, c in sorted(partners.items()))
            parts.append(f"{n_shared} record(s) also held by {with_whom}: credited to nobody")
        if n_val_copy:
            parts.append(f"{n_val_copy} copy/copies of the buyer's validation records: no credit")
        n_far = int(far[sl].sum())
        if n_far:
            parts.append(f"{n_far} record(s) farther than {config.off_support_rel:g}x the validation scale: no credit")
        uncredited = int((~credited[sl]).sum())
        reason = (
            "no exact or near duplicates"
            if not parts
            else f"{uncredited}/{v.n_records} records get no credit: " + "; ".join(parts)
        )
        checks[v.index].append(
            CheckResult(
                "duplicates",
                1.0,  # duplicates lose their credit once (here), not again through q
                reason,
                {
                    "own_repeats": n_own,
                    "shared": n_shared,
                    "shared_with": partners,
                    "validation_copies": n_val_copy,
                    "off_support": n_far,
                    "near_tol": near_tol,
                    "own_tol": own_tol,
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
            # a labelled task: validation gave every valid provider labels
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
    return QualityReport(checks=checks, quality=quality, keep_masks=keep_masks, shared_masks=shared_masks)
