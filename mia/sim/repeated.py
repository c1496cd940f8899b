"""Experiment 3: the repeated market of the Fairshare setting.

T periods. Several buyers, each with its own validation set (so the oracle's weights w_bi differ by
buyer), a true value V_b per unit of utility, a declared willingness to pay ρ_b = V_b / `value_ratio`,
a per-period budget (high or low, as a multiple of ρ_b·Σ_i w_bi) and a discount factor δ. Sellers
are datasets dealt from a scikit-learn set (sizes, label noise), valued once per buyer by the oracle's
engine; each period they offer the same data again (data is non-rival) at a private cost
c_it = κ_i · v_i · ε_it, where v_i = mean_b ρ_b·w_bi, κ_i ~ U(κ_lo, κ_hi), ε_it ~ U(0.8, 1.2). They bid
truthfully: every rule compared here is dominant-strategy truthful for them.

Each period, every buyer runs its pricing rule over the active sellers: Fairshare (on-chain
reference), Q-MIA (on-chain reference), or a simulation-only posted price γ × Fairshare: reduced
(γ = 0.7), exploitative (γ = 0.3) or random (γ uniform per offer). Buyer utility in a period is
V_b·Σ w_bi over what it bought minus what it paid; seller profit is Σ_b (payment − cost) over its sales.

**Participation rule.** Seller i has an outside option o_i = ω_i · Σ_b ρ_b·w_bi per period,
ω_i ~ U(ω_lo, ω_hi). From period L on, at the end of each period an active seller whose mean profit
over its last L periods is below o_i leaves with probability π (one uniform draw per seller and
period, shared by all rules). Exit is permanent: a seller that left never re-enters, even if prices
later rise. So the number of active sellers never increases.

All randomness (costs, exit draws, random prices) is drawn once from the seed and shared by every
rule (common random numbers), so rules differ only in their prices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from mia.mechanism import WAD, settle
from mia.mechanism.settlement import FAIRSHARE, QMIA
from mia.sim import baselines
from mia.sim.accounting import Ledger
from mia.sim.market import TOKEN, Provider, Scores, load_dataset, score_providers
from mia.sim.progress import Progress
from mia.sim.rules import Allocation
from mia.valuation import Dataset

__all__ = ["PRICING_RULES", "RepeatedConfig", "RepeatedMarket", "RepeatedResult", "build_repeated", "crossover",
           "run_repeated"]  # fmt: skip

PRICING_RULES = ("Fairshare", "Q-MIA", "Reduced", "Random", "Exploitative")
REDUCED = Fraction(7, 10)
EXPLOITATIVE = Fraction(3, 10)


@dataclass(frozen=True)
class RepeatedConfig:
    dataset: str = "digits"
    periods: int = 100
    n_sellers: int = 16
    budgets: tuple[float, ...] = (1.5, 1.5, 0.6, 0.6)  # per buyer, × ρ_b·Σ_i w_bi; high and low
    value_per_utility: int = 300 * TOKEN  # V_b: wei per unit of utility (w = 1e18)
    value_ratio: int = 3  # ρ_b = V_b / value_ratio
    discount: float = 0.99
    kappa: tuple[float, float] = (0.01, 0.2)
    omega: tuple[float, float] = (0.2, 0.45)
    window: int = 5  # L
    exit_probability: float = 0.2  # π
    validation_size: int = 150
    max_records: int | None = None
    seed: int = 0
    k: int = 5


@dataclass(frozen=True)
class RepeatedMarket:
    config: RepeatedConfig
    sellers: tuple[Provider, ...]
    scores: tuple[Scores, ...]  # per buyer
    rho: tuple[int, ...]
    budgets: tuple[int, ...]
    costs: np.ndarray  # (T, n) int64-safe python ints in object array
    outside: tuple[int, ...]
    exit_draws: np.ndarray  # (T, n) uniforms
    price_rng_seed: int

    @property
    def n_buyers(self) -> int:
        return len(self.budgets)


def build_repeated(cfg: RepeatedConfig) -> RepeatedMarket:
    """Sellers, buyers and every random draw of the run, valued by the oracle's engine."""
    n_buyers = len(cfg.budgets)
    if cfg.n_sellers < 2 or n_buyers < 1 or cfg.periods < 1:
        raise ValueError("need ≥ 2 sellers, ≥ 1 buyer and ≥ 1 period")
    rng = np.random.default_rng(cfg.seed)
    x, y = load_dataset(cfg.dataset)
    perm = rng.permutation(y.shape[0])
    x, y = x[perm], y[perm]
    nv = cfg.validation_size
    vals = [Dataset(x[b * nv : (b + 1) * nv], y[b * nv : (b + 1) * nv], name=f"buyer{b}") for b in range(n_buyers)]
    pool_x, pool_y = x[n_buyers * nv :], y[n_buyers * nv :]
    if cfg.max_records is not None:
        pool_x, pool_y = pool_x[: cfg.max_records], pool_y[: cfg.max_records]
    min_each = max(cfg.k, 5)
    if pool_y.shape[0] < min_each * cfg.n_sellers:
        raise ValueError(f"{pool_y.shape[0]} records cannot be dealt to {cfg.n_sellers} sellers")
    shares = rng.dirichlet(np.full(cfg.n_sellers, 2.0))
    sizes = min_each + np.floor(shares * (pool_y.shape[0] - min_each * cfg.n_sellers)).astype(int)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    classes = np.unique(y)
    sellers = []
    for i in range(cfg.n_sellers):
        sx, sy = pool_x[bounds[i] : bounds[i + 1]], pool_y[bounds[i] : bounds[i + 1]].copy()
        noise = float(rng.choice([0.0, 0.0, rng.uniform(0.05, 0.4)]))
        for j in np.flatnonzero(rng.random(sy.shape[0]) < noise):
            sy[j] = rng.choice(classes[classes != sy[j]])
        sellers.append(Provider(f"S{i:02d}", sx, sy, 0, noise, int(sizes[i]), False))
    scores = tuple(score_providers(sellers, v, k=cfg.k) for v in vals)
    rho = tuple(cfg.value_per_utility // cfg.value_ratio for _ in range(n_buyers))
    budgets = tuple(int(f * r * sum(s.weights) // WAD) for f, r, s in zip(cfg.budgets, rho, scores, strict=True))
    value = [sum(r * s.weights[i] // WAD for r, s in zip(rho, scores, strict=True)) for i in range(cfg.n_sellers)]
    kappa = rng.uniform(*cfg.kappa, size=cfg.n_sellers)
    eps = rng.uniform(0.8, 1.2, size=(cfg.periods, cfg.n_sellers))
    costs = np.empty((cfg.periods, cfg.n_sellers), dtype=object)
    for t in range(cfg.periods):
        for i in range(cfg.n_sellers):
            costs[t, i] = int(kappa[i] * eps[t, i] * value[i] / n_buyers)
    omega = rng.uniform(*cfg.omega, size=cfg.n_sellers)
    outside = tuple(int(omega[i] * value[i]) for i in range(cfg.n_sellers))
    exit_draws = rng.random((cfg.periods, cfg.n_sellers))
    return RepeatedMarket(cfg, tuple(sellers), scores, rho, budgets, costs, outside, exit_draws,
                          int(rng.integers(2**31)))  # fmt: skip


def _allocate(rule: str, bids: list[int], weights: list[int], budget: int, rho: int,
              rng: np.random.Generator) -> Allocation:  # fmt: skip
    zeros = tuple(0 for _ in bids)
    if rule == "Fairshare":
        s = settle(FAIRSHARE, bids, weights, budget, rho=rho)
        return Allocation(s.won, s.cash, s.mut, budget)
    if rule == "Q-MIA":
        s = settle(QMIA, bids, weights, budget)
        return Allocation(s.won, s.cash, s.mut, budget)
    if rule == "Reduced":
        prices = baselines.scaled_posted_prices(weights, rho, budget, REDUCED)
    elif rule == "Exploitative":
        prices = baselines.scaled_posted_prices(weights, rho, budget, EXPLOITATIVE)
    elif rule == "Random":
        prices = baselines.random_posted_prices(weights, rho, budget, rng)
    else:
        raise ValueError(f"unknown pricing rule {rule!r}; choose from {', '.join(PRICING_RULES)}")
    out = baselines.posted_price_sales(bids, prices)
    return Allocation(out.won, out.payments, zeros, budget)


@dataclass
class RepeatedResult:
    rows: list[dict[str, Any]]  # one per (rule, period)
    active: dict[str, list[list[bool]]]  # rule -> per period, who was active
    ledgers: dict[str, Ledger] = field(default_factory=dict)


def run_repeated(market: RepeatedMarket, *, rules: tuple[str, ...] = PRICING_RULES,
                 progress: Progress | None = None) -> RepeatedResult:  # fmt: skip
    cfg = market.config
    prog = progress or Progress.silent()
    n, T = len(market.sellers), cfg.periods
    rows: list[dict[str, Any]] = []
    active_log: dict[str, list[list[bool]]] = {}
    ledgers: dict[str, Ledger] = {}
    for rule in prog.iter(rules, "repeated market", total=len(rules)):
        rng = np.random.default_rng(market.price_rng_seed)
        ledger = Ledger()
        active = [True] * n
        profits: list[list[int]] = [[] for _ in range(n)]
        cum_buyer = cum_seller = 0.0
        log = []
        for t in range(T):
            log.append(list(active))
            ids = [i for i in range(n) if active[i]]
            profit = [0] * n
            buyer_u = 0
            sales = 0
            q_sum = 0
            w_bought = 0
            for b in range(market.n_buyers):
                bids = [market.costs[t, i] for i in ids]
                weights = [market.scores[b].weights[i] for i in ids]
                alloc = (_allocate(rule, bids, weights, market.budgets[b], market.rho[b], rng) if ids
                         else Allocation((), (), (), market.budgets[b]))  # fmt: skip
                ledger.book(f"buyer{b}", [market.sellers[i].pid for i in ids], market.budgets[b], alloc)
                paid = alloc.total_cash + alloc.total_mut
                w = sum(wt for wt, won in zip(weights, alloc.won, strict=True) if won)
                buyer_u += cfg.value_per_utility * w // WAD - paid
                w_bought += w
                for k, i in enumerate(ids):
                    if alloc.won[k]:
                        profit[i] += alloc.payments[k] - bids[k]
                        sales += 1
                        q_sum += market.scores[b].q_wad[i]
            cum_buyer += cfg.discount**t * buyer_u
            cum_seller += sum(profit)
            rows.append(
                {"rule": rule, "period": t + 1, "active_sellers": len(ids), "sales": sales,
                 "buyer_utility": buyer_u / TOKEN, "buyer_cumulative_discounted": cum_buyer / TOKEN,
                 "seller_profit": sum(profit) / TOKEN, "seller_cumulative_profit": cum_seller / TOKEN,
                 "mean_quality_bought": q_sum / sales / WAD if sales else 0.0, "utility_bought": w_bought / WAD}
            )  # fmt: skip
            for i in ids:
                profits[i].append(profit[i])
                recent = profits[i][-cfg.window :]
                if (len(profits[i]) >= cfg.window and sum(recent) < market.outside[i] * cfg.window
                        and market.exit_draws[t, i] < cfg.exit_probability):  # fmt: skip
                    active[i] = False
        ledger.check()
        ledgers[rule] = ledger
        active_log[rule] = log
    return RepeatedResult(rows, active_log, ledgers)


def crossover(rows: list[dict[str, Any]], early: str = "Exploitative", late: str = "Fairshare") -> int | None:
    """First period from which `late`'s discounted cumulative buyer utility stays ≥ `early`'s, provided
    `early` was strictly ahead before it; None if `early` is never ahead or is never overtaken for good."""
    a = [r["buyer_cumulative_discounted"] for r in rows if r["rule"] == early]
    b = [r["buyer_cumulative_discounted"] for r in rows if r["rule"] == late]
    if not a or len(a) != len(b):
        raise ValueError(f"need both {early} and {late} over the same periods")
    ahead = [x > y for x, y in zip(a, b, strict=True)]
    if not any(ahead):
        return None
    last = max(t for t, h in enumerate(ahead) if h)
    return last + 2 if last + 1 < len(ahead) else None
