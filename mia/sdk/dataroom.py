"""The encrypted data room: how a provider hands its dataset to each oracle of an auction.

Shared by both sides so they cannot drift: the dataset's wire form (canonical JSONL, one record per
line, whose Merkle root is the `datasetRoot` a bid commits to), the upload authorisation (an Ethereum
signature by the provider over chain, contract, auction, oracle, SHA-256 of the ciphertext and the
claimed root, so nobody can overwrite another provider's upload), the committee file that maps oracle
addresses to HTTP endpoints, and the HTTP client a provider uses. Keys are never trusted from the
network alone: the X25519 key an oracle serves must equal the one recorded on chain at creation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nacl.public
import numpy as np
import numpy.typing as npt
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from mia.protocol.errors import MiaError
from mia.protocol.merkle import canonical_record, keccak, merkle_root
from mia.protocol.safejson import JSONLimitError, iter_lines, loads_bounded
from mia.sdk.auction import AuctionClient, OracleInfo

try:  # C-backed secp256k1 recovery (libsecp256k1); eth_account's pure-Python path is ~10x slower
    import coincurve
except ImportError:  # pragma: no cover - the pinned environment has it
    coincurve = None  # type: ignore[assignment]  # absent module: upload_signer falls back to eth_account

API_PREFIX = "/v1"
# Default cap on one encrypted upload; oracles may configure their own and enforce it while streaming.
DEFAULT_MAX_UPLOAD = 64 * 1024 * 1024
HEADER_PROVIDER = "x-mia-provider"
HEADER_SHA256 = "x-mia-sha256"
HEADER_ROOT = "x-mia-dataset-root"
HEADER_SIGNATURE = "x-mia-signature"
# Records are flat (`{"features": [...], "label": ...}` plus optional fields): depth 3 leaves room for a
# list of lists in an extra field; anything deeper is refused before parsing.
RECORD_DEPTH = 8


class DataroomError(MiaError):
    """A dataset cannot be prepared or delivered (bad file, unreachable oracle, rejected upload)."""


class OracleUnreachable(DataroomError):
    """An oracle's HTTP endpoint did not answer."""


class UploadRejected(DataroomError):
    """An oracle answered and refused the upload; `status` and `reason` say why."""

    def __init__(self, oracle: str, status: int, reason: str) -> None:
        super().__init__(f"oracle {oracle} rejected the upload (HTTP {status}): {reason}")
        self.oracle, self.status, self.reason = oracle, status, reason


class KeyMismatch(DataroomError):
    """An oracle serves an address or encryption key different from the auction's on-chain record."""


# ------------------------------------------------------------------------------------------ records


def records_from_arrays(features: npt.ArrayLike, labels: npt.ArrayLike) -> list[dict[str, Any]]:
    """Array datasets as records `{"features": [...], "label": ...}` (the one record form on the wire)."""
    if np.asarray(features).dtype.kind not in "biuf":
        raise DataroomError(f"features must be real numbers, got dtype {np.asarray(features).dtype}")
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise DataroomError(f"features must be 2-D with one label per row, got {x.shape} and {y.shape}")
    if x.shape[0] == 0:
        raise DataroomError("no records")
    if not np.isfinite(x).all():
        raise DataroomError(
            f"features contain NaN or infinity (first at row {int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])})"
        )
    if y.dtype.kind not in "iubU":
        raise DataroomError(f"labels must be integers or strings, got dtype {y.dtype}")
    conv = int if y.dtype.kind in "iub" else str
    return [{"features": [float(v) for v in row], "label": conv(lab)} for row, lab in zip(x, y, strict=True)]


def load_dataset(path: str | Path) -> list[dict[str, Any]]:
    """Records of a `.jsonl` file (one JSON object per line) or a `.npz` with `features` and `labels`."""
    p = Path(path)
    try:
        if p.suffix == ".npz":
            return _npz_records(p)
        return parse_records(p.read_bytes(), source=str(p))
    except OSError as exc:
        raise DataroomError(f"cannot read dataset {p}: {exc.strerror or exc}") from None
    except DataroomError as exc:
        raise DataroomError(f"{p}: {exc}" if not str(exc).startswith(str(p)) else str(exc)) from None
    except ValueError as exc:
        raise DataroomError(f"{p}: {exc}") from None


