"""The oracle's scoring job for one auction: open every revealed provider's upload, value, sign.

Produces the EIP-712 report (signed with the oracle's Ethereum key) and the transcript (signed with
its Ed25519 key). Providers whose upload is missing, refused, or does not match the revealed root
are valued at q = 0 with the reason in the transcript; the others are valued exactly as if those
providers were absent, so a bad upload changes nothing else in the round.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from offchain.oracle_service.dataroom import provider_input
from offchain.oracle_service.keys import OracleKeys
from offchain.oracle_service.store import Store
from offchain.scoring import score_providers
from offchain.valuation import Dataset
from pysdk.auction import AuctionInfo
from pysdk.oracle import SCORING_ROUND
from pysdk.reports import ScoreReport, sign_report

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


def report_from_json(d: dict[str, Any]) -> ScoreReport:
    """Inverse of `report_to_json`; raises KeyError/ValueError/TypeError on malformed input."""
    return ScoreReport.from_tuple(
        [
            int(d["auctionId"]),
            int(d["round"]),
            list(d["providers"]),
            [int(v) for v in d["q"]],
            [int(v) for v in d["delta"]],
            [bytes.fromhex(r.removeprefix("0x")) for r in d["datasetRoots"]],
            int(d["methodId"]),
            bytes.fromhex(d["transcriptHash"].removeprefix("0x")),
            int(d["deadline"]),
        ]
    )


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
