"""Python faces of MiaAuction's enums and structs, so contract reads go by field name, never by index.

Each struct dataclass names its Solidity struct (`ABI_TYPE`); `decode` maps the positional tuple web3
returns onto the fields through the component names in the shipped ABI (`commitDeadline` ->
`commit_deadline`), so a reordered or renamed field fails loudly instead of shifting every value.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from enum import IntEnum
from functools import cache
from typing import Any, ClassVar, Final, TypeVar, get_type_hints

from eth_utils.address import to_checksum_address

from mia.protocol.artifacts import artifact
from mia.protocol.errors import MiaError


class Phase(IntEnum):
    """`IMiaAuction.Phase`: where an auction stands (from its status and the block time)."""

    COMMIT = 0
    REVEAL = 1
    SCORING = 2
    SCORED = 3
    EXPIRED = 4
    SETTLED = 5
    CANCELLED = 6


class Mechanism(IntEnum):
    """`IMiaAuction.Mechanism`: the settlement rule fixed at creation."""

    QMIA = 0
    MIXED_MIA = 1
    MUT = 2
    FAIRSHARE = 3


class AuctionStatus(IntEnum):
    """`IMiaAuction.Status`: the stored status behind `Phase`."""

    NONE = 0
    OPEN = 1
    SCORED = 2
    SETTLED = 3
    CANCELLED = 4


# ABI enum type (the `internalType` without "enum ") -> Python enum.
ENUMS: Final[Mapping[str, type[IntEnum]]] = {
    "IMiaAuction.Phase": Phase,
    "IMiaAuction.Mechanism": Mechanism,
    "IMiaAuction.Status": AuctionStatus,
}


class AbiMismatch(MiaError):
    """A struct of the shipped ABI does not match its Python dataclass (regenerate or update types.py)."""


def snake_case(name: str) -> str:
    """ABI component name -> field name: `commitDeadline` -> `commit_deadline`, `nOracles` -> `n_oracles`."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _walk(items: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for item in items:
        out.append(item)
        out += _walk(item.get("components", ()))
    return out


@cache
def struct_components(abi_type: str) -> tuple[str, ...]:
    """Component names of `abi_type` (e.g. `struct IMiaAuction.Bid`) in the shipped MiaAuction ABI."""
    for fn in artifact("MiaAuction")["abi"]:
        for item in _walk([*fn.get("inputs", ()), *fn.get("outputs", ())]):
            if item.get("internalType") == abi_type:
                return tuple(str(c["name"]) for c in item["components"])
    raise AbiMismatch(f"the shipped MiaAuction ABI has no {abi_type}")


def _converter(hint: Any) -> Callable[[Any], Any]:
    if isinstance(hint, type) and issubclass(hint, IntEnum):
        enum = hint
        return lambda v: enum(int(v))
    if hint is bytes:
        return bytes
    if hint is bool:
        return bool
    if hint is int:
        return int
    if hint is str:
        return to_checksum_address
    if hint == tuple[str, ...]:
        return lambda v: tuple(to_checksum_address(x) for x in v)
    if hint == tuple[bytes, ...]:
        return lambda v: tuple(bytes(x) for x in v)
    raise TypeError(f"no ABI conversion for {hint!r}")


S = TypeVar("S", bound="Struct")


_CONVERTERS: dict[type[Struct], dict[str, Callable[[Any], Any]]] = {}


