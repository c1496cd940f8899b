// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title MixedMIA — split of a Q-MIA payment into cash now and MUT later (SPEC §4)
/// @notice cash = floor(λ·p / 1e18), MUT = p − cash, so the two add up to p exactly; the buyer
///         escrows floor(λ·B / 1e18) cash. λ = 1e18 is cash Q-MIA, λ = 0 pure MUT.
/// @dev Mirrored by `offchain/mechanism/mixed.py` and `settlement.cash_escrow`.
library MixedMIA {
    uint256 internal constant WAD = 1e18;

    function split(uint256 payment, uint256 liquidity) internal pure returns (uint256 cash, uint256 mut) {
        cash = (payment * liquidity) / WAD;
        mut = payment - cash;
    }

    function cashEscrow(uint256 budget, uint256 liquidity) internal pure returns (uint256) {
        return (budget * liquidity) / WAD;
    }
}
