"""Economic properties of the Q-MIA reference (`mia.mechanism.qmia`), checked on random instances.

The checks use independent exact-rational re-derivations (fractions.Fraction) of the allocation and
of the threshold payment, rather than re-running the module's own formulas.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mia.mechanism import aggregate_weights, lower_median, qmia, report_weights, weight
from mia.mechanism.qmia import WAD, critical_payment_bruteforce

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True)


@st.composite
def instances(draw, max_n: int = 7):
    """(bids, weights, budget): small value ranges make ties in virtual cost common."""
    n = draw(st.integers(1, max_n))
    scale = draw(st.sampled_from([4, 30, 1000, 10**9, 10**18]))
    bids = draw(st.lists(st.integers(0, scale), min_size=n, max_size=n))
    weights = draw(st.lists(st.one_of(st.just(0), st.integers(1, scale)), min_size=n, max_size=n))
    budget = draw(st.one_of(st.integers(0, 3), st.integers(0, 2 * n * scale), st.integers(0, 2**128 - 1)))
    return bids, weights, budget


def _phi_key(bids, weights):
    return lambda i: (Fraction(bids[i], weights[i]), i)


def exact_allocation(bids, weights, budget) -> tuple[list[int], list[int]]:
    """Sorted eligible order and the winners, in exact rationals (SPEC §4)."""
    order = sorted((i for i, w in enumerate(weights) if w > 0), key=_phi_key(bids, weights))
    winners, total = [], 0
    for i in order:
        total += weights[i]
        if Fraction(bids[i], weights[i]) * total > budget:
            break
        winners.append(i)
    return order, winners


def exact_threshold(bids, weights, budget, i) -> int:
    """floor(max_r min(w_i·φ'_r, B·w_i/(W'_{r-1}+w_i))) in exact rationals; φ'_r = ∞ past the last other."""
    others = [j for j in sorted((j for j, w in enumerate(weights) if w > 0), key=_phi_key(bids, weights)) if j != i]
    wi = weights[i]
    best = Fraction(0)
    prefix = 0
    for r in range(len(others) + 1):
        cap = Fraction(budget * wi, prefix + wi)
        term = cap if r == len(others) else min(wi * Fraction(bids[others[r]], weights[others[r]]), cap)
        best = max(best, term)
        if r < len(others):
            prefix += weights[others[r]]
    return best.numerator // best.denominator


def utility(outcome, i, cost) -> int:
    return outcome.payments[i] - cost if outcome.won[i] else 0


def with_bid(bids, i, b):
    return [*bids[:i], b, *bids[i + 1 :]]


# ------------------------------------------------------------------------------------------- DSIC


