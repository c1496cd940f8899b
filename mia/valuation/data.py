"""Input containers, validation and canonical hashing for the valuation engine.

Everything an oracle values passes through :func:`validate_provider`, which never
raises on bad provider data: it returns a :class:`ValidatedProvider` whose ``error``
names the provider and the problem, so one broken upload cannot stop a round.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Dataset",
    "ProviderData",
    "ValidatedProvider",
    "hash_array",
    "normalize_labels",
    "validate_provider",
]


@dataclass(frozen=True)
class ProviderData:
    """One provider's submission: features ``(N_i, d)``, labels ``(N_i,)``.

    ``provider_id`` is free text (e.g. a checksummed address). ``labels`` may be
    ``None`` for label-free (e.g. text-similarity) valuation. ``records`` optionally
    carries the raw records (for transcripts / Merkle checks); it is not valued.
    ``error`` marks a submission that could not be loaded (see :mod:`.loaders`): the
    provider then scores ``q = 0`` with that reason instead of stopping the round.
    """

    provider_id: str
    features: Any = None
    labels: Any = None
    records: Sequence[Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class Dataset:
    """The buyer's validation set; ``label_set`` defaults to its distinct labels."""

    features: Any
    labels: Any = None
    label_set: Sequence[Any] | None = None
    name: str = "validation"


@dataclass
class ValidatedProvider:
    """A provider after schema validation (``error is None`` means usable)."""

    index: int
    provider_id: str
    n_records: int
    features: np.ndarray | None = None
    labels: np.ndarray | None = None  # normalised (int64 or str), see normalize_labels
    error: str | None = None
    input_hash: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def normalize_labels(labels: Any) -> np.ndarray:
    """Return labels as a 1-D int64 or unicode array so equal labels compare equal.

    Integral floats (``1.0`` from JSON) become ints; bools become ints; everything
    else must be a string. Raises ``ValueError`` otherwise.
    """
    arr = np.asarray(labels)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError("float labels must be finite integers")
        return arr.astype(np.int64)
    if arr.dtype.kind == "U":
        return arr
    if arr.dtype.kind == "O":
        vals = list(arr)
        if all(isinstance(v, (bool, int, np.integer)) for v in vals):
            return np.asarray([int(v) for v in vals], dtype=np.int64)
        if all(isinstance(v, str) for v in vals):
            return np.asarray(vals, dtype=str)
        raise ValueError("labels must be all integers or all strings")
    raise ValueError(f"unsupported label dtype {arr.dtype}")


def hash_array(*arrays: np.ndarray | None) -> str:
    """SHA-256 over dtype, shape and C-order bytes of each array (``None`` allowed).

    Used for transcript input hashes: independent oracles that decode the same
    records into the same float64 features get the same digest.
    """
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none;")
            continue
        a = np.ascontiguousarray(a)
        if a.dtype.kind == "f":
            a = a + 0.0  # -0.0 -> 0.0 so that equal values hash equally
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _fail(index: int, pid: str, n: int, problem: str) -> ValidatedProvider:
    return ValidatedProvider(index=index, provider_id=pid, n_records=n, error=f"provider {pid}: {problem}")


#: Largest ``4 d max|x|^2`` accepted: squared distances stay finite with headroom.
MAX_SQUARED_NORM = 1e300


class FeatureScaleError(ValueError):
    """Features so large that squared distances overflow float64."""


def feature_scale_problem(max_abs: float, dim: int) -> str | None:
    """Why features of this magnitude cannot be ranked by distance, or ``None``."""
    bound = 4.0 * max(1, dim) * max_abs * max_abs
    if max_abs > 0 and not bound <= MAX_SQUARED_NORM:
        return (
            f"feature magnitude {max_abs:.3g} in {dim} dims overflows squared distances;"
            " rescale the features (e.g. standardise) before valuing"
        )
    return None


def validate_provider(
    index: int,
    provider: ProviderData,
    dim: int,
    label_set: np.ndarray | None,
) -> ValidatedProvider:
    """Check schema; never raises. Any problem makes the whole provider invalid.

    All-or-nothing is deliberate: partial credit for a partly malformed upload would
    reward padding a submission with junk that happens to parse.
    """
    pid = str(provider.provider_id)
    if provider.error is not None:
        msg = provider.error
        prefix = f"provider {pid}: "
        return _fail(index, pid, 0, msg[len(prefix) :] if msg.startswith(prefix) else msg)
    if provider.features is None:
        return _fail(index, pid, 0, "no features")
    try:
        feats = np.asarray(provider.features, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        return _fail(index, pid, 0, f"features are not numeric ({exc})")
    if feats.ndim == 1 and feats.size == 0:
        feats = feats.reshape(0, dim)
    if feats.ndim != 2:
        return _fail(
            index,
            pid,
            0,
            f"features must be 2-D (records x dim), got shape {feats.shape}",
        )
    n = int(feats.shape[0])
    if n == 0:
        return _fail(index, pid, 0, "empty dataset (0 records)")
    if feats.shape[1] != dim:
        return _fail(index, pid, n, f"wrong feature dimension {feats.shape[1]}, expected {dim}")
    bad = ~np.isfinite(feats).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        return _fail(
            index,
            pid,
            n,
            f"{int(bad.sum())} record(s) contain NaN/inf (first at row {first})",
        )
    scale = feature_scale_problem(float(np.abs(feats).max()), dim)
    if scale is not None:
        return _fail(index, pid, n, scale)
    if provider.records is not None and len(provider.records) != n:
        return _fail(index, pid, n, f"{len(provider.records)} raw records but {n} feature rows")

    labels: np.ndarray | None = None
    if label_set is not None:
        if provider.labels is None:
            return _fail(index, pid, n, "missing labels (the buyer's task is labelled)")
        try:
            labels = normalize_labels(provider.labels)
        except ValueError as exc:
            return _fail(index, pid, n, f"bad labels ({exc})")
        if labels.shape[0] != n:
            return _fail(index, pid, n, f"{labels.shape[0]} labels for {n} records")
        if labels.dtype.kind != label_set.dtype.kind:
            return _fail(
                index,
                pid,
                n,
                f"label kind {labels.dtype.kind!r} does not match the task's labels",
            )
        outside = ~np.isin(labels, label_set)
        if outside.any():
            first = int(np.flatnonzero(outside)[0])
            return _fail(
                index,
                pid,
                n,
                f"{int(outside.sum())} label(s) outside the allowed set (first {labels[first]!r} at row {first})",
            )
    feats = np.ascontiguousarray(feats + 0.0)
    return ValidatedProvider(
        index=index,
        provider_id=pid,
        n_records=n,
        features=feats,
        labels=labels,
        input_hash=hash_array(feats, labels),
    )
