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
from mia.protocol.types import Mechanism, Phase
from mia.sdk.chunked import (
    progress,
    settle_in_chunks,
    settlement_order,
    submit_score_chunks,
)
from tests.conftest import WAD, AuctionRun, Env

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


def _run(env: Env, costs, *, mechanism: Mechanism = Mechanism.QMIA, **kw) -> AuctionRun:
    """An auction of these bids (7 ETH, one slot a provider) through reveal, at its scoring window."""
    run = AuctionRun(
        env, costs, budget=7 * ETHER, deposit=DEPOSIT, max_providers=len(costs), mechanism=mechanism,
        liquidity=WAD // 3, rho=3 * ETHER, **kw,
    ).through("revealed")  # fmt: skip
    run.to_scoring()
    return run


def _signers(run: AuctionRun) -> list:
    """Oracles 0 and 2 of the committee (2-of-3)."""
    return [run.committee[0], run.committee[2]]


@pytest.mark.parametrize("mechanism", list(Mechanism))
def test_chunked_equals_one_shot_and_reference(fresh_env: Env, mechanism: Mechanism) -> None:
    env = fresh_env
    rng = random.Random(int(mechanism) + 7)
    committee = env.committee()
    costs = [rng.choice([ETHER // 4, ETHER // 2, ETHER, 2 * ETHER]) for _ in range(N)]
    reveal = [i != 4 for i in range(N)]
    per_oracle = [_scores(rng, N), _scores(rng, N)]
    outcomes = []
    for chunks in (0, 3):
        run = _run(env, costs, mechanism=mechanism, committee=committee, reveal=reveal, score_chunk=chunks,
                   order_chunk=chunks and 2, pay_chunk=chunks and 1)  # fmt: skip
        run.post_and_aggregate(run.signed_chunks(per_oracle, _signers(run)))
        if chunks:
            assert len(run.receipts["posted"]) == 4  # 10 revealed providers in chunks of 3
        run.through("settled")
        assert run.phase == Phase.SETTLED
        outcomes.append(run.outcome())
        run.audit()

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


def _scored_run(env: Env, n: int = 6, chunk: int = 2) -> tuple[AuctionRun, list, list]:
    """n providers in scoring chunks of `chunk`, at the scoring window, with oracles 0 and 2's signed chunks."""
    run = _run(env, [ETHER * (k + 1) for k in range(n)], score_chunk=chunk)
    scores = [(WAD, WAD * (k + 1)) for k in range(n)]
    return run, run.signed_chunks([scores, scores], _signers(run)), scores


def test_score_chunk_cannot_skip_a_provider(fresh_env: Env) -> None:
    run, signed, scores = _scored_run(fresh_env)
    relay, aid = run.committee[0], run.id
    with pytest.raises(MiaError, match="ProviderMismatch"):
        submit_score_chunks(relay, aid, signed[1:])  # starts at the third revealed provider
    with pytest.raises(MiaError, match="ChunkUnavailable"):
        relay.submit(aid, *signed[1], chunk=1)  # chunk 1 before chunk 0 has any report
    submit_score_chunks(relay, aid, signed[:1])
    (full,) = run.signed_chunks([scores, scores], _signers(run), chunk=0)
    with pytest.raises(MiaError, match="ReportLengthMismatch"):
        relay.submit(aid, *full, chunk=1)  # a whole report is not a chunk
    run.post_and_aggregate(signed)  # posts the chunks still open, then aggregates every chunk
    assert run.phase == Phase.SCORED
    assert progress(run.buyer, aid).scored == 6


def _settleable_run(env: Env) -> tuple[AuctionRun, list[int], list[int]]:
    """A run scored chunk by chunk (oracles 0 and 2), with its settlement order and packed entries."""
    run, signed, _ = _scored_run(env)
    run.post_and_aggregate(signed)
    return run, *settlement_order(run.buyer, run.id)


def test_settlement_order_is_verified_and_resumable(fresh_env: Env) -> None:
    run, indices, entries = _settleable_run(fresh_env)
    buyer, aid, f = run.buyer, run.id, run.buyer.contract.functions
    swapped = [indices[1], indices[0], *indices[2:]]
    with pytest.raises(MiaError, match="SettlementOrderMismatch"):
        buyer.sender.transact(f.orderForSettlement(aid, swapped))
    with pytest.raises(MiaError, match="SettlementOrderIncomplete"):
        buyer.sender.transact(f.settleChunk(aid, entries, 10))
    buyer.sender.transact(f.orderForSettlement(aid, indices[:4]))
    settle_in_chunks(fresh_env.buyer(), aid, order_chunk=1, pay_chunk=1)  # another caller resumes
    assert run.phase == Phase.SETTLED


def test_forged_entries_and_one_shot_after_chunks_revert(fresh_env: Env) -> None:
    run, indices, entries = _settleable_run(fresh_env)
    buyer, aid, f = run.buyer, run.id, run.buyer.contract.functions
    buyer.sender.transact(f.orderForSettlement(aid, indices))
    first = unpack_order_entry(entries[0])  # forged: a higher bid for the first winner
    forged = [pack_order_entry(first.commit_index, first.bid + 1, first.running), *entries[1:]]
    with pytest.raises(MiaError, match="SettlementOrderMismatch"):
        buyer.sender.transact(f.settleChunk(aid, forged, 10))
    buyer.sender.transact(f.settleChunk(aid, entries, 1))
    with pytest.raises(MiaError, match="SettlementInProgress"):
        buyer.settle(aid)
    settle_in_chunks(buyer, aid)
    assert run.phase == Phase.SETTLED
