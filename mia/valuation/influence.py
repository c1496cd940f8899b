"""Gradient-similarity influence (TracIn / LESS style) for torch models.

Score of a training record = ``<P g_i, P g_val>``: the dot product of its loss
gradient with the mean validation-loss gradient, both projected to ``proj_dim`` by a
seeded Gaussian random projection (Johnson-Lindenstrauss), so memory does not grow
with the parameter count. Positive means one SGD step on the record lowers the
validation loss (first order); negative means it raises it (e.g. mislabelled data).
Per-sample gradients come from ``torch.func.vmap(grad(...))`` over record chunks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from .estimators import EstimatorOutput, ValuationTask, group_sum, register_estimator
from .options import CheckedOptions, option
from .utility import standardizer

__all__ = [
    "GradientSimilarityEstimator",
    "RandomProjector",
    "gradient_similarity",
    "train_head",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class RandomProjector:
    """Seeded Gaussian projection of flattened parameter gradients to ``proj_dim``.

    One block per parameter tensor, drawn on CPU from ``(seed, block index)`` so every
    device and machine uses the same matrix; scaled by ``1/sqrt(proj_dim)`` so dot
    products are preserved in expectation. ``proj_dim=None`` keeps raw gradients.
    """

    def __init__(
        self,
        shapes: dict[str, torch.Size],
        proj_dim: int | None,
        *,
        seed: int = 0,
        device: torch.device,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        self.proj_dim = proj_dim
        self.blocks: dict[str, torch.Tensor] = {}
        if proj_dim is None:
            return
        for j, (name, shape) in enumerate(sorted(shapes.items())):
            g = torch.Generator(device="cpu").manual_seed(int(seed) * 1_000_003 + j)
            numel = int(np.prod(shape)) if len(shape) else 1
            mat = torch.randn(numel, proj_dim, generator=g, dtype=torch.float64)
            self.blocks[name] = (mat / np.sqrt(proj_dim)).to(device=device, dtype=dtype)

    def __call__(self, grads: dict[str, torch.Tensor]) -> torch.Tensor:
        """``{name: (B, *shape)}`` -> ``(B, proj_dim)`` (or ``(B, n_params)``)."""
        names = sorted(grads)
        b = grads[names[0]].shape[0]
        if self.proj_dim is None:
            return torch.cat([grads[n].reshape(b, -1) for n in names], dim=1)
        out = None
        for n in names:
            part = grads[n].reshape(b, -1) @ self.blocks[n]
            out = part if out is None else out + part
        assert out is not None
        return out


def _per_sample_grads(
    model: nn.Module,
    params: dict[str, torch.Tensor],
    loss_fn: LossFn,
    x: torch.Tensor,
    y: torch.Tensor,
) -> dict[str, torch.Tensor]:
    def loss_one(p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, p, (xi.unsqueeze(0),))
        return loss_fn(out, yi.unsqueeze(0))

    return vmap(grad(loss_one), in_dims=(None, 0, 0))(params, x, y)


def gradient_similarity(
    model: nn.Module,
    loss_fn: LossFn,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    proj_dim: int | None = 512,
    seed: int = 0,
    batch_size: int = 1024,
    normalize: bool = False,
) -> torch.Tensor:
    """Per-training-record ``<P g_i, mean_v P g_v>`` for a trained torch ``model``.

    Args:
        model: any ``nn.Module``; its trainable parameters define the gradients.
        loss_fn: ``loss_fn(outputs, targets)`` returning a scalar mean loss.
        proj_dim: random-projection width (``None`` = exact dot products).
        normalize: cosine instead of dot product (LESS), robust to gradient scale.

    Returns:
        ``(N,)`` float64 scores on the model's device.
    """
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError("model has no trainable parameters")
    device = next(iter(params.values())).device
    proj = RandomProjector({n: p.shape for n, p in params.items()}, proj_dim, seed=seed, device=device)

    def projected(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        outs = [
            proj(_per_sample_grads(model, params, loss_fn, x[s : s + batch_size], y[s : s + batch_size])).to(
                torch.float64
            )
            for s in range(0, x.shape[0], batch_size)
        ]
        return torch.cat(outs) if outs else torch.zeros(0, 1, dtype=torch.float64, device=device)

    gv = projected(x_val.to(device), y_val.to(device))
    gt = projected(x_train.to(device), y_train.to(device))
    if normalize:
        gv = torch.nn.functional.normalize(gv, dim=1)
        gt = torch.nn.functional.normalize(gt, dim=1)
    return gt @ gv.mean(0)


def train_head(
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    *,
    hidden: int = 0,
    steps: int = 200,
    lr: float = 0.05,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> nn.Module:
    """Train a small classifier: logistic (``hidden == 0``) or a 1-hidden-layer MLP.

    Full-batch Adam with a seeded CPU init: deterministic for a given device.
    """
    torch.manual_seed(seed)  # module init uses the global generator
    d = x.shape[1]
    model: nn.Module
    if hidden > 0:
        model = nn.Sequential(nn.Linear(d, hidden), nn.Tanh(), nn.Linear(hidden, n_classes))
    else:
        model = nn.Sequential(nn.Linear(d, n_classes))
    model = model.to(device=x.device, dtype=x.dtype)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    return model.eval()


@register_estimator
@dataclass
class GradientSimilarityEstimator(CheckedOptions):
    """Gradient-similarity influence of each record for a head trained on the pool.

    The head is trained on the credited pool (standardised with validation
    statistics), then scored with :func:`gradient_similarity`; provider value = sum.
    Units are "validation-loss decrease per unit step", not accuracy.
    """

    hidden: int = option(0, ge=0)
    steps: int = option(200, ge=1)
    lr: float = option(0.05, gt=0)
    proj_dim: int | None = option(512, ge=1)
    normalize: bool = False
    batch_size: int = option(1024, ge=1)

    name: ClassVar[str] = "influence"
    record_level: ClassVar[bool] = True

    def params(self) -> dict[str, Any]:
        return {
            "hidden": self.hidden,
            "steps": self.steps,
            "lr": self.lr,
            "proj_dim": self.proj_dim,
            "normalize": self.normalize,
        }

    def estimate(self, task: ValuationTask, *, seed: int = 0, progress: bool = False) -> EstimatorOutput:
        if task.y_train is None or task.y_val is None:
            raise ValueError("influence needs labels")
        mu, sd = standardizer(task.x_val)
        xt, xv = (task.x_train - mu) / sd, (task.x_val - mu) / sd
        n_classes = max(task.n_classes, int(task.y_train.max()) + 1, int(task.y_val.max()) + 1)
        model = train_head(
            xt,
            task.y_train,
            n_classes,
            hidden=self.hidden,
            steps=self.steps,
            lr=self.lr,
            seed=seed,
        )
        scores = gradient_similarity(
            model,
            nn.functional.cross_entropy,
            xt,
            task.y_train,
            xv,
            task.y_val,
            proj_dim=self.proj_dim,
            seed=seed,
            batch_size=self.batch_size,
            normalize=self.normalize,
        )
        return EstimatorOutput(
            record_values=scores.detach().cpu().numpy().astype(np.float64),
            group_values=group_sum(scores, task.groups, task.n_groups),
            metadata={
                "exact": False,
                "n_params": sum(p.numel() for p in model.parameters()),
            },
        )
