"""Oracle role: turn valuations into EIP-712 score reports (one per scoring chunk), sign and post them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from web3.types import TxReceipt

from mia.protocol.constants import SCORING_ROUND
from mia.protocol.errors import MiaError
from mia.protocol.reports import ScoreReport, sign_report
from mia.sdk.auction import AuctionClient
from mia.sdk.scoring import chunk_reports, finalize, has_posted, post_reports


class Oracle(AuctionClient):
    """One committee member, holding its secp256k1 signing key."""

    def build_report(
        self,
        auction_id: int,
        scores: Mapping[str, tuple[int, int]],
        *,
        transcript_hash: bytes,
        deadline: int,
    ) -> ScoreReport:
        """A report over every revealed provider in commit order; `scores[provider] = (q_wad, delta_wad)`.

        Larger auctions post it cut into chunks (`build_reports`)."""
        info = self.auction(auction_id)
        providers, roots = self.revealed(auction_id)
        lower = {k.lower(): v for k, v in scores.items()}
        missing = [p for p in providers if p.lower() not in lower]
        if missing:
            raise MiaError(f"no score for revealed provider(s) {', '.join(missing)}")
        return ScoreReport(
            auction_id=auction_id,
            round=SCORING_ROUND,
            providers=tuple(providers),
            q=tuple(lower[p.lower()][0] for p in providers),
            delta=tuple(lower[p.lower()][1] for p in providers),
            dataset_roots=tuple(roots),
            method_id=info.method_id,
            transcript_hash=transcript_hash,
            deadline=deadline,
        )

    def build_reports(self, auction_id: int, scores: Mapping[str, tuple[int, int]], *, transcript_hash: bytes,
                      deadline: int) -> list[ScoreReport]:  # fmt: skip
        """The report cut into the auction's scoring chunks (chunk c is element c)."""
        report = self.build_report(auction_id, scores, transcript_hash=transcript_hash, deadline=deadline)
        return chunk_reports(report, self.auction(auction_id).score_chunk)

    def sign(self, report: ScoreReport) -> bytes:
        if self.account is None:
            raise MiaError("oracle has no signing key")
        return sign_report(report, self.account.key, self.chain.chain_id, self.contract.address)

    def post_own(self, auction_id: int, chunks: Sequence[ScoreReport]) -> list[TxReceipt]:
        """Signs and posts this oracle's report for every chunk it has not posted yet (safe to repeat:
        a restarted oracle skips what the contract already holds, so it never posts twice)."""
        receipts = []
        for c, report in enumerate(chunks):
            if has_posted(self, auction_id, c, self.address):
                continue
            receipts.append(post_reports(self, auction_id, c, [report], [self.sign(report)]))
        return receipts

    def submit(
        self, auction_id: int, reports: Sequence[ScoreReport], signatures: Sequence[bytes], *, chunk: int = 0
    ) -> TxReceipt:
        """Relays signed reports for one chunk (any account may relay; the contract checks the signers).
        A call carrying every member's report aggregates the chunk at once."""
        return post_reports(self, auction_id, chunk, reports, signatures)

    def finalize(self, auction_id: int) -> list[TxReceipt]:
        """Aggregates every chunk the contract's rule allows now (over every posted report)."""
        return finalize(self, auction_id)
