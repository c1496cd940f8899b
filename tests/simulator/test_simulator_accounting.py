"""The simulator's books: budgets respected, money conserved, MUT kept apart from cash."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mia.mechanism import WAD
from mia.sim.accounting import AccountingError, Ledger
from mia.sim.market import TOKEN
from mia.sim.repeated import PRICING_RULES, run_repeated
from mia.sim.rules import RULES, Allocation, RoundInput
from mia.sim.single_round import round_input, run_single_round


def test_single_round_books_balance(small_market):
    res = run_single_round(small_market, model="knn")
    led = res.ledger
    led.check()
    assert led.rounds == len(RULES)
    assert sum(led.buyer_spent.values()) == sum(led.seller_cash.values())
    for name, rule in RULES.items():
        alloc = rule.run(round_input(small_market))
        assert alloc.total_cash <= alloc.escrow <= small_market.budget
        assert alloc.total_cash + alloc.total_mut <= small_market.budget
        assert led.buyer_spent[name] == alloc.total_cash
        assert led.buyer_refunded[name] == alloc.escrow - alloc.total_cash
    mut = RULES["MUT"].run(round_input(small_market))
    assert mut.total_cash == 0 and mut.escrow == 0 and mut.total_mut > 0  # MUT at face value, no cash
    mixed = RULES["Mixed-MIA"].run(round_input(small_market))
    assert mixed.payments == RULES["Q-MIA"].run(round_input(small_market)).payments
    assert led.mut_minted == mut.total_mut + mixed.total_mut


@st.composite
def rounds(draw):
    n = draw(st.integers(1, 8))
    bids = draw(st.lists(st.integers(0, 10 * TOKEN), min_size=n, max_size=n))
    q = draw(st.lists(st.integers(0, WAD), min_size=n, max_size=n))
    d = draw(st.lists(st.integers(-(WAD // 10), WAD // 2), min_size=n, max_size=n))
    weights = [qi * max(di, 0) // WAD for qi, di in zip(q, d, strict=True)]
    budget = draw(st.integers(0, 20 * TOKEN))
    rho = draw(st.integers(0, 100 * TOKEN))
    sizes = draw(st.lists(st.integers(0, 500), min_size=n, max_size=n))
    return RoundInput(tuple(bids), tuple(weights), budget, rho, tuple(q), tuple(sizes))


@settings(max_examples=150, deadline=None)
@given(rounds())
def test_every_rule_respects_budget_and_conserves_money(r):
    led = Ledger()
    sellers = [f"s{i}" for i in range(len(r.bids))]
    for name, rule in RULES.items():
        alloc = rule.run(r)
        led.book(name, sellers, r.budget, alloc)  # raises on any overspend or payment to a loser
        assert sum(alloc.payments) <= r.budget
        assert all(p >= b for w, p, b in zip(alloc.won, alloc.payments, r.bids, strict=True) if w), name  # IR
    led.check()


def test_ledger_refuses_what_a_contract_would_refuse():
    led = Ledger()
    with pytest.raises(AccountingError, match="exceeds escrow"):
        led.book("b", ["x", "y"], 10, Allocation((True, True), (6, 5), (0, 0), 10))
    with pytest.raises(AccountingError, match="did not win"):
        led.book("b", ["x", "y"], 10, Allocation((True, False), (3, 1), (0, 0), 10))
    with pytest.raises(AccountingError, match="exceeds budget"):
        led.book("b", ["x"], 10, Allocation((True,), (5,), (6,), 5))
    with pytest.raises(AccountingError, match="escrow"):
        led.book("b", ["x"], 10, Allocation((True,), (5,), (0,), 11))
    led.book("b", ["x", "y"], 10, Allocation((True, False), (4, 0), (3, 0), 5))
    led.check()
    assert (led.buyer_spent["b"], led.buyer_refunded["b"], led.seller_mut["x"]) == (4, 1, 3)
    led.seller_cash["x"] += 1  # money from nowhere
    with pytest.raises(AccountingError, match="receipts"):
        led.check()


def test_repeated_market_books_balance_every_period(small_repeated):
    res = run_repeated(small_repeated)
    for rule in PRICING_RULES:
        led = res.ledgers[rule]
        led.check()
        assert led.rounds == small_repeated.config.periods * small_repeated.n_buyers
        for b, budget in enumerate(small_repeated.budgets):  # each period's spend ≤ that period's budget
            assert led.buyer_spent[f"buyer{b}"] <= budget * small_repeated.config.periods
        assert led.mut_minted == 0
