"""Exact-integer reference implementations of the on-chain mechanisms (docs/design.md §3).

These mirror the Solidity libraries under `contracts/mechanism/` operation for operation: the
contract and this package must produce identical winners and payments, to the wei.
"""

from mia.mechanism.fairshare import FairshareOutcome, fairshare, fairshare_prices
from mia.mechanism.median import aggregate_weights, lower_median, report_weights
from mia.mechanism.mixed import MixedOutcome, mixed_mia
from mia.mechanism.qmia import MAX_ABS_DELTA, MAX_BID, MAX_QUALITY, WAD, Outcome, qmia, weight
from mia.mechanism.settlement import MECHANISMS, Settlement, cash_escrow, effective_liquidity, settle

__all__ = [
    "MAX_ABS_DELTA",
    "MAX_BID",
    "MAX_QUALITY",
    "MECHANISMS",
    "WAD",
    "FairshareOutcome",
    "MixedOutcome",
    "Outcome",
    "Settlement",
    "aggregate_weights",
    "cash_escrow",
    "effective_liquidity",
    "fairshare",
    "fairshare_prices",
    "lower_median",
    "mixed_mia",
    "qmia",
    "report_weights",
    "settle",
    "weight",
]
