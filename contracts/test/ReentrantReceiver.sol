// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {OwnedExecutor} from "./OwnedExecutor.sol";

/// @notice An account controlled by a contract that tries to re-enter the auction when it is paid.
/// @dev `execute` lets a test drive it as a buyer or provider. On receiving ETH it calls `reentryData`
///      on `target` again; in `bubble` mode a failed re-entry reverts the payment itself.
contract ReentrantReceiver is OwnedExecutor {
    address public target;
    bytes public reentryData;
    bool public bubble;
    uint256 public reentryAttempts;
    uint256 public reentrySuccesses;

    function configure(address target_, bytes calldata reentryData_, bool bubble_) external {
        require(msg.sender == owner, "owner");
        target = target_;
        reentryData = reentryData_;
        bubble = bubble_;
    }

    receive() external payable {
        if (target == address(0) || reentryAttempts > 0) return;
        ++reentryAttempts;
        (bool ok, bytes memory ret) = target.call(reentryData);
        if (ok) {
            ++reentrySuccesses;
        } else if (bubble) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }
}
