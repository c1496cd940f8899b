"""Permutation-sampling (truncated Monte-Carlo) Shapley values over providers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from .estimators import EstimatorOutput, ValuationTask, register_estimator
from .options import option
from .sampling import RunningMoments, cpu_generator, run_batches, sample_permutations, stopping_criteria
from .utility import CoalitionUtility, KNNCoalitionUtility, UtilityOptions

__all__ = ["MCShapleyEstimator"]


@register_estimator
@dataclass
class MCShapleyEstimator(UtilityOptions):
    """Permutation-sampling Shapley with truncation (TMC-Shapley) over providers.

    Each round draws ``batch_permutations`` permutations (``None``: ``4096 // n``
    clamped to 8..256, so rounds stay short with many providers) and walks their
    prefixes position by position, evaluating all still-active prefixes in one
    batched utility call. A permutation is truncated (remaining marginals = 0) once its
    prefix utility is within ``truncation_tol * |U(all)|`` of ``U(all)``; 0 disables
    truncation. Truncation is biased, so one permutation in ``audit_every`` is walked
    to the end as well and the estimate adds ``audit_every x`` its (full - truncated)
    marginals: an unbiased correction whose noise enters the standard error, so the
    reported error covers the truncation bias. Stops when every provider's standard
    error is at most ``stderr_tol`` (after ``min_permutations``; ``None``: never), or at
    ``max_permutations`` / ``max_seconds``.
    """

    max_permutations: int = option(2000, ge=1)
    min_permutations: int = option(64, ge=0)
    batch_permutations: int | None = option(None, ge=1)
    truncation_tol: float = option(0.0, ge=0)
    audit_every: int = option(4, ge=1)
    stderr_tol: float | None = option(1e-3, gt=0)
    max_seconds: float | None = option(None, gt=0)

    name: ClassVar[str] = "mc_shapley"

    def params(self) -> dict[str, Any]:
        return self._own_params()

    def estimate(self, task: ValuationTask, *, seed: int = 0, progress: bool = False) -> EstimatorOutput:
        n = task.n_groups
        u = self._make(task)
        gen = cpu_generator(seed)
        t0 = time.perf_counter()
        ends = u(torch.stack([torch.zeros(n, dtype=torch.bool), torch.ones(n, dtype=torch.bool)])).cpu()
        u_empty, u_all = float(ends[0]), float(ends[1])
        stats = RunningMoments.zeros(n)
        criteria = stopping_criteria(
            min_samples=self.min_permutations,
            max_samples=self.max_permutations,
            stderr_tol=self.stderr_tol,
            max_seconds=self.max_seconds,
        )
        per_batch = self.batch_permutations or max(8, min(256, 4096 // max(1, n)))
        every = self.audit_every

        def step(samples: int) -> tuple[int, float, int]:
            p = min(per_batch, self.max_permutations - samples)
            perms = sample_permutations(gen, p, n)
            audited = torch.zeros(p, dtype=torch.bool)
            if self.truncation_tol > 0:
                audited = (torch.arange(samples, samples + p) % every) == 0
            marg, full, used = self._walk(u, perms, u_empty, u_all, audited)
            if audited.any():  # unbiased: E[trunc + every * 1[audited] (full - trunc)] = E[full]
                marg = marg + audited.unsqueeze(1).to(torch.float64) * every * (full - marg)
            stats.update(marg, torch.ones_like(marg, dtype=torch.bool))
            return p, float(stats.var_of_mean().sqrt().max()), used

        run = run_batches(
            step, criteria, t0, total=self.max_permutations, label="mc-shapley", progress=progress, evals=2
        )
        stderr = stats.var_of_mean().sqrt()
        meta = run.metadata(stderr, t0)
        meta.update({"u_all": u_all, "u_empty": u_empty, "truncation_audited_every": self.audit_every})
        return EstimatorOutput.provider_level(stats.mean, meta, run.convergence(stderr))

    def _walk(
        self, u: CoalitionUtility, perms: torch.Tensor, u_empty: float, u_all: float, audited: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Marginals along each permutation: (truncated, untruncated where ``audited``, evals)."""
        p, n = perms.shape
        rows = torch.arange(p)
        masks = torch.zeros(p, n, dtype=torch.bool)
        prev = torch.full((p,), u_empty, dtype=torch.float64)
        active = torch.ones(p, dtype=torch.bool)  # still evaluated
        kept = torch.ones(p, dtype=torch.bool)  # not yet truncated
        marg = torch.zeros(p, n, dtype=torch.float64)
        full = torch.zeros(p, n, dtype=torch.float64)
        evals = 0
        tol = self.truncation_tol * abs(u_all)
        knn = u if isinstance(u, KNNCoalitionUtility) else None  # walks extend coalitions incrementally
        state = knn.empty_state(p) if knn is not None else None
        for pos in range(n):  # loop over coalition size, batched over permutations
            players = perms[:, pos]
            masks[rows, players] = True
            cur = prev.clone()
            idx = torch.nonzero(active).squeeze(1)
            if idx.numel():
                if pos == n - 1:
                    cur[idx] = u_all
                elif knn is not None and state is not None:
                    new_state, vals = knn.add(state[idx], players[idx])
                    state[idx] = new_state
                    cur[idx] = vals.cpu()
                    evals += int(idx.numel())
                else:
                    cur[idx] = u(masks[idx]).cpu()
                    evals += int(idx.numel())
            step = torch.where(active, cur - prev, torch.zeros_like(cur))
            full[rows, players] = step
            marg[rows, players] = torch.where(kept, step, torch.zeros_like(cur))
            prev = cur
            if self.truncation_tol > 0:
                kept &= (cur - u_all).abs() >= tol
                active = kept | audited
        return marg, full, evals
