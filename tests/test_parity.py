"""The contract and the Python reference agree to the wei (SPEC §4).

1. `QMIAHarness` (the Solidity libraries as view calls) vs `mia.mechanism` on hundreds of seeded
   random instances, including ties, zero weights, extreme budgets and the largest allowed values.
2. Whole auctions through MiaAuction: random providers, costs, per-oracle scores, non-revealers and
   2-of-3 / 3-of-3 reports; the Payment events and credits must equal the reference applied to the
   median scores, and the independent auditor must pass.
"""

from __future__ import annotations

import random

import pytest
from conftest import ETHER, WAD, AuctionRun, escrow_ok

from mia.mechanism import aggregate_weights, lower_median, qmia, weight
from mia.mechanism.qmia import MAX_ABS_DELTA, MAX_BID
from tools.build_contracts import dev_artifact

MAX_WEIGHT = 10**36
MAX_BUDGET = 2**128 - 1
N_INSTANCES = 240
N_AUCTIONS = 24


@pytest.fixture(scope="module")
def harness(chain):
    return chain.deploy(dev_artifact("QMIAHarness"))


def _value(rng: random.Random, hi: int) -> int:
    """Mostly uniform, sometimes tiny, sometimes at the very top."""
    r = rng.random()
    if r < 0.1:
        return rng.randint(0, 3)
    if r < 0.2:
        return hi - rng.randint(0, 3)
    if r < 0.5:
        return rng.randint(0, hi)
    return rng.randint(0, 10 ** rng.randint(1, len(str(hi)) - 1))


