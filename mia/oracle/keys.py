"""The oracle's off-chain key pairs: X25519 (providers encrypt datasets to it) and Ed25519 (transcripts).

Generated on first start into the data directory with owner-only permissions and reused afterwards,
so a restarted oracle can still decrypt what was uploaded before it stopped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import nacl.public
import nacl.signing

from mia.protocol.errors import MiaError

BOX_KEY_FILE = "x25519.key"
SIGN_KEY_FILE = "ed25519.key"


@dataclass(frozen=True)
class OracleKeys:
    box: nacl.public.PrivateKey
    signing: nacl.signing.SigningKey

    @property
    def x25519_public(self) -> bytes:
        return bytes(self.box.public_key)

    @property
    def ed25519_public(self) -> bytes:
        return bytes(self.signing.verify_key)

    def __repr__(self) -> str:  # never print secrets, even by accident
        return f"OracleKeys(x25519={self.x25519_public.hex()}, ed25519={self.ed25519_public.hex()})"


def _load_or_create(path: Path) -> bytes:
    if path.exists():
        raw = path.read_bytes()
        if len(raw) != 32:
            raise MiaError(f"{path} does not hold a 32-byte key")
        return raw
    raw = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(raw)
        f.flush()
        os.fsync(f.fileno())
    return raw


def load_keys(data_dir: str | os.PathLike[str]) -> OracleKeys:
    """The key pairs in `data_dir`, created there on first use."""
    d = Path(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    return OracleKeys(
        box=nacl.public.PrivateKey(_load_or_create(d / BOX_KEY_FILE)),
        signing=nacl.signing.SigningKey(_load_or_create(d / SIGN_KEY_FILE)),
    )
