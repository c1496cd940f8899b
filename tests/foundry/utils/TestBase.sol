// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm, VM} from "./Vm.sol";

/// @notice Minimal replacement for forge-std's `Test`: the cheatcode handle, `bound`, and the
///         hooks forge's invariant runner reads (`targetContracts`, `targetSelectors`).
/// @dev Assertions are forge's native assertion cheatcodes (`vm.assertEq` ...), which revert with a
///      readable message; a reverting test is a failing test.
abstract contract TestBase {
    Vm internal constant vm = VM;

    /// @dev Shape forge expects from `targetSelectors()`.
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address[] private _targetContracts;
    FuzzSelector[] private _targetSelectors;

    /// @dev Maps `x` into [lo, hi]; values already inside are kept (so fuzz edge cases survive).
    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        require(lo <= hi, "bound: lo > hi");
        if (x >= lo && x <= hi) return x;
        if (lo == 0 && hi == type(uint256).max) return x;
        return lo + (x % (hi - lo + 1));
    }

    function boundInt(int256 x, int256 lo, int256 hi) internal pure returns (int256) {
        require(lo <= hi, "boundInt: lo > hi");
        if (x >= lo && x <= hi) return x;
        uint256 size = uint256(hi - lo) + 1; // callers keep ranges far from 2^255
        uint256 ux = uint256(x) % size; // two's-complement bits of x, reduced
        return lo + int256(ux);
    }

    function targetContract(address target) internal {
        _targetContracts.push(target);
    }

    function targetSelector(FuzzSelector memory selector) internal {
        _targetSelectors.push(selector);
    }

    function targetContracts() public view returns (address[] memory) {
        return _targetContracts;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetSelectors;
    }
}
