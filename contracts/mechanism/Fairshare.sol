// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title Fairshare posted prices (SPEC §4)
/// @notice p_i = ρ·w_i·min(1, B / Σ_j ρ·w_j); provider i sells iff p_i > 0 and b_i <= p_i.
/// @dev The price never depends on i's own bid (DSIC) and Σ p_i <= B. Mirrored by
///      `offchain/mechanism/fairshare.py`: v_i = floor(ρ·w_i / 1e18); if Σv > B, p_i = floor(v_i·B / Σv).
library Fairshare {
    uint256 internal constant WAD = 1e18;

    function settle(uint256[] memory bids, uint256[] memory weights, uint256 rho, uint256 budget)
        internal
        pure
        returns (uint256[] memory payments, bool[] memory sold)
    {
        uint256 n = bids.length;
        payments = new uint256[](n);
        sold = new bool[](n);
        uint256[] memory values = new uint256[](n);
        uint256 total = 0;
        for (uint256 i = 0; i < n; ++i) {
            values[i] = value(weights[i], rho);
            total += values[i];
        }
        for (uint256 i = 0; i < n; ++i) {
            uint256 p = price(values[i], total, budget);
            if (p > 0 && bids[i] <= p) {
                payments[i] = p;
                sold[i] = true;
            }
        }
    }

    /// @notice v_i = floor(ρ·w_i / 1e18), the unscaled posted value of weight `w`.
    function value(uint256 w, uint256 rho) internal pure returns (uint256) {
        return (rho * w) / WAD;
    }

    /// @notice The posted price of a provider of value `v` when all values add up to `total`.
    function price(uint256 v, uint256 total, uint256 budget) internal pure returns (uint256) {
        return total <= budget ? v : Math.mulDiv(v, budget, total);
    }
}
