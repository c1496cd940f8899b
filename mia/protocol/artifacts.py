"""The shipped contract artifacts (package data under `mia/protocol/abi/`) and the shared error decoder.

Only reads: the installed package never compiles. The files are regenerated from `contracts/` by the
development tool `python -m tools.build_contracts --ship`, and the tests check they match the sources.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from web3 import Web3
from web3.contract import Contract

from mia.protocol.errors import ErrorDecoder, MiaError

ABI_DIR = "abi"


class ArtifactError(MiaError):
    """A contract artifact the SDK needs is not among the shipped ones."""


@cache
def manifest() -> dict[str, Any]:
    """`MANIFEST.json`: the product sources hash, the solc version and the shipped contracts."""
    data: dict[str, Any] = json.loads(resources.files("mia.protocol").joinpath(ABI_DIR, "MANIFEST.json").read_text())
    return data


def shipped() -> tuple[str, ...]:
    """Names of the shipped contracts (`artifact` accepts exactly these)."""
    return tuple(manifest()["contracts"])


@cache
def artifact(name: str) -> dict[str, Any]:
    """ABI, bytecode and deployed bytecode of shipped contract `name`."""
    if name not in shipped():
        raise ArtifactError(f"no shipped contract named {name!r}: the package ships {', '.join(shipped())}")
    data: dict[str, Any] = json.loads(resources.files("mia.protocol").joinpath(ABI_DIR, f"{name}.json").read_text())
    return data


@lru_cache(maxsize=1)
def error_decoder() -> ErrorDecoder:
    """Decodes reverts of every shipped contract (OpenZeppelin errors they surface included)."""
    from mia.protocol.contract_errors import CONTRACT_ERRORS
    from mia.protocol.types import ENUMS

    return ErrorDecoder((artifact(n)["abi"] for n in shipped()), CONTRACT_ERRORS, ENUMS)


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    """A web3 contract object for deployed contract `name` (a shipped one) at `address`."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact(name)["abi"])


def erc20_at(w3: Web3, address: str) -> Contract:
    """A payment asset (any ERC-20) through the standard IERC20 ABI."""
    return contract_at(w3, "IERC20", address)
