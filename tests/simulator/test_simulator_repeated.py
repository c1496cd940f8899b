"""Repeated market: participation rule, crossover, determinism."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from mia.sim.repeated import PRICING_RULES, build_repeated, crossover, run_repeated


def test_exploitative_early_gain_is_overtaken(small_repeated):
    res = run_repeated(small_repeated)
    t = crossover(res.rows, "Exploitative", "Fairshare")
    assert t is not None and 1 < t <= small_repeated.config.periods
    exp = {r["period"]: r for r in res.rows if r["rule"] == "Exploitative"}
    fair = {r["period"]: r for r in res.rows if r["rule"] == "Fairshare"}
    assert exp[1]["buyer_utility"] > fair[1]["buyer_utility"]  # the early gain
    assert exp[t - 1]["buyer_cumulative_discounted"] > fair[t - 1]["buyer_cumulative_discounted"]
    last = small_repeated.config.periods
    assert exp[last]["active_sellers"] < fair[last]["active_sellers"]
    assert all(fair[p]["buyer_cumulative_discounted"] >= exp[p]["buyer_cumulative_discounted"] for p in range(t, last))


def test_exit_is_permanent_and_follows_profit(small_repeated):
    res = run_repeated(small_repeated)
    for rule in PRICING_RULES:
        log = res.active[rule]
        for before, after in itertools.pairwise(log):
            assert all(a <= b for a, b in zip(after, before, strict=True)), rule  # nobody re-enters
    # no outside option: nobody ever leaves; an outside option nobody can earn and certain exit: all leave
    cfg = small_repeated.config
    stay = run_repeated(replace(small_repeated, outside=tuple(0 for _ in small_repeated.outside)))
    assert all(r["active_sellers"] == len(small_repeated.sellers) for r in stay.rows)
    huge = replace(small_repeated, outside=tuple(10**40 for _ in small_repeated.outside),
                   config=replace(cfg, exit_probability=1.0))  # fmt: skip
    gone = run_repeated(huge, rules=("Fairshare",))
    assert gone.rows[cfg.window - 1]["active_sellers"] == len(small_repeated.sellers)
    assert gone.rows[cfg.window]["active_sellers"] == 0


def test_same_seed_same_run(small_repeated):
    again = build_repeated(small_repeated.config)
    assert run_repeated(again, rules=("Random",)).rows == run_repeated(small_repeated, rules=("Random",)).rows


def test_crossover_definition():
    def rows(a, b):
        return [{"rule": r, "period": t + 1, "buyer_cumulative_discounted": v}
                for r, vs in (("E", a), ("F", b)) for t, v in enumerate(vs)]  # fmt: skip

    assert crossover(rows([2, 3, 3, 3], [1, 2, 4, 5]), "E", "F") == 3
    assert crossover(rows([0, 1], [1, 2]), "E", "F") is None  # never ahead
    assert crossover(rows([2, 3], [1, 2]), "E", "F") is None  # never overtaken
    with pytest.raises(ValueError):
        crossover(rows([1], [1]), "E", "X")
