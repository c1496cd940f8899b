"""Leave-one-provider-out: each provider's value is what the grand coalition loses without it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from .estimators import EstimatorOutput, ValuationTask, register_estimator
from .result import Convergence
from .utility import UtilityOptions

__all__ = ["LeaveOneOutEstimator"]


@register_estimator
@dataclass
class LeaveOneOutEstimator(UtilityOptions):
    """``U(all) - U(all without i)``: cheap (``n + 1`` utilities) but blind to
    redundancy -- two providers with the same data both score ~0."""

    name: ClassVar[str] = "loo"

    def params(self) -> dict[str, Any]:
        return self._utility_params()

    def estimate(self, task: ValuationTask, *, seed: int = 0, progress: bool = False) -> EstimatorOutput:
        n = task.n_groups
        u = self._make(task)
        masks = torch.ones(n + 1, n, dtype=torch.bool)
        masks[torch.arange(n), torch.arange(n)] = False
        vals = u(masks).cpu()
        meta = {"exact": True, "utility_evals": n + 1}
        return EstimatorOutput.provider_level(vals[n] - vals[:n], meta, Convergence.deterministic(n, n + 1))
