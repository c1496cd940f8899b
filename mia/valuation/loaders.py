"""Load provider submissions and validation sets from JSONL and array files.

Every problem becomes a :class:`LoaderError` whose message names the provider, the
file and the problem (with the line number for JSONL). ``load_provider_*`` with
``strict=False`` (the oracle's mode) returns a :class:`ProviderData` carrying the
error instead, which values to ``q = 0`` with that reason without stopping the round.

JSONL schema (one JSON object per line, blank lines ignored):
``{"features": [float, ...], "label": int | str}`` or, with a featurizer,
``{"text": str, "label": ...}``. Field names are parameters.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from mia.protocol.safejson import JSONLimitError, loads_bounded

from .data import Dataset, ProviderData
from .featurizers import Featurizer

__all__ = [
    "LoaderError",
    "load_provider_arrays",
    "load_provider_jsonl",
    "load_validation_arrays",
    "load_validation_jsonl",
    "read_jsonl_records",
]

PathLike = str | os.PathLike[str]

# Bounds on record values, so that everything a loader accepts can be valued: features beyond this
# magnitude would overflow squared distances, labels are stored as int64 or short strings.
FEATURE_LIMIT = 1e15
LABEL_INT_RANGE = (-(2**63), 2**63 - 1)
LABEL_MAX_CHARS = 256


class LoaderError(ValueError):
    """A submission or validation file that cannot be used; ``str()`` says why."""

    def __init__(self, owner: str, path: PathLike | None, problem: str) -> None:
        self.owner, self.path, self.problem = (
            owner,
            None if path is None else str(path),
            problem,
        )
        where = f" ({self.path})" if self.path else ""
        super().__init__(f"{owner}{where}: {problem}")


def read_jsonl_records(path: PathLike, owner: str) -> list[dict[str, Any]]:
    """Parse a JSONL file into dicts; errors name ``owner``, file and line."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.readlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LoaderError(owner, path, f"unreadable file ({type(exc).__name__}: {exc})") from exc
    records: list[dict[str, Any]] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = loads_bounded(line)  # bounded depth: a deep line must not crash the process
        except JSONLimitError as exc:
            why = str(exc).removeprefix("invalid JSON: ")
            raise LoaderError(owner, path, f"line {lineno}: invalid JSON ({why})") from exc
        if not isinstance(obj, dict):
            raise LoaderError(
                owner,
                path,
                f"line {lineno}: expected a JSON object, got {type(obj).__name__}",
            )
        obj["__line__"] = lineno
        records.append(obj)
    if not records:
        raise LoaderError(owner, path, "empty file (no records)")
    return records


def _features_from_records(
    records: list[dict[str, Any]],
    owner: str,
    path: PathLike,
    features_field: str,
    featurizer: Featurizer | None,
    text_field: str,
    start: int = 0,
) -> np.ndarray:
    """Features of `records` (`start`: index of the first record in its file, for line numbers)."""
    if featurizer is not None:
        for i, r in enumerate(records, start):
            if not isinstance(r.get(text_field), str):
                raise LoaderError(
                    owner,
                    path,
                    f"line {_line(r, i)}: missing string field {text_field!r}",
                )
        try:
            return featurizer.transform([r[text_field] for r in records])
        except Exception as exc:  # a featurizer failure must not stop the round
            raise LoaderError(owner, path, f"featurizer failed ({type(exc).__name__}: {exc})") from exc
    dim: int | None = None
    for i, r in enumerate(records, start):
        f = r.get(features_field)
        # type check at C speed: JSON yields exactly int and float (bool is its own type, refused)
        if not isinstance(f, list) or not _NUMERIC.issuperset(map(type, f)):
            raise LoaderError(owner, path, f"line {_line(r, i)}: {features_field!r} must be a list of numbers")
        if not f:
            raise LoaderError(owner, path, f"line {_line(r, i)}: {features_field!r} is empty")
        if dim is None:
            dim = len(f)
        elif len(f) != dim:
            raise LoaderError(
                owner,
                path,
                f"line {_line(r, i)}: {features_field!r} has {len(f)} values, expected {dim} (as the first record)",
            )
    try:
        arr = np.asarray([r[features_field] for r in records], dtype=np.float64)
        bad = ~(np.abs(arr) <= FEATURE_LIMIT).all(axis=1)  # NaN, inf and huge magnitudes
    except OverflowError:  # an integer beyond float64's range
        bad = np.asarray([not all(-FEATURE_LIMIT <= v <= FEATURE_LIMIT for v in r[features_field]) for r in records])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        line = _line(records[i], start + i)
        raise LoaderError(
            owner, path, f"line {line}: NaN/inf or a magnitude beyond {FEATURE_LIMIT:g} in {features_field!r}"
        )
    return arr


_NUMERIC = frozenset({int, float})


def _line(record: dict[str, Any], index: int) -> int:
    """The record's line number when the reader kept it, else its 1-based position."""
    line = record.get("__line__")
    return line if type(line) is int else index + 1


