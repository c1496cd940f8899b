"""Invited-provider allowlists: the Merkle root a buyer puts in the auction terms and each provider's proof.

Leaves follow OpenZeppelin's StandardMerkleTree convention for one `address` value, so the contract checks
proofs with `MerkleProof.verifyCalldata`: leaf = keccak256(keccak256(abi.encode(address))), pairs hashed
sorted. Leaves are sorted, so the root depends only on the set of addresses.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from eth_abi import encode
from eth_utils import is_address, keccak, to_checksum_address

from mia.protocol.errors import MiaError
from mia.protocol.merkle import _levels


class NotOnAllowlist(MiaError):
    """The provider asked for a proof is not one of the invited addresses."""


def allowlist_leaf(provider: str) -> bytes:
    """The leaf of one invited provider."""
    return keccak(keccak(encode(["address"], [to_checksum_address(provider)])))


class Allowlist:
    """The invited providers of one auction: its root and every member's proof."""

    def __init__(self, providers: Iterable[str]) -> None:
        self.members = sorted({to_checksum_address(p) for p in providers})
        if not self.members:
            raise MiaError("an allowlist needs at least one provider")
        self._leaves = sorted(allowlist_leaf(p) for p in self.members)
        self._levels = _levels(self._leaves)

    @property
    def root(self) -> bytes:
        return self._levels[-1][0]

    def proof(self, provider: str) -> list[bytes]:
        """Sibling path of `provider`'s leaf; raises `NotOnAllowlist` for anyone not invited."""
        leaf = allowlist_leaf(provider)
        try:
            index = self._leaves.index(leaf)
        except ValueError:
            raise NotOnAllowlist(f"{to_checksum_address(provider)} is not on this allowlist") from None
        path = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index //= 2
        return path


def load_allowlist(path: str | Path) -> Allowlist:
    """An allowlist file: one 0x address per line; blank lines and `#` comments are ignored."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise MiaError(f"cannot read allowlist {path}: {exc.strerror}") from None
    addresses = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if not is_address(text):
            raise MiaError(f"allowlist {path}, line {number}: not an address: {text!r}")
        addresses.append(text)
    return Allowlist(addresses)