def _field_converters(cls: type[Struct]) -> dict[str, Callable[[Any], Any]]:
    """Field name -> converter from the ABI-decoded value, once per struct class (reads are frequent)."""
    conv = _CONVERTERS.get(cls)
    if conv is None:
        hints = get_type_hints(cls)
        conv = {f.name: _converter(hints[f.name]) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        _CONVERTERS[cls] = conv
    return conv


class Struct:
    """Base of the struct dataclasses: ABI tuple <-> fields, matched by component name."""

    ABI_TYPE: ClassVar[str]

    @classmethod
    def decode(cls: type[S], value: Sequence[Any], **extra: Any) -> S:
        """The dataclass for one ABI-decoded `value`; `extra` fills fields that are not in the struct."""
        names = [snake_case(n) for n in struct_components(cls.ABI_TYPE)]
        fields = _field_converters(cls)
        if len(value) != len(names) or set(names) | set(extra) != set(fields):
            raise AbiMismatch(f"{cls.ABI_TYPE} ({', '.join(names)}) does not match {cls.__name__}")
        return cls(**{n: fields[n](v) for n, v in zip(names, value, strict=True)}, **extra)

    def encode(self) -> tuple[Any, ...]:
        """The ABI tuple of this struct (for a call that takes it as an argument)."""
        return tuple(
            int(v) if isinstance(v, IntEnum) else list(v) if isinstance(v, tuple) else v
            for v in (getattr(self, snake_case(n)) for n in struct_components(self.ABI_TYPE))
        )


@dataclasses.dataclass(frozen=True)
class AuctionParams(Struct):
    """`IMiaAuction.AuctionParams`: everything the buyer fixes when creating an auction."""

    ABI_TYPE: ClassVar[str] = "struct IMiaAuction.AuctionParams"

    asset: str
    budget: int
    deposit: int
    commit_deadline: int
    reveal_deadline: int
    scoring_deadline: int
    max_providers: int
    threshold: int
    oracles: tuple[str, ...]
    oracle_encryption_keys: tuple[bytes, ...]
    task_hash: bytes
    method_id: int
    mechanism: Mechanism
    liquidity: int
    rho: int
    model_id: bytes
    fault_tolerance: int
    score_chunk: int
    allowlist_root: bytes


@dataclasses.dataclass(frozen=True)
class Auction(Struct):
    """`IMiaAuction.Auction` (`getAuction`): the stored state of one auction."""

    ABI_TYPE: ClassVar[str] = "struct IMiaAuction.Auction"

    buyer: str
    commit_deadline: int
    n_committed: int
    asset: str
    reveal_deadline: int
    n_revealed: int
    budget: int
    deposit: int
    scoring_deadline: int
    max_providers: int
    method_id: int
    threshold: int
    n_oracles: int
    status: AuctionStatus
    task_hash: bytes
    mechanism: Mechanism
    liquidity: int
    mut_token: str
    rho: int
    cash_escrow: int
    fault_tolerance: int
    score_chunk: int
    allowlist_root: bytes


@dataclasses.dataclass(frozen=True)
class Bid(Struct):
    """`IMiaAuction.Bid` (`getBid`): `dataset_root` is the commitment until the reveal overwrites it."""

    ABI_TYPE: ClassVar[str] = "struct IMiaAuction.Bid"

    dataset_root: bytes
    cost: int
    index: int
    revealed: bool
    deposit_refunded: bool

    @property
    def committed(self) -> bool:
        """Whether this provider committed at all (commit indices start at 1)."""
        return self.index > 0


@dataclasses.dataclass(frozen=True)
class ScoreChunk(Struct):
    """`IMiaAuction.ScoreChunk` (`scoreChunkOf`): the reports posted for one scoring chunk."""

    ABI_TYPE: ClassVar[str] = "struct IMiaAuction.ScoreChunk"

    providers_hash: bytes
    roots_hash: bytes
    end_index: int
    posters: int
    count: int
    finalized: bool


@dataclasses.dataclass(frozen=True)
class Progress(Struct):
    """`IMiaAuction.Progress` (`settlementProgress`): chunked scoring and settlement of one auction."""

    ABI_TYPE: ClassVar[str] = "struct IMiaAuction.Progress"

    scored: int
    scored_chunks: int
    eligible: int
    ordered: int
    paid: int
    winners: int
    last_weight: int
    last_entry: int
    order_hash: bytes
    fair_total: int
    total_cash: int
    total_mut: int


STRUCTS: Final[tuple[type[Struct], ...]] = (AuctionParams, Auction, Bid, ScoreChunk, Progress)
