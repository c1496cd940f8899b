"""The one-call entry point the oracle uses: validate, check quality, value."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from . import __version__
from .data import (
    Dataset,
    FeatureScaleError,
    ProviderData,
    ValidatedProvider,
    feature_scale_problem,
    hash_array,
    normalize_labels,
    validate_provider,
)
from .estimators import Estimator, ValuationTask, estimator_class, get_estimator
from .options import option_names
from .quality import QualityConfig, run_quality_checks
from .result import Convergence, ProviderValuation, ValuationResult

__all__ = ["deterministic_mode", "prepare_validation", "value_providers"]


@contextlib.contextmanager
def deterministic_mode() -> Iterator[None]:
    """Ask torch for deterministic kernels while valuing; restore the caller's setting.

    The engine is deterministic by construction (float64, stable sorts, scatter not
    atomic add, CPU-seeded sampling); this also flags any future op without a
    deterministic kernel (``warn_only``: a warning, never a failed round).
    """
    before = torch.are_deterministic_algorithms_enabled()
    before_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=before_warn)


def prepare_validation(
    validation: Dataset, *, labelled: bool = True
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Validate the buyer's set (errors here *should* raise: it is the buyer's input).

    Returns float64 features, normalised labels (or ``None``) and the sorted label set.
    """
    x = np.asarray(validation.features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"validation features must be a non-empty 2-D array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("validation features contain NaN/inf")
    problem = feature_scale_problem(float(np.abs(x).max()), x.shape[1])
    if problem is not None:
        raise FeatureScaleError(f"validation set: {problem}")
    x = np.ascontiguousarray(x + 0.0)
    if not labelled:
        return x, None, None
    if validation.labels is None:
        raise ValueError("this method needs validation labels")
    y = normalize_labels(validation.labels)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"validation has {y.shape[0]} labels for {x.shape[0]} rows")
    label_set = np.unique(normalize_labels(validation.label_set) if validation.label_set is not None else y)
    if not np.isin(y, label_set).all():
        raise ValueError("validation labels outside the declared label_set")
    return x, y, label_set


def _filled(a: np.ndarray | None, what: str) -> np.ndarray:
    """An array that validation and the quality checks fill for every valid provider."""
    if a is None:
        raise RuntimeError(f"a valid provider has no {what}")
    return a


def value_providers(
    providers: Sequence[ProviderData],
    validation: Dataset,
    *,
    method: str | Estimator = "knn_shapley",
    k: int = 5,
    device: str | torch.device = "cpu",
    seed: int = 0,
    quality: QualityConfig | None = None,
    progress: bool = False,
    **method_kwargs: Any,
) -> ValuationResult:
    """Quality ``q_i`` and marginal utility ``delta_i`` for every provider of a round.

    Steps: (1) schema-validate each provider (failures get ``q = 0`` and a reason,
    never an exception); (2) run the quality checks and drop no-credit duplicates;
    (3) value the credited pool with ``method`` and sum record values per provider.
    Pass providers in on-chain index order: the duplicate rule credits the earlier one.

    Args:
        providers: submissions in on-chain order.
        validation: the buyer's committed validation set.
        method: estimator name (``"knn_shapley"``, ``"knn_shapley_similarity"``,
            ``"mc_shapley"``, ``"banzhaf"``, ``"loo"``, ...) or an estimator instance.
        k: neighbours for the estimators that have a ``k`` option (the others ignore it).
        device: torch device; the same code runs on CPU and GPU.
        seed: seed for sampling-based estimators (exact methods ignore it).
        quality: quality-check configuration (defaults documented in ``quality``).
        progress: tqdm bars on long steps.
        **method_kwargs: the estimator's other options (e.g. ``max_permutations``); an option it
            does not declare, of the wrong type or out of range raises
            :class:`~.options.EstimatorOptionError` naming it (and listing the valid ones).

    Returns:
        :class:`ValuationResult`; ``result.to_fixed_point()`` gives the report integers and
        ``result.convergence`` the standard errors and what stopped sampling.
    """
    with deterministic_mode():
        return _value_providers(providers, validation, method, k, device, seed, quality, progress, method_kwargs)


