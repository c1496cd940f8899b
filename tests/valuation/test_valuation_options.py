"""Estimator options are declared: a misspelled, mistyped or out-of-range option is an error that
names it, never a silent run with the default."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from mia.valuation import (
    ESTIMATORS,
    Dataset,
    EstimatorOptionError,
    MCShapleyEstimator,
    ProviderData,
    get_estimator,
    value_providers,
)
from mia.valuation.estimators import estimator_class
from mia.valuation.options import option_names


def _all_methods() -> list[str]:
    estimator_class("knn_shapley")  # registers the lazily imported estimators
    return sorted(ESTIMATORS)


def test_misspelled_option_is_named_with_the_valid_ones():
    with pytest.raises(EstimatorOptionError) as err:
        get_estimator("mc_shapley", max_permutation=7)
    msg = str(err.value)
    assert msg.startswith("unknown option max_permutation for mc_shapley (did you mean max_permutations?)")
    assert "valid: " in msg and "max_permutations" in msg and "stderr_tol" in msg and "\n" not in msg


@pytest.mark.parametrize("method", _all_methods())
def test_every_estimator_rejects_unknown_options(method):
    with pytest.raises(EstimatorOptionError, match=f"unknown option bogus for {method}; valid: "):
        get_estimator(method, bogus=1)


@pytest.mark.parametrize("method", _all_methods())
def test_recorded_params_build_the_same_estimator(method):
    """What a transcript records (`params()`) is accepted back when it is verified."""
    est = get_estimator(method)
    assert set(est.params()) <= set(option_names(type(est)))
    assert get_estimator(method, **est.params()).params() == est.params()


@pytest.mark.parametrize(
    ("method", "options", "message"),
    [
        ("mc_shapley", {"max_permutations": 7.5}, "option max_permutations for mc_shapley must be an integer, got 7.5"),
        ("mc_shapley", {"max_permutations": "100"}, "must be an integer, got '100'"),
        ("mc_shapley", {"max_permutations": True}, "must be an integer, got True"),
        ("mc_shapley", {"stderr_tol": "0.01"}, "option stderr_tol for mc_shapley must be a number or None"),
        ("mc_shapley", {"utility": "svm"}, "option utility for mc_shapley must be one of 'knn', 'logistic'"),
        ("banzhaf", {"max_seconds": [1]}, "option max_seconds for banzhaf must be a number or None"),
        ("knn_shapley", {"metric": "manhattan"}, "must be one of 'euclidean', 'cosine', got 'manhattan'"),
        ("influence", {"normalize": 1}, "option normalize for influence must be true or false, got 1"),
        ("lm-gradient", {"score": "l2"}, "option score for lm-gradient must be one of 'cosine', 'dot'"),
    ],
)
def test_wrong_types_are_rejected(method, options, message):
    with pytest.raises(EstimatorOptionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        get_estimator(method, **options)


@pytest.mark.parametrize(
    ("method", "options", "message"),
    [
        ("mc_shapley", {"max_permutations": -5}, "option max_permutations for mc_shapley must be >= 1, got -5"),
        ("mc_shapley", {"max_permutations": 0}, "must be >= 1, got 0"),
        ("mc_shapley", {"stderr_tol": 0.0}, "option stderr_tol for mc_shapley must be > 0 or None, got 0.0"),
        ("mc_shapley", {"stderr_tol": -1e-3}, "must be > 0 or None"),
        ("mc_shapley", {"stderr_tol": float("nan")}, "must be > 0 or None, got nan"),
        ("mc_shapley", {"truncation_tol": -0.1}, "option truncation_tol for mc_shapley must be >= 0"),
        ("mc_shapley", {"audit_every": 0}, "option audit_every for mc_shapley must be >= 1"),
        ("mc_shapley", {"max_seconds": 0}, "option max_seconds for mc_shapley must be > 0 or None"),
        ("banzhaf", {"batch_samples": 0}, "option batch_samples for banzhaf must be >= 1"),
        ("loo", {"k": 0}, "option k for loo must be >= 1, got 0"),
        ("exact_shapley", {"lr": 0.0, "utility": "logistic"}, "option lr for exact_shapley must be > 0"),
        ("knn_shapley", {"k": -1}, "option k for knn_shapley must be >= 1, got -1"),
        ("influence", {"proj_dim": 0}, "option proj_dim for influence must be >= 1 or None"),
    ],
)
def test_out_of_range_values_are_rejected(method, options, message):
    with pytest.raises(EstimatorOptionError, match=message):
        get_estimator(method, **options)


def test_direct_construction_is_checked_too():
    with pytest.raises(EstimatorOptionError, match="max_permutations for mc_shapley must be >= 1"):
        MCShapleyEstimator(max_permutations=-1)
    assert MCShapleyEstimator(stderr_tol=None, max_seconds=2).params()["stderr_tol"] is None


def test_options_beside_an_estimator_instance_are_refused():
    with pytest.raises(EstimatorOptionError, match="max_permutations given with a mc_shapley instance"):
        get_estimator(MCShapleyEstimator(), max_permutations=8)


def _round() -> tuple[list[ProviderData], Dataset]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] > 0).astype(int)
    return [ProviderData(f"p{i}", x[10 * i : 10 * i + 10], y[10 * i : 10 * i + 10]) for i in range(3)], Dataset(
        x[30:], y[30:]
    )


def test_value_providers_rejects_before_valuing():
    providers, val = _round()
    with pytest.raises(EstimatorOptionError, match="unknown option max_permutation for mc_shapley"):
        value_providers(providers, val, method="mc_shapley", max_permutation=7)
    with pytest.raises(EstimatorOptionError, match="option k for mc_shapley must be >= 1, got 0"):
        value_providers(providers, val, method="mc_shapley", k=0)
    # k is value_providers' own argument: methods without a k option are not given it
    assert value_providers(providers, val, method="lm-gradient", k=3).method == "lm-gradient"


def test_cli_reports_a_bad_option_on_one_line(tmp_path, capsys, monkeypatch):
    import mia.valuation.api as api
    from mia.cli.commands import main

    providers, val = _round()
    np.save(tmp_path / "vx.npy", val.features)
    np.save(tmp_path / "vy.npy", np.asarray(val.labels))
    np.save(tmp_path / "ax.npy", providers[0].features)
    np.save(tmp_path / "ay.npy", np.asarray(providers[0].labels))
    args = ["valuate", "--validation", f"{tmp_path}/vx.npy:{tmp_path}/vy.npy"]
    args += ["--provider", f"A={tmp_path}/ax.npy:{tmp_path}/ay.npy", "--out", str(tmp_path / "t.json")]
    assert main([*args, "--k", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--method knn_shapley: option k for knn_shapley must be >= 1, got 0" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    monkeypatch.setattr(api, "value_providers", functools.partial(api.value_providers, max_permutation=7))
    assert main([*args, "--method", "mc_shapley"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown option max_permutation for mc_shapley (did you mean max_permutations?); valid:" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "t.json").exists()
