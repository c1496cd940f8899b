"""value_providers: quality checks, copy-resistance, bad inputs, fixed point."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mia.valuation import (
    WAD,
    Dataset,
    ProviderData,
    QualityConfig,
    delta_to_wad,
    knn_shapley,
    quality_to_wad,
    value_providers,
)


@pytest.fixture(scope="module")
def round_inputs(digits_split):
    xv, yv, xp, yp = digits_split
    providers = [
        ProviderData("0xA", xp[0:300], yp[0:300]),
        ProviderData("0xB", xp[300:600], yp[300:600]),
        ProviderData("0xC", xp[600:900], yp[600:900]),
    ]
    return Dataset(xv, yv), providers, (xp, yp)


def _by_id(res):
    return {p.provider_id: p for p in res.providers}


def test_clean_round_matches_direct_knn_shapley(round_inputs):
    val, providers, (xp, yp) = round_inputs
    res = value_providers(providers, val, k=5)
    direct = knn_shapley(xp[:900], yp[:900], val.features, val.labels, k=5).numpy()
    for i, p in enumerate(res.providers):
        np.testing.assert_allclose(p.record_values, direct[300 * i : 300 * (i + 1)])
        assert p.marginal_utility == pytest.approx(direct[300 * i : 300 * (i + 1)].sum())
        assert p.quality == 1.0, p.reasons
        assert [c.name for c in p.checks] == ["schema", "duplicates", "label_agreement"]


@pytest.mark.parametrize("copier_first", [True, False])
def test_copying_pays_nobody_whichever_commits_first(round_inputs, copier_first):
    """Exact copies of A's records: the copier's delta is exactly its honest delta in
    either commit position, A loses exactly the copied records' credit (the shared copy
    stays in the pool, so nobody else's value moves), and q is untouched. Digits pixels
    tie a lot, and the kept copy's index decides its ties, so "exactly" is up to 1e-4."""
    val, providers, (xp, yp) = round_inputs
    own_x, own_y = xp[900:950], yp[900:950]
    copier = ProviderData("0xCopier", np.vstack([xp[:60], own_x]), np.concatenate([yp[:60], own_y]))
    honest = ProviderData("0xCopier", own_x, own_y)

    def order(c):
        return [c, *providers] if copier_first else [*providers, c]

    with_copy = _by_id(value_providers(order(copier), val, k=5))
    baseline = _by_id(value_providers(order(honest), val, k=5))
    c, b = with_copy["0xCopier"], baseline["0xCopier"]
    assert c.marginal_utility == pytest.approx(b.marginal_utility, rel=1e-4)
    assert c.quality == b.quality
    assert not c.credited[:60].any() and c.credited[60:].all()
    lost = baseline["0xA"].record_values[:60].sum()
    assert with_copy["0xA"].marginal_utility == pytest.approx(baseline["0xA"].marginal_utility - lost, rel=1e-4)
    assert not with_copy["0xA"].credited[:60].any()
    for pid in ("0xB", "0xC"):
        assert with_copy[pid].marginal_utility == pytest.approx(baseline[pid].marginal_utility, rel=1e-4)
    dup = next(ch for ch in c.checks if ch.name == "duplicates")
    assert dup.factor == 1.0 and dup.details["shared"] == 60
    assert "0xA" in dup.reason and "credited to nobody" in dup.reason


def test_near_copies_earn_the_copier_nothing(round_inputs):
    val, providers, (xp, yp) = round_inputs
    rng = np.random.default_rng(0)
    own_x, own_y = xp[900:950], yp[900:950]
    stolen = xp[:200] + rng.normal(0, 1e-3, (200, 64))
    copier = ProviderData("0xCopier", np.vstack([stolen, own_x]), np.concatenate([yp[:200], own_y]))
    res = _by_id(value_providers([copier, *providers], val, k=5))
    base = _by_id(value_providers([ProviderData("0xCopier", own_x, own_y), *providers], val, k=5))
    assert not res["0xCopier"].credited[:200].any()
    # the kept shared copy may be the copier's (1e-3 off the original): a 1e-4 effect
    assert res["0xCopier"].weight <= base["0xCopier"].weight * (1 + 1e-3)


