"""Byzantine-robust scoring: each oracle's signed report is posted (by anyone) during the scoring window,
and each provider's weight is the median over EVERY posted report (`MiaAuction.postReports` and
`finalizeScores`).

Reports cover fixed chunks of the revealed providers (commit order): chunk c holds positions
[c·scoreChunk, (c+1)·scoreChunk). A chunk is aggregated as soon as all n members have posted for it, or
once the window has closed with at least the quorum k (≥ 2f+1) of reports; with fewer at the deadline
the auction may be cancelled. Finalization needs the weights of every posted report, which this module
reads back from the `ReportPosted` events (so it works whoever relayed, contract wallets included).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from eth_utils import to_checksum_address
from web3.types import EventData, TxReceipt

from mia.mechanism import report_weights
from mia.protocol.constants import SCORING_ROUND
from mia.protocol.errors import MiaError
from mia.protocol.reports import ScoreReport
from mia.protocol.types import Phase, ScoreChunk
from mia.sdk.auction import AuctionClient, AuctionInfo
from mia.sdk.events import EventReader


class ScoringError(MiaError):
    """A scoring step that cannot be taken now (nothing posted, chunk not finalizable, ...)."""


@dataclass(frozen=True)
class PostedReport:
    """One `ReportPosted` event, with the report rebuilt from it and the auction's reveals."""

    oracle: str
    chunk: int
    report: ScoreReport
    signature: bytes
    digest: bytes

    @property
    def weights(self) -> list[int]:
        return report_weights(self.report.q, self.report.delta)


def chunk_count(n_revealed: int, size: int) -> int:
    return -(-n_revealed // size) if n_revealed else 0


def chunk_bounds(n_revealed: int, size: int, chunk: int) -> tuple[int, int]:
    """Revealed positions [start, end) of `chunk`."""
    if size < 1 or not 0 <= chunk < chunk_count(n_revealed, size):
        raise ScoringError(f"no scoring chunk {chunk} among {n_revealed} revealed providers (size {size})")
    start = chunk * size
    return start, min(start + size, n_revealed)


def chunk_reports(report: ScoreReport, size: int) -> list[ScoreReport]:
    """A report over every revealed provider cut into the auction's chunks (each is signed on its own)."""
    n = len(report.providers)
    return [
        replace(
            report,
            providers=report.providers[a:b],
            q=report.q[a:b],
            delta=report.delta[a:b],
            dataset_roots=report.dataset_roots[a:b],
        )
        for a, b in (chunk_bounds(n, size, c) for c in range(chunk_count(n, size)))
    ]


def chunk_state(client: AuctionClient, auction_id: int, chunk: int) -> ScoreChunk:
    return ScoreChunk.decode(client.contract.functions.scoreChunkOf(auction_id, chunk).call())


def has_posted(client: AuctionClient, auction_id: int, chunk: int, oracle: str) -> bool:
    """Whether committee member `oracle` already has a report recorded for `chunk`."""
    committee = [to_checksum_address(a) for a in client.oracles(auction_id)]
    slot = committee.index(to_checksum_address(oracle))
    return bool(chunk_state(client, auction_id, chunk).posters >> slot & 1)


def posted_reports(
    events: Sequence[EventData], info: AuctionInfo, providers: Sequence[str], roots: Sequence[bytes], size: int
) -> list[PostedReport]:
    """`ReportPosted` events (decoded) turned back into the reports their oracles signed."""
    out = []
    for e in events:
        a = e["args"]
        start, end = chunk_bounds(len(providers), size, int(a["chunk"]))
        report = ScoreReport(
            auction_id=info.auction_id,
            round=SCORING_ROUND,
            providers=tuple(to_checksum_address(p) for p in providers[start:end]),
            q=tuple(int(x) for x in a["q"]),
            delta=tuple(int(x) for x in a["delta"]),
            dataset_roots=tuple(bytes(r) for r in roots[start:end]),
            method_id=info.method_id,
            transcript_hash=bytes(a["transcriptHash"]),
            deadline=int(a["deadline"]),
        )
        out.append(PostedReport(to_checksum_address(a["oracle"]), int(a["chunk"]), report, bytes(a["signature"]),
                                bytes(a["digest"])))  # fmt: skip
    return out


def read_posted(client: AuctionClient, auction_id: int) -> list[PostedReport]:
    """Every report posted for the auction, from the chain's events."""
    info = client.auction(auction_id)
    providers, roots = client.revealed(auction_id)
    events = EventReader(client.chain.w3, confirmations=0).events(client.contract, "ReportPosted", auctionId=auction_id)
    return posted_reports(events, info, providers, roots, info.score_chunk)


def finalization_args(
    committee: Sequence[str], posted: Sequence[PostedReport], chunk: int
) -> tuple[list[str], list[list[int]]]:
    """The chunk's providers and each posted report's weights in committee-slot order."""
    slot: dict[str, int] = {to_checksum_address(a): k for k, a in enumerate(committee)}
    mine = sorted((p for p in posted if p.chunk == chunk), key=lambda p: slot[p.oracle])
    if not mine:
        raise ScoringError(f"no report posted for chunk {chunk}")
    return list(mine[0].report.providers), [p.weights for p in mine]


def post_reports(
    client: AuctionClient, auction_id: int, chunk: int, reports: Sequence[ScoreReport], signatures: Sequence[bytes]
) -> TxReceipt:
    """Posts signed reports for one chunk (any account may post; the contract checks the signers)."""
    fn = client.contract.functions.postReports(auction_id, chunk, [r.as_tuple() for r in reports], list(signatures))
    return client.sender.transact(fn)


def finalizable(info: AuctionInfo, state: ScoreChunk, phase: Phase) -> bool:
    """The contract's rule: all n posted, or the window closed with at least the quorum."""
    if state.finalized or state.count == 0:
        return False
    return state.count == info.n_oracles or (phase == Phase.EXPIRED and state.count >= info.threshold)


def finalize(client: AuctionClient, auction_id: int) -> list[TxReceipt]:
    """Aggregates every chunk the rule allows now, from the posted reports' events; returns the receipts."""
    info = client.auction(auction_id)
    phase = client.phase(auction_id)
    if phase not in (Phase.SCORING, Phase.EXPIRED):
        return []
    committee = client.oracles(auction_id)
    posted = read_posted(client, auction_id)
    receipts = []
    for c in range(chunk_count(info.n_revealed, info.score_chunk)):
        if not finalizable(info, chunk_state(client, auction_id, c), phase):
            continue
        providers, weights = finalization_args(committee, posted, c)
        fn = client.contract.functions.finalizeScores(auction_id, c, providers, weights)
        receipts.append(client.sender.transact(fn))
    return receipts
