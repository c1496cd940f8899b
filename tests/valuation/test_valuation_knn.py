"""Exact KNN-Shapley: against pyDVL, against subset enumeration, invariances."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mia.valuation import knn_shapley, knn_shapley_similarity


def _pydvl_knn_shapley(xt, yt, xv, yv, k):
    pytest.importorskip("pydvl.valuation.methods.knn_shapley", reason="pip install pydvl==0.10.0")
    from pydvl.valuation.dataset import Dataset
    from pydvl.valuation.methods.knn_shapley import KNNShapleyValuation
    from sklearn.neighbors import KNeighborsClassifier

    val = KNNShapleyValuation(KNeighborsClassifier(n_neighbors=k), Dataset(xv, yv), progress=False).fit(Dataset(xt, yt))
    res = val.result
    out = np.zeros(len(xt))
    out[res.indices] = res.values
    return out


@pytest.mark.parametrize(
    ("n", "m", "d", "k", "classes"),
    [(300, 60, 8, 5, 3), (50, 20, 3, 10, 2), (120, 30, 16, 1, 4), (5, 4, 2, 5, 2)],
)
def test_matches_pydvl(n, m, d, k, classes):
    """Same values as pyDVL 0.10 ``KNNShapleyValuation`` (continuous data: no ties)."""
    rng = np.random.default_rng(n * 7 + k)
    xt, xv = rng.normal(size=(n, d)), rng.normal(size=(m, d))
    yt, yv = rng.integers(0, classes, n), rng.integers(0, classes, m)
    ours = knn_shapley(xt, yt, xv, yv, k=k, batch_size=7).numpy()
    ref = _pydvl_knn_shapley(xt, yt, xv, yv, k)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)


def test_matches_pydvl_on_digits(digits_split):
    """Digits pixels are integers, so distances tie a lot; sklearn breaks ties
    differently from our by-index rule, so a tiny jitter makes the order unique."""
    xv, yv, xp, yp = digits_split
    rng = np.random.default_rng(5)
    xp = xp + rng.uniform(0, 1e-3, xp.shape)
    ours = knn_shapley(xp[:800], yp[:800], xv[:200], yv[:200], k=5).numpy()
    ref = _pydvl_knn_shapley(xp[:800], yp[:800], xv[:200], yv[:200], 5)
    assert np.abs(ours - ref).max() <= 1e-9


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 7),
    m=st.integers(1, 3),
    k=st.integers(1, 4),
    seed=st.integers(0, 2**16),
    ties=st.booleans(),
)
def test_matches_subset_enumeration(brute_shapley, knn_utility, n, m, k, seed, ties):
    """Ground truth from the definition, including exact distance ties."""
    rng = np.random.default_rng(seed)
    if ties:  # integer grid -> many equal distances; tie-break must be by index
        xt = rng.integers(0, 2, size=(n, 2)).astype(float)
        xv = rng.integers(0, 2, size=(m, 2)).astype(float)
    else:
        xt, xv = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
    yt, yv = rng.integers(0, 2, n), rng.integers(0, 2, m)
    ours = knn_shapley(xt, yt, xv, yv, k=k).numpy()
    ref = np.mean(
        [
            brute_shapley(
                n,
                lambda s, j=j: knn_utility(s, xt, (yt == yv[j]).astype(float), xv[j], k),
            )
            for j in range(m)
        ],
        axis=0,
    )
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 6), k=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_similarity_variant_matches_enumeration(brute_shapley, knn_utility, n, k, seed):
    rng = np.random.default_rng(seed)
    xt, xv = rng.normal(size=(n, 3)), rng.normal(size=(2, 3))
    tn = xt / np.linalg.norm(xt, axis=1, keepdims=True)
    vn = xv / np.linalg.norm(xv, axis=1, keepdims=True)
    ours = knn_shapley_similarity(xt, xv, k=k).numpy()
    ref = np.mean(
        [brute_shapley(n, lambda s, j=j: knn_utility(s, tn, tn @ vn[j], vn[j], k)) for j in range(2)],
        axis=0,
    )
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


def test_fewer_records_than_k_is_exact_where_jia_base_case_is_not():
    """N < K: pyDVL (Jia base case ``u_N / N``) over-credits; ours is efficient."""
    xt, yt = np.array([[0.0], [1.0]]), np.array([1, 1])
    xv, yv = np.array([[0.0]]), np.array([1])
    ours = knn_shapley(xt, yt, xv, yv, k=4).numpy()
    np.testing.assert_allclose(ours, [0.25, 0.25], atol=1e-15)  # U(all) = 2/4
    ref = _pydvl_knn_shapley(xt, yt, xv, yv, 4)
    assert ref.sum() == pytest.approx(1.0)  # > U(all): not a Shapley value


def test_efficiency_sums_to_soft_accuracy(knn_utility):
    """Shapley efficiency: values sum to U(all) - U(empty)."""
    rng = np.random.default_rng(1)
    xt, xv = rng.normal(size=(200, 4)), rng.normal(size=(40, 4))
    yt, yv = rng.integers(0, 3, 200), rng.integers(0, 3, 40)
    k = 5
    total = knn_shapley(xt, yt, xv, yv, k=k).sum().item()
    u_all = np.mean([knn_utility(list(range(200)), xt, (yt == yv[j]).astype(float), xv[j], k) for j in range(40)])
    assert total == pytest.approx(u_all, abs=1e-12)


def test_batching_and_budget_give_bit_identical_values():
    """Same bits whatever the chunking: fixed matmul row blocks, int64 recursion and a
    row-ordered accumulation leave no reduction whose order depends on the budget."""
    rng = np.random.default_rng(2)
    xt, xv = rng.normal(size=(500, 6)), rng.normal(size=(77, 6))
    yt, yv = rng.integers(0, 4, 500), rng.integers(0, 4, 77)
    a = knn_shapley(xt, yt, xv, yv, k=3, batch_size=1)
    assert a.dtype == torch.float64
    for other in (
        knn_shapley(xt, yt, xv, yv, k=3, batch_size=77),
        knn_shapley(xt, yt, xv, yv, k=3, batch_size=33),
        knn_shapley(xt, yt, xv, yv, k=3, memory_budget=48 * 500 * 5),
        knn_shapley(xt, yt, xv, yv, k=3, memory_budget=2**30),
    ):
        assert torch.equal(a, other)
    s1 = knn_shapley_similarity(xt, xv, k=3, batch_size=1)
    assert torch.equal(s1, knn_shapley_similarity(xt, xv, k=3, memory_budget=2**30))


def test_packed_sort_matches_stable_argsort_on_near_ties():
    """Keys equal in the packed prefix but not in float64 (and -0.0 vs 0.0) are
    ordered exactly as a stable float64 argsort orders them."""
    import importlib

    ks = importlib.import_module("mia.valuation.knn_shapley")
    rng = np.random.default_rng(9)
    pool = [1.0, 1 + 2**-52, 1 + 2**-50, 1 - 2**-53, -2.0, -2 - 2**-51, 0.0, -0.0, 5.0, 2**-1074]
    for _ in range(100):
        keys = torch.tensor(rng.choice(pool, size=(3, int(rng.integers(1, 400)))))
        assert torch.equal(ks._sort_order(keys.clone()), torch.argsort(keys, dim=1, stable=True))


def test_overflowing_feature_scale_is_a_named_error():
    from mia.valuation.data import FeatureScaleError

    with pytest.raises(FeatureScaleError, match="overflows squared distances"):
        knn_shapley(np.full((3, 2), 1e160), [0, 1, 0], np.zeros((2, 2)), [0, 1])
    rng = np.random.default_rng(1)
    xt, xv = rng.normal(size=(20, 3)), rng.normal(size=(4, 3))
    cos = knn_shapley_similarity(xt, xv, k=3)  # cosine is scale-free: huge inputs are fine
    torch.testing.assert_close(knn_shapley_similarity(xt * 1e200, xv * 1e-200, k=3), cos, rtol=0, atol=1e-12)
    knn_shapley(np.full((3, 2), 1e100), [0, 1, 0], np.zeros((2, 2)), [0, 1])  # large but finite: fine


def test_string_labels_and_tensor_inputs():
    rng = np.random.default_rng(3)
    xt, xv = rng.normal(size=(60, 3)), rng.normal(size=(10, 3))
    yt, yv = rng.integers(0, 2, 60), rng.integers(0, 2, 10)
    names = np.array(["cat", "dog"])
    a = knn_shapley(xt, yt, xv, yv, k=3)
    b = knn_shapley(torch.tensor(xt), names[yt], torch.tensor(xv), names[yv], k=3)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_rejects_bad_inputs():
    x = np.zeros((4, 2))
    with pytest.raises(ValueError, match="dimension"):
        knn_shapley(x, [0] * 4, np.zeros((2, 3)), [0, 1])
    with pytest.raises(ValueError, match="NaN"):
        knn_shapley(np.full((4, 2), np.nan), [0] * 4, np.zeros((2, 2)), [0, 1])
    with pytest.raises(ValueError, match="k must be"):
        knn_shapley(x, [0] * 4, np.zeros((2, 2)), [0, 1], k=0)
    assert knn_shapley(np.zeros((0, 2)), [], np.zeros((2, 2)), [0, 1]).numel() == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(4)
    xt, xv = rng.normal(size=(2000, 16)), rng.normal(size=(100, 16))
    yt, yv = rng.integers(0, 5, 2000), rng.integers(0, 5, 100)
    a = knn_shapley(xt, yt, xv, yv, k=5)
    b = knn_shapley(xt, yt, xv, yv, k=5, device="cuda").cpu()
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_label_encoding_is_consistent_across_container_types():
    from mia.valuation.knn_shapley import encode_labels

    a, b = encode_labels(np.array(["dog", "cat"]), ["cat", "emu", "dog"])
    assert a.tolist() == [1, 0]
    assert b.tolist() == [0, 2, 1]
    with pytest.raises(ValueError, match="mix"):
        encode_labels([1, 2], ["a"])
    (c,) = encode_labels(np.array([1.0, 3.0]))
    assert c.dtype == np.int64
