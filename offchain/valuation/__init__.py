"""mia valuation engine: quality checks and data valuation for the oracle (SPEC §5).

One call for the oracle::

    from offchain.valuation import ProviderData, Dataset, value_providers

    result = value_providers(providers, Dataset(x_val, y_val), k=5, device="cpu")
    fp = result.to_fixed_point()   # fp.provider_ids, fp.q_wad, fp.delta_wad (ints)
"""

from __future__ import annotations

__version__ = "0.1.0"

from .api import prepare_validation, value_providers
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
from .fixed_point import WAD, delta_to_wad, quality_to_wad
from .knn_shapley import knn_shapley, knn_shapley_similarity
from .quality import CheckResult, QualityConfig
from .result import FixedPointScores, ProviderValuation, ValuationResult

__all__ = [
    "ESTIMATORS",
    "WAD",
    "CheckResult",
    "Dataset",
    "Estimator",
    "EstimatorOutput",
    "FixedPointScores",
    "KNNShapleyEstimator",
    "KNNSimilarityShapleyEstimator",
    "ProviderData",
    "ProviderValuation",
    "QualityConfig",
    "ValuationResult",
    "ValuationTask",
    "__version__",
    "delta_to_wad",
    "get_estimator",
    "hash_array",
    "knn_shapley",
    "knn_shapley_similarity",
    "normalize_labels",
    "prepare_validation",
    "quality_to_wad",
    "register_estimator",
    "validate_provider",
    "value_providers",
]
