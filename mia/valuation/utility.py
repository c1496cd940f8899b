"""Coalition utilities: the score of a model trained on a coalition of providers' records.

Players are providers; the utility of a coalition is the validation score of a model
trained on the union of its records. Utilities are evaluated for a whole batch of
coalitions (boolean masks ``(C, n)``) at once:

* :class:`KNNCoalitionUtility` -- the K-NN soft accuracy. Only the ``K`` nearest
  records *of each provider* can ever be among the ``K`` nearest of a union, so per
  validation point we keep those ``L = sum_g min(K, N_g)`` candidates, sorted by
  (distance, index); a coalition's utility is then a masked cumulative count over
  ``L`` columns -- no refit, no per-coalition sort. The candidate tables are built once
  and cached, and permutation walks extend a coalition incrementally (:meth:`~KNNCoalitionUtility.add`).
* :class:`LogisticCoalitionUtility` -- multinomial logistic heads, one per coalition,
  trained simultaneously (batched Adam, fixed steps, zero init => deterministic).

:class:`UtilityOptions` holds the options that choose and tune the utility; every
provider-level estimator (:mod:`.exact`, :mod:`.loo`, :mod:`.shapley_mc`, :mod:`.banzhaf_msr`) has them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal, Protocol

import torch

from .estimators import ValuationTask
from .knn_shapley import Metric
from .options import CheckedOptions, option

__all__ = [
    "CoalitionUtility",
    "KNNCoalitionUtility",
    "LogisticCoalitionUtility",
    "UtilityKind",
    "UtilityOptions",
    "make_utility",
    "standardizer",
]

UtilityKind = Literal["knn", "logistic"]


class CoalitionUtility(Protocol):
    """Batched utility: ``(C, n)`` bool masks -> ``(C,)`` float64 scores."""

    n_players: int

    def __call__(self, masks: torch.Tensor) -> torch.Tensor: ...


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


@dataclass
class UtilityOptions(CheckedOptions):
    """Options of the coalition utility, shared by every provider-level estimator.

    ``k`` and ``metric`` tune the K-NN utility; ``steps``, ``lr`` and ``l2`` the logistic one.
    """

    utility: UtilityKind = "knn"
    k: int = option(5, ge=1)
    metric: Metric = "euclidean"
    steps: int = option(100, ge=1)
    lr: float = option(0.1, gt=0)
    l2: float = option(1e-3, ge=0)

    record_level: ClassVar[bool] = False

    def _own_params(self) -> dict[str, Any]:
        """The utility's parameters plus the subclass's own fields (its sampling and stopping knobs)."""
        base = {f.name for f in fields(UtilityOptions)}
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
