// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Forces ETH into `to` without calling it: SELFDESTRUCT in the constructor (still a full
///         send-and-delete under EIP-6780, since the contract dies in the transaction that created it).
///         Test-only: the attack of a griefer who wants a balance the accounting did not expect.
contract ForceSend {
    /// @param to Receives the whole value sent with the deployment, whatever its code says.
    constructor(address payable to) payable {
        selfdestruct(to);
    }
}
