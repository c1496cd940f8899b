"""Valuation transcripts: everything needed to recompute and check an oracle's scores.

A transcript is canonical JSON (sorted keys, no whitespace, floats as shortest
round-trip ``repr``) holding the engine version, method, every parameter and seed,
the input hashes, every quality check with its reason, the quantised per-provider
outputs, and a Merkle root committing to every per-record value (the values
themselves are opened only to authorised auditors: see :mod:`.commitment`). With ``inputs="inline"`` it also embeds the
decoded inputs, so :func:`verify_transcript` can recompute it with nothing else;
with ``inputs="none"`` the verifier passes the inputs and they are checked against
the recorded hashes.

``transcript_hash`` = SHA-256 of the canonical JSON of the body without the
``environment`` section (device, timings) -- that is what an oracle signs / reports
as ``transcriptHash``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from .commitment import COMMITMENT_SCHEME, record_root
from .data import Dataset, ProviderData
from .fixed_point import delta_to_wad, quality_to_wad
from .quality import QualityConfig
from .result import ENVIRONMENT_KEYS, FixedPointScores, ValuationResult

__all__ = [
    "TRANSCRIPT_FORMAT",
    "TranscriptError",
    "VerifyResult",
    "build_transcript",
    "canonical_json",
    "load_transcript",
    "transcript_digest",
    "verify_transcript",
    "write_transcript",
]

TRANSCRIPT_FORMAT = "mia-valuation-transcript/2"
_UNHASHED = ("environment", "transcript_hash")


def _jsonable(x: Any) -> Any:
    """Plain-JSON view: numpy scalars/arrays -> Python; non-finite floats -> strings."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        f = float(x)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    return x


def canonical_json(obj: Any) -> str:
    """Deterministic JSON text (sorted keys, compact, ASCII)."""
    return json.dumps(
        _jsonable(obj),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )


def transcript_digest(transcript: dict[str, Any]) -> str:
    """Hex SHA-256 over the canonical body (excluding environment and the hash)."""
    body = {k: v for k, v in transcript.items() if k not in _UNHASHED}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def _floats_back(x: Any) -> Any:
    if isinstance(x, list):
        return [_floats_back(v) for v in x]
    if x == "nan":
        return math.nan
    if x == "inf":
        return math.inf
    if x == "-inf":
        return -math.inf
    return x


