"""Loading signing keys from a keystore file or the environment, with clear errors."""

from __future__ import annotations

import getpass
import json
import os
import sys

from eth_account import Account
from eth_account.signers.local import LocalAccount

from mia.protocol.errors import MiaError


class KeyLoadError(MiaError):
    """A key could not be loaded (missing, malformed, or wrong password)."""


def load_keystore(path: str, password: str | None = None) -> LocalAccount:
    """Decrypts a Web3 Secret Storage (keystore v3) file."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise KeyLoadError(f"cannot read keystore {path}: {exc.strerror or exc}") from None
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError
        raise KeyLoadError(f"{path} is not a JSON keystore file") from None
    if not isinstance(data, dict):
        raise KeyLoadError(f"{path} is not a keystore file (expected a JSON object)")
    if password is None:
        password = os.environ.get("MIA_KEYSTORE_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            raise KeyLoadError("keystore password needed: set MIA_KEYSTORE_PASSWORD")
        password = getpass.getpass(f"Password for {path}: ")
    try:
        account: LocalAccount = Account.from_key(Account.decrypt(data, password))  # eth-account leaves it untyped
        return account
    except ValueError as exc:
        msg = "wrong password for keystore" if "MAC mismatch" in str(exc) else f"invalid keystore: {exc}"
        raise KeyLoadError(f"{msg} ({path})") from None
    except (KeyError, TypeError, AttributeError, IndexError, OverflowError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise KeyLoadError(f"invalid keystore: {what} ({path})") from None


def load_env_key(var: str = "MIA_PRIVATE_KEY") -> LocalAccount:
    """A hex private key from environment variable `var`."""
    raw = os.environ.get(var)
    if not raw:
        raise KeyLoadError(f"environment variable {var} is not set")
    try:
        account: LocalAccount = Account.from_key(raw.strip())
        return account
    except (ValueError, TypeError):
        raise KeyLoadError(f"{var} does not hold a valid 32-byte hex private key") from None


def load_signer(*, keystore: str | None = None, key_env: str = "MIA_PRIVATE_KEY") -> LocalAccount:
    return load_keystore(keystore) if keystore else load_env_key(key_env)
