"""The SDK's error hierarchy and the revert decoder.

Everything the SDK raises on purpose is a `MiaError`. Contract reverts are `ContractRevert`s: the custom
errors of the shipped ABIs are generated classes in `mia.protocol.contract_errors` (e.g.
`CommitmentMismatch`), raised with their decoded arguments, so callers can
`except CommitmentMismatch as e: e.args_dict["provider"]`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import Any, ClassVar

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address

PANIC_REASONS = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function",
}


class MiaError(Exception):
    """Base of every error the mia SDK raises on purpose."""


class ContractRevert(MiaError):
    """A contract call reverted. Subclasses are named after the contract's custom errors."""

    error_name: ClassVar[str] = "ContractRevert"
    signature: ClassVar[str] = ""

    def __init__(self, message: str, args_dict: dict[str, Any] | None = None, data: bytes = b"") -> None:
        super().__init__(message)
        self.args_dict = args_dict or {}
        self.data = data


class UnknownRevert(ContractRevert):
    """Revert data that matches no known error (or none at all)."""


class Panic(ContractRevert):
    """Solidity `Panic(uint256)`: an assertion, overflow or bounds failure inside a contract."""


class RevertString(ContractRevert):
    """Solidity `Error(string)`: a `require` with a message."""


def _type_str(inp: dict[str, Any]) -> str:
    if inp["type"].startswith("tuple"):
        inner = ",".join(_type_str(c) for c in inp["components"])
        return f"({inner}){inp['type'][5:]}"
    return str(inp["type"])


def _format_value(inp: dict[str, Any], value: Any, enums: Mapping[str, type[IntEnum]]) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    enum = enums.get(str(inp.get("internalType", "")).removeprefix("enum "))
    if enum is not None and value in enum._value2member_map_:
        return enum(value).name.title().replace("_", "")  # Solidity's spelling: Scoring
    return repr(value)


class ErrorDecoder:
    """Maps 4-byte selectors of the errors in a set of ABIs to their exception classes.

    `classes` names the class of each error (an error without one decodes as a plain `ContractRevert`
    named in the message); `enums` maps ABI enum types (`IMiaAuction.Phase`) to Python enums, so messages
    show `WrongPhase(auctionId=1, current=Reveal)`.
    """

    def __init__(
        self,
        abis: Iterable[list[dict[str, Any]]],
        classes: Mapping[str, type[ContractRevert]],
        enums: Mapping[str, type[IntEnum]] | None = None,
    ) -> None:
        self._enums = dict(enums or {})
        self._by_selector: dict[bytes, tuple[str, type[ContractRevert], list[dict[str, Any]]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = [_type_str(i) for i in item["inputs"]]
                selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
                cls = classes.get(item["name"], ContractRevert)
                self._by_selector[selector] = (item["name"], cls, item["inputs"])

    def decode(self, data: bytes | str | None) -> ContractRevert:
        """Turns raw revert data into the matching exception instance."""
        if isinstance(data, str):
            data = bytes.fromhex(data.removeprefix("0x"))
        data = data or b""
        selector, body = data[:4], data[4:]
        if selector == function_signature_to_4byte_selector("Error(string)"):
            (msg,) = abi_decode(["string"], body)
            return RevertString(f"reverted: {msg}", {"message": msg}, data)
        if selector == function_signature_to_4byte_selector("Panic(uint256)"):
            (code,) = abi_decode(["uint256"], body)
            return Panic(f"panic 0x{code:02x}: {PANIC_REASONS.get(code, 'unknown')}", {"code": code}, data)
        if selector in self._by_selector:
            name, cls, inputs = self._by_selector[selector]
            values = abi_decode([_type_str(i) for i in inputs], body)
            # eth-abi decodes addresses in lower case; web3 (events, calls) and accounts use checksums
            values = tuple(
                to_checksum_address(v) if i["type"] == "address" else v for i, v in zip(inputs, values, strict=True)
            )
            args = {i["name"] or f"arg{k}": v for k, (i, v) in enumerate(zip(inputs, values, strict=True))}
            shown = ", ".join(
                f"{i['name']}={_format_value(i, v, self._enums)}" for i, v in zip(inputs, values, strict=True)
            )
            return cls(f"{name}({shown})", args, data)
        if not data:
            return UnknownRevert("reverted without data (out of gas, or a call to a non-contract)", {}, data)
        return UnknownRevert(f"reverted with unknown data 0x{data.hex()}", {}, data)
