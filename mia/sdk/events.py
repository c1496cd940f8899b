"""Reorg-safe event reading: logs are final only at a confirmation depth; everything newer is re-read.

A chain can drop its newest blocks (a reorg, or `evm_revert` on a dev node). A reader that cached
every log it once saw would then audit a history that no longer exists. `EventReader` keeps only
logs at or below `head - confirmations` (and remembers the hash of that boundary block), re-reads the
unconfirmed tail on every refresh, drops logs flagged `removed` or whose block hash is no longer the
canonical block at that height, de-duplicates by `(blockHash, logIndex)`, and throws the whole cache
away when the boundary block itself has been replaced (a reorg deeper than the confirmation depth).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_typing import BlockNumber, ChecksumAddress
from eth_utils import event_abi_to_log_topic, is_address, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BlockNotFound
from web3.types import EventData, LogReceipt

# Blocks after which a log is treated as final on a real network; a dev chain never reorgs by itself.
DEFAULT_CONFIRMATIONS = 12
_MAX_REREADS = 3


@dataclass
class _Final:
    """Logs of one address up to `upto` (inclusive), valid while block `upto` still has hash `boundary`."""

    upto: int
    boundary: bytes
    logs: list[LogReceipt] = field(default_factory=list)


def default_confirmations(chain_kind: str) -> int:
    """0 on the embedded chain (it cannot reorg), `DEFAULT_CONFIRMATIONS` on anything reached over RPC."""
    return 0 if chain_kind == "embedded" else DEFAULT_CONFIRMATIONS


class EventReader:
    """Canonical logs of contracts, cached only where final. One instance can be refreshed many times."""

    def __init__(self, w3: Web3, *, confirmations: int = DEFAULT_CONFIRMATIONS, from_block: int = 0) -> None:
        if confirmations < 0:
            raise ValueError("confirmations cannot be negative")
        self.w3 = w3
        self.confirmations = confirmations
        self.from_block = from_block
        self._final: dict[str, _Final] = {}
        self.discarded_caches = 0  # how many times a deep reorg invalidated the confirmed logs
        self.dropped_logs = 0  # logs thrown away as removed, duplicated or no longer canonical

    # -- raw logs -------------------------------------------------------------------------------

    def logs(self, address: str) -> list[LogReceipt]:
        """Every canonical log `address` emitted from `from_block` to the current head, in chain order."""
        address = to_checksum_address(address)
        head = self.w3.eth.block_number
        final_upto = head - self.confirmations
        cached = self._final.get(address)
        if cached is not None and not self._still_canonical(cached):
            cached = None
            self.discarded_caches += 1
            del self._final[address]
        base = cached.logs if cached is not None else []
        start = cached.upto + 1 if cached is not None else self.from_block
        if final_upto >= start:
            boundary = self._hash_at(final_upto)
            new = self._read(address, start, final_upto)
            if boundary is not None and self._hash_at(final_upto) == boundary:
                cached = _Final(final_upto, boundary, base + new)
                self._final[address] = cached
                base, start = cached.logs, final_upto + 1
            # else the boundary moved while we read: nothing new is final, the whole range is re-read below
        tail = self._read(address, start, head) if head >= start else []
        return base + tail

    def _still_canonical(self, cached: _Final) -> bool:
        return self._hash_at(cached.upto) == cached.boundary

    def _hash_at(self, number: int) -> bytes | None:
        try:
            block = self.w3.eth.get_block(number)
        except BlockNotFound:
            return None
        return bytes(block["hash"]) if block is not None else None

    def _read(self, address: ChecksumAddress, lo: int, hi: int) -> list[LogReceipt]:
        """Logs of [lo, hi], cleaned; re-read when a block's hash changed under us (a reorg mid-read)."""
        for _ in range(_MAX_REREADS):
            raw = self.w3.eth.get_logs({"address": address, "fromBlock": BlockNumber(lo), "toBlock": BlockNumber(hi)})
            logs, stale = self._clean(raw)
            if not stale:
                return logs
        return logs

    def _clean(self, raw: Iterable[LogReceipt]) -> tuple[list[LogReceipt], bool]:
        seen: set[tuple[bytes, int]] = set()
        hashes: dict[int, bytes | None] = {}
        out: list[LogReceipt] = []
        stale = False
        for log in raw:
            key = (bytes(log["blockHash"]), int(log["logIndex"]))
            if log.get("removed") or key in seen:
                self.dropped_logs += 1
                stale |= bool(log.get("removed"))
                continue
            n = int(log["blockNumber"])
            if n not in hashes:
                hashes[n] = self._hash_at(n)
            if hashes[n] != key[0]:
                self.dropped_logs += 1
                stale = True
                continue
            seen.add(key)
            out.append(log)
        out.sort(key=lambda e: (int(e["blockNumber"]), int(e["logIndex"])))
        return out, stale

    # -- decoded events -------------------------------------------------------------------------

    def events(self, contract: Contract, name: str, **filters: Any) -> list[EventData]:
        """Decoded `name` events of `contract` whose arguments equal `filters` (addresses case-blind)."""
        return decode_events(contract, name, self.logs(contract.address), filters)


def decode_events(
    contract: Contract, name: str, logs: Iterable[LogReceipt], filters: Mapping[str, Any]
) -> list[EventData]:
    """The `name` events among `logs` (raw logs of `contract`) whose arguments match `filters`."""
    event = getattr(contract.events, name)()
    topic = event_abi_to_log_topic(event.abi)
    out: list[EventData] = []
    for log in logs:
        if not log["topics"] or bytes(log["topics"][0]) != topic:
            continue
        decoded = event.process_log(log)
        if _matches(decoded["args"], filters):
            out.append(decoded)
    return out


def _matches(args: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    for key, want in filters.items():
        got = args[key]
        if isinstance(want, str) and is_address(want) and isinstance(got, str):
            if got.lower() != want.lower():
                return False
        elif got != want:
            return False
    return True
