"""Provider-level (grouped) cooperative game: fast batched utilities and estimators.

Players are providers; the utility of a coalition is the validation score of a model
trained on the union of its records. Utilities are evaluated for a whole batch of
coalitions (boolean masks ``(C, n)``) at once:

* :class:`KNNCoalitionUtility` -- the K-NN soft accuracy. Only the ``K`` nearest
  records *of each provider* can ever be among the ``K`` nearest of a union, so per
  validation point we keep those ``L = sum_g min(K, N_g)`` candidates, sorted by
  (distance, index); a coalition's utility is then a masked cumulative count over
  ``L`` columns -- no refit, no per-coalition sort.
* :class:`LogisticCoalitionUtility` -- multinomial logistic heads, one per coalition,
  trained simultaneously (batched Adam, fixed steps, zero init => deterministic).

Estimators (all report convergence metadata): exact enumeration (Shapley/Banzhaf,
ground truth for small ``n``), permutation Monte-Carlo Shapley with truncation,
maximum-sample-reuse (MSR) Banzhaf, and leave-one-provider-out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
import torch

from .estimators import EstimatorOutput, ValuationTask, register_estimator
from .knn_shapley import Metric

__all__ = [
    "BanzhafMSREstimator",
    "CoalitionUtility",
    "ExactBanzhafEstimator",
    "ExactShapleyEstimator",
    "KNNCoalitionUtility",
    "LeaveOneOutEstimator",
    "LogisticCoalitionUtility",
    "MCShapleyEstimator",
    "all_coalitions",
    "exact_banzhaf",
    "exact_shapley",
    "make_utility",
]

UtilityKind = Literal["knn", "logistic"]


class CoalitionUtility(Protocol):
    """Batched utility: ``(C, n)`` bool masks -> ``(C,)`` float64 scores."""

    n_players: int

    def __call__(self, masks: torch.Tensor) -> torch.Tensor: ...


# --------------------------------------------------------------------------- utilities


class KNNCoalitionUtility:
    """K-NN utility of each coalition: ``(1/K) x`` label hits (label-free: summed cosine
    similarity) among its ``min(K, |S|)`` nearest records, averaged over validation points.

    Same utility and tie-breaking as :func:`~.knn_shapley.knn_shapley`, so the
    grand-coalition value equals the sum of the exact record-level values.
    """

    def __init__(
        self,
        task: ValuationTask,
        k: int = 5,
        *,
        metric: Metric = "euclidean",
        chunk_elements: int = 2**24,
    ) -> None:
        if k < 1:
            raise ValueError("k must be >= 1")
        self.n_players = task.n_groups
        self.k = k
        self.chunk_elements = chunk_elements
        labelled = task.y_train is not None and task.y_val is not None
        if not labelled:
            metric = "cosine"
        xt, xv = task.x_train, task.x_val
        if metric == "cosine":
            xt = torch.nn.functional.normalize(xt, dim=1)
            xv = torch.nn.functional.normalize(xv, dim=1)
        groups = task.groups
        n, m = xt.shape[0], xv.shape[0]
        counts = torch.bincount(groups, minlength=self.n_players)
        # positions (in the group-major, distance-minor order) that are a group's top-K
        starts = torch.cumsum(counts, 0) - counts
        gpos = torch.repeat_interleave(torch.arange(self.n_players, device=xt.device), counts)
        rank_in_group = torch.arange(n, device=xt.device) - starts[gpos]
        keep_pos = torch.nonzero(rank_in_group < k).squeeze(1)
        cand_group, cand_u = [], []
        xt_sq = (xt * xt).sum(1)
        rows_per_chunk = max(1, (64 * 2**20) // (max(n, 1) * 32))
        for s in range(0, m, rows_per_chunk):
            xvc = xv[s : s + rows_per_chunk]
            dots = xvc @ xt.T
            keys = -dots if metric == "cosine" else xt_sq.unsqueeze(0) - 2.0 * dots
            order1 = torch.argsort(keys, dim=1, stable=True)
            order2 = torch.argsort(groups[order1], dim=1, stable=True)
            cand = torch.sort(order1.gather(1, order2)[:, keep_pos], dim=1).values
            ck = keys.gather(1, cand)
            cand = cand.gather(1, torch.argsort(ck, dim=1, stable=True))
            if labelled:
                yv = task.y_val[s : s + rows_per_chunk]  # type: ignore[index]
                u = (task.y_train[cand] == yv.unsqueeze(1)).to(torch.float64)  # type: ignore[index]
            else:
                u = dots.gather(1, cand).to(torch.float64)
            cand_group.append(groups[cand])
            cand_u.append(u)
        self.cand_group = torch.cat(cand_group) if cand_group else groups.new_zeros((m, 0))
        self.cand_u = torch.cat(cand_u) if cand_u else xt.new_zeros((m, 0))
        # classification: 0/1 utilities -> integer hit counts, exact and order-free
        self.cand_hit = self.cand_u.bool() if labelled else None
        self._ranks: torch.Tensor | None = None
        self._by_rank: torch.Tensor | None = None

    # -- incremental evaluation along permutations --------------------------------
    #
    # Candidate positions in a row are unique ranks in the (distance, index) order,
    # so a coalition's K nearest records are its K smallest ranks. Walking a
    # permutation, the state is each row's current K smallest ranks; adding a
    # provider merges in its own (at most K) ranks: O(M K) per step instead of
    # O(M L) for a from-scratch evaluation. Same sets, so the same utilities.

    def _tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._ranks is None or self._by_rank is None:
            m, L = self.cand_group.shape
            n, k, dev = self.n_players, self.k, self.cand_group.device
            by_group = torch.argsort(self.cand_group, dim=1, stable=True)  # ranks, group-major
            counts = torch.bincount(self.cand_group[0], minlength=n) if m else torch.zeros(n, dtype=torch.long)
            starts = torch.cumsum(counts, 0) - counts
            j = torch.arange(k, device=dev)
            valid = j.unsqueeze(0) < counts.unsqueeze(1)  # (n, k)
            idx = (starts.unsqueeze(1) + j).clamp(max=max(L - 1, 0))
            ranks = by_group[:, idx.reshape(-1)].reshape(m, n, k).permute(1, 0, 2) if L else None
            pad = torch.full((n, m, k), L, dtype=torch.int64, device=dev)
            self._ranks = pad if ranks is None else torch.where(valid.unsqueeze(1), ranks, pad)
            vals = self.cand_hit if self.cand_hit is not None else self.cand_u
            self._by_rank = torch.cat([vals, vals.new_zeros((m, 1))], dim=1)  # pad rank L -> 0
        return self._ranks, self._by_rank

    def empty_state(self, p: int) -> torch.Tensor:
        """State of ``p`` empty coalitions: ``(p, M, K)`` ranks, all padding."""
        m, L = self.cand_group.shape
        return torch.full((p, m, self.k), L, dtype=torch.int64, device=self.cand_group.device)

    def add(self, state: torch.Tensor, players: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add one provider to each coalition; returns the new state and utilities."""
        ranks, by_rank = self._tables()
        merged = torch.cat([state, ranks[players.to(ranks.device)]], dim=2)
        state = torch.topk(merged, self.k, dim=2, largest=False, sorted=True).values
        p, m = state.shape[0], state.shape[1]
        got = by_rank.unsqueeze(0).expand(p, m, by_rank.shape[1]).gather(2, state)
        if self.cand_hit is not None:
            return state, got.sum((1, 2)).to(torch.float64) / (self.k * m)
        return state, (got.sum(2) / self.k).mean(1)

    def __call__(self, masks: torch.Tensor) -> torch.Tensor:
        masks = masks.to(device=self.cand_group.device, dtype=torch.bool)
        c = masks.shape[0]
        m, L = self.cand_group.shape
        out = torch.zeros(c, dtype=torch.float64, device=masks.device)
        if c == 0 or L == 0:
            return out
        step = max(1, self.chunk_elements // max(1, m * L))
        flat_g = self.cand_group.reshape(-1)
        for s in range(0, c, step):
            mk = masks[s : s + step]
            member = mk[:, flat_g].reshape(mk.shape[0], m, L)
            sel = member & (torch.cumsum(member, dim=2, dtype=torch.int32) <= self.k)
            if self.cand_hit is not None:
                hits = (sel & self.cand_hit.unsqueeze(0)).sum((1, 2))
                out[s : s + step] = hits.to(torch.float64) / (self.k * m)
            else:
                u = (sel.to(torch.float64) * self.cand_u.unsqueeze(0)).sum(2) / self.k
                out[s : s + step] = u.mean(1)
        return out


class LogisticCoalitionUtility:
    """Validation accuracy of a multinomial logistic head per coalition.

    All heads train together: weights ``(C, d+1, classes)``, per-coalition record
    weights mask the loss. Zero init + fixed Adam steps make it deterministic; the
    empty coalition scores 0 (no model).
    """

    def __init__(
        self,
        task: ValuationTask,
        *,
        steps: int = 100,
        lr: float = 0.1,
        l2: float = 1e-3,
        chunk_elements: int = 2**24,
    ) -> None:
        if task.y_train is None or task.y_val is None:
            raise ValueError("logistic utility needs labels")
        self.n_players = task.n_groups
        self.steps, self.lr, self.l2 = steps, lr, l2
        self.chunk_elements = chunk_elements
        mu, sd = standardizer(task.x_val)
        ones_t = torch.ones(task.x_train.shape[0], 1, dtype=torch.float64, device=task.device)
        ones_v = torch.ones(task.x_val.shape[0], 1, dtype=torch.float64, device=task.device)
        self.x = torch.cat([(task.x_train - mu) / sd, ones_t], 1)
        self.xv = torch.cat([(task.x_val - mu) / sd, ones_v], 1)
        self.n_classes = max(
            task.n_classes,
            int(task.y_train.max().item()) + 1,
            int(task.y_val.max().item()) + 1,
        )
        self.y = torch.nn.functional.one_hot(task.y_train, self.n_classes).to(torch.float64)
        self.yv = task.y_val
        self.groups = task.groups

    def __call__(self, masks: torch.Tensor) -> torch.Tensor:
        masks = masks.to(device=self.x.device, dtype=torch.bool)
        c = masks.shape[0]
        n = self.x.shape[0]
        out = torch.zeros(c, dtype=torch.float64, device=self.x.device)
        step = max(1, self.chunk_elements // max(1, n * self.n_classes))
        for s in range(0, c, step):
            out[s : s + step] = self._fit_score(masks[s : s + step])
        return out

    def _fit_score(self, masks: torch.Tensor) -> torch.Tensor:
        c = masks.shape[0]
        d = self.x.shape[1]
        w = masks[:, self.groups].to(torch.float64)  # (c, N)
        n_s = w.sum(1)
        wn = w / n_s.clamp_min(1.0).unsqueeze(1)
        W = torch.zeros(c, d, self.n_classes, dtype=torch.float64, device=self.x.device)
        m1, m2 = torch.zeros_like(W), torch.zeros_like(W)
        b1, b2, eps = 0.9, 0.999, 1e-8
        for t in range(1, self.steps + 1):
            p = torch.softmax(torch.einsum("nd,cdk->cnk", self.x, W), dim=2)
            g = torch.einsum("nd,cnk->cdk", self.x, (p - self.y.unsqueeze(0)) * wn.unsqueeze(2))
            g = g + self.l2 * W
            m1.mul_(b1).add_(g, alpha=1 - b1)
            m2.mul_(b2).addcmul_(g, g, value=1 - b2)
            W = W - self.lr * (m1 / (1 - b1**t)) / ((m2 / (1 - b2**t)).sqrt() + eps)
        pred = torch.einsum("md,cdk->cmk", self.xv, W).argmax(2)
        acc = (pred == self.yv.unsqueeze(0)).to(torch.float64).mean(1)
        return torch.where(n_s > 0, acc, torch.zeros_like(acc))


def standardizer(x_val: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean / scale from the (public) validation set; constant columns keep scale 1
    so that records varying where validation does not cannot blow up."""
    mu = x_val.mean(0)
    sd = x_val.std(0, unbiased=False)
    tiny = sd <= 1e-12 * max(1.0, float(sd.max()) if sd.numel() else 1.0)
    return mu, torch.where(tiny, torch.ones_like(sd), sd)


def make_utility(task: ValuationTask, kind: UtilityKind = "knn", k: int = 5, **kw: Any) -> CoalitionUtility:
    """Build a batched coalition utility by name."""
    if kind == "knn":
        return KNNCoalitionUtility(task, k, metric=kw.get("metric", "euclidean"))
    if kind == "logistic":
        keys = ("steps", "lr", "l2")
        return LogisticCoalitionUtility(task, **{x: kw[x] for x in keys if x in kw})
    raise ValueError(f"unknown utility {kind!r}; use 'knn' or 'logistic'")


# ------------------------------------------------------------------- exact (small n)


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
    if n > 20:
        raise ValueError(f"exact enumeration over {n} players is too large (max 20)")
    masks = all_coalitions(n)
    return torch.cat([utility(masks[s : s + batch]).cpu() for s in range(0, 2**n, batch)])


# ---------------------------------------------------------------- sampling helpers


@dataclass
class _Welford:
    """Running mean / variance per player (vectorised, float64)."""

    count: torch.Tensor
    mean: torch.Tensor
    m2: torch.Tensor

    @classmethod
    def zeros(cls, n: int) -> _Welford:
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
        var = self.m2 / (self.count - 1).clamp_min(1.0)
        return torch.where(self.count > 1, var / self.count, torch.full_like(var, math.inf))


def _generator(seed: int) -> torch.Generator:
    """CPU generator: the same samples on every device and machine."""
    return torch.Generator(device="cpu").manual_seed(int(seed))


@dataclass
class _Stopping:
    min_samples: int
    max_samples: int
    stderr_tol: float
    max_seconds: float | None

    def done(self, samples: int, stderr: float, t0: float) -> tuple[bool, str]:
        if samples >= self.min_samples and stderr <= self.stderr_tol:
            return True, "converged"
        if samples >= self.max_samples:
            return True, "max_samples"
        if self.max_seconds is not None and time.perf_counter() - t0 >= self.max_seconds:
            return True, "max_seconds"
        return False, ""


def _group_output(values: torch.Tensor, meta: dict[str, Any]) -> EstimatorOutput:
    return EstimatorOutput(
        record_values=None,
        group_values=values.cpu().numpy().astype(np.float64),
        metadata=meta,
    )


# -------------------------------------------------------------------- estimators


@dataclass
class _GameEstimatorBase:
    """Fields shared by provider-level estimators."""

    utility: UtilityKind = "knn"
    k: int = 5
    metric: Metric = "euclidean"
    steps: int = 100
    lr: float = 0.1
    l2: float = 1e-3

    record_level: ClassVar[bool] = False

    def _own_params(self) -> dict[str, Any]:
        """The utility's parameters plus the subclass's own fields (its sampling and stopping knobs)."""
        base = {f.name for f in fields(_GameEstimatorBase)}
        return {**self._utility_params(), **{f.name: getattr(self, f.name) for f in fields(self) if f.name not in base}}

    def _utility_params(self) -> dict[str, Any]:
        if self.utility == "knn":
            return {"utility": "knn", "k": self.k, "metric": self.metric}
        return {
            "utility": "logistic",
            "steps": self.steps,
            "lr": self.lr,
            "l2": self.l2,
        }

    def _make(self, task: ValuationTask) -> CoalitionUtility:
        return make_utility(
            task,
            self.utility,
            self.k,
            metric=self.metric,
            steps=self.steps,
            lr=self.lr,
            l2=self.l2,
        )


@register_estimator
@dataclass
class ExactShapleyEstimator(_GameEstimatorBase):
    """Provider-level Shapley by full enumeration (ground truth; ``n <= 20``)."""

    name: ClassVar[str] = "exact_shapley"

    def params(self) -> dict[str, Any]:
        return self._utility_params()

    def estimate(self, task: ValuationTask, *, seed: int = 0, progress: bool = False) -> EstimatorOutput:
        u = self._make(task)
        vals = exact_shapley(u, task.n_groups)
        return _group_output(torch.from_numpy(vals), {"exact": True, "utility_evals": 2**task.n_groups})


@register_estimator
@dataclass
class ExactBanzhafEstimator(_GameEstimatorBase):
    """Provider-level Banzhaf by full enumeration (ground truth; ``n <= 20``)."""

    name: ClassVar[str] = "exact_banzhaf"

    def params(self) -> dict[str, Any]:
        return self._utility_params()

    def estimate(self, task: ValuationTask, *, seed: int = 0, progress: bool = False) -> EstimatorOutput:
        vals = exact_banzhaf(self._make(task), task.n_groups)
        return _group_output(torch.from_numpy(vals), {"exact": True, "utility_evals": 2**task.n_groups})


@register_estimator
@dataclass
class LeaveOneOutEstimator(_GameEstimatorBase):
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
        return _group_output(vals[n] - vals[:n], {"exact": True, "utility_evals": n + 1})


@register_estimator
@dataclass
class MCShapleyEstimator(_GameEstimatorBase):
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
    error is at most ``stderr_tol`` (after ``min_permutations``), or at
    ``max_permutations`` / ``max_seconds``.
    """

    max_permutations: int = 2000
    min_permutations: int = 64
    batch_permutations: int | None = None
    truncation_tol: float = 0.0
    audit_every: int = 4
    stderr_tol: float = 1e-3
    max_seconds: float | None = None

    name: ClassVar[str] = "mc_shapley"

    def params(self) -> dict[str, Any]:
        return self._own_params()

    def estimate(self, task: ValuationTask, *, seed: int = 0, progress: bool = False) -> EstimatorOutput:
        n = task.n_groups
        u = self._make(task)
        gen = _generator(seed)
        t0 = time.perf_counter()
        ends = u(torch.stack([torch.zeros(n, dtype=torch.bool), torch.ones(n, dtype=torch.bool)])).cpu()
        u_empty, u_all = float(ends[0]), float(ends[1])
        stats = _Welford.zeros(n)
        stop = _Stopping(
            self.min_permutations,
            self.max_permutations,
            self.stderr_tol,
            self.max_seconds,
        )
        per_batch = self.batch_permutations or max(8, min(256, 4096 // max(1, n)))

        def step(samples: int) -> tuple[int, float, int]:
            p = min(per_batch, self.max_permutations - samples)
            perms = torch.argsort(torch.rand(p, n, generator=gen, dtype=torch.float64), dim=1)
            audited = torch.zeros(p, dtype=torch.bool)
            if self.truncation_tol > 0:
                every = max(1, int(self.audit_every))
                audited = (torch.arange(samples, samples + p) % every) == 0
            marg, full, used = self._walk(u, perms, u_empty, u_all, audited)
            if audited.any():  # unbiased: E[trunc + every * 1[audited] (full - trunc)] = E[full]
                marg = marg + audited.unsqueeze(1).to(torch.float64) * every * (full - marg)
            stats.update(marg, torch.ones_like(marg, dtype=torch.bool))
            return p, float(stats.var_of_mean().sqrt().max()), used

        samples, evals, history, reason = _run_batches(
            step, stop, t0, total=self.max_permutations, label="mc-shapley", progress=progress, evals=2
        )
        meta = _convergence_meta(stats.var_of_mean().sqrt(), samples, evals, history, reason, t0)
        meta.update({"u_all": u_all, "u_empty": u_empty, "truncation_audited_every": self.audit_every})
        return _group_output(stats.mean, meta)

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
        incremental = isinstance(u, KNNCoalitionUtility)
        state = u.empty_state(p) if incremental else None
        for pos in range(n):  # loop over coalition size, batched over permutations
            players = perms[:, pos]
            masks[rows, players] = True
            cur = prev.clone()
            idx = torch.nonzero(active).squeeze(1)
            if idx.numel():
                if pos == n - 1:
                    cur[idx] = u_all
                elif incremental:
                    new_state, vals = u.add(state[idx], players[idx])  # type: ignore[index,union-attr]
                    state[idx] = new_state  # type: ignore[index]
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


@register_estimator
@dataclass
class BanzhafMSREstimator(_GameEstimatorBase):
    """Data-Banzhaf with maximum sample reuse (Wang & Jia, 2023) over providers.

    Each sampled coalition (every provider in with probability 1/2) is used for every
    provider: ``value_i = mean(U | i in S) - mean(U | i not in S)``. Standard error
    combines both means' variances; same stopping rule as :class:`MCShapleyEstimator`.
    """

    max_samples: int = 20000
    min_samples: int = 256
    batch_samples: int = 1024
    stderr_tol: float = 1e-3
    max_seconds: float | None = None

    name: ClassVar[str] = "banzhaf"

    def params(self) -> dict[str, Any]:
        return self._own_params()

    def estimate(self, task: ValuationTask, *, seed: int = 0, progress: bool = False) -> EstimatorOutput:
        n = task.n_groups
        u = self._make(task)
        gen = _generator(seed)
        t0 = time.perf_counter()
        inside, outside = _Welford.zeros(n), _Welford.zeros(n)
        stop = _Stopping(self.min_samples, self.max_samples, self.stderr_tol, self.max_seconds)

        def step(samples: int) -> tuple[int, float, int]:
            b = min(self.batch_samples, self.max_samples - samples)
            masks = torch.rand(b, n, generator=gen, dtype=torch.float64) < 0.5
            vals = u(masks).cpu().unsqueeze(1).expand(b, n)
            inside.update(vals, masks)
            outside.update(vals, ~masks)
            return b, float((inside.var_of_mean() + outside.var_of_mean()).sqrt().max()), b

        samples, evals, history, reason = _run_batches(
            step, stop, t0, total=self.max_samples, label="banzhaf-msr", progress=progress
        )
        values = inside.mean - outside.mean
        stderr = (inside.var_of_mean() + outside.var_of_mean()).sqrt()
        meta = _convergence_meta(stderr, samples, evals, history, reason, t0)
        return _group_output(values, meta)


def _run_batches(
    step: Callable[[int], tuple[int, float, int]],
    stop: _Stopping,
    t0: float,
    *,
    total: int,
    label: str,
    progress: bool,
    evals: int = 0,
) -> tuple[int, int, list[dict[str, Any]], str]:
    """Runs `step(samples so far)` (one batch: samples drawn, max stderr, utility evaluations) until
    `stop` says done; returns (samples, utility evaluations, convergence history, stop reason)."""
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
            done, reason = stop.done(samples, se, t0)
            if done:
                return samples, evals, history, reason
    finally:
        if bar is not None:
            bar.close()


def _convergence_meta(
    stderr: torch.Tensor,
    samples: int,
    evals: int,
    history: list[dict[str, Any]],
    reason: str,
    t0: float,
) -> dict[str, Any]:
    return {
        "exact": False,
        "samples": samples,
        "utility_evals": evals,
        "stop_reason": reason,
        "converged": reason == "converged",
        "stderr": [float(x) for x in stderr],
        "history": history,
        "seconds": time.perf_counter() - t0,
    }


def _bar(progress: bool, total: int, desc: str) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="sample")
