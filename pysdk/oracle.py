"""Oracle role: turn valuations into EIP-712 score reports, sign them, and submit k of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from web3.types import TxReceipt

from pysdk.auction import AuctionClient
from pysdk.errors import MiaError
from pysdk.reports import ScoreReport, sign_report

SCORING_ROUND = 1


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
        """A report over the revealed providers in commit order; `scores[provider] = (q_wad, delta_wad)`."""
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

    def sign(self, report: ScoreReport) -> bytes:
        if self.account is None:
            raise MiaError("oracle has no signing key")
        return sign_report(report, self.account.key, self.chain.chain_id, self.contract.address)

    def submit(self, auction_id: int, reports: Sequence[ScoreReport], signatures: Sequence[bytes]) -> TxReceipt:
        """Relays k signed reports (any account may relay; the contract checks the signers)."""
        return self.sender.transact(
            self.contract.functions.submitScores(auction_id, [r.as_tuple() for r in reports], list(signatures))
        )
