"""Chunked scoring and settlement: auctions too large for one transaction (up to MAX_PROVIDERS).

Scores go in as ordinary signed reports, one per fixed scoring chunk of the revealed providers
(`mia.sdk.scoring`). Settlement is two resumable steps that anyone may drive: the eligible providers'
order by virtual cost is verified chunk by chunk (`orderForSettlement`, which accepts only the unique
true continuation, so no griefer can leave a wrong prefix behind), then winners are paid chunk by chunk
(`settleChunk`) with the whole order passed as calldata and checked against the hash the first step
stored. The order comes from the Python reference (`mia.mechanism.qmia`), the single source of the
sort rule; the contract only verifies it, so a wrong order reverts and moves nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_utils import to_checksum_address
from web3.types import TxReceipt

from mia.mechanism.qmia import sort_by_virtual_cost
from mia.protocol.contract_errors import SettlementOrderMismatch
from mia.protocol.errors import ContractRevert, MiaError
from mia.protocol.order import pack_order_entry
from mia.protocol.reports import ScoreReport, recover_signer
from mia.protocol.types import Phase, Progress
from mia.sdk.auction import AuctionClient
from mia.sdk.scoring import chunk_reports, chunk_state, post_reports

# Sizes that keep every transaction well under 16,777,216 gas (see bench/gas.py for the measured table).
ORDER_CHUNK = 400
PAY_CHUNK = 150


def split_report(report: ScoreReport, size: int) -> list[ScoreReport]:
    """The report cut into consecutive chunks of `size` providers (each must be signed anew)."""
    if size < 1:
        raise MiaError("chunk size must be at least 1")
    return chunk_reports(report, size)


def progress(client: AuctionClient, auction_id: int) -> Progress:
    return Progress.decode(client.contract.functions.settlementProgress(auction_id).call())


def submit_score_chunks(
    client: AuctionClient, auction_id: int, chunks: Sequence[tuple[Sequence[ScoreReport], Sequence[bytes]]]
) -> list[TxReceipt]:
    """Posts each chunk's signed reports in turn (chunk c is element c), leaving out reports of members
    that already posted for that chunk (so a relay can resume without a duplicate). Each call carrying
    every member's report aggregates its chunk at once."""
    committee: list[str] = [to_checksum_address(a) for a in client.oracles(auction_id)]
    chain_id, contract = client.chain.chain_id, client.contract.address
    receipts = []
    for c, (reports, signatures) in enumerate(chunks):
        if not reports:
            raise MiaError("a score chunk needs at least one report")
        posters = chunk_state(client, auction_id, c).posters
        todo = [
            (r, sig)
            for r, sig in zip(reports, signatures, strict=True)
            if not posters >> committee.index(recover_signer(r, sig, chain_id, contract)) & 1
        ]
        if todo:
            receipts.append(post_reports(client, auction_id, c, [r for r, _ in todo], [sig for _, sig in todo]))
    return receipts


def settlement_order(client: AuctionClient, auction_id: int) -> tuple[list[int], list[int]]:
    """Commit indices of the eligible providers by virtual cost, and the packed entries `settleChunk` takes."""
    info = client.auction(auction_id)
    providers = client.contract.functions.providersOf(auction_id).call()
    bids, weights, indices = [], [], []
    for p in providers:
        b = client.bid(auction_id, p)
        if not b.revealed:
            continue
        indices.append(b.index)
        bids.append(b.cost)
        weights.append(int(client.contract.functions.weightOf(auction_id, p).call()))
    if info.n_revealed != len(indices):
        raise MiaError(f"auction {auction_id}: {len(indices)} revealed bids found, {info.n_revealed} expected")
    order = sort_by_virtual_cost(bids, weights)
    entries, running = [], 0
    for k in order:
        running += weights[k]
        entries.append(pack_order_entry(indices[k], bids[k], running))
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
    # Someone else (even a griefer) may place a correct chunk first: then re-read where the order stands.
    while (ordered := progress(client, auction_id).ordered) < len(indices):
        try:
            receipts.append(
                client.sender.transact(f.orderForSettlement(auction_id, indices[ordered : ordered + order_chunk]))
            )
        except ContractRevert as exc:
            if not isinstance(exc, SettlementOrderMismatch) or progress(client, auction_id).ordered == ordered:
                raise
    while client.phase(auction_id) != Phase.SETTLED:
        receipts.append(client.sender.transact(f.settleChunk(auction_id, entries, pay_chunk)))
    return receipts
