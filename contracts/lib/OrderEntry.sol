// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice One entry of an auction's settlement order: a provider's commit index, its bid and the running
///         sum of the weights up to and including it, packed into one word so that the order's hash chain
///         and `settleChunk`'s calldata carry one word per provider.
/// @dev Layout: index << 240 | bid << 144 | running weight. 16 bits hold any commit index (at most
///      MAX_PROVIDERS), 96 bits any bid (costs are uint96), 144 bits any running weight (at most
///      MAX_PROVIDERS weights of at most 1e36 each, below 2^130).
type OrderEntry is uint256;

using OrderEntryLib for OrderEntry global;

/// @title OrderEntryLib
/// @notice Packs and reads `OrderEntry` words; the one place that knows their layout.
library OrderEntryLib {
    uint256 internal constant INDEX_BITS = 16;
    uint256 internal constant BID_BITS = 96;
    uint256 internal constant RUNNING_BITS = 144;
    uint256 internal constant BID_SHIFT = RUNNING_BITS;
    uint256 internal constant INDEX_SHIFT = RUNNING_BITS + BID_BITS;

    /// @notice A field does not fit its width (index 16 bits, bid 96 bits, running weight 144 bits).
    /// @param commitIndex The commit index given.
    /// @param bidAmount The bid given.
    /// @param runningWeight The running weight given.
    error OrderEntryOutOfRange(uint256 commitIndex, uint256 bidAmount, uint256 runningWeight);

    /// @notice The entry of the provider with commit index `commitIndex`, bid `bidAmount` and running weight
    ///         `runningWeight` (the sum of its weight and those of every entry before it).
    function pack(uint256 commitIndex, uint256 bidAmount, uint256 runningWeight) internal pure returns (OrderEntry) {
        // One branch for all three fields: this runs once per entry of every settlement order.
        if ((commitIndex >> INDEX_BITS) | (bidAmount >> BID_BITS) | (runningWeight >> RUNNING_BITS) != 0) {
            revert OrderEntryOutOfRange(commitIndex, bidAmount, runningWeight);
        }
        return OrderEntry.wrap((commitIndex << INDEX_SHIFT) | (bidAmount << BID_SHIFT) | runningWeight);
    }

    /// @notice The provider's 1-based commit index.
    function index(OrderEntry e) internal pure returns (uint256) {
        return OrderEntry.unwrap(e) >> INDEX_SHIFT;
    }

    /// @notice The provider's revealed bid.
    function bid(OrderEntry e) internal pure returns (uint256) {
        return uint96(OrderEntry.unwrap(e) >> BID_SHIFT);
    }

    /// @notice The sum of the weights of this entry and every entry before it.
    function running(OrderEntry e) internal pure returns (uint256) {
        return uint144(OrderEntry.unwrap(e));
    }
}
