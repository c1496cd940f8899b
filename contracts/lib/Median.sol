// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Median
/// @notice Deterministic median of a few oracle values: for an even count, the lower middle value.
/// @dev Insertion sort on a small memory array (committee size is capped), so O(k^2) with k <= 32.
library Median {
    function ofUint(uint256[] memory v) internal pure returns (uint256) {
        uint256 k = v.length;
        for (uint256 i = 1; i < k; ++i) {
            uint256 x = v[i];
            uint256 j = i;
            while (j > 0 && v[j - 1] > x) {
                v[j] = v[j - 1];
                --j;
            }
            v[j] = x;
        }
        return v[(k - 1) / 2];
    }

    function ofInt(int256[] memory v) internal pure returns (int256) {
        uint256 k = v.length;
        for (uint256 i = 1; i < k; ++i) {
            int256 x = v[i];
            uint256 j = i;
            while (j > 0 && v[j - 1] > x) {
                v[j] = v[j - 1];
                --j;
            }
            v[j] = x;
        }
        return v[(k - 1) / 2];
    }
}