def _npz_records(p: Path) -> list[dict[str, Any]]:
    try:
        z = np.load(p, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ValueError("not a .npz archive")
        with z:
            if "features" not in z or "labels" not in z:
                raise DataroomError(f"{p}: a .npz dataset needs arrays named 'features' and 'labels'")
            features, labels = z["features"], z["labels"]
    except (DataroomError, OSError):
        raise
    except Exception as exc:  # numpy and zipfile raise many types on a corrupt archive
        raise DataroomError(f"{p}: not a readable .npz dataset ({type(exc).__name__}: {exc})") from None
    return records_from_arrays(features, labels)


def parse_records(payload: bytes, *, source: str = "upload") -> list[dict[str, Any]]:
    """JSONL bytes → list of JSON objects; blank lines skipped; errors name the line."""
    records = [r for batch in iter_record_batches(payload, source=source) for r in batch]
    if not records:
        raise DataroomError(f"{source}: no records")
    return records


def iter_record_batches(payload: bytes, *, source: str = "upload", batch: int = 4096) -> Iterator[list[dict[str, Any]]]:
    """`parse_records` in batches of at most `batch` records (the oracle validates and hashes each batch
    and drops it, so a large upload never exists as one list of Python objects)."""
    try:
        payload.decode("utf-8")  # validated only; the bounded parser works on the bytes
    except UnicodeDecodeError as exc:
        raise DataroomError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    out: list[dict[str, Any]] = []
    try:
        for lineno, obj in iter_lines(payload, depth=RECORD_DEPTH):
            if not isinstance(obj, dict):
                raise DataroomError(f"{source}: line {lineno}: malformed record (expected a JSON object)")
            out.append(obj)
            if len(out) >= batch:
                yield out
                out = []
    except JSONLimitError as exc:
        msg = str(exc)
        if msg.startswith("line "):
            where, _, why = msg.partition(": ")
            raise DataroomError(f"{source}: {where}: malformed record ({why})") from None
        raise DataroomError(f"{source}: malformed record ({msg})") from None
    if out:
        yield out


def encode_records(records: Sequence[Mapping[str, Any]]) -> bytes:
    """Canonical JSONL: sorted keys, compact, one record per line (what is encrypted and uploaded)."""
    return b"\n".join(canonical_record(dict(r)) for r in records) + b"\n"


def records_root(records: Sequence[Mapping[str, Any]]) -> bytes:
    """The dataset root a bid commits to: Merkle root of the records in order (see `mia.protocol.merkle`)."""
    if not records:
        raise DataroomError("cannot commit to an empty dataset")
    return merkle_root([dict(r) for r in records])


# ------------------------------------------------------------------------------------ authorisation


def upload_message(
    chain_id: int, contract: str, auction_id: int, oracle: str, provider: str, sha256_hex: str, root: bytes
) -> str:
    """The text a provider signs (EIP-191) to authorise one upload to one oracle."""
    return (
        "mia data room upload\n"
        f"chain: {chain_id}\ncontract: {to_checksum_address(contract)}\nauction: {auction_id}\n"
        f"oracle: {to_checksum_address(oracle)}\nprovider: {to_checksum_address(provider)}\n"
        f"sha256: {sha256_hex.lower()}\nroot: 0x{root.hex()}"
    )


def sign_upload(private_key: bytes | str, message: str) -> bytes:
    return bytes(Account.sign_message(encode_defunct(text=message), private_key).signature)


def upload_signer(message: str, signature: bytes) -> str:
    """Address that signed `message` (EIP-191); raises ValueError on a malformed signature."""
    if coincurve is None:
        return Account.recover_message(encode_defunct(text=message), signature=signature)
    if len(signature) != 65:
        raise ValueError(f"a signature is 65 bytes, got {len(signature)}")
    data = message.encode()
    digest = keccak(b"\x19Ethereum Signed Message:\n" + str(len(data)).encode() + data)
    v = signature[64] - 27 if signature[64] >= 27 else signature[64]
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
    if v not in (0, 1) or not (0 < r < _SECP256K1_N and 0 < s < _SECP256K1_N):
        raise ValueError("malformed signature (v, r or s out of range)")
    try:
        pub = coincurve.PublicKey.from_signature_and_message(signature[:64] + bytes([v]), digest, hasher=None)
    except Exception as exc:  # coincurve raises plain Exception for an unrecoverable signature
        raise ValueError(f"malformed signature ({exc})") from None
    return to_checksum_address(keccak(pub.format(compressed=False)[1:])[-20:])


_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def status_message(chain_id: int, contract: str, auction_id: int, oracle: str, provider: str) -> str:
    """The text a provider signs (EIP-191) to read its own upload status before the reveal deadline."""
    return (
        "mia data room status\n"
        f"chain: {chain_id}\ncontract: {to_checksum_address(contract)}\nauction: {auction_id}\n"
        f"oracle: {to_checksum_address(oracle)}\nprovider: {to_checksum_address(provider)}"
    )


# ------------------------------------------------------------------------------------- committee


def load_committee(path: str | Path) -> dict[str, str]:
    """A committee file `{"oracles": [{"address": "0x..", "url": "http://.."}]}` → {address: url}."""
    try:
        data = json.loads(Path(path).read_text())
        return {to_checksum_address(o["address"]): str(o["url"]).rstrip("/") for o in data["oracles"]}
    except OSError as exc:
        raise DataroomError(f"cannot read committee file {path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise DataroomError(f"{path}: not a committee file ({type(exc).__name__}: {exc})") from None


def save_committee(path: str | Path, urls: Mapping[str, str]) -> None:
    body = {"oracles": [{"address": to_checksum_address(a), "url": u} for a, u in urls.items()]}
    Path(path).write_text(json.dumps(body, indent=2) + "\n")


def onchain_committee(client: AuctionClient, auction_id: int, *, from_block: int = 0) -> list[OracleInfo]:
    """Each oracle's address and X25519 key as recorded in the auction's creation event."""
    logs = client.contract.events.AuctionCreated().get_logs(
        from_block=from_block, argument_filters={"auctionId": auction_id}
    )
    if not logs:
        raise DataroomError(f"auction {auction_id} has no creation event on this contract")
    args = logs[0]["args"]
    return [
        OracleInfo(to_checksum_address(a), bytes(k))
        for a, k in zip(args["oracles"], args["oracleEncryptionKeys"], strict=True)
    ]


# ---------------------------------------------------------------------------------------- client


@dataclass(frozen=True)
class UploadReceipt:
    oracle: str
    sha256: str
    size: int


MAX_REPLY = 1024 * 1024


def _reply(r: httpx.Response) -> Any:
    """An oracle's JSON reply, parsed with bounded size and depth (an oracle is not trusted either)."""
    try:
        return loads_bounded(r.content, max_bytes=MAX_REPLY)
    except JSONLimitError as exc:
        raise DataroomError(f"unusable reply from {r.request.url}: {exc}") from None


def _reply_object(r: httpx.Response) -> dict[str, Any]:
    """An oracle's reply that must be a JSON object (keys, receipts, statuses)."""
    body = _reply(r)
    if not isinstance(body, dict):
        raise DataroomError(f"unusable reply from {r.request.url}: expected a JSON object")
    return body


class DataroomClient:
    """HTTP client for the oracles' data rooms (one `httpx.Client`, explicit timeouts)."""

    def __init__(self, *, timeout: float = 30.0) -> None:
        self.http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> DataroomClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, oracle: str, method: str, url: str, **kw: Any) -> httpx.Response:
        try:
            r = self.http.request(method, url, **kw)
        except httpx.HTTPError as exc:
            raise OracleUnreachable(f"oracle {oracle} at {url} is unreachable ({type(exc).__name__})") from None
        if r.status_code >= 400:
            try:
                reason = _reply(r).get("error", r.text)
            except (DataroomError, AttributeError):
                reason = r.text.strip() or r.reason_phrase
            raise UploadRejected(oracle, r.status_code, reason)
        return r

    def keys(self, oracle: str, url: str) -> dict[str, str]:
        """The oracle's public keys: Ethereum address, X25519 (data) and Ed25519 (transcripts)."""
        return _reply_object(self._request(oracle, "GET", f"{url}{API_PREFIX}/keys"))

    def verified_key(self, oracle: OracleInfo, url: str) -> nacl.public.PublicKey:
        """The oracle's X25519 key, only if what it serves equals the on-chain record."""
        served = self.keys(oracle.address, url)
        if to_checksum_address(served.get("address", "0x" + "00" * 20)) != oracle.address:
            raise KeyMismatch(f"{url} serves oracle {served.get('address')}, not {oracle.address}")
        if served.get("x25519") != oracle.encryption_key.hex():
            raise KeyMismatch(
                f"oracle {oracle.address} at {url} serves an X25519 key that differs from the on-chain key"
            )
        return nacl.public.PublicKey(oracle.encryption_key)

    def upload(
        self,
        *,
        url: str,
        oracle: str,
        ciphertext: bytes,
        headers: Mapping[str, str],
        auction_id: int,
    ) -> UploadReceipt:
        r = self._request(
            oracle, "PUT", f"{url}{API_PREFIX}/auctions/{auction_id}/uploads", content=ciphertext, headers=dict(headers)
        )
        body = _reply_object(r)
        return UploadReceipt(oracle=oracle, sha256=body["sha256"], size=int(body["size"]))

    def status(
        self, *, url: str, oracle: str, auction_id: int, provider: str, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The oracle's record of `provider`'s upload (`status_headers` needed before the reveal deadline)."""
        r = self._request(
            oracle, "GET", f"{url}{API_PREFIX}/auctions/{auction_id}/uploads/{provider}", headers=dict(headers or {})
        )
        return _reply_object(r)


def status_headers(account: LocalAccount, chain_id: int, contract: str, auction_id: int, oracle: str) -> dict[str, str]:
    """Signed headers that let `account` read its own upload status at `oracle` before the reveal deadline."""
    msg = status_message(chain_id, contract, auction_id, oracle, account.address)
    return {HEADER_PROVIDER: account.address, HEADER_SIGNATURE: "0x" + sign_upload(account.key, msg).hex()}


def upload_headers(
    account: LocalAccount, chain_id: int, contract: str, auction_id: int, oracle: str, ciphertext: bytes, root: bytes
) -> dict[str, str]:
    """Signed headers authorising `ciphertext` as `account`'s dataset for this auction at this oracle."""
    digest = hashlib.sha256(ciphertext).hexdigest()
    msg = upload_message(chain_id, contract, auction_id, oracle, account.address, digest, root)
    return {
        HEADER_PROVIDER: account.address,
        HEADER_SHA256: digest,
        HEADER_ROOT: "0x" + root.hex(),
        HEADER_SIGNATURE: "0x" + sign_upload(account.key, msg).hex(),
    }


def deliver_dataset(
    client: AuctionClient,
    auction_id: int,
    records: Sequence[Mapping[str, Any]],
    urls: Mapping[str, str],
    *,
    http: DataroomClient | None = None,
) -> tuple[bytes, list[UploadReceipt]]:
    """Encrypts the dataset to every oracle of the auction and uploads it; returns (root, receipts).

    Every oracle must have a URL, serve its on-chain key and accept the upload; any failure raises
    before anything goes on chain, so a failed delivery costs the provider nothing.
    """
    if client.account is None:
        raise DataroomError("uploading needs the provider's account")
    root = records_root(records)
    payload = encode_records(records)
    committee = onchain_committee(client, auction_id)
    by_addr: dict[str, str] = {to_checksum_address(a): u for a, u in urls.items()}
    missing = [o.address for o in committee if o.address not in by_addr]
    if missing:
        raise DataroomError(f"no URL for oracle(s) {', '.join(missing)}: pass --committee or --oracle-url ADDRESS=URL")
    own = http is None
    http = http or DataroomClient()
    try:
        keys = [http.verified_key(o, by_addr[o.address]) for o in committee]  # all checked before any upload
        receipts = []
        for o, key in zip(committee, keys, strict=True):
            url = by_addr[o.address]
            ct = nacl.public.SealedBox(key).encrypt(payload)
            headers = upload_headers(
                client.account, client.chain.chain_id, client.contract.address, auction_id, o.address, ct, root
            )
            receipt = http.upload(url=url, oracle=o.address, ciphertext=ct, headers=headers, auction_id=auction_id)
            receipts.append(receipt)
        return root, receipts
    finally:
        if own:
            http.close()