def _labels_from_records(
    records: list[dict[str, Any]], owner: str, path: PathLike, label_field: str, start: int = 0
) -> list[Any]:
    out = []
    for i, r in enumerate(records, start):
        if label_field not in r:
            raise LoaderError(owner, path, f"line {_line(r, i)}: missing field {label_field!r}")
        v = r[label_field]
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            raise LoaderError(
                owner,
                path,
                f"line {_line(r, i)}: {label_field!r} must be an int or a string",
            )
        if isinstance(v, int) and not LABEL_INT_RANGE[0] <= v <= LABEL_INT_RANGE[1]:
            raise LoaderError(owner, path, f"line {_line(r, i)}: {label_field!r} is outside the int64 range")
        if isinstance(v, str) and len(v) > LABEL_MAX_CHARS:
            raise LoaderError(
                owner, path, f"line {_line(r, i)}: {label_field!r} is longer than {LABEL_MAX_CHARS} characters"
            )
        out.append(v)
    kinds = {type(v) for v in out}
    if len(kinds) > 1:
        raise LoaderError(owner, path, f"{label_field!r} mixes integers and strings")
    return out


def load_provider_jsonl(
    path: PathLike,
    provider_id: str,
    *,
    features_field: str = "features",
    label_field: str | None = "label",
    text_field: str = "text",
    featurizer: Featurizer | None = None,
    expected_dim: int | None = None,
    strict: bool = False,
) -> ProviderData:
    """One provider's JSONL submission (``label_field=None`` for label-free tasks)."""
    owner = f"provider {provider_id}"
    try:
        records = read_jsonl_records(path, owner)
        feats = _features_from_records(records, owner, path, features_field, featurizer, text_field)
        if expected_dim is not None and feats.shape[1] != expected_dim:
            raise LoaderError(
                owner,
                path,
                f"wrong feature dimension {feats.shape[1]}, expected {expected_dim}",
            )
        labels = None if label_field is None else _labels_from_records(records, owner, path, label_field)
        raw = [{k: v for k, v in r.items() if k != "__line__"} for r in records]
        return ProviderData(provider_id, feats, labels, records=raw)
    except LoaderError as exc:
        if strict:
            raise
        return ProviderData(provider_id, error=str(exc))


def _load_array(path: PathLike, owner: str, what: str) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises OSError, ValueError, EOFError, zipfile errors... on garbage
        raise LoaderError(owner, path, f"unreadable {what} array ({type(exc).__name__}: {exc})") from exc
    if isinstance(arr, np.lib.npyio.NpzFile):
        raise LoaderError(owner, path, f"{what}: expected .npy, got .npz")
    return arr


def load_provider_arrays(
    features_path: PathLike,
    provider_id: str,
    labels_path: PathLike | None = None,
    *,
    expected_dim: int | None = None,
    strict: bool = False,
) -> ProviderData:
    """A provider's ``.npy`` features ``(N, d)`` and optional labels ``(N,)``."""
    try:
        feats, labels = _read_arrays(f"provider {provider_id}", features_path, labels_path, expected_dim)
        return ProviderData(provider_id, feats, labels)
    except LoaderError as exc:
        if strict:
            raise
        return ProviderData(provider_id, error=str(exc))


def _read_arrays(
    owner: str,
    features_path: PathLike,
    labels_path: PathLike | None,
    expected_dim: int | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    feats = _load_array(features_path, owner, "features")
    if feats.ndim != 2:
        raise LoaderError(owner, features_path, f"features must be 2-D, got shape {feats.shape}")
    if feats.shape[0] == 0:
        raise LoaderError(owner, features_path, "empty dataset (0 records)")
    if feats.dtype.kind not in "iuf":
        raise LoaderError(owner, features_path, f"features must be numeric, got dtype {feats.dtype}")
    if expected_dim is not None and feats.shape[1] != expected_dim:
        raise LoaderError(
            owner,
            features_path,
            f"wrong feature dimension {feats.shape[1]}, expected {expected_dim}",
        )
    if not np.isfinite(feats).all():
        row = int(np.flatnonzero(~np.isfinite(feats).all(axis=1))[0])
        raise LoaderError(owner, features_path, f"NaN/inf in features (first at row {row})")
    labels = None
    if labels_path is not None:
        labels = _load_array(labels_path, owner, "labels")
        if labels.shape != (feats.shape[0],):
            raise LoaderError(
                owner,
                labels_path,
                f"labels shape {labels.shape} does not match {feats.shape[0]} records",
            )
    return feats.astype(np.float64), labels


def load_validation_jsonl(
    path: PathLike,
    *,
    features_field: str = "features",
    label_field: str | None = "label",
    text_field: str = "text",
    featurizer: Featurizer | None = None,
    label_set: Sequence[Any] | None = None,
) -> Dataset:
    """The buyer's validation set from JSONL (raises :class:`LoaderError`)."""
    records = read_jsonl_records(path, "validation")
    feats = _features_from_records(records, "validation", path, features_field, featurizer, text_field)
    labels = None if label_field is None else _labels_from_records(records, "validation", path, label_field)
    return Dataset(feats, labels, label_set=label_set)


def load_validation_arrays(
    features_path: PathLike,
    labels_path: PathLike | None = None,
    *,
    label_set: Sequence[Any] | None = None,
) -> Dataset:
    """The buyer's validation set from ``.npy`` files (raises :class:`LoaderError`)."""
    feats, labels = _read_arrays("validation", features_path, labels_path, None)
    return Dataset(feats, labels, label_set=label_set)
