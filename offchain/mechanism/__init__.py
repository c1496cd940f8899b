"""Exact-integer reference implementations of the on-chain mechanisms (SPEC §4).

These mirror the Solidity libraries under `contracts/mechanism/` operation for operation: the
contract and this package must produce identical winners and payments, to the wei.
"""

from offchain.mechanism.median import lower_median, median_scores
from offchain.mechanism.qmia import MAX_ABS_DELTA, MAX_BID, MAX_QUALITY, WAD, Outcome, qmia, weight

__all__ = [
    "MAX_ABS_DELTA",
    "MAX_BID",
    "MAX_QUALITY",
    "WAD",
    "Outcome",
    "lower_median",
    "median_scores",
    "qmia",
    "weight",
]
