"""The MUT revenue pool against an exact rational model: random mints, transfers, deposits and claims."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
from eth_account import Account

from mia.protocol.contract_errors import (
    NoHolders,
    NothingToClaim,
    NotMinter,
    SupplyCapExceeded,
    WrongPaymentValue,
    ZeroAmount,
)
from mia.sdk.chain import Chain
from mia.sdk.mut import MutToken
from tools.build_contracts import dev_artifact

ETHER = 10**18
ETH = "0x" + "00" * 20
CAP = 10**30  # the auction's budget in production; far above every mint below


@pytest.fixture()
def pool():
    chain = Chain.embedded()
    minter = Account.create()
    chain.fund(minter.address, 1000 * ETHER)
    token = chain.deploy(
        "MarginalUtilityToken", "MUT", "MUT", ETH, minter.address, bytes(32), minter.address, 1, CAP, deployer=minter
    )
    holders = [Account.create() for _ in range(4)]
    for h in holders:
        chain.fund(h.address, 10 * ETHER)
    return chain, token, minter, holders


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pool_matches_exact_pro_rata_model(pool, seed):
    chain, contract, minter, holders = pool
    rng = random.Random(seed)
    entitled = {h.address: Fraction(0) for h in holders}
    claimed = {h.address: 0 for h in holders}
    balances = {h.address: 0 for h in holders}
    ops = 0
    deposited = 0
    for _ in range(45):
        op = rng.choice(["mint", "mint", "transfer", "deposit", "deposit", "claim"])
        h = rng.choice(holders)
        if op == "mint":
            amt = rng.randint(1, 10**21)
            chain.sender(minter).transact(contract.functions.mint(h.address, amt))
            balances[h.address] += amt
        elif op == "transfer" and balances[h.address]:
            to = rng.choice(holders)
            amt = rng.randint(0, balances[h.address])
            MutToken(chain, contract.address, h).transfer(to.address, amt)
            balances[h.address] -= amt
            balances[to.address] += amt
        elif op == "deposit" and sum(balances.values()):
            amt = rng.randint(1, 10**18)
            MutToken(chain, contract.address, minter).deposit_revenue(amt)
            supply = sum(balances.values())
            for a, b in balances.items():
                entitled[a] += Fraction(amt * b, supply)
            deposited += amt
        elif op == "claim":
            c = contract.functions.claimable(h.address).call()
            if c:
                got = MutToken(chain, contract.address, h).claim()
                claimed[h.address] += got
        else:
            continue
        ops += 1
        for a in balances:
            onchain = contract.functions.claimable(a).call() + claimed[a]
            exact = entitled[a]
            assert onchain <= exact  # rounding never pays out more than the exact share
            assert exact - onchain < ops + 1  # ...and loses at most a wei per operation
        state = MutToken(chain, contract.address).state()
        assert state.total_deposited == deposited
        assert chain.balance(contract.address) == state.unclaimed
        assert sum(contract.functions.claimable(a).call() for a in balances) <= state.unclaimed


def test_pool_errors_move_nothing(pool):
    chain, contract, minter, holders = pool
    h = holders[0]
    with pytest.raises(NotMinter):
        chain.sender(h).transact(contract.functions.mint(h.address, 1))
    with pytest.raises(NoHolders):
        MutToken(chain, contract.address, minter).deposit_revenue(ETHER)
    chain.sender(minter).transact(contract.functions.mint(h.address, ETHER))
    with pytest.raises(ZeroAmount):
        chain.sender(minter).transact(contract.functions.depositRevenue(0))
    with pytest.raises(WrongPaymentValue):
        chain.sender(minter).transact(contract.functions.depositRevenue(5), value=4)
    with pytest.raises(NothingToClaim):
        chain.sender(h).transact(contract.functions.claim())
    assert chain.balance(contract.address) == 0


def test_claim_reentrancy_pays_once(pool):
    chain, contract, minter, holders = pool
    receiver = chain.deploy(dev_artifact("ReentrantReceiver"), deployer=minter)
    chain.sender(minter).transact(contract.functions.mint(receiver.address, ETHER))
    chain.sender(minter).transact(contract.functions.mint(holders[0].address, ETHER))
    MutToken(chain, contract.address, minter).deposit_revenue(10**18)
    claim_data = contract.encode_abi("claim", [])
    chain.sender(minter).transact(receiver.functions.configure(contract.address, claim_data, False))
    chain.sender(minter).transact(receiver.functions.execute(contract.address, 0, claim_data))
    assert chain.balance(receiver.address) == 5 * 10**17  # half the revenue, once
    assert receiver.functions.reentrySuccesses().call() == 0
    assert receiver.functions.reentryAttempts().call() == 1
    assert chain.balance(contract.address) == 5 * 10**17  # the other holder's share stays


def test_erc20_revenue(pool):
    chain, _, minter, holders = pool
    usd = chain.deploy(dev_artifact("TestToken"), "USD", "USD", deployer=minter)
    token = chain.deploy(
        "MarginalUtilityToken",
        "MUT",
        "MUT",
        usd.address,
        minter.address,
        bytes(32),
        minter.address,
        1,
        CAP,
        deployer=minter,
    )
    chain.sender(minter).transact(token.functions.mint(holders[0].address, 3))
    chain.sender(minter).transact(token.functions.mint(holders[1].address, 1))
    chain.sender(minter).transact(usd.functions.mint(minter.address, 1000))
    MutToken(chain, token.address, minter).deposit_revenue(1000)
    assert MutToken(chain, token.address, holders[0]).claim() == 750
    assert usd.functions.balanceOf(holders[0].address).call() == 750
    assert token.functions.claimable(holders[1].address).call() == 250


def test_mint_stops_at_the_cap_stated_at_creation(pool):
    """No mint, not even the minter's, takes the supply past `maxSupply` (the auction's budget)."""
    chain, contract, minter, holders = pool
    chain.sender(minter).transact(contract.functions.mint(holders[0].address, CAP - 1))
    with pytest.raises(SupplyCapExceeded):
        chain.sender(minter).transact(contract.functions.mint(holders[1].address, 2))
    chain.sender(minter).transact(contract.functions.mint(holders[1].address, 1))
    assert contract.functions.totalSupply().call() == CAP == contract.functions.maxSupply().call()
