"""Mixed-MIA (docs/design.md §3): Q-MIA winners and payments, split into cash now and MUT later.

With liquidity factor λ (18-decimal, in [0, 1e18]) each winner gets cash_i = floor(λ·p_i / 1e18) and
mut_i = p_i − cash_i in Marginal Utility Tokens, so cash + MUT = p_i exactly. Only floor(λ·B / 1e18)
cash is escrowed (`settlement.cash_escrow`); Σ cash_i ≤ that. λ = 1e18 is cash Q-MIA, λ = 0 is pure MUT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mia.mechanism.qmia import Outcome, qmia
from mia.protocol.constants import WAD


class CashAndMut:
    """Totals of an outcome that pays `cash` now and mints `mut` (both per provider)."""

    cash: tuple[int, ...]
    mut: tuple[int, ...]

    @property
    def payments(self) -> tuple[int, ...]:
        """Total payment (cash + MUT at face value) per provider."""
        return tuple(c + m for c, m in zip(self.cash, self.mut, strict=True))

    @property
    def total_cash(self) -> int:
        return sum(self.cash)

    @property
    def total_mut(self) -> int:
        return sum(self.mut)


@dataclass(frozen=True)
class MixedOutcome(CashAndMut):
    qmia: Outcome
    cash: tuple[int, ...]
    mut: tuple[int, ...]

    @property
    def won(self) -> tuple[bool, ...]:
        return self.qmia.won


def mixed_mia(bids: Sequence[int], weights: Sequence[int], budget: int, liquidity: int) -> MixedOutcome:
    if not 0 <= liquidity <= WAD:
        raise ValueError("liquidity factor must be in [0, 1e18]")
    out = qmia(bids, weights, budget)
    cash = tuple((p * liquidity) // WAD for p in out.payments)
    mut = tuple(p - c for p, c in zip(out.payments, cash, strict=True))
    return MixedOutcome(out, cash, mut)