@SETTINGS
@given(instances())
@example(([5, 5], [1, 1], 10))  # tie in virtual cost, budget exactly at the boundary
@example(([3, 3, 3], [2, 2, 2], 9))
def test_truthful_bidding_is_a_dominant_strategy(inst):
    costs, weights, budget = inst
    truth = qmia(costs, weights, budget)
    for i, cost in enumerate(costs):
        u_truth = utility(truth, i, cost)
        grid = {0, cost // 4, cost // 2, cost * 9 // 10, cost * 11 // 10, 2 * cost, 4 * cost, cost - 1, cost + 1}
        pivots = [truth.payments[i]]
        if weights[i] > 0:
            pivots.append(critical_payment_bruteforce(costs, weights, budget, i))
        for p in pivots:
            grid |= {p - 1, p, p + 1}
        for b in sorted(x for x in grid if x >= 0):
            lie = qmia(with_bid(costs, i, b), weights, budget)
            assert utility(lie, i, cost) <= u_truth, (i, cost, b, truth, lie)


@SETTINGS
@given(instances())
def test_payment_is_the_exact_threshold_and_independent_of_own_bid(inst):
    """Bidding strictly below the threshold wins, strictly above loses, and a winner is always paid it."""
    bids, weights, budget = inst
    for i in range(len(bids)):
        if weights[i] == 0:
            continue
        thr = exact_threshold(bids, weights, budget, i)
        below = qmia(with_bid(bids, i, thr - 1), weights, budget) if thr >= 1 else None
        above = qmia(with_bid(bids, i, thr + 1), weights, budget)
        assert not above.won[i]
        if below is not None:
            assert below.won[i] and below.payments[i] == thr
        out = qmia(bids, weights, budget)
        if out.won[i]:
            assert out.payments[i] == thr


# ------------------------------------------------------------------------------- IR, WBB, allocation


@SETTINGS
@given(instances())
@example(([1, 1, 1], [1, 1, 1], 3))
def test_individual_rationality_and_budget(inst):
    bids, weights, budget = inst
    out = qmia(bids, weights, budget)
    winners = [i for i in range(len(bids)) if out.won[i]]
    for i in range(len(bids)):
        if out.won[i]:
            assert out.payments[i] >= bids[i]
        else:
            assert out.payments[i] == 0
    assert out.total_paid == sum(out.payments) <= budget
    # SPEC §4: p_i <= B·w_i / W_k with W_k the winners' total weight
    total_w = sum(weights[i] for i in winners)
    for i in winners:
        assert out.payments[i] * total_w <= budget * weights[i]


@SETTINGS
@given(instances())
def test_allocation_matches_exact_rational_rule(inst):
    bids, weights, budget = inst
    out = qmia(bids, weights, budget)
    order, winners = exact_allocation(bids, weights, budget)
    assert list(out.order) == order
    assert list(out.winners) == sorted(winners)
    # winners are a prefix of the virtual-cost order
    assert set(out.winners) == set(out.order[: len(out.winners)])


@SETTINGS
@given(instances())
def test_binary_search_equals_bruteforce_and_exact_threshold(inst):
    bids, weights, budget = inst
    out = qmia(bids, weights, budget)
    for i in out.winners:
        assert out.payments[i] == critical_payment_bruteforce(bids, weights, budget, i)
        assert out.payments[i] == exact_threshold(bids, weights, budget, i)


@SETTINGS
@given(instances(), st.data())
def test_zero_weight_providers_never_win(inst, data):
    bids, weights, budget = inst
    i = data.draw(st.integers(0, len(bids) - 1))
    weights = with_bid(weights, i, 0)
    rich = qmia(with_bid(bids, i, 0), weights, 2**128 - 1)  # free data, unlimited budget: still not bought
    poor = qmia(bids, weights, budget)
    for out in (rich, poor):
        assert not out.won[i] and out.payments[i] == 0 and i not in out.order


def test_known_instances_by_hand():
    # Two providers of equal weight, B = 10: for provider 0, max(min(2, 10), min(∞, 10/2)) = 5.
    out = qmia([1, 2], [WAD, WAD], 10)
    assert out.won == (True, True) and out.payments == (5, 5)
    # A third at φ = 9 fails the budget rule (9·3 > 10). Provider 0: max(min(2,10), min(9,5), min(∞,3)) = 5.
    out = qmia([1, 2, 9], [1, 1, 1], 10)
    assert out.won == (True, True, False) and out.payments == (5, 5, 0)
    # Weight matters: the heavier provider wins despite the higher bid (φ = 4/4 < 2/1).
    out = qmia([2, 4], [1, 4], 4)
    assert out.won == (False, True) and out.order == (1, 0)


def test_mismatched_inputs_are_rejected():
    with pytest.raises(ValueError):
        qmia([1, 2], [1], 10)
    with pytest.raises(ValueError):
        qmia([-1], [1], 10)


# ------------------------------------------------------------------------------- weight and median


@given(st.integers(0, WAD), st.integers(-(10**36), 10**36))
@settings(max_examples=300, deadline=None, derandomize=True)
def test_weight_rounds_down_and_clips_negative_delta(q, delta):
    w = weight(q, delta)
    if delta <= 0:
        assert w == 0
    else:
        exact = Fraction(q * delta, WAD)
        assert w <= exact < w + 1


def test_weight_examples():
    assert weight(WAD, 7) == 7
    assert weight(WAD - 1, 1) == 0  # 0.999… · 1 wei rounds down to 0
    assert weight(WAD // 2, 3) == 1  # 1.5 → 1
    assert weight(3, 333_333_333_333_333_334) == 1  # 1.000…002 → 1
    assert weight(WAD, -(10**36)) == 0 and weight(0, 10**36) == 0
    assert weight(WAD, 10**36) == 10**36


@given(st.lists(st.integers(-(2**255), 2**255 - 1), min_size=1, max_size=9), st.randoms())
@settings(max_examples=200, deadline=None, derandomize=True)
def test_lower_median(values, rnd):
    m = lower_median(values)
    k = len(values)
    assert m in values
    assert sum(v < m for v in values) <= (k - 1) // 2  # at most the lower half is strictly below
    assert sum(v <= m for v in values) >= (k + 1) // 2  # and it sits at the lower middle
    shuffled = list(values)
    rnd.shuffle(shuffled)
    assert lower_median(shuffled) == m


def test_lower_median_examples_and_robustness():
    assert lower_median([3]) == 3
    assert lower_median([5, 1, 3]) == 3
    assert lower_median([4, 1, 3, 2]) == 2  # even count: the lower middle value
    assert lower_median([-5, 7]) == -5
    # one faulty oracle out of three cannot move the median outside the honest values
    for outlier in (-(10**36), 0, 10**36):
        assert 10 <= lower_median([10, 12, outlier]) <= 12
    with pytest.raises(ValueError):
        lower_median([])
    w = aggregate_weights([report_weights([WAD, WAD], [-1, 5 * WAD]), report_weights([WAD, 0], [0, 4 * WAD]),
                           report_weights([WAD, WAD], [9 * WAD, 6 * WAD])])  # fmt: skip
    assert w == [0, 5 * WAD]
    with pytest.raises(ValueError):
        aggregate_weights([])


def test_q_delta_split_attack_has_no_effect_on_the_weight():
    """Issue 13's split attack: two honest oracles that differ on q versus Δ (both weight 1) and one
    corrupted report (q = 1, Δ = 10). Medianing q and Δ separately gave weight 10, ten times both honest
    weights; the median of the weights stays at the honest value."""
    honest_a = report_weights([WAD], [WAD])  # q 1.0, Δ 1 -> w 1
    honest_b = report_weights([WAD // 10], [10 * WAD])  # q 0.1, Δ 10 -> w 1
    corrupt = report_weights([WAD], [10 * WAD])  # w 10
    separate = weight(lower_median([WAD, WAD // 10, WAD]), lower_median([WAD, 10 * WAD, 10 * WAD]))
    assert separate == 10 * WAD  # the old rule
    assert aggregate_weights([honest_a, honest_b, corrupt]) == [WAD]


@settings(max_examples=300, deadline=None)
@given(
    f=st.integers(0, 4),
    extra=st.integers(0, 4),
    honest=st.lists(st.integers(0, 10**36), min_size=9, max_size=9),
    corrupt=st.lists(st.integers(0, 2**128), min_size=4, max_size=4),
    rnd=st.randoms(use_true_random=False),
)
def test_aggregate_within_honest_range_for_any_f_corrupted(f, extra, honest, corrupt, rnd):
    """With m >= 2f+1 posted weights of which at most f are arbitrary, the aggregate lies within
    [min, max] of the honest ones, in any order of arrival."""
    m = 2 * f + 1 + extra
    bad = rnd.randint(0, f)
    values = honest[: m - bad] + corrupt[:bad]
    rnd.shuffle(values)
    (agg,) = aggregate_weights([[v] for v in values])
    good = honest[: m - bad]
    assert min(good) <= agg <= max(good)
