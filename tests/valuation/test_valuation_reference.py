"""The valuation code gives, bit for bit, the values it gave before it was split into modules.

``data/provider_game_reference.json`` was written by :func:`compute` on the code as it stood before the
split (one module for utilities, samplers and methods); any change to sampling order, batching or
arithmetic shows up here as a changed float.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mia.valuation import Dataset, ProviderData, value_providers
from mia.valuation.estimators import ValuationTask, get_estimator
from mia.valuation.transcript import build_transcript

REFERENCE = Path(__file__).parent / "data" / "provider_game_reference.json"

#: (method, options, seed): every provider-level method, both utilities, truncation and its audit walks
CASES: list[tuple[str, dict[str, Any], int]] = [
    ("exact_shapley", {}, 0),
    ("exact_banzhaf", {}, 0),
    ("loo", {}, 0),
    ("loo", {"utility": "logistic", "steps": 20}, 0),
    ("mc_shapley", {"max_permutations": 96, "batch_permutations": 32}, 3),
    ("mc_shapley", {"max_permutations": 96, "batch_permutations": 32, "truncation_tol": 0.05}, 4),
    ("mc_shapley", {"max_permutations": 24, "batch_permutations": 8, "utility": "logistic", "steps": 20}, 5),
    ("mc_shapley", {"stderr_tol": 0.02, "min_permutations": 16, "batch_permutations": 16}, 6),
    ("banzhaf", {"max_samples": 2048, "batch_samples": 512}, 7),
    ("banzhaf", {"max_samples": 256, "batch_samples": 128, "utility": "logistic", "steps": 20}, 8),
    ("knn_shapley", {}, 0),
]


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    p = np.random.default_rng(14).permutation(len(x))
    x, y = x[p].astype(np.float64), y[p]
    y_pool = y[100:250].copy()
    y_pool[120:150] = (y_pool[120:150] + 3) % 10  # one mislabelled provider
    return x[:100], y[:100], x[100:250], y_pool


def _task() -> ValuationTask:
    xv, yv, xp, yp = _data()
    return ValuationTask(
        x_train=torch.tensor(xp),
        y_train=torch.tensor(yp),
        groups=torch.arange(150) // 30,
        n_groups=5,
        x_val=torch.tensor(xv),
        y_val=torch.tensor(yv),
        n_classes=10,
    )


def compute() -> dict[str, Any]:
    """Values, standard errors and sample counts of every case, plus one full `value_providers` round."""
    task = _task()
    cases = []
    for method, options, seed in CASES:
        out = get_estimator(method, **options).estimate(task, seed=seed)
        meta = out.metadata
        cases.append(
            {
                "method": method,
                "options": options,
                "seed": seed,
                "values": [float(v) for v in out.group_values],
                "stderr": meta.get("stderr"),
                "samples": meta.get("samples"),
                "utility_evals": meta.get("utility_evals"),
                "stop_reason": meta.get("stop_reason"),
            }
        )
    xv, yv, xp, yp = _data()
    providers = [ProviderData(f"p{i}", xp[30 * i : 30 * (i + 1)], yp[30 * i : 30 * (i + 1)]) for i in range(5)]
    val = Dataset(xv, yv)
    res = value_providers(providers, val, method="mc_shapley", seed=11, max_permutations=64)
    transcripts = {}
    for method, options in (("mc_shapley", {"max_permutations": 64}), ("knn_shapley", {}), ("loo", {})):
        r = value_providers(providers, val, method=method, seed=11, **options)
        t = build_transcript(r, providers, val, inputs="none", record_key=bytes(range(32)))
        transcripts[method] = t["transcript_hash"]
    return {"cases": cases, "round": res.to_fixed_point().to_dict(), "transcripts": transcripts}


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return json.loads(REFERENCE.read_text())


def test_split_changed_no_value(reference):
    got = compute()
    assert len(got["cases"]) == len(reference["cases"])
    for new, old in zip(got["cases"], reference["cases"], strict=True):
        assert new == old, f"{old['method']} {old['options']} changed"
    assert got["round"] == reference["round"]
    assert got["transcripts"] == reference["transcripts"]  # same inputs, same transcript bytes


if __name__ == "__main__":  # writes the reference; run only on the code the reference is meant to pin
    REFERENCE.write_text(json.dumps(compute(), indent=1) + "\n")
