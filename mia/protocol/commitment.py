"""The sealed-bid commitment (docs/design.md §2): the one place the SDK computes it.

commitment = keccak256(abi.encode(chainId, auction contract, auctionId, provider, cost, salt, datasetRoot))

Binding the chain, the contract, the auction and the provider's own address makes a copied commitment
useless to anyone else, and a commitment from one auction or chain worthless in another.
"""

from __future__ import annotations

import secrets

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak


def new_salt() -> bytes:
    """A fresh 32-byte salt from the OS CSPRNG."""
    return secrets.token_bytes(32)


def commitment_of(
    chain_id: int, contract: str, auction_id: int, provider: str, cost: int, salt: bytes, dataset_root: bytes
) -> bytes:
    """Same bytes as `MiaAuction.commitmentOf` on-chain."""
    if len(salt) != 32 or len(dataset_root) != 32:
        raise ValueError("salt and dataset root must be 32 bytes")
    return keccak(
        encode(
            ["uint256", "address", "uint256", "address", "uint256", "bytes32", "bytes32"],
            [
                chain_id,
                to_checksum_address(contract),
                auction_id,
                to_checksum_address(provider),
                cost,
                salt,
                dataset_root,
            ],
        )
    )
