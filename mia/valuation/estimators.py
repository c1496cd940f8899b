"""One interface for every valuation estimator.

An estimator sees the credited training pool (features, optional label codes, the
provider index of each record) and the buyer's validation set, and returns per-record
values (when the method has them), per-provider values and metadata (convergence,
timings). :func:`~mia.valuation.value_providers` only talks to this interface.

Every estimator declares its options as dataclass fields (:mod:`.options`); :func:`get_estimator`
refuses an option the estimator does not declare, and building one checks types and ranges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np
import torch

from .knn_shapley import Metric, knn_shapley, knn_shapley_similarity
from .options import CheckedOptions, EstimatorOptionError, option, reject_unknown
from .result import Convergence

__all__ = [
    "ESTIMATORS",
    "Estimator",
    "EstimatorOutput",
    "KNNShapleyEstimator",
    "KNNSimilarityShapleyEstimator",
    "ValuationTask",
    "estimator_class",
    "get_estimator",
    "register_estimator",
]


@dataclass
class ValuationTask:
    """Inputs of one valuation game.

    ``groups[r]`` is the position (0..n_groups-1) of record ``r``'s provider among the
    valued providers; ``y_train`` / ``y_val`` are int64 label codes or ``None``.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor | None
    groups: torch.Tensor
    n_groups: int
    x_val: torch.Tensor
    y_val: torch.Tensor | None
    n_classes: int = 0

    @property
    def device(self) -> torch.device:
        return self.x_train.device


@dataclass
class EstimatorOutput:
    """Per-record values (``None`` for provider-level methods), per-provider values, and their
    sampling error (``convergence``; ``None``: computed, not sampled, so zero error)."""

    record_values: np.ndarray | None
    group_values: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    convergence: Convergence | None = None

    @classmethod
    def provider_level(
        cls, values: torch.Tensor, metadata: dict[str, Any], convergence: Convergence | None = None
    ) -> EstimatorOutput:
        """Output of a method that values providers directly (no per-record values)."""
        return cls(None, values.cpu().numpy().astype(np.float64), metadata, convergence)

    def group_convergence(self) -> Convergence:
        """``convergence``, or zero error for each group when the values were computed, not sampled."""
        if self.convergence is not None:
            return self.convergence
        return Convergence.deterministic(len(self.group_values), self.metadata.get("utility_evals"))


@runtime_checkable
class Estimator(Protocol):
    """A valuation method. ``params()`` goes into transcripts verbatim."""

    name: ClassVar[str]
    record_level: ClassVar[bool]

    def params(self) -> dict[str, Any]: ...

    def estimate(self, task: ValuationTask, *, seed: int = 0, progress: bool = False) -> EstimatorOutput: ...


def group_sum(values: torch.Tensor, groups: torch.Tensor, n_groups: int) -> np.ndarray:
    """Per-provider sums in float64, deterministic (bincount on CPU, fixed order).

    Records in group ``n_groups`` (copies shared between providers) are valued with
    the rest but their values are summed into no provider.
    """
    v = values.detach().to("cpu", torch.float64).numpy()
    g = groups.detach().to("cpu").numpy()
    return np.bincount(g, weights=v, minlength=n_groups + 1)[:n_groups].astype(np.float64)


@dataclass
class KNNShapleyEstimator(CheckedOptions):
    """Exact KNN-Shapley per record; provider value = sum over its records."""

    k: int = option(5, ge=1)
    metric: Metric = "euclidean"
    batch_size: int | None = option(None, ge=1)

    name: ClassVar[str] = "knn_shapley"
    record_level: ClassVar[bool] = True

    def params(self) -> dict[str, Any]:
        return {"k": self.k, "metric": self.metric}

    def estimate(self, task: ValuationTask, *, seed: int = 0, progress: bool = False) -> EstimatorOutput:
        if task.y_train is None or task.y_val is None:
            raise ValueError("knn_shapley needs labels; use knn_shapley_similarity without labels")
        v = knn_shapley(
            task.x_train,
            task.y_train,
            task.x_val,
            task.y_val,
            k=self.k,
            device=task.device,
            batch_size=self.batch_size,
            metric=self.metric,
            progress=progress,
        )
        return EstimatorOutput(
            record_values=v.detach().cpu().numpy().astype(np.float64),
            group_values=group_sum(v, task.groups, task.n_groups),
            metadata={"exact": True},
        )


@dataclass
class KNNSimilarityShapleyEstimator(CheckedOptions):
    """Label-free exact KNN-Shapley (utility = mean cosine similarity of the top-K).

    ``metric`` is always cosine; it is an option so that ``params()`` (which records it) builds the
    same estimator again when a transcript is verified.
    """

    k: int = option(5, ge=1)
    batch_size: int | None = option(None, ge=1)
    metric: Literal["cosine"] = "cosine"

    name: ClassVar[str] = "knn_shapley_similarity"
    record_level: ClassVar[bool] = True

    def params(self) -> dict[str, Any]:
        return {"k": self.k, "metric": "cosine"}

    def estimate(self, task: ValuationTask, *, seed: int = 0, progress: bool = False) -> EstimatorOutput:
        v = knn_shapley_similarity(
            task.x_train,
            task.x_val,
            k=self.k,
            device=task.device,
            batch_size=self.batch_size,
            progress=progress,
        )
        return EstimatorOutput(
            record_values=v.detach().cpu().numpy().astype(np.float64),
            group_values=group_sum(v, task.groups, task.n_groups),
            metadata={"exact": True},
        )


ESTIMATORS: dict[str, type[Estimator]] = {}
_E = TypeVar("_E", bound=type[Estimator])


def register_estimator(cls: _E) -> _E:
    """Class decorator / call: make an estimator available by its ``name``."""
    ESTIMATORS[cls.name] = cls
    return cls


register_estimator(KNNShapleyEstimator)
register_estimator(KNNSimilarityShapleyEstimator)


def estimator_class(method: str) -> type:
    """The registered estimator class called ``method``."""
    _load_optional_estimators()
    try:
        return ESTIMATORS[method]
    except KeyError:
        raise ValueError(f"unknown valuation method {method!r}; known: {sorted(ESTIMATORS)}") from None


def get_estimator(method: str | Estimator, **options: Any) -> Estimator:
    """Build a registered estimator by name from its options.

    Raises :class:`~.options.EstimatorOptionError` for an option the estimator does not declare, or a
    value of the wrong type or out of range. An estimator instance is returned as it is; options
    given with one would be ignored, so they are refused.
    """
    if not isinstance(method, str):
        if options:
            raise EstimatorOptionError(
                f"options {', '.join(sorted(options))} given with a {getattr(method, 'name', method)} instance;"
                " set them on the instance"
            )
        return method
    cls = estimator_class(method)
    reject_unknown(cls, options)
    return cls(**options)


#: Modules whose import registers more estimators.
_ESTIMATOR_MODULES = (".exact", ".loo", ".shapley_mc", ".banzhaf_msr", ".influence", ".lm_gradient")


def _load_optional_estimators() -> None:
    """Import modules that register more estimators (kept lazy to keep import light)."""
    import importlib

    for mod in _ESTIMATOR_MODULES:
        full = f"{__package__}{mod}"
        try:
            importlib.import_module(full)
        except ModuleNotFoundError as exc:
            if exc.name != full:
                raise
