// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title AssetTransfer
/// @notice Moves an auction's asset (address(0) = ETH, otherwise an ERC-20) in and out of a contract:
///         the one intake path and the one payout path that MiaAuction and every MUT pool use.
/// @dev Callers keep their own checks-effects-interactions order and reentrancy locks: `pay` is the
///      last step of a pull payment, after the caller has zeroed what it owes.
library AssetTransfer {
    using SafeERC20 for IERC20;

    /// @notice An ETH payout to `to` failed (the receiver reverted or ran out of gas).
    /// @param to The receiver.
    /// @param amount The wei that could not be sent.
    error EthTransferFailed(address to, uint256 amount);
    /// @notice The ETH sent with the call differs from what it must carry (0 for an ERC-20 asset).
    /// @param expected The value the call had to carry.
    /// @param received The value it carried.
    error WrongPaymentValue(uint256 expected, uint256 received);
    /// @notice The token delivered other than the amount requested (a fee-on-transfer token, say).
    /// @param expected The amount requested.
    /// @param received The amount the contract's balance grew by.
    error TokenAmountMismatch(uint256 expected, uint256 received);

    /// @notice Takes exactly `amount` of `asset` from the sender of the current call (`msg.sender`): ETH as
    ///         the call's value, passed as `value`, or an ERC-20 by `transferFrom` of an approved amount,
    ///         measured as the balance difference (never trusted). Never pulls from anyone but the sender.
    function collectExact(address asset, uint256 amount, uint256 value) internal {
        if (asset == address(0)) {
            if (value != amount) revert WrongPaymentValue(amount, value);
            return;
        }
        if (value != 0) revert WrongPaymentValue(0, value);
        if (amount == 0) return;
        IERC20 token = IERC20(asset);
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert TokenAmountMismatch(amount, received);
    }

    /// @notice Sends `amount` of `asset` to `to`; reverts if the transfer fails.
    function pay(address asset, address to, uint256 amount) internal {
        if (asset == address(0)) {
            (bool ok,) = payable(to).call{value: amount}("");
            if (!ok) revert EthTransferFailed(to, amount);
        } else {
            IERC20(asset).safeTransfer(to, amount);
        }
    }
}
