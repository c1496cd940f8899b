"""Encrypted local backup of every bid's opening (cost, salt, dataset root).

A sealed bid is worthless without its salt: lose it and the deposit is forfeited. The provider client
writes the opening here *before* the commit transaction is sent, atomically (temp file, fsync,
rename), encrypted with a key derived from a passphrase (Argon2id + XSalsa20-Poly1305, PyNaCl).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from mia.protocol.errors import MiaError

MAGIC = b"MIAVAULT1"
_KDF = nacl.pwhash.argon2id
# Interactive limits keep unlocking under a second; the file still resists offline guessing.
_OPSLIMIT = _KDF.OPSLIMIT_INTERACTIVE
_MEMLIMIT = _KDF.MEMLIMIT_INTERACTIVE


class VaultError(MiaError):
    """The salt vault cannot be read or written (wrong passphrase, corrupt file, missing entry)."""


@dataclass(frozen=True)
class BidOpening:
    """Everything needed to reveal one bid."""

    chain_id: int
    contract: str
    auction_id: int
    provider: str
    cost: int
    salt: str  # 0x-hex
    dataset_root: str  # 0x-hex
    commitment: str  # 0x-hex

    @property
    def key(self) -> str:
        return f"{self.chain_id}:{self.contract.lower()}:{self.auction_id}:{self.provider.lower()}"


class SaltVault:
    """A passphrase-encrypted JSON file of bid openings, keyed by chain, contract, auction, provider."""

    def __init__(self, path: str | os.PathLike[str], passphrase: str) -> None:
        if not passphrase:
            raise VaultError("the salt vault needs a non-empty passphrase")
        self.path = Path(path)
        self._passphrase = passphrase.encode()

    def _key(self, kdf_salt: bytes) -> bytes:
        return _KDF.kdf(
            nacl.secret.SecretBox.KEY_SIZE, self._passphrase, kdf_salt, opslimit=_OPSLIMIT, memlimit=_MEMLIMIT
        )

    def _load(self) -> tuple[dict[str, dict[str, Any]], bytes]:
        if not self.path.exists():
            return {}, nacl.utils.random(_KDF.SALTBYTES)
        try:
            blob = self.path.read_bytes()
        except OSError as exc:
            raise VaultError(f"cannot read salt vault {self.path}: {exc.strerror}") from None
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + _KDF.SALTBYTES + 40:
            raise VaultError(f"{self.path} is not a mia salt vault (or it is truncated)")
        kdf_salt = blob[len(MAGIC) : len(MAGIC) + _KDF.SALTBYTES]
        box = nacl.secret.SecretBox(self._key(kdf_salt))
        try:
            plain = box.decrypt(blob[len(MAGIC) + _KDF.SALTBYTES :])
        except nacl.exceptions.CryptoError:
            raise VaultError(f"wrong passphrase for salt vault {self.path} (or the file was tampered with)") from None
        return json.loads(plain), kdf_salt

    def _store(self, entries: dict[str, dict[str, Any]], kdf_salt: bytes) -> None:
        box = nacl.secret.SecretBox(self._key(kdf_salt))
        blob = MAGIC + kdf_salt + box.encrypt(json.dumps(entries, sort_keys=True).encode())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".vault-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def save(self, opening: BidOpening) -> None:
        """Adds (or replaces) an opening; durable on disk when this returns."""
        entries, kdf_salt = self._load()
        entries[opening.key] = asdict(opening)
        self._store(entries, kdf_salt)

    def get(self, chain_id: int, contract: str, auction_id: int, provider: str) -> BidOpening:
        entries, _ = self._load()
        key = f"{chain_id}:{contract.lower()}:{auction_id}:{provider.lower()}"
        if key not in entries:
            raise VaultError(f"no saved bid for auction {auction_id} and provider {provider} in {self.path}")
        return BidOpening(**entries[key])

    def all(self) -> list[BidOpening]:
        entries, _ = self._load()
        return [BidOpening(**e) for _, e in sorted(entries.items())]
