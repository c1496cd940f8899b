"""mia valuation engine: quality checks and data valuation for the oracle (docs/design.md §4).

One call for the oracle::

    from mia.valuation import ProviderData, Dataset, value_providers

    result = value_providers(providers, Dataset(x_val, y_val), k=5, device="cpu")
    fp = result.to_fixed_point()   # fp.provider_ids, fp.q_wad, fp.delta_wad (ints)
"""

from __future__ import annotations

__version__ = "0.1.0"

from .api import deterministic_mode, prepare_validation, value_providers
from .banzhaf_msr import BanzhafMSREstimator
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
from .exact import ExactBanzhafEstimator, ExactShapleyEstimator, exact_banzhaf, exact_shapley
from .featurizers import (
    Featurizer,
    HashingNGramFeaturizer,
    PrecomputedFeaturizer,
    SentenceEmbeddingFeaturizer,
    bundled_minilm_path,
)
from .fixed_point import WAD, delta_to_wad, quality_to_wad
from .influence import GradientSimilarityEstimator, gradient_similarity
from .knn_shapley import knn_shapley, knn_shapley_similarity
from .loaders import (
    LoaderError,
    load_provider_arrays,
    load_provider_jsonl,
    load_validation_arrays,
    load_validation_jsonl,
)
from .loo import LeaveOneOutEstimator
from .options import EstimatorOptionError
from .quality import CheckResult, QualityConfig
from .result import Convergence, FixedPointScores, ProviderValuation, ValuationResult
from .shapley_mc import MCShapleyEstimator
from .transcript import (
    VerifyResult,
    build_transcript,
    transcript_digest,
    verify_transcript,
    write_transcript,
)
from .utility import KNNCoalitionUtility, LogisticCoalitionUtility

__all__ = [
    "ESTIMATORS",
    "WAD",
    "BanzhafMSREstimator",
    "CheckResult",
    "Convergence",
    "Dataset",
    "Estimator",
    "EstimatorOptionError",
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
