"""Strategic robustness: the DSIC sweep (exactly zero gain for the on-chain rules), collusion, Sybil, copying."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from mia.mechanism import WAD
from mia.sim import baselines
from mia.sim.market import TOKEN
from mia.sim.rules import DSIC_RULES, RULES, RoundInput, provider_utilities
from mia.sim.strategic import (
    MULTIPLIERS,
    _split,
    collusion,
    copying,
    misreport_sweep,
    scale,
    sweep_summary,
    sybil,
)


def test_grid_spans_quarter_to_four_and_includes_truth():
    assert min(MULTIPLIERS) == Fraction(1, 4) and max(MULTIPLIERS) == 4 and Fraction(1) in MULTIPLIERS
    assert scale(10**18 + 1, Fraction(1, 3)) == (10**18 + 1) // 3


def test_dsic_sweep_on_real_data(small_market):
    rows = misreport_sweep(small_market)
    assert len(rows) == len(RULES) * len(small_market.providers) * len(MULTIPLIERS)
    summary = {s["rule"]: s for s in sweep_summary(rows)}
    for name in ("Q-MIA", "Mixed-MIA", "MUT", "Fairshare"):
        assert summary[name]["max_gain_wei"] == 0, name  # exact integers, over every provider and multiplier
    assert summary["First-price"]["max_gain_wei"] > 0
    for r in rows:
        if r["multiplier_exact"] == "1":
            assert r["gain_wei"] == 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 5 * TOKEN), st.integers(1, WAD // 4)), min_size=2, max_size=7),
    st.integers(1, 10 * TOKEN),
    st.sampled_from(MULTIPLIERS),
    st.data(),
)
def test_no_unilateral_gain_for_dsic_rules_on_any_round(pairs, budget, m, data):
    costs = [c for c, _ in pairs]
    weights = tuple(w for _, w in pairs)
    rho = 3 * budget * WAD // sum(weights)
    base = RoundInput(tuple(costs), weights, budget, rho, tuple(WAD for _ in costs), tuple(10 for _ in costs))
    i = data.draw(st.integers(0, len(costs) - 1))
    bids = list(costs)
    bids[i] = scale(costs[i], m)
    for name in DSIC_RULES:
        truthful = provider_utilities(RULES[name].run(base), costs)[i]
        lied = provider_utilities(RULES[name].run(base.with_bids(bids)), costs)[i]
        assert lied <= truthful, (name, m)


def test_collusion_table(small_market):
    rows, summary = collusion(small_market)
    n = len(small_market.providers)
    assert len(rows) == len(RULES) * (n * (n - 1) // 2 + n * (n - 1) * (n - 2) // 6)
    by = {(s["rule"], s["size"]): s for s in summary}
    assert all(r["gain_wei"] >= 0 for r in rows)  # best over multipliers vs the truthful bids
    for size in (2, 3):
        assert by[("Fairshare", size)]["max_gain_tokens"] == 0  # posted prices ignore every bid
        assert by[("First-price", size)]["gaining"] > 0


def test_sybil_split_keeps_records_and_cost(small_market):
    p = small_market.providers[0]
    parts = _split(p, 3)
    assert sum(q.cost for q in parts) == p.cost
    assert sum(q.n_records for q in parts) == p.n_records
    assert sum(q.n_unique for q in parts) == p.n_unique
    rows = sybil(small_market, ks=(2,), targets=[0])
    assert {r["rule"] for r in rows} == set(RULES)
    for r in rows:
        assert r["gain_wei"] == r["utility_identities_wei"] - r["utility_single_wei"]


def test_copying_earns_no_credit_in_either_commit_order(small_market):
    """A record held by several providers is credited to nobody (docs/valuation.md), so a copier is paid
    nothing more under the truthful rules whether it commits before or after its victim, and the victim
    loses the shared records' credit. (The copier's own weight can still rise: copying the victim's whole
    dataset moves it +13% here, a finding recorded in the docs.)"""
    ws = small_market.scores.weights
    victim = max(range(len(ws)), key=lambda i: ws[i])
    copier = next(i for i in range(len(ws)) if i != victim)
    rows = copying(small_market, pairs=[(copier, victim)])
    assert {r["copier_commits"] for r in rows} == {"after", "before"}
    for r in rows:
        assert r["victim_w_after"] <= r["victim_w_before"]
        if r["rule"] in DSIC_RULES:
            assert r["copier_gain_wei"] <= 0


def test_baselines_rank_as_stated():
    # volume: cheapest per record first, pays bids, skips what no longer fits
    out = baselines.volume_based([10, 30, 12], [10, 10, 3], 25)
    assert out.won == (True, False, True) and out.payments == (10, 0, 12)
    # trust: claimed quality × records per bid; an inflated claim jumps the queue
    honest = baselines.trust_based([10, 10], [WAD // 2, WAD // 2], [10, 10], 10)
    inflated = baselines.trust_based([10, 10], [WAD // 2, WAD], [10, 10], 10)
    assert honest.won == (True, False) and inflated.won == (False, True)
    prices = baselines.scaled_posted_prices([WAD, 3 * WAD], 4, 100, Fraction(1, 2))
    assert prices == [2, 6]
    sale = baselines.posted_price_sales([2, 7], prices)
    assert sale.won == (True, False) and sale.payments == (2, 0)
