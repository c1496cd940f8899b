"""Money accounting for simulated rounds: every transfer is booked, and the books must balance.

Per round the buyer escrows cash, the rule pays winners from it and the rest is refunded; MUT is
minted to winners at face value and kept on its own line (it is a claim on future revenue, not
cash out of the escrow). `book` refuses an allocation that breaks a rule a contract would enforce:
cash paid above the escrow, cash or MUT above the budget, a payment to a loser, a negative amount.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from mia.sim.rules import Allocation

__all__ = ["AccountingError", "Ledger"]


class AccountingError(AssertionError):
    """A simulated round moved money in a way the protocol forbids."""


@dataclass
class Ledger:
    """Running totals per buyer and per seller, in wei (cash) and MUT base units."""

    buyer_escrowed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    buyer_spent: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    buyer_refunded: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seller_cash: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seller_mut: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    mut_minted: int = 0
    rounds: int = 0

    def book(self, buyer: str, sellers: list[str], budget: int, alloc: Allocation) -> None:
        """Book one round: escrow, pay winners, refund the rest. Raises AccountingError if it cannot."""
        n = len(sellers)
        if not (len(alloc.won) == len(alloc.cash) == len(alloc.mut) == n):
            raise AccountingError("allocation and seller list differ in length")
        if any(c < 0 for c in alloc.cash) or any(m < 0 for m in alloc.mut):
            raise AccountingError("negative payment")
        if any((c or m) and not w for w, c, m in zip(alloc.won, alloc.cash, alloc.mut, strict=True)):
            raise AccountingError("payment to a provider that did not win")
        if not 0 <= alloc.escrow <= budget:
            raise AccountingError(f"escrow {alloc.escrow} outside [0, budget {budget}]")
        if alloc.total_cash > alloc.escrow:
            raise AccountingError(f"cash paid {alloc.total_cash} exceeds escrow {alloc.escrow}")
        if alloc.total_cash + alloc.total_mut > budget:
            raise AccountingError(f"cash + MUT {alloc.total_cash + alloc.total_mut} exceeds budget {budget}")
        self.buyer_escrowed[buyer] += alloc.escrow
        self.buyer_spent[buyer] += alloc.total_cash
        self.buyer_refunded[buyer] += alloc.escrow - alloc.total_cash
        for s, c, m in zip(sellers, alloc.cash, alloc.mut, strict=True):
            self.seller_cash[s] += c
            self.seller_mut[s] += m
        self.mut_minted += alloc.total_mut
        self.rounds += 1

    def check(self) -> None:
        """Conservation over all booked rounds: escrow = spent + refunded; buyers' spend = sellers' cash;
        MUT minted = MUT held."""
        for b, e in self.buyer_escrowed.items():
            if e != self.buyer_spent[b] + self.buyer_refunded[b]:
                raise AccountingError(f"buyer {b}: escrow {e} != spent + refunded")
        if sum(self.buyer_spent.values()) != sum(self.seller_cash.values()):
            raise AccountingError("buyers' cash spend differs from sellers' cash receipts")
        if self.mut_minted != sum(self.seller_mut.values()):
            raise AccountingError("MUT minted differs from MUT held")
