// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {OwnedExecutor} from "../../../contracts/test/OwnedExecutor.sol";

/// @notice An auction participant whose every ETH receipt tries to re-enter the paying contract
///         (a second `withdraw` of the auction, a second `claim` of a MUT pool). The owner drives it
///         as buyer, provider or MUT holder through `execute`.
/// @dev Unlike `contracts/test/ReentrantReceiver`, it tries on every payment, not only the first,
///      so an invariant run can count re-entries over many withdrawals and claims.
contract ReentrantActor is OwnedExecutor {
    /// @notice Contract whose payments trigger `withdraw(address)` re-entry (the auction).
    address public immutable auction;
    uint256 public reentryAttempts;
    uint256 public reentrySuccesses;

    constructor(address auction_) {
        auction = auction_;
    }

    /// Re-enters the payer: the auction's ETH and token withdrawals, or a MUT pool's claim. Every
    /// attempt must fail (the payer holds its reentrancy lock); the payment itself goes through.
    receive() external payable {
        ++reentryAttempts;
        bool ok;
        if (msg.sender == auction) {
            (ok,) = msg.sender.call(abi.encodeWithSignature("withdraw(address)", address(0)));
        } else {
            (ok,) = msg.sender.call(abi.encodeWithSignature("claim()"));
        }
        if (ok) ++reentrySuccesses;
    }
}
