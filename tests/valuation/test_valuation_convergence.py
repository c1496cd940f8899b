"""Standard errors, samples drawn and what stopped sampling are part of the typed result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mia.valuation import (
    BanzhafMSREstimator,
    Convergence,
    Dataset,
    MCShapleyEstimator,
    ProviderData,
    get_estimator,
    value_providers,
)
from mia.valuation.estimators import ValuationTask


@pytest.fixture(scope="module")
def task(digits_split) -> ValuationTask:
    xv, yv, xp, yp = digits_split
    return ValuationTask(
        x_train=torch.tensor(xp[:120]),
        y_train=torch.tensor(yp[:120]),
        groups=torch.arange(120) // 30,
        n_groups=4,
        x_val=torch.tensor(xv[:100]),
        y_val=torch.tensor(yv[:100]),
        n_classes=10,
    )


@pytest.mark.parametrize(
    ("estimator", "small", "large"),
    [
        (MCShapleyEstimator, {"max_permutations": 32}, {"max_permutations": 512}),
        (BanzhafMSREstimator, {"max_samples": 128, "batch_samples": 64}, {"max_samples": 2048, "batch_samples": 512}),
    ],
)
def test_standard_error_shrinks_as_samples_grow(task, estimator, small, large):
    few = estimator(stderr_tol=None, **small).estimate(task, seed=3).convergence
    many = estimator(stderr_tol=None, **large).estimate(task, seed=3).convergence
    assert few is not None and many is not None
    assert (few.samples, many.samples) == (next(iter(small.values())), next(iter(large.values())))
    assert few.stop_reason == many.stop_reason == "max_samples" and not few.converged and not many.converged
    assert len(many.stderr) == task.n_groups
    # 16x the samples: about 4x smaller errors, for every provider
    assert all(m < f / 2 for f, m in zip(few.stderr, many.stderr, strict=True))
    assert all(m > 0 for m in many.stderr)


def test_converged_when_the_tolerance_is_met_first(task):
    est = MCShapleyEstimator(stderr_tol=0.05, min_permutations=16, batch_permutations=16, max_permutations=4000)
    out = est.estimate(task, seed=0)
    conv = out.convergence
    assert conv is not None and conv.converged and conv.stop_reason == "converged"
    assert conv.samples < est.max_permutations and conv.max_stderr <= 0.05
    assert list(conv.stderr) == out.metadata["stderr"] and conv.samples == out.metadata["samples"]


def test_not_converged_when_the_cap_is_hit_first(task):
    out = MCShapleyEstimator(stderr_tol=1e-6, max_permutations=24, batch_permutations=8).estimate(task, seed=0)
    conv = out.convergence
    assert conv is not None and not conv.converged and conv.stop_reason == "max_samples"
    assert conv.samples == 24 and conv.max_stderr > 1e-6
    out = BanzhafMSREstimator(stderr_tol=1e-6, max_samples=100, batch_samples=40).estimate(task, seed=0)
    assert out.convergence is not None and out.convergence.stop_reason == "max_samples"
    assert out.convergence.samples == 100 and not out.convergence.converged


def test_time_budget_stops_sampling(task):
    out = MCShapleyEstimator(stderr_tol=None, max_permutations=10**9, max_seconds=1e-6).estimate(task)
    conv = out.convergence
    assert conv is not None and conv.stop_reason == "max_seconds" and not conv.converged
    assert conv.samples < 10**9


@pytest.mark.parametrize(("method", "options"), [("loo", {}), ("exact_shapley", {}), ("knn_shapley", {})])
def test_exact_methods_report_zero_error(task, method, options):
    conv = get_estimator(method, **options).estimate(task).group_convergence()
    assert conv == Convergence((0.0,) * 4, 0, True, "deterministic", conv.utility_evals)


def test_value_providers_puts_errors_in_provider_order(digits_split):
    xv, yv, xp, yp = digits_split
    providers = [ProviderData(f"p{i}", xp[30 * i : 30 * i + 30], yp[30 * i : 30 * i + 30]) for i in range(3)]
    providers.insert(1, ProviderData("bad", np.zeros((3, 2)), [0, 1, 2]))  # wrong dimension: invalid, q = 0
    val = Dataset(xv[:100], yv[:100])
    res = value_providers(providers, val, method="mc_shapley", max_permutations=48, stderr_tol=None)
    conv = res.convergence
    assert conv is not None and conv.samples == 48 and conv.stop_reason == "max_samples" and not conv.converged
    recorded = res.metadata["estimator"]["stderr"]  # the three valid providers, in order
    assert list(conv.stderr) == [recorded[0], 0.0, recorded[1], recorded[2]]
    assert [p.stderr for p in res.providers] == list(conv.stderr) and res.stderr[1] == 0.0
    assert "did NOT converge" in (res.convergence_warning() or "")
    assert res.to_dict()["convergence"]["stop_reason"] == "max_samples"
    exact = value_providers(providers, val, method="knn_shapley")
    assert exact.convergence == Convergence((0.0,) * 4, 0, True, "deterministic")
    assert exact.convergence_warning() is None


def test_result_rejects_misaligned_errors():
    with pytest.raises(ValueError, match="2 standard errors for 0 providers"):
        from mia.valuation import ValuationResult

        ValuationResult([], "x", {}, convergence=Convergence((0.0, 0.0), 0, True, "deterministic"))
