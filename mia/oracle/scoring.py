"""The oracle's job for one auction: value every revealed provider and sign what it found.

Turns the valuation engine's result into the integers an EIP-712 score report carries, and a
transcript (every input hash, parameter and per-record value) whose hash goes into the report and
whose Ed25519 signature lets anyone check offline what this oracle published. Per-record values are
not published, only committed to (see `mia.valuation.commitment`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import nacl.signing
import numpy as np
from eth_utils import keccak

from mia.valuation import Dataset, ProviderData, ValuationResult, hash_array, value_providers
from mia.valuation.transcript import build_transcript

# Valuation method ids named in auctions and reports.
METHOD_KNN_SHAPLEY_QUALITY = 1
METHODS = {METHOD_KNN_SHAPLEY_QUALITY: "exact KNN-Shapley × quality checks"}


def task_hash(validation: Dataset, method_id: int, model_id: str) -> bytes:
    """The buyer's commitment to its task: validation set, valuation method and model id."""
    payload = json.dumps(
        {"validation": hash_array(np.asarray(validation.features), np.asarray(validation.labels)),
         "method": method_id, "model": model_id},
        sort_keys=True,
    )  # fmt: skip
    return keccak(payload.encode())


@dataclass
class OracleScores:
    """What one oracle reports for one auction (`transcript_hash` = SHA-256 of the canonical transcript)."""

    provider_ids: tuple[str, ...]
    q_wad: tuple[int, ...]
    delta_wad: tuple[int, ...]
    result: ValuationResult
    transcript: dict[str, Any] = field(repr=False, default_factory=dict)
    transcript_hash: bytes = b""
    transcript_signature: bytes = b""
    #: secret salting the transcript's per-record commitment: keep it private, use it
    #: with `mia.valuation.commitment.open_records` for an authorised auditor
    record_key: bytes = field(repr=False, default=b"")

    def as_mapping(self) -> dict[str, tuple[int, int]]:
        return {p: (q, d) for p, q, d in zip(self.provider_ids, self.q_wad, self.delta_wad, strict=True)}


def score_auction(
    provider_ids: Sequence[str],
    datasets: Sequence[tuple[np.ndarray, np.ndarray]],
    validation: Dataset,
    *,
    signing_key: nacl.signing.SigningKey,
    k: int = 5,
    device: str = "cpu",
    method_id: int = METHOD_KNN_SHAPLEY_QUALITY,
    context: dict[str, Any] | None = None,
) -> OracleScores:
    """Values the providers (in commit order) and returns report integers plus a signed transcript.

    The transcript keeps only hashes of the providers' data (never the data itself) and per-provider
    values; per-record values are committed (a Merkle root) and opened to an authorised auditor with
    `OracleScores.record_key`. An auditor given the data re-runs
    `verify_transcript(transcript, providers=..., validation=..., record_key=...)`.
    """
    providers = [
        ProviderData(provider_id=pid, features=x, labels=y) for pid, (x, y) in zip(provider_ids, datasets, strict=True)
    ]
    return score_providers(providers, validation, signing_key=signing_key, k=k, device=device, method_id=method_id,
                           context=context)  # fmt: skip


def score_providers(
    providers: Sequence[ProviderData],
    validation: Dataset,
    *,
    signing_key: nacl.signing.SigningKey,
    k: int = 5,
    device: str = "cpu",
    method_id: int = METHOD_KNN_SHAPLEY_QUALITY,
    context: dict[str, Any] | None = None,
) -> OracleScores:
    """`score_auction` for submissions already loaded (a `ProviderData.error` scores q = 0 with that reason)."""
    if method_id not in METHODS:
        raise ValueError(f"unknown valuation method id {method_id}")
    result = value_providers(providers, validation, method="knn_shapley", k=k, device=device)
    record_key = secrets.token_bytes(32)
    transcript = build_transcript(
        result, providers, validation, inputs="none", extra={"method_id": method_id, **(context or {})},
        record_key=record_key,
    )  # fmt: skip
    return signed_scores(result, transcript, signing_key, record_key)


def signed_scores(
    result: ValuationResult, transcript: dict[str, Any], signing_key: nacl.signing.SigningKey, record_key: bytes
) -> OracleScores:
    """The oracle's quantised scores with its Ed25519 signature over the transcript hash (every method)."""
    fp = result.to_fixed_point()
    th = bytes.fromhex(transcript["transcript_hash"])
    return OracleScores(
        provider_ids=fp.provider_ids,
        q_wad=fp.q_wad,
        delta_wad=fp.delta_wad,
        result=result,
        transcript=transcript,
        transcript_hash=th,
        transcript_signature=bytes(signing_key.sign(th).signature),
        record_key=record_key,
    )


def verify_transcript_signature(transcript_hash: bytes, signature: bytes, verify_key: bytes) -> bool:
    """Offline check that the oracle holding `verify_key` published this transcript."""
    try:
        nacl.signing.VerifyKey(verify_key).verify(transcript_hash, signature)
        return True
    except Exception:
        return False
