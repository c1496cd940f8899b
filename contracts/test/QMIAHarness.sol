// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {QMIA} from "../mechanism/QMIA.sol";
import {Median} from "../lib/Median.sol";
import {Fairshare} from "../mechanism/Fairshare.sol";
import {MixedMIA} from "../mechanism/MixedMIA.sol";

/// @notice Exposes the mechanism libraries (Q-MIA, Fairshare, median) as calls for parity and fuzz tests.
contract QMIAHarness {
    function settle(uint256[] memory bids, uint256[] memory weights, uint256 budget)
        external
        pure
        returns (uint256[] memory payments, bool[] memory won)
    {
        return QMIA.settle(bids, weights, budget);
    }

    function fairshare(uint256[] memory bids, uint256[] memory weights, uint256 rho, uint256 budget)
        external
        pure
        returns (uint256[] memory payments, bool[] memory sold)
    {
        return Fairshare.settle(bids, weights, rho, budget);
    }

    function mixed(uint256[] memory bids, uint256[] memory weights, uint256 budget, uint256 liquidity)
        external
        pure
        returns (uint256[] memory cash, uint256[] memory mut, bool[] memory won)
    {
        uint256[] memory payments;
        (payments, won) = QMIA.settle(bids, weights, budget);
        cash = new uint256[](bids.length);
        mut = new uint256[](bids.length);
        for (uint256 i = 0; i < bids.length; ++i) {
            (cash[i], mut[i]) = MixedMIA.split(payments[i], liquidity);
        }
    }

    function cashEscrow(uint256 budget, uint256 liquidity) external pure returns (uint256) {
        return MixedMIA.cashEscrow(budget, liquidity);
    }

    function weight(uint256 q, int256 delta) external pure returns (uint256) {
        return QMIA.weight(q, delta);
    }

    function medianUint(uint256[] memory v) external pure returns (uint256) {
        return Median.ofUint(v);
    }

    function medianInt(int256[] memory v) external pure returns (int256) {
        return Median.ofInt(v);
    }
}
