"""What the oracle does with an encrypted dataset: decrypt it, check it, turn it into valuation input.

The same checks run when an upload arrives (so the provider hears the precise problem at once and can
fix it before committing) and again at scoring time against the *revealed* `datasetRoot`. Plaintext
lives only in memory and is never logged; only ciphertext is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.public
import numpy as np

from mia.protocol.merkle import record_leaves, root_of_leaves
from mia.sdk.dataroom import DataroomError, iter_record_batches
from mia.valuation import Dataset, ProviderData
from mia.valuation.api import prepare_validation
from mia.valuation.data import normalize_labels
from mia.valuation.loaders import LoaderError, _features_from_records, _labels_from_records

BATCH = 4096  # records parsed, validated and hashed at a time


class UploadInvalid(Exception):
    """An upload that cannot be used; `str()` is the precise reason given to the provider and transcript."""


@dataclass(frozen=True)
class CheckedDataset:
    root: bytes
    n_records: int
    features: np.ndarray
    labels: list[Any]


def decrypt(box: nacl.public.PrivateKey, ciphertext: bytes) -> bytes:
    try:
        return nacl.public.SealedBox(box).decrypt(ciphertext)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        raise UploadInvalid("upload does not decrypt with this oracle's X25519 key (not a SealedBox to it)") from None


def label_set_of(validation: Dataset) -> np.ndarray | None:
    """The task's allowed labels (as valuation computes them), or None for a label-free task."""
    return prepare_validation(validation, labelled=validation.labels is not None)[2]


def check_plaintext(
    plaintext: bytes, *, expected_dim: int | None, label_set: np.ndarray | None = None
) -> CheckedDataset:
    """Parses the canonical JSONL, computes its Merkle root and checks it exactly as valuation will.

    Types, ranges (finite features within the loader's bound, int64 or short string labels), the
    task's feature dimension and, given `label_set`, the task's labels: whatever passes can be valued.
    Records are parsed, checked and hashed in batches and then dropped, so memory stays near the size
    of the features array rather than of millions of Python objects.
    """
    parts: list[np.ndarray] = []
    labels: list[Any] = []
    leaves: list[bytes] = []
    n = 0
    try:
        for batch in iter_record_batches(plaintext, source="dataset", batch=BATCH):
            feats = _features_from_records(batch, "dataset", "", "features", None, "text", start=n)
            if parts and feats.shape[1] != parts[0].shape[1]:
                raise UploadInvalid(
                    f"malformed record: line {n + 1}: 'features' has {feats.shape[1]} values, expected "
                    f"{parts[0].shape[1]} (as the first record)"
                )
            if expected_dim is not None and feats.shape[1] != expected_dim:
                raise UploadInvalid(
                    f"malformed record: features have {feats.shape[1]} values, the task needs {expected_dim}"
                )
            parts.append(feats)
            labels += _labels_from_records(batch, "dataset", "", "label", start=n)
            try:
                leaves += record_leaves(batch, n)
            except ValueError as exc:  # e.g. a lone surrogate in a string cannot be encoded as UTF-8
                raise UploadInvalid(f"malformed record: not encodable canonically ({type(exc).__name__})") from None
            n += len(batch)
    except DataroomError as exc:
        raise UploadInvalid(str(exc).removeprefix("dataset: ")) from None
    except LoaderError as exc:
        raise UploadInvalid(f"malformed record: {exc.problem}") from None
    if n == 0:
        raise UploadInvalid("no records")
    if len({type(v) for v in labels}) > 1:
        raise UploadInvalid("malformed record: 'label' mixes integers and strings")
    features = parts[0] if len(parts) == 1 else np.concatenate(parts)
    del parts
    if label_set is not None:
        _check_labels(labels, label_set)
    return CheckedDataset(root=root_of_leaves(leaves), n_records=n, features=features, labels=labels)


def _check_labels(labels: list[Any], label_set: np.ndarray) -> None:
    """The label rules of `validate_provider` (kind and membership in the task's label set), without its
    copies of the features (tested against it in tests/oracle/test_dataroom_units.py)."""
    try:
        y = normalize_labels(labels)
    except ValueError as exc:
        raise UploadInvalid(f"malformed record: bad labels ({exc})") from None
    if y.dtype.kind != label_set.dtype.kind:
        raise UploadInvalid(f"malformed record: label kind {y.dtype.kind!r} does not match the task's labels")
    outside = ~np.isin(y, label_set)
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise UploadInvalid(
            f"malformed record: {int(outside.sum())} label(s) outside the allowed set "
            f"(first {y[first]!r} at line {first + 1})"
        )


def check_upload(
    box: nacl.public.PrivateKey,
    ciphertext: bytes,
    claimed_root: bytes,
    *,
    expected_dim: int | None,
    label_set: np.ndarray | None = None,
) -> CheckedDataset:
    """Everything an arriving upload must pass; raises `UploadInvalid` with the reason."""
    ds = check_plaintext(decrypt(box, ciphertext), expected_dim=expected_dim, label_set=label_set)
    if ds.root != claimed_root:
        raise UploadInvalid(
            f"dataset root mismatch: the records hash to 0x{ds.root.hex()}, the upload claims 0x{claimed_root.hex()}"
        )
    return ds


def provider_input(
    provider: str,
    revealed_root: bytes,
    *,
    box: nacl.public.PrivateKey,
    ciphertext: bytes | None,
    rejection: str | None,
    expected_dim: int | None,
) -> ProviderData:
    """Valuation input for one revealed provider; anything wrong becomes `error` (q = 0 with that reason)."""
    if ciphertext is None:
        why = f"upload rejected: {rejection}" if rejection else "no dataset was uploaded to this oracle"
        return ProviderData(provider, error=why)
    try:
        ds = check_plaintext(decrypt(box, ciphertext), expected_dim=expected_dim)
    except UploadInvalid as exc:
        return ProviderData(provider, error=f"upload rejected: {exc}")
    if ds.root != revealed_root:
        return ProviderData(
            provider,
            error=f"dataset root mismatch: the uploaded records hash to 0x{ds.root.hex()}, "
            f"the revealed datasetRoot is 0x{revealed_root.hex()}",
        )
    return ProviderData(provider, features=ds.features, labels=ds.labels)