def _provider_inputs(p: ProviderData) -> dict[str, Any]:
    if p.error is not None:
        return {"provider_id": p.provider_id, "error": p.error}
    try:
        feats = np.asarray(p.features, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        return {
            "provider_id": p.provider_id,
            "unparseable_features": f"{type(exc).__name__}: {exc}",
        }
    labels = None if p.labels is None else np.asarray(p.labels).tolist()
    return {
        "provider_id": p.provider_id,
        "features": feats,
        "shape": list(feats.shape),
        "labels": labels,
    }


def _provider_from_inputs(d: dict[str, Any]) -> ProviderData:
    pid = d["provider_id"]
    if "error" in d:
        return ProviderData(pid, error=d["error"])
    if "unparseable_features" in d:
        return ProviderData(
            pid,
            error=f"provider {pid}: features are not numeric ({d['unparseable_features']})",
        )
    feats = np.asarray(_floats_back(d["features"]), dtype=np.float64).reshape(d["shape"])
    return ProviderData(pid, feats, d["labels"])


def build_transcript(
    result: ValuationResult,
    providers: Sequence[ProviderData],
    validation: Dataset,
    *,
    inputs: Literal["inline", "none"] = "inline",
    featurizer: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    record_key: bytes | None = None,
) -> dict[str, Any]:
    """Transcript for ``result = value_providers(providers, validation, ...)``.

    Args:
        record_key: the oracle's secret for salting the per-record commitment; keep it
            to open records to auditors later. ``None``: a fresh random key that is
            thrown away (the commitment then binds but can never be opened).
        inputs: ``"inline"`` embeds the decoded features/labels (self-contained);
            ``"none"`` keeps only hashes (verifier must supply the data).
        featurizer: the featurizer's ``params()`` if features came from one.
        extra: caller context (auction id, round, dataset roots...), hashed too.
    """
    if len(providers) != len(result.providers):
        raise ValueError("providers do not match the result")
    fp = result.to_fixed_point()
    body: dict[str, Any] = {
        "format": TRANSCRIPT_FORMAT,
        "engine_version": result.metadata.get("engine_version"),
        "method": result.method,
        "params": result.params,
        "featurizer": featurizer,
        "extra": extra or {},
        "validation": {
            "hash": result.metadata.get("validation_hash"),
            "label_set": result.metadata.get("label_set"),
        },
        "providers": [p.to_dict(include_records=False) for p in result.providers],
        "record_commitment": _commitment(result, record_key if record_key is not None else secrets.token_bytes(32)),
        "fixed_point": fp.to_dict(),
        "estimator": {k: v for k, v in result.metadata.get("estimator", {}).items() if k not in ENVIRONMENT_KEYS},
    }
    if inputs == "inline":
        vx = np.asarray(validation.features, dtype=np.float64)
        body["inputs"] = {
            "validation": {
                "features": vx,
                "shape": list(vx.shape),
                "labels": None if validation.labels is None else np.asarray(validation.labels).tolist(),
                "label_set": None if validation.label_set is None else list(validation.label_set),
            },
            "providers": [_provider_inputs(p) for p in providers],
        }
    elif inputs != "none":
        raise ValueError("inputs must be 'inline' or 'none'")
    out = _jsonable(body)
    out["environment"] = _jsonable(
        {
            "device": result.metadata.get("device"),
            "torch_version": result.metadata.get("torch_version"),
            "seconds": result.metadata.get("seconds"),
        }
    )
    out["transcript_hash"] = transcript_digest(out)
    return out


def _commitment(result: ValuationResult, key: bytes) -> dict[str, Any] | None:
    if not result.metadata.get("record_level"):
        return None
    n = sum(p.n_records for p in result.providers if p.record_values is not None)
    return {"scheme": COMMITMENT_SCHEME, "root": record_root(result, key), "records": n}


def write_transcript(transcript: dict[str, Any], path: str | os.PathLike[str]) -> str:
    """Write canonical JSON to ``path``; returns the transcript hash."""
    with open(path, "w", encoding="ascii") as fh:
        fh.write(canonical_json(transcript))
    return str(transcript["transcript_hash"])


class TranscriptError(ValueError):
    """A transcript file that cannot be read as a JSON object; the message names the file."""


def load_transcript(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            t = json.load(fh)
    except OSError as exc:
        raise TranscriptError(f"cannot read transcript {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError
        raise TranscriptError(f"{path}: not a JSON transcript ({exc})") from None
    except RecursionError:
        raise TranscriptError(f"{path}: not a JSON transcript (nested too deeply)") from None
    if not isinstance(t, dict):
        raise TranscriptError(f"{path}: not a JSON transcript (expected an object, got {type(t).__name__})")
    return t


@dataclass
class VerifyResult:
    """Outcome of :func:`verify_transcript`; ``ok`` iff ``problems`` is empty."""

    ok: bool
    problems: list[str]
    transcript_hash: str
    recomputed: FixedPointScores | None = None
    max_record_diff: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.ok


def verify_transcript(
    path_or_transcript: str | os.PathLike[str] | dict[str, Any],
    *,
    providers: Sequence[ProviderData] | None = None,
    validation: Dataset | None = None,
    device: str | torch.device = "cpu",
    atol: float = 1e-12,
    record_key: bytes | None = None,
) -> VerifyResult:
    """Recompute a transcript and report every disagreement.

    Checks: the transcript hash; the fixed-point ``q_wad`` / ``delta_wad`` recorded
    vs. recorded floats; input hashes; and a full recomputation whose fixed-point
    outputs must match exactly, with quality factors within ``atol``. With the
    oracle's ``record_key`` (an authorised auditor), the recomputed per-record values
    must also reproduce the published record commitment exactly.
    """
    t = path_or_transcript if isinstance(path_or_transcript, dict) else load_transcript(path_or_transcript)
    try:
        digest = transcript_digest(t)
    except (TypeError, ValueError) as exc:
        return VerifyResult(False, [f"malformed transcript: cannot hash it ({exc})"], "")
    try:
        return _verify(t, digest, providers, validation, device, atol, record_key)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, StopIteration, OverflowError) as exc:
        where = f"missing field {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        return VerifyResult(False, [f"malformed transcript: {where}"], digest)


def _verify(
    t: dict[str, Any],
    digest: str,
    providers: Sequence[ProviderData] | None,
    validation: Dataset | None,
    device: str | torch.device,
    atol: float,
    record_key: bytes | None = None,
) -> VerifyResult:
    from .api import value_providers  # local: api imports this package

    problems: list[str] = []
    if t.get("format") != TRANSCRIPT_FORMAT:
        problems.append(f"unknown transcript format {t.get('format')!r}")
    if t.get("transcript_hash") != digest:
        problems.append(f"transcript hash mismatch: recorded {t.get('transcript_hash')}, computed {digest}")
    recorded = [(p["provider_id"], int(p["q_wad"]), int(p["delta_wad"])) for p in t["providers"]]
    for pid, q, d in recorded:
        p = next(x for x in t["providers"] if x["provider_id"] == pid)
        if quality_to_wad(p["quality"]) != q or delta_to_wad(p["marginal_utility"]) != d:
            problems.append(f"provider {pid}: fixed-point values do not match its recorded floats")
    fpd = t["fixed_point"]
    if [(a, int(b), int(c)) for a, b, c in zip(fpd["provider_ids"], fpd["q_wad"], fpd["delta_wad"], strict=True)] != (
        recorded
    ):
        problems.append("fixed_point section disagrees with per-provider entries")

    if providers is None or validation is None:
        if "inputs" not in t:
            problems.append("transcript has no inline inputs; pass providers= and validation=")
            return VerifyResult(False, problems, digest)
        vin = t["inputs"]["validation"]
        validation = Dataset(
            np.asarray(_floats_back(vin["features"]), dtype=np.float64).reshape(vin["shape"]),
            vin["labels"],
            label_set=vin.get("label_set"),
        )
        providers = [_provider_from_inputs(d) for d in t["inputs"]["providers"]]

    params = dict(t["params"])
    method = params.pop("method")
    seed = int(params.pop("seed", 0))
    qcfg = QualityConfig(**params.pop("quality"))
    k = params.pop("k", 5)
    try:
        res = value_providers(
            providers,
            validation,
            method=method,
            k=k,
            seed=seed,
            quality=qcfg,
            device=device,
            **params,
        )
    except Exception as exc:  # report, do not raise: verification is a judgement
        problems.append(f"recomputation failed: {type(exc).__name__}: {exc}")
        return VerifyResult(False, problems, digest)

    if res.metadata.get("validation_hash") != t["validation"]["hash"]:
        problems.append("validation set hash differs from the transcript")
    fp = res.to_fixed_point()
    max_diff = 0.0
    if list(fp.provider_ids) != [r[0] for r in recorded]:
        problems.append("provider list differs from the transcript")
    else:
        for new, old, (pid, q, d) in zip(res.providers, t["providers"], recorded, strict=True):
            if new.input_hash != old["input_hash"]:
                problems.append(f"provider {pid}: input hash differs")
            if quality_to_wad(new.quality) != q:
                problems.append(f"provider {pid}: q_wad recomputed {quality_to_wad(new.quality)} != recorded {q}")
            if delta_to_wad(new.marginal_utility) != d:
                problems.append(
                    f"provider {pid}: delta_wad recomputed {delta_to_wad(new.marginal_utility)} != recorded {d}"
                )
            old_checks = [(c["name"], c["factor"]) for c in old["checks"]]
            new_checks = [(c.name, c.factor) for c in new.checks]
            if [n for n, _ in old_checks] != [n for n, _ in new_checks] or any(
                abs(a - b) > atol for (_, a), (_, b) in zip(old_checks, new_checks, strict=True)
            ):
                problems.append(f"provider {pid}: quality checks differ")
    commitment = t.get("record_commitment")
    if record_key is not None:
        if commitment is None:
            problems.append("transcript has no record commitment to check")
        elif commitment.get("scheme") != COMMITMENT_SCHEME:
            problems.append(f"unknown record commitment scheme {commitment.get('scheme')!r}")
        elif record_root(res, record_key) != commitment.get("root"):
            problems.append("recomputed per-record values do not reproduce the record commitment")
    elif (commitment is None) != (not res.metadata.get("record_level")):
        problems.append("record commitment missing or unexpected for this method")
    return VerifyResult(not problems, problems, digest, fp, max_diff, {"method": method})
