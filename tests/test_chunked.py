"""Chunked scoring and settlement: same outcome as one-shot and as the Python reference, to the wei.

Two twin auctions (same bids, same signed scores) per mechanism: one scored and settled in one
transaction each, the other in chunks of every size; each provider's cash credit, MUT and the buyer's
refund must agree with each other and with `mia.mechanism.settle`. Plus the misuse paths: a
wrong settlement order, a skipped provider in a score chunk, one-shot calls over a chunked run.
"""

from __future__ import annotations

import random

import pytest

from mia.mechanism import settle as reference_settle
from mia.mechanism import weight
from mia.mechanism.settlement import cash_escrow
from mia.protocol.errors import MiaError
from mia.protocol.order import pack_order_entry, unpack_order_entry
from mia.sdk.auction import Mechanism, Phase
from mia.sdk.auditor import Auditor
from mia.sdk.buyer import Buyer, Schedule
from mia.sdk.chunked import (
    progress,
    settle_in_chunks,
    settlement_order,
    split_report,
    submit_score_chunks,
)
from tests.conftest import TASK, TRANSCRIPT, WAD, Env, dataset_root_for, oracle_infos

ETHER = 10**18
N = 11

DEPOSIT = ETHER // 50  # at least the minimum for 7 ETH over 6 open slots (7 ETH / 600)