def test_repeats_of_own_records_count_once(round_inputs):
    """Exact repeats and near-copies inside the wider own radius are credited once:
    the padded provider's delta equals its unpadded delta."""
    val, providers, (xp, yp) = round_inputs
    rng = np.random.default_rng(3)
    x, y = xp[900:950], yp[900:950]
    import torch

    from mia.valuation.quality import validation_nn_scale

    scale = validation_nn_scale(torch.tensor(val.features))
    near = x + rng.normal(0, 0.3 * scale / 8.0, x.shape)  # |noise| ~ 0.3 x scale: beyond the shared tolerance
    padded = ProviderData("0xPad", np.vstack([x, x, near]), np.concatenate([y, y, y]))
    res = _by_id(value_providers([*providers, padded], val, k=5))
    base = _by_id(value_providers([*providers, ProviderData("0xPad", x, y)], val, k=5))
    p = res["0xPad"]
    assert p.credited.sum() == 50
    dup = next(ch for ch in p.checks if ch.name == "duplicates")
    assert dup.details["own_repeats"] == 100 and dup.factor == 1.0
    assert p.marginal_utility == pytest.approx(base["0xPad"].marginal_utility, abs=1e-14)


def test_resold_validation_records_get_nothing(round_inputs):
    val, providers, (xp, yp) = round_inputs
    x, y = xp[900:950], yp[900:950]
    reseller = ProviderData("0xR", np.vstack([x, val.features[:80] + 1e-3]), np.concatenate([y, val.labels[:80]]))
    res = _by_id(value_providers([reseller, *providers], val, k=5))
    base = _by_id(value_providers([ProviderData("0xR", x, y), *providers], val, k=5))
    r = res["0xR"]
    assert not r.credited[50:].any()
    dup = next(ch for ch in r.checks if ch.name == "duplicates")
    assert dup.details["validation_copies"] == 80
    assert r.marginal_utility == pytest.approx(base["0xR"].marginal_utility, abs=1e-14)


def test_noisy_labels_lower_quality(round_inputs):
    val, providers, (xp, yp) = round_inputs
    rng = np.random.default_rng(1)
    y = yp[900:1200].copy()
    flip = rng.random(300) < 0.4
    y[flip] = (y[flip] + rng.integers(1, 10, flip.sum())) % 10
    res = _by_id(value_providers([*providers, ProviderData("0xN", xp[900:1200], y)], val))
    assert res["0xN"].quality < 0.75
    assert res["0xN"].marginal_utility < min(res[p].marginal_utility for p in ("0xA", "0xB", "0xC"))


