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

    /// Deploys a compiled artifact ("File.sol:Contract") with a plain CREATE from this contract.
    /// @dev Used instead of `new C()` so that test contracts do not embed C's creation code: solc
    ///      (via-IR, no cross-contract cache) would otherwise re-optimize C once per test contract,
    ///      about 15 s of solc-js time for MiaAuction each. A plain CREATE (unlike vm.deployCode)
    ///      is also what forge's gas report counts as the deployment cost. The deployed bytecode is
    ///      the artifact forge built from `contracts/`, i.e. what the SDK deploys.
    function deploy(string memory artifact, bytes memory constructorArgs) internal returns (address addr) {
        bytes memory code = bytes.concat(vm.getCode(artifact), constructorArgs);
        assembly ("memory-safe") {
            addr := create(0, add(code, 0x20), mload(code))
        }
        require(addr != address(0), "deploy failed");
    }

    function deploy(string memory artifact) internal returns (address) {
        return deploy(artifact, "");
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
