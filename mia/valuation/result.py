"""Valuation outputs: per-provider scores, per-record values, check reasons, how far a sampled
estimate can be trusted (standard errors, samples, why sampling stopped), and the fixed-point
integers that go on-chain."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .fixed_point import delta_to_wad, quality_to_wad
from .quality import CheckResult

__all__ = ["ENVIRONMENT_KEYS", "Convergence", "FixedPointScores", "ProviderValuation", "StopReason", "ValuationResult"]

#: Metadata that varies between identical runs; excluded from hashed views.
ENVIRONMENT_KEYS = ("seconds", "device", "torch_version")

#: Why an estimate is what it is: ``"deterministic"`` -- computed, not sampled (no sampling error);
#: ``"converged"`` -- every standard error reached the tolerance; ``"max_samples"`` / ``"max_seconds"``
#: -- the sample cap or the time budget stopped sampling first.
StopReason = Literal["deterministic", "converged", "max_samples", "max_seconds"]


@dataclass(frozen=True)
class Convergence:
    """Sampling error of an estimate, so a caller can tell a settled value from a noisy one.

    ``stderr[i]`` is the standard error of value ``i`` (providers, or the estimator's groups before
    :func:`.value_providers` maps them to input order); ``samples`` the permutations or coalitions
    actually drawn; ``converged`` whether the error tolerance, not a cap, stopped sampling.
    """

    stderr: tuple[float, ...]
    samples: int
    converged: bool
    stop_reason: StopReason
    utility_evals: int | None = None

    @classmethod
    def deterministic(cls, n: int, utility_evals: int | None = None) -> Convergence:
        """A value that was computed, not sampled: zero standard error, converged."""
        return cls((0.0,) * n, 0, True, "deterministic", utility_evals)

    @property
    def max_stderr(self) -> float:
        return max(self.stderr, default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stderr": list(self.stderr),
            "samples": self.samples,
            "converged": self.converged,
            "stop_reason": self.stop_reason,
            "utility_evals": self.utility_evals,
        }


@dataclass(frozen=True)
class FixedPointScores:
    """On-chain report values, aligned with ``provider_ids`` (input order).

    ``q_wad[i] = floor(q_i * 1e18)`` in ``[0, 1e18]``;
    ``delta_wad[i] = trunc(delta_i * 1e18)`` in ``[-1e36, 1e36]``.
    """

    provider_ids: tuple[str, ...]
    q_wad: tuple[int, ...]
    delta_wad: tuple[int, ...]

    def __iter__(self) -> Iterator[tuple[str, int, int]]:
        return iter(zip(self.provider_ids, self.q_wad, self.delta_wad, strict=True))

    def __len__(self) -> int:
        return len(self.provider_ids)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: integers as decimal strings (they exceed 2**53)."""
        return {
            "provider_ids": list(self.provider_ids),
            "q_wad": [str(q) for q in self.q_wad],
            "delta_wad": [str(d) for d in self.delta_wad],
        }


@dataclass
class ProviderValuation:
    """Everything the oracle knows about one provider after valuation."""

    index: int
    provider_id: str
    quality: float
    marginal_utility: float
    #: float64 per submitted record (0 for no-credit records); ``None`` when the
    #: method is provider-level (Monte-Carlo / Banzhaf / LOO over providers).
    record_values: np.ndarray | None
    checks: list[CheckResult]
    valid: bool
    n_records: int
    input_hash: str = ""
    #: bool mask of records that entered the valuation (``None`` if invalid)
    credited: np.ndarray | None = None
    #: standard error of ``marginal_utility`` (0 when it was computed, not sampled, and for invalid providers)
    stderr: float = 0.0

    @property
    def reasons(self) -> list[str]:
        """One line per check: ``"<name> (<factor>): <reason>"``."""
        return [f"{c.name} ({c.factor:.6g}): {c.reason}" for c in self.checks]

    @property
    def weight(self) -> float:
        """``w_i = q_i * max(delta_i, 0)`` as the mechanisms use it (float view)."""
        return self.quality * max(self.marginal_utility, 0.0)

    def to_dict(self, *, include_records: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "index": self.index,
            "provider_id": self.provider_id,
            "valid": self.valid,
            "n_records": self.n_records,
            "input_hash": self.input_hash,
            "quality": float(self.quality),
            "marginal_utility": float(self.marginal_utility),
            "q_wad": str(quality_to_wad(self.quality)),
            "delta_wad": str(delta_to_wad(self.marginal_utility)),
            "checks": [c.to_dict() for c in self.checks],
        }
        if include_records:
            rv = self.record_values
            d["record_values"] = None if rv is None else [float(v) for v in rv]
            d["credited"] = None if self.credited is None else [bool(b) for b in self.credited]
        return d


