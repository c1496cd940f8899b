"""Noisy-label detection on digits: low values should flag flipped labels."""

from __future__ import annotations

import numpy as np
import pytest

from mia.valuation import Dataset, ProviderData, value_providers

FLIP_RATE = 0.2


@pytest.fixture(scope="module")
def noisy_round(digits_split):
    xv, yv, xp, yp = digits_split
    rng = np.random.default_rng(42)
    n = 1000
    y = yp[:n].copy()
    flipped = rng.random(n) < FLIP_RATE
    y[flipped] = (y[flipped] + rng.integers(1, 10, flipped.sum())) % 10  # always wrong
    providers = [ProviderData(f"p{i}", xp[100 * i : 100 * (i + 1)], y[100 * i : 100 * (i + 1)]) for i in range(10)]
    return providers, Dataset(xv, yv), flipped


@pytest.mark.parametrize(
    ("method", "kwargs", "min_lift"),
    [("knn_shapley", {"k": 5}, 3.0), ("influence", {"steps": 150}, 2.0)],
)
def test_lowest_values_catch_flipped_labels(noisy_round, method, kwargs, min_lift):
    providers, val, flipped = noisy_round
    res = value_providers(providers, val, method=method, **kwargs)
    values = np.concatenate(res.record_values)
    lowest = np.argsort(values, kind="stable")[: int(FLIP_RATE * len(values))]
    caught = flipped[lowest].mean()
    chance = flipped.mean()
    print(
        f"{method}: {caught:.1%} of the lowest-valued 20% are flipped"
        f" (chance {chance:.1%}, lift {caught / chance:.2f}x)"
    )
    assert caught >= min_lift * chance


def test_noisier_provider_gets_lower_quality_and_utility(digits_split):
    xv, yv, xp, yp = digits_split
    rng = np.random.default_rng(3)
    provs = []
    for i, rate in enumerate([0.0, 0.2, 0.5]):
        y = yp[200 * i : 200 * (i + 1)].copy()
        f = rng.random(200) < rate
        y[f] = (y[f] + rng.integers(1, 10, f.sum())) % 10
        provs.append(ProviderData(f"r{rate}", xp[200 * i : 200 * (i + 1)], y))
    res = value_providers(provs, Dataset(xv, yv))
    assert list(np.argsort(-res.quality)) == [0, 1, 2]
    assert list(np.argsort(-res.marginal_utility)) == [0, 1, 2]
    assert res.quality[0] == 1.0


def test_validation_scale_ignores_self_distance_rounding_on_text():
    """Hashed text: the matmul self-distance is ~1e-16, not 0; the scale must still be
    the nearest *other* text's distance (checked against the direct difference form)."""
    from mia.valuation.featurizers import HashingNGramFeaturizer
    from mia.valuation.quality import validation_nn_scale

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    texts = [" ".join(rng.choice(words, 12)) for _ in range(150)]
    x = HashingNGramFeaturizer().transform(texts)
    x = np.concatenate([x, x[:5]])  # exact repeats are not the length scale either
    xu = np.unique(x, axis=0)
    du = np.sqrt(((xu[:, None, :] - xu[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(du, np.inf)
    expected = float(np.median(du.min(1)))
    import torch

    got = validation_nn_scale(torch.tensor(x))
    assert got == pytest.approx(expected, rel=1e-9)
    assert got > 0.1
