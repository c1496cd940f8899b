"""The oracle's scoring job for one auction: open every revealed provider's upload, value, sign.

Produces the EIP-712 report (signed with the oracle's Ethereum key) and the transcript (signed with
its Ed25519 key). Providers whose upload is missing, refused, or does not match the revealed root
are valued at q = 0 with the reason in the transcript; the others are valued exactly as if those
providers were absent, so a bad upload changes nothing else in the round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address

from mia.oracle.dataroom import provider_input
from mia.oracle.keys import OracleKeys
from mia.oracle.scoring import score_providers
from mia.oracle.store import Store
from mia.protocol.constants import SCORING_ROUND
from mia.protocol.reports import ReportFormatError, ScoreReport, sign_report
from mia.sdk.auction import AuctionInfo
from mia.valuation import Dataset

log = logging.getLogger("mia.oracle.worker")


@dataclass(frozen=True)
class SignedRound:
    report: ScoreReport
    signature: bytes
    transcript: dict[str, Any]
    transcript_signature: bytes


def report_to_json(report: ScoreReport) -> dict[str, Any]:
    """JSON form of a report (integers as decimal strings, bytes as 0x-hex)."""
    return {
        "auctionId": str(report.auction_id),
        "round": report.round,
        "providers": list(report.providers),
        "q": [str(v) for v in report.q],
        "delta": [str(v) for v in report.delta],
        "datasetRoots": ["0x" + r.hex() for r in report.dataset_roots],
        "methodId": report.method_id,
        "transcriptHash": "0x" + report.transcript_hash.hex(),
        "deadline": str(report.deadline),
    }


def _field(d: Mapping[str, Any], name: str, parse: Callable[[Any], Any]) -> Any:
    if name not in d:
        raise ReportFormatError(f"report: missing field {name!r}")
    try:
        return parse(d[name])
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise ReportFormatError(f"report: field {name!r} is malformed ({exc})") from None


def _uint(bits: int) -> Callable[[Any], int]:
    def parse(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int | str):
            raise TypeError(f"expected an integer or a decimal string, got {type(v).__name__}")
        n = int(v)
        if not 0 <= n < 2**bits:
            raise ValueError(f"{n} is not a uint{bits}")
        return n

    return parse


def _int256(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise TypeError(f"expected an integer or a decimal string, got {type(v).__name__}")
    n = int(v)
    if not -(2**255) <= n < 2**255:
        raise ValueError(f"{n} is not an int256")
    return n


def _bytes32(v: Any) -> bytes:
    if not isinstance(v, str):
        raise TypeError(f"expected 0x-hex, got {type(v).__name__}")
    raw = bytes.fromhex(v.removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {len(raw)}")
    return raw


def _list_of(parse: Callable[[Any], Any]) -> Callable[[Any], list[Any]]:
    def parse_list(v: Any) -> list[Any]:
        if not isinstance(v, list):
            raise TypeError(f"expected a list, got {type(v).__name__}")
        return [parse(x) for x in v]

    return parse_list


def _address(v: Any) -> str:
    if not isinstance(v, str) or not is_address(v):
        raise ValueError(f"not an address: {v!r}"[:80])
    return to_checksum_address(v)


def report_from_json(d: Any) -> ScoreReport:
    """Inverse of `report_to_json`; anything malformed raises `ReportFormatError` naming the field."""
    if not isinstance(d, Mapping):
        raise ReportFormatError(f"report: expected a JSON object, got {type(d).__name__}")
    providers = _field(d, "providers", _list_of(_address))
    q = _field(d, "q", _list_of(_uint(256)))
    delta = _field(d, "delta", _list_of(_int256))
    roots = _field(d, "datasetRoots", _list_of(_bytes32))
    if not len(providers) == len(q) == len(delta) == len(roots):
        raise ReportFormatError("report: providers, q, delta and datasetRoots differ in length")
    return ScoreReport(
        auction_id=_field(d, "auctionId", _uint(256)),
        round=_field(d, "round", _uint(32)),
        providers=tuple(providers),
        q=tuple(q),
        delta=tuple(delta),
        dataset_roots=tuple(roots),
        method_id=_field(d, "methodId", _uint(32)),
        transcript_hash=_field(d, "transcriptHash", _bytes32),
        deadline=_field(d, "deadline", _uint(64)),
    )


def signed_report_from_json(body: Any) -> tuple[ScoreReport, bytes]:
    """A peer's `{"report": ..., "signature": "0x.."}` body; raises `ReportFormatError` when malformed."""
    if not isinstance(body, Mapping):
        raise ReportFormatError(f"signed report: expected a JSON object, got {type(body).__name__}")
    report = report_from_json(body.get("report"))
    sig = body.get("signature")
    try:
        signature = bytes.fromhex(sig.removeprefix("0x")) if isinstance(sig, str) else None
    except ValueError:
        signature = None
    if signature is None or len(signature) != 65:
        raise ReportFormatError("signed report: field 'signature' must be 65 bytes of 0x-hex")
    return report, signature


def score_round(
    *,
    info: AuctionInfo,
    providers: list[str],
    roots: list[bytes],
    store: Store,
    keys: OracleKeys,
    account: LocalAccount,
    validation: Dataset,
    chain_id: int,
    contract: str,
    k: int = 5,
    device: str = "cpu",
) -> SignedRound:
    """Values the revealed providers (commit order) from this oracle's uploads and signs the outcome."""
    dim = int(validation.features.shape[1])
    inputs = []
    for p, root in zip(providers, roots, strict=True):
        up = store.upload(info.auction_id, p)
        path = store.ciphertext_path(info.auction_id, p)
        ct = path.read_bytes() if up is not None and up.status == "accepted" and path.exists() else None
        rejection = up.reason if up is not None and up.status == "rejected" else None
        inputs.append(provider_input(p, root, box=keys.box, ciphertext=ct, rejection=rejection, expected_dim=dim))
    zeroed = {d.provider_id: d.error for d in inputs if d.error}
    for p, why in zeroed.items():
        log.info("auction %d: provider %s scores 0: %s", info.auction_id, p, why)
    context = {
        "auction_id": info.auction_id,
        "chain_id": chain_id,
        "contract": contract,
        "oracle": account.address,
        "dataset_roots": ["0x" + r.hex() for r in roots],
        "rejections": zeroed,
    }
    scores = score_providers(
        inputs, validation, signing_key=keys.signing, k=k, device=device, method_id=info.method_id, context=context
    )
    mapping = scores.as_mapping()
    report = ScoreReport(
        auction_id=info.auction_id,
        round=SCORING_ROUND,
        providers=tuple(providers),
        q=tuple(mapping[p][0] for p in providers),
        delta=tuple(mapping[p][1] for p in providers),
        dataset_roots=tuple(roots),
        method_id=info.method_id,
        transcript_hash=scores.transcript_hash,
        deadline=info.scoring_deadline,
    )
    signature = sign_report(report, account.key, chain_id, contract)
    return SignedRound(report, signature, scores.transcript, scores.transcript_signature)