BAD = {
    "nan": (np.full((3, 64), np.nan), [1, 2, 3], "NaN/inf"),
    "inf": (
        np.vstack([np.zeros((2, 64)), np.full((1, 64), np.inf)]),
        [1, 2, 3],
        "row 2",
    ),
    "dim": (np.zeros((3, 5)), [1, 2, 3], "dimension 5, expected 64"),
    "empty": (np.zeros((0, 64)), [], "empty"),
    "label": (np.zeros((3, 64)), [1, 2, 99], "outside the allowed set"),
    "strlabel": (np.zeros((3, 64)), ["a", "b", "c"], "label kind"),
    "nolabel": (np.zeros((3, 64)), None, "missing labels"),
    "count": (np.zeros((3, 64)), [1, 2], "2 labels for 3 records"),
    "text": ([["x"] * 64], [1], "not numeric"),
    "ragged": ([[1.0, 2.0], [3.0]], [1, 2], "not numeric"),
    "3d": (np.zeros((2, 2, 2)), [1, 2], "2-D"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_provider_gets_zero_with_reason_and_round_continues(round_inputs, case):
    val, providers, _ = round_inputs
    feats, labels, msg = BAD[case]
    bad_id = f"0xBad_{case}"
    res = value_providers([*providers, ProviderData(bad_id, feats, labels)], val)
    bad = res[bad_id]
    assert bad.quality == 0.0
    assert bad.marginal_utility == 0.0
    assert not bad.valid
    assert bad_id in bad.reasons[0], bad.reasons
    assert msg in bad.reasons[0], bad.reasons
    fp = res.to_fixed_point()
    assert fp.q_wad[-1] == 0
    assert fp.delta_wad[-1] == 0
    assert all(res[p.provider_id].quality == 1.0 for p in providers)


def test_all_providers_bad_and_no_providers(round_inputs):
    val, _, _ = round_inputs
    res = value_providers([ProviderData("0x1", np.zeros((0, 64)), [])], val)
    assert res.to_fixed_point().q_wad == (0,)
    assert len(value_providers([], val)) == 0


def test_duplicate_provider_id_rejected(round_inputs):
    val, providers, _ = round_inputs
    res = value_providers([providers[0], providers[0]], val)
    assert res.providers[1].quality == 0.0
    assert "duplicate provider id" in res.providers[1].reasons[0]


def test_fixed_point_and_determinism(round_inputs):
    val, providers, _ = round_inputs
    a = value_providers(providers, val, k=5).to_fixed_point()
    b = value_providers(list(providers), val, k=5).to_fixed_point()
    assert a == b
    assert all(isinstance(q, int) and 0 <= q <= WAD for q in a.q_wad)
    assert all(isinstance(d, int) for d in a.delta_wad)
    assert next(iter(a))[0] == "0xA"


def test_quality_config_disables_near_duplicates(round_inputs):
    val, providers, (xp, yp) = round_inputs
    near = ProviderData("0xNear", xp[:100] + 1e-3, yp[:100])
    on = value_providers([*providers, near], val)["0xNear"]
    off = value_providers([*providers, near], val, quality=QualityConfig(near_duplicates=False))["0xNear"]
    assert on.credited.sum() == 0
    assert off.credited.sum() == 100


def test_label_free_similarity_method(round_inputs):
    val, providers, _ = round_inputs
    unlabeled = [ProviderData(p.provider_id, p.features) for p in providers]
    res = value_providers(unlabeled, Dataset(val.features), method="knn_shapley_similarity")
    assert all(p.quality == 1.0 for p in res.providers)
    assert all(p.marginal_utility > 0 for p in res.providers)


# --- fixed point ---------------------------------------------------------------


def test_quantisation_exact_examples():
    assert quality_to_wad(1.0) == WAD
    assert quality_to_wad(1.5) == WAD
    assert quality_to_wad(0.0) == 0
    assert quality_to_wad(-0.1) == 0
    assert quality_to_wad(float("nan")) == 0
    assert quality_to_wad(0.5) == WAD // 2
    assert quality_to_wad(0.1) == 100000000000000005  # float64(0.1) > 1/10
    assert delta_to_wad(-0.1) == -100000000000000005  # toward zero
    assert delta_to_wad(-0.5) == -(WAD // 2)
    assert delta_to_wad(1e30) == 10**36
    assert delta_to_wad(-1e30) == -(10**36)
    assert delta_to_wad(float("inf")) == 10**36
    assert delta_to_wad(float("nan")) == 0
    assert delta_to_wad(5e-19) == 0
    assert delta_to_wad(-5e-19) == 0


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e18, max_value=1e18))
def test_delta_quantisation_is_truncation(x):
    d = delta_to_wad(x)
    assert (d == 0) or (math.copysign(1, d) == math.copysign(1, x))
    assert abs(Fraction(x) * WAD - d) < 1
    assert abs(d) <= abs(Fraction(x) * WAD)


@given(st.floats(min_value=0.0, max_value=1.0))
def test_quality_quantisation_is_floor(q):
    w = quality_to_wad(q)
    assert 0 <= w <= WAD
    assert 0 <= Fraction(q) * WAD - w < 1


def test_smallest_k_mask_matches_stable_sort():
    import torch

    from mia.valuation.quality import smallest_k_mask

    rng = np.random.default_rng(0)
    d = torch.tensor(rng.integers(0, 4, size=(200, 30)), dtype=torch.float64)  # ties
    for k in (1, 3, 7, 30):
        ref = torch.zeros_like(d, dtype=torch.bool)
        ref.scatter_(1, torch.argsort(d, dim=1, stable=True)[:, :k], True)
        assert torch.equal(smallest_k_mask(d, k), ref)


def _brute_sources(x, tol):
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    close = (d2 <= tol * tol) & (np.arange(len(x))[None, :] < np.arange(len(x))[:, None])
    return np.where(close.any(1), np.argmax(close, axis=1), -1)


@pytest.mark.parametrize("clustered", [False, True])
def test_near_duplicate_search_matches_brute_force(clustered):
    """Bucketed search == the definition (lowest earlier record within tol) whenever no
    cell holds more than the cap; a far outlier changes nothing for the other rows."""
    import torch

    from mia.valuation.quality import find_duplicates

    rng = np.random.default_rng(11)
    base = rng.normal(size=(300, 8))
    if clustered:  # dense blobs: many candidates per cell
        base = np.repeat(rng.normal(size=(10, 8)), 30, axis=0)
    x = base + rng.normal(0, 0.05, base.shape)
    x[50:60] = x[0:10] + 1e-4  # planted near copies
    x[70:75] = x[5:10]  # planted exact copies
    tol = 0.1
    got = find_duplicates(x, near_tol=tol, device=torch.device("cpu"), bucket_cap=10**6)
    ref = _brute_sources(x, tol)
    np.testing.assert_array_equal(got.source[~got.exact], ref[~got.exact])
    assert (got.source[50:60] >= 0).all() and got.exact[70:75].all()
    with_outlier = np.vstack([x, np.full((1, 8), 1e12)])
    out = find_duplicates(with_outlier, near_tol=tol, device=torch.device("cpu"), bucket_cap=10**6)
    np.testing.assert_array_equal(out.source[:-1], got.source)
    if not clustered:  # sparse data: the default cap is never reached
        np.testing.assert_array_equal(find_duplicates(x, near_tol=tol, device=torch.device("cpu")).source, got.source)


def test_near_duplicate_search_work_is_bounded():
    """3,000 records in one tolerance ball (a padding flood) and 200 far outliers: every
    flooded record still finds an earlier copy, with work capped per cell, not N^2."""
    import time

    import torch

    import mia.valuation.quality as quality

    rng = np.random.default_rng(2)
    flood = rng.normal(0, 1e-3, (3000, 16))
    far = rng.normal(0, 1, (200, 16)) * 1e9
    x = torch.tensor(np.vstack([flood, far]))
    checked = []
    real = quality._verify_pairs

    def counting(xx, a, b, tol_sq, chunk):
        checked.append(int(a.numel()))
        return real(xx, a, b, tol_sq, chunk)

    quality._verify_pairs = counting
    try:
        t0 = time.perf_counter()
        src = quality._near_duplicate_sources(x, 0.1, cap=32, progress=False)
        elapsed = time.perf_counter() - t0
    finally:
        quality._verify_pairs = real
    assert (src[1:3000] >= 0).all() and (src[3000:] == -1).all()
    assert sum(checked) <= 3200 * 81 * 32  # the bound, independent of the flood's N^2 = 9e6 pairs
    assert sum(checked) < 3000 * 3000 / 2
    assert elapsed < 60


def test_result_dict_is_json_and_identical_across_runs(round_inputs):
    import json

    val, providers, _ = round_inputs
    a = value_providers(providers, val, method="mc_shapley", max_permutations=32)
    b = value_providers(providers, val, method="mc_shapley", max_permutations=32)
    ja = json.dumps(a.to_dict(), sort_keys=True, allow_nan=False)
    assert ja == json.dumps(b.to_dict(), sort_keys=True, allow_nan=False)
    assert "seconds" in a.to_dict(include_environment=True)["metadata"]
    ka = value_providers(providers, val).to_dict()
    assert json.dumps(ka, sort_keys=True) == json.dumps(value_providers(providers, val).to_dict(), sort_keys=True)


def test_records_off_the_buyers_support_get_nothing(round_inputs):
    """A far outlier earns no credit (its KNN-Shapley value is an artefact of coalitions
    smaller than K) and is not valued, so a flood of them moves nobody's value."""
    val, providers, (xp, yp) = round_inputs
    x, y = xp[900:950], yp[900:950]
    far = np.full((30, 64), 1e6) * np.random.default_rng(0).choice([-1.0, 1.0], (30, 64))
    flood = ProviderData("0xF", np.vstack([x, far]), np.concatenate([y, y[:30]]))
    res = _by_id(value_providers([flood, *providers], val, k=5))
    base = _by_id(value_providers([ProviderData("0xF", x, y), *providers], val, k=5))
    f = res["0xF"]
    assert not f.credited[50:].any() and f.credited[:50].all()
    assert next(ch for ch in f.checks if ch.name == "duplicates").details["off_support"] == 30
    for pid in ("0xF", "0xA", "0xB", "0xC"):
        assert res[pid].marginal_utility == pytest.approx(base[pid].marginal_utility, abs=1e-14)
