// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice A contract account that its deployer drives by hand: tests use it as buyer, provider or
///         token holder to see what happens when the party paid is a contract, not a key.
abstract contract OwnedExecutor {
    address public immutable owner;

    constructor() {
        owner = msg.sender;
    }

    /// @notice Calls `to` with `value` and `data` as this contract; bubbles up the callee's revert data.
    function execute(address to, uint256 value, bytes calldata data) external payable returns (bytes memory) {
        require(msg.sender == owner, "owner");
        (bool ok, bytes memory ret) = to.call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        return ret;
    }
}
