"""Mixed-MIA, MUT and Fairshare: properties of the Python reference (hypothesis) and to-the-wei parity
with the contracts, through the mechanism harness and through whole auctions on MiaAuction."""

from __future__ import annotations

import random
import secrets

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from mia.mechanism import WAD, cash_escrow, fairshare, fairshare_prices, mixed_mia, qmia, settle
from mia.mechanism.settlement import MIXED_MIA, MUT, QMIA
from mia.protocol.types import Mechanism
from mia.sdk.auction import OracleInfo
from mia.sdk.buyer import Buyer, Schedule
from mia.sdk.chain import Chain
from tests.conftest import AuctionRun, Env, escrow_ok
from tools.build_contracts import dev_artifact

ETHER = 10**18
bids_st = st.lists(st.integers(0, 10**20), min_size=1, max_size=8)


def instance(draw_bids, draw_weights):
    n = min(len(draw_bids), len(draw_weights))
    return list(draw_bids[:n]), list(draw_weights[:n])


@settings(max_examples=150, deadline=None)
@given(
    bids_st, st.lists(st.integers(0, 10**36), min_size=1, max_size=8), st.integers(1, 10**30), st.integers(1, 10**22)
)
def test_fairshare_dsic_ir_budget(bids, weights, rho, budget):
    bids, weights = instance(bids, weights)
    out = fairshare(bids, weights, rho, budget)
    assert out.total_paid <= budget
    prices = fairshare_prices(weights, rho, budget)
    for i, cost in enumerate(bids):
        truthful = out.payments[i] - cost if out.sold[i] else 0
        assert truthful >= 0  # IR
        for bid in {0, cost // 2, cost * 2 + 1, prices[i], prices[i] + 1, max(prices[i] - 1, 0)}:
            alt = fairshare([*bids[:i], bid, *bids[i + 1 :]], weights, rho, budget)
            assert alt.prices[i] == prices[i]  # the price ignores the provider's own bid
            gain = alt.payments[i] - cost if alt.sold[i] else 0
            assert gain <= truthful


@settings(max_examples=150, deadline=None)
@given(bids_st, st.lists(st.integers(0, 10**36), min_size=1, max_size=8), st.integers(1, 10**22), st.integers(0, WAD))
def test_mixed_mia_splits_qmia(bids, weights, budget, liquidity):
    bids, weights = instance(bids, weights)
    base = qmia(bids, weights, budget)
    mixed = mixed_mia(bids, weights, budget, liquidity)
    assert mixed.won == base.won  # same winners for every λ
    assert all(c + m == p for c, m, p in zip(mixed.cash, mixed.mut, base.payments, strict=True))
    assert mixed.total_cash <= cash_escrow(MIXED_MIA, budget, liquidity)  # cash paid ≤ cash escrowed
    assert mixed.total_mut == base.total_paid - mixed.total_cash
    assert all(p >= b for p, b, w in zip(base.payments, bids, base.won, strict=True) if w)  # IR at face value
    assert settle(QMIA, bids, weights, budget).cash == base.payments  # λ = 1 is cash Q-MIA
    assert settle(MUT, bids, weights, budget).mut == base.payments  # λ = 0 is pure MUT
    assert settle(MIXED_MIA, bids, weights, budget, liquidity=WAD).cash == base.payments


@settings(max_examples=60, deadline=None)
@given(bids_st, st.lists(st.integers(1, 10**30), min_size=1, max_size=8), st.integers(1, 10**22), st.integers(0, WAD))
def test_mixed_mia_dsic_at_face_value(bids, weights, budget, liquidity):
    bids, weights = instance(bids, weights)
    out = settle(MIXED_MIA, bids, weights, budget, liquidity=liquidity)
    for i, cost in enumerate(bids):
        truthful = out.payments[i] - cost if out.won[i] else 0
        for mult in (0, 0.5, 0.9, 1.1, 2, 4):
            alt_bid = int(cost * mult)
            alt = settle(MIXED_MIA, [*bids[:i], alt_bid, *bids[i + 1 :]], weights, budget, liquidity=liquidity)
            assert (alt.payments[i] - cost if alt.won[i] else 0) <= truthful


# ---------------------------------------------------------------- parity with the contracts


@pytest.fixture(scope="module")
def harness():
    chain = Chain.embedded()
    return chain.deploy(dev_artifact("QMIAHarness"))


def random_instance(rng: random.Random):
    n = rng.randint(1, 10)
    weights = [rng.choice([0, rng.randint(1, 10**18), rng.randint(1, 10**36), 5 * 10**17]) for _ in range(n)]
    bids = [rng.choice([0, rng.randint(1, 10**19), rng.randint(1, 2**96 - 1), 10**18]) for _ in range(n)]
    budget = rng.choice([1, rng.randint(1, 10**19), rng.randint(1, 2**128 - 1)])
    return bids, weights, budget


def test_fairshare_parity_with_contract(harness):
    rng = random.Random(4)
    for _ in range(220):
        bids, weights, budget = random_instance(rng)
        rho = rng.choice([1, rng.randint(1, 10**20), rng.randint(1, 2**128 - 1)])
        payments, sold = harness.functions.fairshare(bids, weights, rho, budget).call()
        ref = fairshare(bids, weights, rho, budget)
        assert (tuple(payments), tuple(sold)) == (ref.payments, ref.sold), (bids, weights, rho, budget)


def test_mixed_parity_with_contract(harness):
    rng = random.Random(5)
    for _ in range(220):
        bids, weights, budget = random_instance(rng)
        liquidity = rng.choice([0, WAD, rng.randint(0, WAD), WAD // 2])
        cash, mut, won = harness.functions.mixed(bids, weights, budget, liquidity).call()
        ref = mixed_mia(bids, weights, budget, liquidity)
        assert (tuple(cash), tuple(mut), tuple(won)) == (ref.cash, ref.mut, ref.won)
        assert harness.functions.cashEscrow(budget, liquidity).call() == cash_escrow(MIXED_MIA, budget, liquidity)


@pytest.fixture()
def market():
    """A fresh chain per test: eth-tester slows down as one chain's state grows."""
    chain = Chain.embedded()
    return chain, chain.deploy("MiaAuction")


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("mechanism", [Mechanism.QMIA, Mechanism.MIXED_MIA, Mechanism.MUT, Mechanism.FAIRSHARE])
def test_whole_auctions_match_reference(own_env: Env, mechanism, seed):
    env = own_env
    rng = random.Random(100 * int(mechanism) + seed)
    for _ in range(2):
        n = rng.randint(1, 6)
        liquidity = rng.randint(0, WAD)
        budget = rng.randint(1, 10) * ETHER
        run = AuctionRun(
            env, [rng.randint(0, 3 * ETHER) for _ in range(n)], budget=budget, deposit=ETHER // 100,
            reveal=[rng.random() < 0.85 for _ in range(n)], schedule=Schedule(600, 600, 600), mechanism=mechanism,
            liquidity=liquidity, rho=rng.randint(1, 50) * ETHER, model_id=secrets.token_bytes(32),
        ).through("revealed")  # fmt: skip
        info = run.info
        assert info.cash_escrow == cash_escrow(int(mechanism), budget, liquidity)
        run.to_scoring()
        if run.revealers:  # nobody revealed: settled right away, there is nothing to score
            per_oracle = [[(rng.randint(0, WAD), rng.randint(-(10**17), 10**18)) for _ in range(n)] for _ in range(3)]
            run.score(oracle_scores=per_oracle)  # every member's report: aggregated at once
        run.settle()
        run.audit()
        escrow_ok(env.chain, env.mia)
        if mechanism in (Mechanism.MIXED_MIA, Mechanism.MUT):
            assert int(info.mut_token, 16) != 0
        else:
            assert int(info.mut_token, 16) == 0


def test_invalid_mechanism_parameters_rejected(market):
    from mia.protocol.contract_errors import LiquidityAboveOne, ZeroRho

    chain, contract = market
    buyer_acct = Account.create()
    chain.fund(buyer_acct.address, 10 * ETHER)
    buyer = Buyer(chain, contract, buyer_acct)
    kw = dict(budget=ETHER, deposit=ETHER // 100, threshold=1, task_hash=bytes(32), method_id=1,
              oracles=[OracleInfo(Account.create().address, bytes(32))])  # fmt: skip
    before = chain.balance(contract.address)
    with pytest.raises(ZeroRho):
        buyer.create_auction(**kw, mechanism=Mechanism.FAIRSHARE, rho=0)
    with pytest.raises(LiquidityAboveOne) as exc:
        buyer._approve_if_token  # noqa: B018 - keep attribute access honest
        contract_fn = contract.functions.createAuction
        params = (
            "0x" + "00" * 20, ETHER, ETHER // 100, chain.now() + 100, chain.now() + 200, chain.now() + 300, 10, 1,
            [Account.create().address], [bytes(32)], bytes(32), 1, int(Mechanism.MIXED_MIA), WAD + 1, 0, bytes(32),
            0, 0, bytes(32),
        )  # fmt: skip
        chain.sender(buyer_acct).transact(contract_fn(params), value=ETHER)
    assert exc.value.args_dict == {"liquidity": WAD + 1}
    assert chain.balance(contract.address) == before