def random_instance(seed: int) -> tuple[list[int], list[int], int]:
    rng = random.Random(seed)
    kind = seed % 6
    n = rng.randint(0, 12) if seed % 40 else 0
    if kind == 0:  # general
        bids = [_value(rng, MAX_BID) for _ in range(n)]
        weights = [_value(rng, MAX_WEIGHT) for _ in range(n)]
    elif kind == 1:  # ties in virtual cost: b = φ·w for a few shared φ
        phis = [rng.randint(1, 10**6) for _ in range(2)]
        weights = [rng.randint(1, 10**20) for _ in range(n)]
        bids = [min(MAX_BID, rng.choice(phis) * w) for w in weights]
    elif kind == 2:  # identical providers
        b, w = rng.randint(0, 10**18), rng.randint(1, 10**18)
        bids, weights = [b] * n, [w] * n
    elif kind == 3:  # many zero weights
        bids = [rng.randint(0, 10**20) for _ in range(n)]
        weights = [0 if rng.random() < 0.5 else rng.randint(1, 10**18) for _ in range(n)]
    elif kind == 4:  # extreme magnitudes
        bids = [rng.choice([0, 1, MAX_BID, MAX_BID - 1, rng.randint(0, MAX_BID)]) for _ in range(n)]
        weights = [rng.choice([0, 1, MAX_WEIGHT, MAX_WEIGHT - 1, rng.randint(1, MAX_WEIGHT)]) for _ in range(n)]
    else:  # realistic wei-scale data market
        bids = [rng.randint(0, 5 * ETHER) for _ in range(n)]
        weights = [weight(rng.randint(0, WAD), rng.randint(-WAD, 2 * WAD)) for _ in range(n)]
    budget_kind = rng.random()
    if budget_kind < 0.15:
        budget = rng.randint(0, 2)
    elif budget_kind < 0.3:
        budget = MAX_BUDGET - rng.randint(0, 5)
    elif budget_kind < 0.5:
        budget = rng.randint(0, MAX_BUDGET)
    else:
        budget = rng.randint(0, max(1, 2 * sum(bids) // max(1, n)) * max(1, n // 2))
    return bids, weights, budget


def test_instances_cover_the_interesting_cases():
    """The generator really produces ties, zero weights, extremes, winners and losers."""
    stats = {"tie": 0, "zero_w": 0, "max_bid": 0, "max_w": 0, "huge_B": 0, "tiny_B": 0, "winner": 0, "loser": 0}
    for seed in range(N_INSTANCES):
        bids, weights, budget = random_instance(seed)
        out = qmia(bids, weights, budget)
        phis = [(b * 10**40) // w for b, w in zip(bids, weights, strict=True) if w]
        stats["tie"] += len(phis) != len(set(phis))
        stats["zero_w"] += 0 in weights
        stats["max_bid"] += MAX_BID in bids
        stats["max_w"] += MAX_WEIGHT in weights
        stats["huge_B"] += budget > 2**127
        stats["tiny_B"] += budget <= 2
        stats["winner"] += any(out.won)
        stats["loser"] += any(w and not won for w, won in zip(weights, out.won, strict=True))
    assert all(v >= 10 for v in stats.values()), stats


@pytest.mark.parametrize("seed", range(N_INSTANCES))
def test_harness_settle_matches_reference(harness, seed):
    bids, weights, budget = random_instance(seed)
    payments, won = harness.functions.settle(bids, weights, budget).call()
    ref = qmia(bids, weights, budget)
    assert list(won) == list(ref.won)
    assert list(payments) == list(ref.payments)


@pytest.mark.parametrize("seed", range(20))
def test_harness_weight_and_median_match_reference(harness, seed):
    rng = random.Random(1000 + seed)
    for _ in range(5):
        q = rng.choice([0, 1, WAD, rng.randint(0, WAD)])
        d = rng.choice([0, -1, 1, MAX_ABS_DELTA, -MAX_ABS_DELTA, rng.randint(-MAX_ABS_DELTA, MAX_ABS_DELTA)])
        assert harness.functions.weight(q, d).call() == weight(q, d)
    k = rng.randint(1, 7)
    us = [rng.randint(0, 2**256 - 1) for _ in range(k)]
    ints = [rng.randint(-(2**255), 2**255 - 1) for _ in range(k)]
    assert harness.functions.medianUint(us).call() == lower_median(us)
    assert harness.functions.medianInt(ints).call() == lower_median(ints)


# ------------------------------------------------------------------------------------ full auctions


def _score(rng: random.Random) -> tuple[int, int]:
    q = rng.choice([WAD, 0, rng.randint(0, WAD), rng.randint(WAD // 2, WAD)])
    d = rng.choice([rng.randint(1, 2 * WAD), rng.randint(-WAD, WAD), 0, rng.randint(1, 10**6)])
    return q, d


@pytest.mark.parametrize("seed", range(N_AUCTIONS))
def test_full_auction_matches_reference_and_audits(fresh_env, seed):
    env = fresh_env
    rng = random.Random(7919 * seed + 1)
    n = rng.randint(1, 10) if seed else 10
    costs = [rng.choice([0, rng.randint(1, 3 * ETHER), rng.randint(1, 10**9)]) for _ in range(n)]
    if n > 2 and seed % 3 == 0:
        costs[1] = costs[0]  # an exact tie
    reveal = [rng.random() < 0.8 for _ in range(n)]
    threshold = rng.choice([2, 3])
    n_reports = 3 if threshold == 3 else rng.choice([2, 3])
    oracle_scores = [[_score(rng) for _ in range(n)] for _ in range(n_reports)]
    budget = rng.randint(1, 8 * ETHER)
    deposit = rng.choice([-(-budget // 10_000), ETHER // 100])  # the minimum for 100 open slots, or more

    run = AuctionRun(env, costs, budget=budget, deposit=deposit, threshold=threshold, reveal=reveal)
    run.through("revealed")
    revealed = [i for i in range(n) if reveal[i]]
    if revealed:
        run.score(oracle_scores=oracle_scores)
    else:
        run.to_scoring()  # nobody revealed: settle right after the reveal deadline, no scores needed
    run.settle()

    # reference: median of the posted reports' weights, Q-MIA over revealed bids in commit order
    weights = aggregate_weights([[weight(*s[i]) for i in revealed] for s in oracle_scores]) if revealed else []
    ref = qmia([costs[i] for i in revealed], weights, budget)
    expected = {run.providers[i].address: p for i, p, w in zip(revealed, ref.payments, ref.won, strict=True) if w}

    assert run.payments() == expected
    run.refund_deposits()
    for k, i in enumerate(revealed):
        p = run.providers[i]
        assert run.credit(p.address) == deposit * (weights[k] > 0) + ref.payments[k]  # weight 0: forfeited
        assert env.mia.functions.weightOf(run.id, p.address).call() == weights[k]  # stored aggregate
    for i in range(n):
        if not reveal[i]:
            assert run.credit(run.providers[i].address) == 0
    forfeited = deposit * (n - sum(w > 0 for w in weights))
    assert run.credit(run.buyer.address) == budget - ref.total_paid + forfeited

    report = env.auditor().audit(run.id)
    assert report.ok, report.mismatches
    assert report.status == "settled"
    assert [x.expected_payment for x in report.providers if x.revealed] == list(ref.payments)
    escrow_ok(env.chain, env.mia)
