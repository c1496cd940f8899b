"""Data-Banzhaf values over providers by maximum sample reuse (MSR)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

from .estimators import EstimatorOutput, ValuationTask, register_estimator
from .options import option
from .sampling import RunningMoments, cpu_generator, run_batches, sample_coalitions, stopping_criteria
from .utility import UtilityOptions

__all__ = ["BanzhafMSREstimator"]


@register_estimator
@dataclass
class BanzhafMSREstimator(UtilityOptions):
    """Data-Banzhaf with maximum sample reuse (Wang & Jia, 2023) over providers.

    Each sampled coalition (every provider in with probability 1/2) is used for every
    provider: ``value_i = mean(U | i in S) - mean(U | i not in S)``. Standard error
    combines both means' variances; the same stopping criteria as
    :class:`~.shapley_mc.MCShapleyEstimator`, counted in coalitions.
    """

    max_samples: int = option(20000, ge=1)
    min_samples: int = option(256, ge=0)
    batch_samples: int = option(1024, ge=1)
    stderr_tol: float | None = option(1e-3, gt=0)
    max_seconds: float | None = option(None, gt=0)

    name: ClassVar[str] = "banzhaf"

    def params(self) -> dict[str, Any]:
        return self._own_params()

    def estimate(self, task: ValuationTask, *, seed: int = 0, progress: bool = False) -> EstimatorOutput:
        n = task.n_groups
        u = self._make(task)
        gen = cpu_generator(seed)
        t0 = time.perf_counter()
        inside, outside = RunningMoments.zeros(n), RunningMoments.zeros(n)
        criteria = stopping_criteria(
            min_samples=self.min_samples,
            max_samples=self.max_samples,
            stderr_tol=self.stderr_tol,
            max_seconds=self.max_seconds,
        )

        def step(samples: int) -> tuple[int, float, int]:
            b = min(self.batch_samples, self.max_samples - samples)
            masks = sample_coalitions(gen, b, n)
            vals = u(masks).cpu().unsqueeze(1).expand(b, n)
            inside.update(vals, masks)
            outside.update(vals, ~masks)
            return b, float((inside.var_of_mean() + outside.var_of_mean()).sqrt().max()), b

        run = run_batches(step, criteria, t0, total=self.max_samples, label="banzhaf-msr", progress=progress)
        stderr = (inside.var_of_mean() + outside.var_of_mean()).sqrt()
        values = inside.mean - outside.mean
        return EstimatorOutput.provider_level(values, run.metadata(stderr, t0), run.convergence(stderr))
