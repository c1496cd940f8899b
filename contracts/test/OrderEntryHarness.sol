// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {OrderEntry, OrderEntryLib} from "../lib/OrderEntry.sol";

/// @notice Exposes `OrderEntryLib` as calls, so tests can hold the Python packing to the contract's.
contract OrderEntryHarness {
    function pack(uint256 index, uint256 bid, uint256 running) external pure returns (uint256) {
        return OrderEntry.unwrap(OrderEntryLib.pack(index, bid, running));
    }

    function unpack(uint256 entry) external pure returns (uint256 index, uint256 bid, uint256 running) {
        OrderEntry e = OrderEntry.wrap(entry);
        return (e.index(), e.bid(), e.running());
    }
}