@dataclass
class ValuationResult:
    """Result of :func:`.value_providers`, providers in input order."""

    providers: list[ProviderValuation]
    method: str
    params: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    #: standard errors in provider (input) order, samples drawn, and what stopped sampling
    convergence: Convergence | None = None

    def __post_init__(self) -> None:
        if self.convergence is None:
            self.convergence = Convergence.deterministic(len(self.providers))
        if len(self.convergence.stderr) != len(self.providers):
            raise ValueError(f"{len(self.convergence.stderr)} standard errors for {len(self.providers)} providers")

    @property
    def provider_ids(self) -> tuple[str, ...]:
        return tuple(p.provider_id for p in self.providers)

    @property
    def quality(self) -> np.ndarray:
        return np.array([p.quality for p in self.providers], dtype=np.float64)

    @property
    def marginal_utility(self) -> np.ndarray:
        return np.array([p.marginal_utility for p in self.providers], dtype=np.float64)

    @property
    def stderr(self) -> np.ndarray:
        return np.array([p.stderr for p in self.providers], dtype=np.float64)

    @property
    def record_values(self) -> list[np.ndarray | None]:
        return [p.record_values for p in self.providers]

    @property
    def reasons(self) -> dict[str, list[str]]:
        return {p.provider_id: p.reasons for p in self.providers}

    def __getitem__(self, provider_id: str) -> ProviderValuation:
        for p in self.providers:
            if p.provider_id == provider_id:
                return p
        raise KeyError(provider_id)

    def __len__(self) -> int:
        return len(self.providers)

    def convergence_warning(self) -> str | None:
        """One line when a sampling estimator stopped before its error target, else ``None``.

        A report built from an unconverged estimate is still valid, but its error bars
        are wider than asked for: the CLI prints this so nobody reads it only in metadata.
        """
        conv = self.convergence
        if conv is None or conv.converged:
            return None
        tol = self.params.get("stderr_tol")
        target = f" > target {tol:g}" if isinstance(tol, (int, float)) else ""
        return (
            f"{self.method} did NOT converge (stopped by {conv.stop_reason} after"
            f" {conv.samples} samples): max standard error {conv.max_stderr:.3g}{target}"
        )

    def to_fixed_point(self) -> FixedPointScores:
        """Exact 18-decimal integers for the EIP-712 report (:mod:`.fixed_point`)."""
        return FixedPointScores(
            provider_ids=self.provider_ids,
            q_wad=tuple(quality_to_wad(p.quality) for p in self.providers),
            delta_wad=tuple(delta_to_wad(p.marginal_utility) for p in self.providers),
        )

    def to_dict(self, *, include_records: bool = True, include_environment: bool = False) -> dict[str, Any]:
        """Plain-JSON view. By default it leaves out what differs between identical
        runs (wall times, device, torch version), so the same inputs give the same
        dict -- and the same hash -- on every oracle."""
        meta = dict(self.metadata)
        if not include_environment:
            for key in ENVIRONMENT_KEYS:
                meta.pop(key, None)
            meta["estimator"] = {k: v for k, v in dict(meta.get("estimator", {})).items() if k not in ENVIRONMENT_KEYS}
        return {
            "method": self.method,
            "params": self.params,
            "metadata": meta,
            "providers": [p.to_dict(include_records=include_records) for p in self.providers],
            "convergence": None if self.convergence is None else self.convergence.to_dict(),
            "fixed_point": self.to_fixed_point().to_dict(),
        }
