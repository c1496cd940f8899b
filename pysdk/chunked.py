"""Chunked scoring and settlement: auctions too large for one transaction (up to MAX_PROVIDERS).

Scores go in as ordinary signed reports over consecutive runs of the revealed providers
(`submitScoreChunk`). Settlement is two resumable steps that anyone may drive: the eligible providers'
order by virtual cost is verified chunk by chunk (`orderForSettlement`), then winners are paid chunk by
chunk (`settleChunk`) with the whole order passed as calldata and checked against the hash the first
step stored. The order comes from the Python reference (`offchain.mechanism.qmia`), the single source
of the sort rule; the contract only verifies it, so a wrong order reverts and moves nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from web3.types import TxReceipt

from offchain.mechanism.qmia import sort_by_virtual_cost, weight
from pysdk.auction import AuctionClient, Phase
from pysdk.errors import MiaError
from pysdk.reports import ScoreReport

# Sizes that keep every transaction well under 15M gas (see bench/gas.py for the measured table).
SCORE_CHUNK = 250
ORDER_CHUNK = 400
PAY_CHUNK = 150


@dataclass(frozen=True)
class SettlementProgress:
    """Mirror of `MiaAuction.Progress`."""

    scored: int
    score_pos: int
    eligible: int
    ordered: int
    paid: int
    winners: int


def split_report(report: ScoreReport, size: int) -> list[ScoreReport]:
    """The report cut into consecutive chunks of at most `size` providers (each must be signed anew)."""
    if size < 1:
        raise MiaError("chunk size must be at least 1")
    n = len(report.providers)
    return [
        replace(
            report,
            providers=report.providers[i : i + size],
            q=report.q[i : i + size],
            delta=report.delta[i : i + size],
            dataset_roots=report.dataset_roots[i : i + size],
        )
        for i in range(0, n, size)
    ]


def progress(client: AuctionClient, auction_id: int) -> SettlementProgress:
    p = client.contract.functions.settlementProgress(auction_id).call()
    return SettlementProgress(*(int(x) for x in p[:6]))


def submit_score_chunks(
    client: AuctionClient, auction_id: int, chunks: Sequence[tuple[Sequence[ScoreReport], Sequence[bytes]]]
) -> list[TxReceipt]:
    """Relays each chunk's k signed reports in turn, skipping chunks the contract already holds."""
    done = progress(client, auction_id).scored
    receipts, position = [], 0
    for reports, signatures in chunks:
        if not reports:
            raise MiaError("a score chunk needs at least one report")
        size = len(reports[0].providers)
        if position >= done:
            fn = client.contract.functions.submitScoreChunk(
                auction_id, [r.as_tuple() for r in reports], list(signatures)
            )
            receipts.append(client.sender.transact(fn))
        position += size
    return receipts


def settlement_order(client: AuctionClient, auction_id: int) -> tuple[list[int], list[int]]:
    """Commit indices of the eligible providers by virtual cost, and the packed entries `settleChunk` takes."""
    info = client.auction(auction_id)
    providers = client.contract.functions.providersOf(auction_id).call()
    bids, weights, indices = [], [], []
    for p in providers:
        b = client.contract.functions.getBid(auction_id, p).call()
        if not b[3]:
            continue
        indices.append(int(b[2]))
        bids.append(int(b[1]))
        weights.append(weight(int(b[4]), int(b[5])))
    if info.n_revealed != len(indices):
        raise MiaError(f"auction {auction_id}: {len(indices)} revealed bids found, {info.n_revealed} expected")
    order = sort_by_virtual_cost(bids, weights)
    entries, running = [], 0
    for k in order:
        running += weights[k]
        entries.append((indices[k] << 240) | (bids[k] << 144) | running)
    return [indices[k] for k in order], entries


def settle_in_chunks(
    client: AuctionClient, auction_id: int, *, order_chunk: int = ORDER_CHUNK, pay_chunk: int = PAY_CHUNK
) -> list[TxReceipt]:
    """Drives chunked settlement to the end from wherever it stands; returns the receipts it sent."""
    if order_chunk < 1 or pay_chunk < 1:
        raise MiaError("chunk sizes must be at least 1")
    indices, entries = settlement_order(client, auction_id)
    receipts: list[TxReceipt] = []
    f = client.contract.functions
    ordered = progress(client, auction_id).ordered
    for start in range(ordered, len(indices), order_chunk):
        receipts.append(client.sender.transact(f.orderForSettlement(auction_id, indices[start : start + order_chunk])))
    while client.phase(auction_id) != Phase.SETTLED:
        receipts.append(client.sender.transact(f.settleChunk(auction_id, entries, pay_chunk)))
    return receipts
