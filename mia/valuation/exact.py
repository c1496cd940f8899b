"""Exact provider-level Shapley and Banzhaf values by enumerating every coalition.

``2^n`` utility evaluations: the ground truth for small ``n`` (at most 20 providers), against
which the Monte-Carlo estimators are tested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from .estimators import EstimatorOutput, ValuationTask, register_estimator
from .result import Convergence
from .utility import CoalitionUtility, UtilityOptions

__all__ = [
    "ExactBanzhafEstimator",
    "ExactShapleyEstimator",
    "all_coalitions",
    "exact_banzhaf",
    "exact_shapley",
]

#: Most players :func:`exact_shapley` / :func:`exact_banzhaf` enumerate.
MAX_PLAYERS = 20


def all_coalitions(n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(2^n, n)`` bool masks; row ``s`` holds player ``i`` iff bit ``i`` of ``s``."""
    s = torch.arange(2**n, device=device).unsqueeze(1)
    return ((s >> torch.arange(n, device=device)) & 1).bool()


def exact_shapley(utility: CoalitionUtility, n: int, *, batch: int = 4096) -> np.ndarray:
    """Shapley values by enumerating all ``2^n`` coalitions (use for ``n <= ~16``)."""
    u = _enumerate(utility, n, batch)
    sizes = torch.tensor([bin(s).count("1") for s in range(2**n)], dtype=torch.float64)
    w = torch.tensor(
        [math.factorial(r) * math.factorial(n - r - 1) / math.factorial(n) for r in range(n)],
        dtype=torch.float64,
    )
    s = torch.arange(2**n)
    out = np.zeros(n)
    for i in range(n):  # loop over players, not records
        without = s[(s >> i) & 1 == 0]
        out[i] = float((w[sizes[without].long()] * (u[without | (1 << i)] - u[without])).sum())
    return out


def exact_banzhaf(utility: CoalitionUtility, n: int, *, batch: int = 4096) -> np.ndarray:
    """Banzhaf values by enumeration: mean marginal over coalitions without ``i``."""
    u = _enumerate(utility, n, batch)
    s = torch.arange(2**n)
    out = np.zeros(n)
    for i in range(n):
        without = s[(s >> i) & 1 == 0]
        out[i] = float((u[without | (1 << i)] - u[without]).mean())
    return out


def _enumerate(utility: CoalitionUtility, n: int, batch: int) -> torch.Tensor:
    if n > MAX_PLAYERS:
        raise ValueError(f"exact enumeration over {n} players is too large (max {MAX_PLAYERS})")
    masks = all_coalitions(n)
    return torch.cat([utility(masks[s : s + batch]).cpu() for s in range(0, 2**n, batch)])


def _exact_output(values: np.ndarray, n: int) -> EstimatorOutput:
    evals = 2**n
    meta = {"exact": True, "utility_evals": evals}
    return EstimatorOutput.provider_level(torch.from_numpy(values), meta, Convergence.deterministic(n, evals))


@register_estimator
@dataclass
class ExactShapleyEstimator(UtilityOptions):
    """Provider-level Shapley by full enumeration (ground truth; ``n <= 20``)."""

    name: ClassVar[str] = "exact_shapley"

    def params(self) -> dict[str, Any]:
        return self._utility_params()

    def estimate(self, task: ValuationTask, *, seed: int = 0, progress: bool = False) -> EstimatorOutput:
        return _exact_output(exact_shapley(self._make(task), task.n_groups), task.n_groups)


@register_estimator
@dataclass
class ExactBanzhafEstimator(UtilityOptions):
    """Provider-level Banzhaf by full enumeration (ground truth; ``n <= 20``)."""

    name: ClassVar[str] = "exact_banzhaf"

    def params(self) -> dict[str, Any]:
        return self._utility_params()

    def estimate(self, task: ValuationTask, *, seed: int = 0, progress: bool = False) -> EstimatorOutput:
        return _exact_output(exact_banzhaf(self._make(task), task.n_groups), task.n_groups)
