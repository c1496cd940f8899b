"""The settlement-order entry: the one word per provider that `orderForSettlement` hashes and `settleChunk` takes.

entry = commit index << 240 | bid << 144 | running weight

Same layout as `OrderEntryLib` in contracts/lib/OrderEntry.sol; the widths fit any auction the contract
accepts (commit indices up to MAX_PROVIDERS, uint96 bids, running sums of weights of at most 1e36 each).
"""

from __future__ import annotations

from typing import NamedTuple

INDEX_BITS = 16
BID_BITS = 96
RUNNING_BITS = 144
BID_SHIFT = RUNNING_BITS
INDEX_SHIFT = RUNNING_BITS + BID_BITS


class OrderEntry(NamedTuple):
    """An unpacked entry: the provider's 1-based commit index, its bid, the running weight up to it."""

    commit_index: int
    bid: int
    running: int


def _check(name: str, value: int, bits: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"order entry {name} must be an int, got {type(value).__name__}")
    if not 0 <= value < 1 << bits:
        raise ValueError(f"order entry {name} {value} does not fit in {bits} bits")


def pack_order_entry(index: int, bid: int, running: int) -> int:
    """The packed entry, as `OrderEntryLib.pack` builds it; ValueError if a field does not fit its width."""
    _check("index", index, INDEX_BITS)
    _check("bid", bid, BID_BITS)
    _check("running weight", running, RUNNING_BITS)
    return (index << INDEX_SHIFT) | (bid << BID_SHIFT) | running


def unpack_order_entry(entry: int) -> OrderEntry:
    """The fields of a packed entry; ValueError unless it is a uint256."""
    _check("word", entry, INDEX_SHIFT + INDEX_BITS)
    bid = (entry >> BID_SHIFT) & ((1 << BID_BITS) - 1)
    return OrderEntry(entry >> INDEX_SHIFT, bid, entry & ((1 << RUNNING_BITS) - 1))