def _scores(rng: random.Random, n: int) -> list[tuple[int, int]]:
    """Per-provider (q, Δ): some Δ ≤ 0 (ineligible), some equal virtual costs (index tie-breaks)."""
    out = []
    for i in range(n):
        if i % 5 == 3:
            out.append((rng.randint(0, WAD), -rng.randint(0, WAD)))
        else:
            out.append((rng.choice([WAD, WAD // 2, rng.randint(1, WAD)]), rng.choice([WAD, 2 * WAD, 3 * WAD])))
    return out


def _auction(
    env: Env, buyer: Buyer, committee, providers, costs, reveal, mechanism: Mechanism, score_chunk: int = 0
) -> int:
    aid = buyer.create_auction(
        budget=7 * ETHER,
        deposit=DEPOSIT,
        oracles=oracle_infos(committee),
        threshold=2,
        task_hash=TASK,
        method_id=1,
        schedule=Schedule(),
        max_providers=len(providers),
        mechanism=mechanism,
        liquidity=WAD // 3,
        rho=3 * ETHER,
        score_chunk=score_chunk,
    )
    for k, (p, c) in enumerate(zip(providers, costs, strict=True)):
        p.commit(aid, c, dataset_root_for(k, p.address.encode()))
    env.chain.advance_to(buyer.auction(aid).commit_deadline)
    for p, r in zip(providers, reveal, strict=True):
        if r:
            p.reveal(aid)
    env.chain.advance_to(buyer.auction(aid).reveal_deadline)
    return aid


def _signed(committee, aid: int, oracle_scores, chunk: int | None):
    """Per chunk: (reports, signatures) of oracles 0 and 2 (2-of-3), each over the same providers."""
    signers = [committee[0], committee[2]]
    full = []
    for o, scores in zip(signers, oracle_scores, strict=True):
        deadline = o.auction(aid).scoring_deadline
        full.append(o.build_report(aid, scores, transcript_hash=TRANSCRIPT, deadline=deadline))
    if chunk is None:
        return [(full, [o.sign(r) for o, r in zip(signers, full, strict=True)])]
    parts = [split_report(r, chunk) for r in full]
    return [(list(reps), [o.sign(r) for o, r in zip(signers, reps, strict=True)]) for reps in zip(*parts, strict=True)]


def _score(committee, aid: int, signed) -> list:
    """Posts every chunk's reports (2 of 3 members), then closes the window and aggregates them."""
    receipts = submit_score_chunks(committee[0], aid, signed)
    committee[0].chain.advance_to(committee[0].auction(aid).scoring_deadline)
    committee[0].finalize(aid)
    return receipts


def _outcome(env: Env, buyer: Buyer, aid: int, providers) -> tuple[list[tuple[int, int]], int]:
    logs = env.mia.events.Payment().get_logs(from_block=env.from_block, argument_filters={"auctionId": aid})
    paid = {e["args"]["provider"]: (e["args"]["amount"], e["args"]["mutAmount"]) for e in logs}
    (settled,) = env.mia.events.AuctionSettled().get_logs(
        from_block=env.from_block, argument_filters={"auctionId": aid}
    )
    return [paid.get(p.address, (0, 0)) for p in providers], settled["args"]["buyerRefund"]


@pytest.mark.parametrize("mechanism", list(Mechanism))
def test_chunked_equals_one_shot_and_reference(fresh_env: Env, mechanism: Mechanism) -> None:
    env = fresh_env
    rng = random.Random(int(mechanism) + 7)
    committee = env.committee()
    costs = [rng.choice([ETHER // 4, ETHER // 2, ETHER, 2 * ETHER]) for _ in range(N)]
    reveal = [i != 4 for i in range(N)]
    per_oracle = [_scores(rng, N), _scores(rng, N)]
    outcomes = []
    for chunks in (None, 3):
        buyer, providers = env.buyer(), [env.provider() for _ in range(N)]
        aid = _auction(env, buyer, committee, providers, costs, reveal, mechanism, score_chunk=chunks or 0)
        scores = [{p.address: s[k] for k, p in enumerate(providers)} for s in per_oracle]
        signed = _signed(committee, aid, scores, chunks)
        receipts = _score(committee, aid, signed)
        if chunks is None:
            buyer.settle(aid)
        else:
            assert len(receipts) == 4  # 10 revealed providers in chunks of 3
            settle_in_chunks(buyer, aid, order_chunk=2, pay_chunk=1)
        assert buyer.phase(aid) == Phase.SETTLED
        outcomes.append(_outcome(env, buyer, aid, providers))
        report = Auditor(env.chain, env.mia, from_block=env.from_block).audit(aid)
        assert report.ok, report.mismatches

    assert outcomes[0] == outcomes[1]
    # The Python reference on the revealed bids and the median weights (lower median of 2 = the min).
    revealed = [k for k in range(N) if reveal[k]]
    weights = [min(weight(*per_oracle[0][k]), weight(*per_oracle[1][k])) for k in revealed]
    out = reference_settle(
        int(mechanism),
        [costs[k] for k in revealed],
        weights,
        7 * ETHER,
        liquidity=WAD // 3,
        rho=3 * ETHER,
    )
    expected = [(0, 0)] * N
    for j, k in enumerate(revealed):
        expected[k] = (out.cash[j], out.mut[j])
    assert outcomes[1][0] == expected
    escrow = cash_escrow(int(mechanism), 7 * ETHER, WAD // 3)
    # forfeited to the buyer: the non-revealer's deposit and those of revealed providers with weight 0
    forfeits = N - sum(w > 0 for w in weights)
    assert outcomes[1][1] == escrow - out.total_cash + forfeits * DEPOSIT


def _scored_auction(env: Env, n: int = 6, chunk: int = 2):
    committee = env.committee()
    buyer, providers = env.buyer(), [env.provider() for _ in range(n)]
    costs = [ETHER * (k + 1) for k in range(n)]
    aid = _auction(env, buyer, committee, providers, costs, [True] * n, Mechanism.QMIA, score_chunk=chunk)
    scores = {p.address: (WAD, WAD * (k + 1)) for k, p in enumerate(providers)}
    return committee, buyer, aid, _signed(committee, aid, [scores, scores], chunk), scores


def test_score_chunk_cannot_skip_a_provider(fresh_env: Env) -> None:
    committee, buyer, aid, signed, scores = _scored_auction(fresh_env)
    with pytest.raises(MiaError, match="ProviderMismatch"):
        submit_score_chunks(committee[0], aid, signed[1:])  # starts at the third revealed provider
    with pytest.raises(MiaError, match="ChunkUnavailable"):
        committee[0].submit(aid, *signed[1], chunk=1)  # chunk 1 before chunk 0 has any report
    submit_score_chunks(committee[0], aid, signed[:1])
    (full,) = _signed(committee, aid, [scores, scores], None)
    with pytest.raises(MiaError, match="ReportLengthMismatch"):
        committee[0].submit(aid, *full, chunk=1)  # a whole report is not a chunk
    _score(committee, aid, signed)  # posts the chunks still open, then aggregates every chunk
    assert buyer.phase(aid) == Phase.SCORED
    assert progress(buyer, aid).scored == 6


def test_settlement_order_is_verified_and_resumable(fresh_env: Env) -> None:
    committee, buyer, aid, signed, _ = _scored_auction(fresh_env)
    _score(committee, aid, signed)
    indices, entries = settlement_order(buyer, aid)
    f = buyer.contract.functions
    swapped = [indices[1], indices[0], *indices[2:]]
    with pytest.raises(MiaError, match="SettlementOrderMismatch"):
        buyer.sender.transact(f.orderForSettlement(aid, swapped))
    with pytest.raises(MiaError, match="SettlementOrderIncomplete"):
        buyer.sender.transact(f.settleChunk(aid, entries, 10))
    buyer.sender.transact(f.orderForSettlement(aid, indices[:4]))
    settle_in_chunks(fresh_env.buyer(), aid, order_chunk=1, pay_chunk=1)  # another caller resumes
    assert buyer.phase(aid) == Phase.SETTLED


def test_forged_entries_and_one_shot_after_chunks_revert(fresh_env: Env) -> None:
    committee, buyer, aid, signed, _ = _scored_auction(fresh_env)
    _score(committee, aid, signed)
    indices, entries = settlement_order(buyer, aid)
    f = buyer.contract.functions
    buyer.sender.transact(f.orderForSettlement(aid, indices))
    first = unpack_order_entry(entries[0])  # forged: a higher bid for the first winner
    forged = [pack_order_entry(first.commit_index, first.bid + 1, first.running), *entries[1:]]
    with pytest.raises(MiaError, match="SettlementOrderMismatch"):
        buyer.sender.transact(f.settleChunk(aid, forged, 10))
    buyer.sender.transact(f.settleChunk(aid, entries, 1))
    with pytest.raises(MiaError, match="SettlementInProgress"):
        buyer.settle(aid)
    settle_in_chunks(buyer, aid)
    assert buyer.phase(aid) == Phase.SETTLED
