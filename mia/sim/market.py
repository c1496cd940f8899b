"""A single-round data market built from a scikit-learn bundled dataset.

The dataset is shuffled with a fixed seed and split three ways: a held-out **test** split (only for
measuring the model the buyer trains on what it bought), the buyer's **validation** split (what the
oracle values against) and a pool dealt out to providers. Providers differ in size (Dirichlet
shares), label noise (a fraction of labels replaced by a different random class), duplication
(padding with copies of their own records) and private cost (per unique record, times a random
factor). A strategic provider reports quality 1 to the trust-based baseline; an honest one reports
its true clean fraction.

Valuation is the oracle's: `mia.valuation.value_providers` (exact KNN-Shapley × quality
checks), quantised with `to_fixed_point()` exactly as the oracle reports, and w = `weight(q, Δ)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mia.mechanism import WAD, weight
from mia.valuation import Dataset, ProviderData, value_providers

__all__ = [
    "DATASETS",
    "TOKEN",
    "Market",
    "MarketConfig",
    "Provider",
    "Scores",
    "build_market",
    "evaluate_purchase",
    "load_dataset",
    "score_providers",
]

TOKEN = 10**18  # 1 unit of the payment asset, in wei
DATASETS = {"digits": load_digits, "breast_cancer": load_breast_cancer, "wine": load_wine, "iris": load_iris}


@dataclass(frozen=True)
class Provider:
    pid: str
    features: np.ndarray
    labels: np.ndarray
    cost: int  # private cost of selling this dataset, wei
    noise: float  # fraction of labels flipped
    n_unique: int  # records before padding with own duplicates
    strategic: bool  # inflates its self-reported quality to 1

    @property
    def n_records(self) -> int:
        return int(self.labels.shape[0])

    @property
    def reported_quality(self) -> int:
        """What it tells the trust-based baseline (18 decimals): 1 if strategic, else its clean fraction."""
        if self.strategic:
            return WAD
        return int(WAD * (1.0 - self.noise) * self.n_unique) // self.n_records


@dataclass(frozen=True)
class MarketConfig:
    dataset: str = "digits"
    n_providers: int = 10
    seed: int = 0
    test_fraction: float = 0.25
    validation_fraction: float = 0.15
    max_records: int | None = None  # cap on the pool dealt to providers (CI sizes)
    max_noise: float = 0.6
    max_duplication: float = 0.5
    cost_per_record: int = TOKEN // 100
    budget_fraction: float = 0.35  # B = this × Σ true costs
    rho_budget_ratio: float = 2.0  # ρ·Σw = this × B: the buyer values all offered data at twice its budget
    k: int = 5  # KNN-Shapley neighbours


@dataclass(frozen=True)
class Scores:
    q_wad: tuple[int, ...]
    delta_wad: tuple[int, ...]

    @property
    def weights(self) -> tuple[int, ...]:
        return tuple(weight(q, d) for q, d in zip(self.q_wad, self.delta_wad, strict=True))


@dataclass(frozen=True)
class Market:
    config: MarketConfig
    providers: tuple[Provider, ...]
    validation: Dataset
    test_x: np.ndarray
    test_y: np.ndarray
    budget: int
    rho: int
    scores: Scores

    @property
    def costs(self) -> tuple[int, ...]:
        return tuple(p.cost for p in self.providers)

    def with_providers(self, providers: Sequence[Provider]) -> Market:
        """The same market with other providers, re-valued by the oracle (budget and ρ unchanged)."""
        provs = tuple(providers)
        return replace(self, providers=provs, scores=score_providers(provs, self.validation, k=self.config.k))


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    x, y = DATASETS[name](return_X_y=True)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)


def score_providers(providers: Sequence[Provider], validation: Dataset, *, k: int = 5) -> Scores:
    """The oracle's report integers for these providers, in this (commit) order."""
    data = [ProviderData(provider_id=p.pid, features=p.features, labels=p.labels) for p in providers]
    fp = value_providers(data, validation, method="knn_shapley", k=k).to_fixed_point()
    return Scores(fp.q_wad, fp.delta_wad)


