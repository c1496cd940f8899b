"""Compiled contract artifacts, deployment and the shared error decoder."""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

from web3 import Web3
from web3.contract import Contract

from mia.protocol.compiler import load_artifact
from mia.protocol.errors import ErrorDecoder

# Contracts whose ABIs contribute custom errors the SDK should recognise.
ERROR_SOURCES = (
    "MiaAuction",
    "MarginalUtilityToken",
    "TestToken",
    "FalseReturnToken",
    "FeeOnTransferToken",
    "ReentrantReceiver",
)


@cache
def artifact(name: str) -> dict[str, Any]:
    """ABI and bytecode of contract `name` (compiled on first use when missing or stale)."""
    return load_artifact(name)


@lru_cache(maxsize=1)
def error_decoder() -> ErrorDecoder:
    abis = [artifact(n)["abi"] for n in ERROR_SOURCES]
    # OpenZeppelin errors that can surface from our contracts (SafeERC20, ReentrancyGuard).
    abis.append(
        [
            {"type": "error", "name": "SafeERC20FailedOperation", "inputs": [{"name": "token", "type": "address"}]},
            {"type": "error", "name": "ReentrancyGuardReentrantCall", "inputs": []},
            {
                "type": "error",
                "name": "ERC20InsufficientBalance",
                "inputs": [
                    {"name": "sender", "type": "address"},
                    {"name": "balance", "type": "uint256"},
                    {"name": "needed", "type": "uint256"},
                ],
            },
            {
                "type": "error",
                "name": "ERC20InsufficientAllowance",
                "inputs": [
                    {"name": "spender", "type": "address"},
                    {"name": "allowance", "type": "uint256"},
                    {"name": "needed", "type": "uint256"},
                ],
            },
        ]
    )
    return ErrorDecoder(abis)


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    """A web3 contract object for deployed contract `name` at `address`."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact(name)["abi"])