def _value_providers(
    providers: Sequence[ProviderData],
    validation: Dataset,
    method: str | Estimator,
    k: int,
    device: str | torch.device,
    seed: int,
    quality: QualityConfig | None,
    progress: bool,
    method_kwargs: dict[str, Any],
) -> ValuationResult:
    t0 = time.perf_counter()
    dev = torch.device(device)
    qcfg = quality or QualityConfig()
    options = dict(method_kwargs)
    if isinstance(method, str) and "k" in option_names(estimator_class(method)):
        options["k"] = k
    estimator = get_estimator(method, **options)
    labelled = estimator.name != "knn_shapley_similarity" and validation.labels is not None
    x_val, y_val, label_set = prepare_validation(validation, labelled=labelled)
    dim = x_val.shape[1]

    validated: list[ValidatedProvider] = []
    seen: set[str] = set()
    for i, p in enumerate(providers):
        v = validate_provider(i, p, dim, label_set)
        if v.provider_id in seen and v.ok:
            v = ValidatedProvider(
                index=i,
                provider_id=v.provider_id,
                n_records=v.n_records,
                error=f"provider {v.provider_id}: duplicate provider id in this round",
            )
        seen.add(v.provider_id)
        validated.append(v)

    report = run_quality_checks(validated, x_val, y_val, label_set, qcfg, device=dev, progress=progress)

    # valued pool: valid providers' credited records, in provider order, plus (for
    # record-level methods) the one kept copy of each record shared between providers,
    # assigned to the pseudo-group n_groups so its value is credited to nobody
    valued = [v for v in validated if v.ok]
    n_groups = len(valued)
    record_level_method = bool(estimator.record_level)
    masks = [_filled(report.keep_masks[v.index], "credit mask") for v in valued]
    pooled: list[np.ndarray] = []
    for v, keep in zip(valued, masks, strict=True):
        shared = report.shared_masks[v.index] if report.shared_masks else None
        pooled.append(keep | shared if record_level_method and shared is not None else keep)
    pool_x = [_filled(v.features, "features")[m] for v, m in zip(valued, pooled, strict=True)]
    group_of = (
        np.concatenate(
            [
                np.where(keep[m], g, n_groups).astype(np.int64)
                for g, (keep, m) in enumerate(zip(masks, pooled, strict=True))
            ]
        )
        if valued
        else np.zeros(0, np.int64)
    )
    est_meta: dict[str, Any] = {}
    rec_vals: np.ndarray | None = None
    group_vals = np.zeros(n_groups, dtype=np.float64)
    group_conv = Convergence.deterministic(n_groups)
    if n_groups and group_of.size:
        xt = torch.as_tensor(np.concatenate(pool_x, axis=0), dtype=torch.float64, device=dev)
        xv = torch.as_tensor(x_val, dtype=torch.float64, device=dev)
        yt = yv = None
        if label_set is not None and y_val is not None:  # a labelled method (prepare_validation gives both)
            pool_y = np.concatenate([_filled(v.labels, "labels")[m] for v, m in zip(valued, pooled, strict=True)])
            yt = torch.as_tensor(np.searchsorted(label_set, pool_y), device=dev)
            yv = torch.as_tensor(np.searchsorted(label_set, y_val), device=dev)
        task = ValuationTask(
            x_train=xt,
            y_train=yt,
            groups=torch.as_tensor(group_of, device=dev),
            n_groups=n_groups,
            x_val=xv,
            y_val=yv,
            n_classes=0 if label_set is None else int(label_set.shape[0]),
        )
        out = estimator.estimate(task, seed=seed, progress=progress)
        rec_vals, group_vals, est_meta = (
            out.record_values,
            out.group_values,
            out.metadata,
        )
        group_conv = out.group_convergence()

    record_level = bool(estimator.record_level)
    results: list[ProviderValuation] = []
    gpos = {v.index: g for g, v in enumerate(valued)}
    offsets = np.cumsum([0] + [int(m.sum()) for m in pooled])
    for v in validated:
        if not v.ok:
            results.append(
                ProviderValuation(
                    index=v.index,
                    provider_id=v.provider_id,
                    quality=0.0,
                    marginal_utility=0.0,
                    record_values=np.zeros(v.n_records) if record_level else None,
                    checks=report.checks[v.index],
                    valid=False,
                    n_records=v.n_records,
                    input_hash=v.input_hash,
                    credited=None,
                )
            )
            continue
        g = gpos[v.index]
        keep = _filled(report.keep_masks[v.index], "credit mask")
        rv = np.zeros(v.n_records, dtype=np.float64) if record_level else None
        if rv is not None and rec_vals is not None:
            pool_vals = rec_vals[offsets[g] : offsets[g + 1]]
            rv[keep] = pool_vals[keep[pooled[g]]]
        results.append(
            ProviderValuation(
                index=v.index,
                provider_id=v.provider_id,
                quality=float(report.quality[v.index]),
                marginal_utility=float(group_vals[g]),
                record_values=rv,
                checks=report.checks[v.index],
                valid=True,
                n_records=v.n_records,
                input_hash=v.input_hash,
                credited=keep,
                stderr=group_conv.stderr[g],
            )
        )

    params = {
        "method": estimator.name,
        **estimator.params(),
        "seed": seed,
        "quality": qcfg.to_dict(),
    }
    metadata = {
        "engine_version": __version__,
        "torch_version": torch.__version__,
        "device": str(dev),
        "validation_hash": hash_array(x_val, y_val),
        "label_set": None if label_set is None else [x.item() if hasattr(x, "item") else x for x in label_set],
        "record_level": record_level,
        "estimator": est_meta,
        "seconds": time.perf_counter() - t0,
    }
    convergence = Convergence(
        stderr=tuple(p.stderr for p in results),
        samples=group_conv.samples,
        converged=group_conv.converged,
        stop_reason=group_conv.stop_reason,
        utility_evals=group_conv.utility_evals,
    )
    return ValuationResult(
        providers=results, method=estimator.name, params=params, metadata=metadata, convergence=convergence
    )
