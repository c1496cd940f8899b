"""The oracle's job for a text auction: featurize with the buyer's LM, value with lm-gradient, sign.

The text counterpart of :mod:`mia.oracle.scoring` (same :class:`~mia.oracle.scoring.OracleScores`): the
task hash commits to the validation text, the valuation method id and the model's content hash
plus every featurizer setting, so an oracle using another model or projection is caught by the
task hash before its scores count.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

import nacl.signing
from eth_utils import keccak

from mia.oracle.scoring import OracleScores, signed_scores
from mia.valuation import ProviderData, value_providers
from mia.valuation.lm_gradient import LMGradientFeaturizer, featurize_text_inputs, text_transcript_extra
from mia.valuation.text_records import TextRecord, hash_text_records
from mia.valuation.transcript import build_transcript

__all__ = ["METHOD_LM_GRADIENT", "score_text_providers", "text_task_hash"]

#: Valuation method id of lm-gradient (LESS cosine by default) in auctions and reports.
METHOD_LM_GRADIENT = 2


def text_task_hash(validation: Sequence[TextRecord], featurizer_params: dict[str, Any], score: str = "cosine") -> bytes:
    """The buyer's commitment: validation text, method id, model content hash and featurizer settings."""
    payload = json.dumps(
        {
            "validation_text": hash_text_records(validation),
            "method": METHOD_LM_GRADIENT,
            "score": score,
            "featurizer": featurizer_params,
        },
        sort_keys=True,
    )
    return keccak(payload.encode())


def score_text_providers(
    providers: Sequence[ProviderData],
    validation: Sequence[TextRecord],
    featurizer: LMGradientFeaturizer,
    *,
    signing_key: nacl.signing.SigningKey,
    score: str = "cosine",
    context: dict[str, Any] | None = None,
) -> OracleScores:
    """Value text submissions (``ProviderData.records``, in commit order) and sign the transcript.

    The transcript keeps hashes only (features, text and model), never the data itself.
    """
    featurized, val = featurize_text_inputs(providers, validation, featurizer)
    result = value_providers(featurized, val, method="lm-gradient", score=score, device=featurizer.device)
    extra = {"method_id": METHOD_LM_GRADIENT, **text_transcript_extra(providers, validation), **(context or {})}
    record_key = secrets.token_bytes(32)  # kept by the oracle: opens per-record values to an auditor
    transcript = build_transcript(
        result, featurized, val, inputs="none", featurizer=featurizer.params(), extra=extra, record_key=record_key
    )
    return signed_scores(result, transcript, signing_key, record_key)
