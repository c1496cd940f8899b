"""Sampling for the Monte-Carlo estimators: seeded samplers, running moments, stopping criteria.

Samples are drawn from a CPU generator, so the same seed gives the same permutations and
coalitions on every device and machine. A run stops at the first criterion met, checked in
order: standard-error tolerance (after a minimum number of samples), sample cap, time budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .result import Convergence, StopReason

__all__ = [
    "MaxSamples",
    "RunningMoments",
    "Sampling",
    "StandardErrorTolerance",
    "StoppingCriterion",
    "TimeBudget",
    "cpu_generator",
    "run_batches",
    "sample_coalitions",
    "sample_permutations",
    "stopping_criteria",
]


def cpu_generator(seed: int) -> torch.Generator:
    """CPU generator: the same samples on every device and machine."""
    return torch.Generator(device="cpu").manual_seed(int(seed))


def sample_permutations(gen: torch.Generator, count: int, n: int) -> torch.Tensor:
    """``(count, n)`` uniformly random permutations of ``0..n-1``."""
    return torch.argsort(torch.rand(count, n, generator=gen, dtype=torch.float64), dim=1)


def sample_coalitions(gen: torch.Generator, count: int, n: int) -> torch.Tensor:
    """``(count, n)`` bool masks: every player in each coalition independently with probability 1/2."""
    return torch.rand(count, n, generator=gen, dtype=torch.float64) < 0.5


@dataclass
class RunningMoments:
    """Running mean / variance per player (vectorised, float64)."""

    count: torch.Tensor
    mean: torch.Tensor
    m2: torch.Tensor

    @classmethod
    def zeros(cls, n: int) -> RunningMoments:
        z = torch.zeros(n, dtype=torch.float64)
        return cls(z.clone(), z.clone(), z.clone())

    def update(self, x: torch.Tensor, present: torch.Tensor) -> None:
        """Chan et al. batch merge of ``x`` ``(B, n)`` where ``present``."""
        pf = present.to(torch.float64)
        nb = pf.sum(0)
        mb = (x * pf).sum(0) / nb.clamp_min(1.0)
        m2b = (((x - mb) ** 2) * pf).sum(0)
        tot = self.count + nb
        delta = mb - self.mean
        self.mean = torch.where(tot > 0, self.mean + delta * nb / tot.clamp_min(1.0), self.mean)
        self.m2 = self.m2 + m2b + delta**2 * self.count * nb / tot.clamp_min(1.0)
        self.count = tot

    def var_of_mean(self) -> torch.Tensor:
        """Variance of each running mean; infinite until a player has two samples."""
        var = self.m2 / (self.count - 1).clamp_min(1.0)
        return torch.where(self.count > 1, var / self.count, torch.full_like(var, math.inf))


@dataclass(frozen=True)
class StandardErrorTolerance:
    """Met once every value's standard error is at most ``tol``, after ``min_samples`` samples."""

    tol: float
    min_samples: int
    reason: StopReason = "converged"

    def met(self, samples: int, max_stderr: float, elapsed: float) -> bool:
        return samples >= self.min_samples and max_stderr <= self.tol


@dataclass(frozen=True)
class MaxSamples:
    """Met once ``limit`` samples have been drawn."""

    limit: int
    reason: StopReason = "max_samples"

    def met(self, samples: int, max_stderr: float, elapsed: float) -> bool:
        return samples >= self.limit


@dataclass(frozen=True)
class TimeBudget:
    """Met once ``seconds`` have passed since sampling began."""

    seconds: float
    reason: StopReason = "max_seconds"

    def met(self, samples: int, max_stderr: float, elapsed: float) -> bool:
        return elapsed >= self.seconds


StoppingCriterion = StandardErrorTolerance | MaxSamples | TimeBudget


def stopping_criteria(
    *, min_samples: int, max_samples: int, stderr_tol: float | None, max_seconds: float | None
) -> tuple[StoppingCriterion, ...]:
    """The criteria of a run, in the order they are checked (``None`` leaves a criterion out)."""
    out: list[StoppingCriterion] = []
    if stderr_tol is not None:
        out.append(StandardErrorTolerance(stderr_tol, min_samples))
    out.append(MaxSamples(max_samples))
    if max_seconds is not None:
        out.append(TimeBudget(max_seconds))
    return tuple(out)


@dataclass
class Sampling:
    """What a finished run reports: samples drawn, utility evaluations, history, what stopped it."""

    samples: int
    utility_evals: int
    history: list[dict[str, Any]]
    stop_reason: StopReason

    def convergence(self, stderr: torch.Tensor) -> Convergence:
        return Convergence(
            stderr=tuple(float(x) for x in stderr),
            samples=self.samples,
            converged=self.stop_reason == "converged",
            stop_reason=self.stop_reason,
            utility_evals=self.utility_evals,
        )

    def metadata(self, stderr: torch.Tensor, t0: float) -> dict[str, Any]:
        """The estimator metadata recorded in transcripts (its keys and values are part of the format)."""
        return {
            "exact": False,
            "samples": self.samples,
            "utility_evals": self.utility_evals,
            "stop_reason": self.stop_reason,
            "converged": self.stop_reason == "converged",
            "stderr": [float(x) for x in stderr],
            "history": self.history,
            "seconds": time.perf_counter() - t0,
        }


def run_batches(
    step: Callable[[int], tuple[int, float, int]],
    criteria: tuple[StoppingCriterion, ...],
    t0: float,
    *,
    total: int,
    label: str,
    progress: bool,
    evals: int = 0,
) -> Sampling:
    """Runs ``step(samples so far)`` (one batch: samples drawn, max stderr, utility evaluations) until one
    of ``criteria`` is met; ``t0`` is when the run began (for the time budget)."""
    samples, history = 0, []
    bar = _bar(progress, total, label)
    try:
        while True:
            drawn, se, used = step(samples)
            samples += drawn
            evals += used
            history.append({"samples": samples, "max_stderr": se, "utility_evals": evals})
            if bar is not None:
                bar.update(drawn)
                bar.set_postfix(max_stderr=f"{se:.2e}")
            elapsed = time.perf_counter() - t0
            for criterion in criteria:
                if criterion.met(samples, se, elapsed):
                    return Sampling(samples, evals, history, criterion.reason)
    finally:
        if bar is not None:
            bar.close()


def _bar(progress: bool, total: int, desc: str) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="sample")
