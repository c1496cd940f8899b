"""Every on-chain constant the Python code needs, stated once.

Each mirrors `contracts/MiaAuction.sol` (or the type of a struct field); tests/test_protocol_constants.py
compares them with the deployed contract's public getters and with the shipped ABI, so an edit on one
side alone fails the tests.
"""

from __future__ import annotations

from typing import Final

# 18-decimal fixed point: 1.0 (`WAD` in MiaAuction, QMIA, MixedMIA, Fairshare).
WAD: Final = 10**18
# Quality q is in [0, MAX_QUALITY] (MiaAuction.MAX_QUALITY).
MAX_QUALITY: Final = WAD
# Marginal utility Δ is in [-MAX_ABS_DELTA, MAX_ABS_DELTA] (MiaAuction.MAX_ABS_DELTA).
MAX_ABS_DELTA: Final = 10**36
# Liquidity λ of Mixed-MIA is in [0, MAX_LIQUIDITY] (QMIA implies WAD, MUT implies 0).
MAX_LIQUIDITY: Final = WAD
# A bid (cost) is stored as uint96 (`IMiaAuction.Bid.cost`): 0 <= cost <= MAX_COST.
MAX_COST: Final = 2**96 - 1

MAX_ORACLES: Final = 32  # MiaAuction.MAX_ORACLES: largest committee
MAX_PROVIDERS: Final = 1000  # MiaAuction.MAX_PROVIDERS: most commitments one auction accepts
SCORING_ROUND: Final = 1  # MiaAuction.SCORING_ROUND: the round every score report names
MAX_SCORE_CHUNK: Final = 250  # MiaAuction.MAX_SCORE_CHUNK: most providers one scoring chunk covers
MAX_SCORE_CELLS: Final = 1000  # MiaAuction.MAX_SCORE_CELLS: bound on chunk providers x committee members
# Open auctions need deposit * maxProviders >= budget / MIN_SLOT_BOND_DIVISOR (MiaAuction.minimumDeposit).
MIN_SLOT_BOND_DIVISOR: Final = 100
