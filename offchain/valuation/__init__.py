"""mia valuation engine: quality checks and data valuation for the oracle (SPEC §5).

One call for the oracle::

    from offchain.valuation import ProviderData, Dataset, value_providers

    result = value_providers(providers, Dataset(x_val, y_val), k=5, device="cpu")
    fp = result.to_fixed_point()   # fp.provider_ids, fp.q_wad, fp.delta_wad (ints)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # what the lazy names resolve to, for type checkers and readers
    from .api import deterministic_mode, prepare_validation, value_providers
    from .data import Dataset, ProviderData, hash_array, normalize_labels, validate_provider
    from .estimators import (
        ESTIMATORS,
        Estimator,
        EstimatorOutput,
        KNNShapleyEstimator,
        KNNSimilarityShapleyEstimator,
        ValuationTask,
        get_estimator,
        register_estimator,
    )
    from .featurizers import (
        Featurizer,
        HashingNGramFeaturizer,
        PrecomputedFeaturizer,
        SentenceEmbeddingFeaturizer,
        bundled_minilm_path,
    )
    from .fixed_point import WAD, delta_to_wad, quality_to_wad
    from .game import (
        BanzhafMSREstimator,
        ExactBanzhafEstimator,
        ExactShapleyEstimator,
        KNNCoalitionUtility,
        LeaveOneOutEstimator,
        LogisticCoalitionUtility,
        MCShapleyEstimator,
        exact_banzhaf,
        exact_shapley,
    )
    from .influence import GradientSimilarityEstimator, gradient_similarity
    from .knn_shapley import knn_shapley, knn_shapley_similarity
    from .loaders import (
        LoaderError,
        load_provider_arrays,
        load_provider_jsonl,
        load_validation_arrays,
        load_validation_jsonl,
    )
    from .quality import CheckResult, QualityConfig
    from .result import FixedPointScores, ProviderValuation, ValuationResult
    from .transcript import (
        VerifyResult,
        build_transcript,
        transcript_digest,
        verify_transcript,
        write_transcript,
    )

_LAZY = {
    "BanzhafMSREstimator": "game",
    "CheckResult": "quality",
    "Dataset": "data",
    "ESTIMATORS": "estimators",
    "Estimator": "estimators",
    "EstimatorOutput": "estimators",
    "ExactBanzhafEstimator": "game",
    "ExactShapleyEstimator": "game",
    "Featurizer": "featurizers",
    "FixedPointScores": "result",
    "GradientSimilarityEstimator": "influence",
    "HashingNGramFeaturizer": "featurizers",
    "KNNCoalitionUtility": "game",
    "KNNShapleyEstimator": "estimators",
    "KNNSimilarityShapleyEstimator": "estimators",
    "LeaveOneOutEstimator": "game",
    "LoaderError": "loaders",
    "LogisticCoalitionUtility": "game",
    "MCShapleyEstimator": "game",
    "PrecomputedFeaturizer": "featurizers",
    "ProviderData": "data",
    "ProviderValuation": "result",
    "QualityConfig": "quality",
    "SentenceEmbeddingFeaturizer": "featurizers",
    "ValuationResult": "result",
    "ValuationTask": "estimators",
    "VerifyResult": "transcript",
    "WAD": "fixed_point",
    "build_transcript": "transcript",
    "bundled_minilm_path": "featurizers",
    "delta_to_wad": "fixed_point",
    "deterministic_mode": "api",
    "exact_banzhaf": "game",
    "exact_shapley": "game",
    "get_estimator": "estimators",
    "gradient_similarity": "influence",
    "hash_array": "data",
    "knn_shapley": "knn_shapley",
    "knn_shapley_similarity": "knn_shapley",
    "load_provider_arrays": "loaders",
    "load_provider_jsonl": "loaders",
    "load_validation_arrays": "loaders",
    "load_validation_jsonl": "loaders",
    "normalize_labels": "data",
    "prepare_validation": "api",
    "quality_to_wad": "fixed_point",
    "register_estimator": "estimators",
    "transcript_digest": "transcript",
    "validate_provider": "data",
    "value_providers": "api",
    "verify_transcript": "transcript",
    "write_transcript": "transcript",
}


def __getattr__(name: str) -> Any:
    """Imports submodules on first use, so `import offchain.valuation.<light module>` (the CLI's
    argument definitions, loaders) does not pay for torch."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ESTIMATORS",
    "WAD",
    "BanzhafMSREstimator",
    "CheckResult",
    "Dataset",
    "Estimator",
    "EstimatorOutput",
    "ExactBanzhafEstimator",
    "ExactShapleyEstimator",
    "Featurizer",
    "FixedPointScores",
    "GradientSimilarityEstimator",
    "HashingNGramFeaturizer",
    "KNNCoalitionUtility",
    "KNNShapleyEstimator",
    "KNNSimilarityShapleyEstimator",
    "LeaveOneOutEstimator",
    "LoaderError",
    "LogisticCoalitionUtility",
    "MCShapleyEstimator",
    "PrecomputedFeaturizer",
    "ProviderData",
    "ProviderValuation",
    "QualityConfig",
    "SentenceEmbeddingFeaturizer",
    "ValuationResult",
    "ValuationTask",
    "VerifyResult",
    "__version__",
    "build_transcript",
    "bundled_minilm_path",
    "delta_to_wad",
    "deterministic_mode",
    "exact_banzhaf",
    "exact_shapley",
    "get_estimator",
    "gradient_similarity",
    "hash_array",
    "knn_shapley",
    "knn_shapley_similarity",
    "load_provider_arrays",
    "load_provider_jsonl",
    "load_validation_arrays",
    "load_validation_jsonl",
    "normalize_labels",
    "prepare_validation",
    "quality_to_wad",
    "register_estimator",
    "transcript_digest",
    "validate_provider",
    "value_providers",
    "verify_transcript",
    "write_transcript",
]