def _noisy(labels: np.ndarray, fraction: float, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = labels.copy()
    flip = rng.random(labels.shape[0]) < fraction
    for i in np.flatnonzero(flip):
        out[i] = rng.choice(classes[classes != labels[i]])
    return out


def build_market(cfg: MarketConfig) -> Market:
    """Deal the dataset to providers, draw their traits, value them with the oracle's engine."""
    if cfg.n_providers < 2:
        raise ValueError("a market needs at least 2 providers")
    rng = np.random.default_rng(cfg.seed)
    x, y = load_dataset(cfg.dataset)
    perm = rng.permutation(y.shape[0])
    x, y = x[perm], y[perm]
    n_test = round(cfg.test_fraction * y.shape[0])
    n_val = round(cfg.validation_fraction * y.shape[0])
    test_x, test_y = x[:n_test], y[:n_test]
    validation = Dataset(x[n_test : n_test + n_val], y[n_test : n_test + n_val], name=f"{cfg.dataset}-validation")
    pool_x, pool_y = x[n_test + n_val :], y[n_test + n_val :]
    if cfg.max_records is not None:
        pool_x, pool_y = pool_x[: cfg.max_records], pool_y[: cfg.max_records]
    classes = np.unique(y)

    min_each = max(cfg.k, 5)
    if pool_y.shape[0] < min_each * cfg.n_providers:
        raise ValueError(f"{pool_y.shape[0]} records cannot be dealt to {cfg.n_providers} providers")
    shares = rng.dirichlet(np.full(cfg.n_providers, 2.0))
    extra = pool_y.shape[0] - min_each * cfg.n_providers
    sizes = min_each + np.floor(shares * extra).astype(int)
    bounds = np.concatenate([[0], np.cumsum(sizes)])

    providers = []
    for i in range(cfg.n_providers):
        px, py = pool_x[bounds[i] : bounds[i + 1]], pool_y[bounds[i] : bounds[i + 1]]
        noise = float(rng.choice([0.0, 0.0, rng.uniform(0.05, cfg.max_noise)]))
        py = _noisy(py, noise, classes, rng)
        dup = float(rng.choice([0.0, rng.uniform(0.1, cfg.max_duplication)]))
        n_dup = int(dup * px.shape[0])
        if n_dup:
            idx = rng.choice(px.shape[0], size=n_dup, replace=True)
            px, py = np.concatenate([px, px[idx]]), np.concatenate([py, py[idx]])
        n_unique = int(sizes[i])
        factor = rng.uniform(0.5, 1.5)
        cost = int(n_unique * cfg.cost_per_record * factor)
        providers.append(Provider(f"P{i:02d}", px, py, cost, noise, n_unique, bool(rng.random() < 0.5)))

    scores = score_providers(providers, validation, k=cfg.k)
    budget = int(cfg.budget_fraction * sum(p.cost for p in providers))
    total_w = sum(scores.weights)
    rho = int(cfg.rho_budget_ratio * budget * WAD / total_w) if total_w else 0
    return Market(cfg, tuple(providers), validation, test_x, test_y, budget, rho, scores)


def evaluate_purchase(market: Market, bought: Sequence[bool], model: str = "logreg") -> float:
    """Test accuracy of a model trained on the bought providers' records (as delivered, noise and all).

    With nothing bought (or one class) the buyer can only predict its validation set's majority label.
    """
    chosen = [p for p, b in zip(market.providers, bought, strict=True) if b]
    if chosen:
        x = np.concatenate([p.features for p in chosen])
        y = np.concatenate([p.labels for p in chosen])
    if not chosen or np.unique(y).shape[0] < 2:
        vals, counts = np.unique(np.asarray(market.validation.labels), return_counts=True)
        label = np.unique(y)[0] if chosen else vals[np.argmax(counts)]
        return float(np.mean(market.test_y == label))
    if model == "logreg":
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    elif model == "knn":
        clf = KNeighborsClassifier(n_neighbors=min(5, y.shape[0]))
    else:
        raise ValueError(f"unknown model {model!r}; choose logreg or knn")
    clf.fit(x, y)
    return float(clf.score(market.test_x, market.test_y))
