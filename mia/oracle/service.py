"""Wiring of one oracle service: configuration, keys, store, chain loop and HTTP server.

`python -m mia.oracle` and `mia oracle serve` both land in `serve()`. The Ethereum key
comes from a keystore file or an environment variable (never the command line); the X25519 and
Ed25519 keys live in the data directory. Logs name auctions, providers and sizes, never data or keys.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from eth_account.signers.local import LocalAccount

from mia.oracle.keys import OracleKeys, load_keys
from mia.oracle.store import Store
from mia.oracle.watcher import Watcher
from mia.protocol.errors import MiaError
from mia.sdk.auction import AuctionClient
from mia.sdk.chain import Chain
from mia.sdk.dataroom import DEFAULT_MAX_UPLOAD, load_committee
from mia.valuation import Dataset

log = logging.getLogger("mia.oracle")


@dataclass
class ServiceConfig:
    rpc_url: str
    contract: str
    data_dir: Path
    validation: Dataset
    model_id: str
    committee: dict[str, str] = field(default_factory=dict)  # peers' address -> URL
    host: str = "127.0.0.1"
    port: int = 8700
    poll: float = 1.0
    grace: float = 30.0
    stagger: float = 5.0
    max_upload: int = DEFAULT_MAX_UPLOAD
    k: int = 5
    device: str = "cpu"
    # resource bounds of the data room (see api.py and SECURITY.md)
    max_concurrent_uploads: int = 64  # bodies being received at once (beyond: 503)
    max_buffered: int = 1024 * 1024 * 1024  # bytes reserved by uploads in flight (declared sizes)
    max_pending: int = 2 * 1024 * 1024 * 1024  # stored bytes from providers without an on-chain bid ...
    max_pending_per_ip: int = 256 * 1024 * 1024  # ... of which one client IP may hold this much
    check_workers: int = 2  # decrypt-and-validate jobs at once (bounds their memory)
    read_timeout: float = 10.0  # seconds without body bytes before an upload is dropped
    ip_rate: float = 200.0  # requests/s per client IP (burst: twice that)
    fail_rate: float = 1.0  # failed requests/s per (client IP, provider) ...
    fail_burst: float = 20.0  # ... after this many in a row
    max_attempts: int = 5  # scoring attempts of one round before it is marked failed
    retry_base: float = 2.0  # seconds before the first retry of a failed round step (doubles, capped)
    retry_cap: float = 120.0


def load_validation(path: str | Path) -> Dataset:
    """The buyer's validation set: a `.npz` with `features` and `labels` arrays."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return Dataset(features=np.asarray(z["features"], dtype=np.float64), labels=np.asarray(z["labels"]))
    except (OSError, KeyError, ValueError) as exc:
        raise MiaError(f"cannot load the validation set {path} (a .npz with 'features' and 'labels'): {exc}") from None


class OracleService:
    """One oracle: its keys, state, a chain client for the loop and a read-only one for the API."""

    def __init__(self, config: ServiceConfig, account: LocalAccount) -> None:
        self.config = config
        self.account = account
        self.address = account.address
        try:
            self.keys: OracleKeys = load_keys(config.data_dir)
            self.store = Store(config.data_dir)
        except (OSError, sqlite3.Error) as exc:
            raise MiaError(
                f"the data directory {config.data_dir} is not usable ({type(exc).__name__}: "
                f"{getattr(exc, 'strerror', None) or exc}); it must be writable by this user"
            ) from None
        self.chain = Chain.rpc(config.rpc_url)
        self.client = AuctionClient(self.chain, config.contract, account)
        self.reader = AuctionClient(Chain.rpc(config.rpc_url), config.contract)  # API thread pool reads
        self.watcher = Watcher(self)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.watcher.run, args=(self._stop,), name="chain-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.store.close()


def config_from_args(args: argparse.Namespace) -> ServiceConfig:
    return ServiceConfig(
        rpc_url=args.rpc_url, contract=args.contract, data_dir=args.data_dir,
        validation=load_validation(args.validation), model_id=args.model_id,
        committee=load_committee(args.committee) if args.committee else {}, host=args.host, port=args.port,
        poll=args.poll, grace=args.grace, stagger=args.stagger, max_upload=args.max_upload, device=args.device,
        max_concurrent_uploads=args.max_concurrent_uploads, max_buffered=args.max_buffered,
        max_pending=args.max_pending, max_pending_per_ip=args.max_pending_per_ip, read_timeout=args.read_timeout,
        ip_rate=args.ip_rate, fail_rate=args.fail_rate,
        max_attempts=args.max_attempts,
    )  # fmt: skip


def serve(args: argparse.Namespace) -> int:
    """Runs the service until SIGINT/SIGTERM."""
    import uvicorn

    from mia.oracle.api import build_app
    from mia.protocol.safejson import restore_recursion_limit
    from mia.sdk.keys import load_signer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # peers are polled often; failures are logged by us
    account = load_signer(keystore=args.keystore, key_env=args.key_env)
    restore_recursion_limit()  # eth_account/py_ecc left it at 100,000: C stacks overflow long before that
    try:
        svc = OracleService(config_from_args(args), account)
    except MiaError as exc:
        log.error("%s", exc)
        return 2
    log.info(
        "oracle %s (X25519 %s, Ed25519 %s) serving contract %s on http://%s:%d",
        svc.address, svc.keys.x25519_public.hex(), svc.keys.ed25519_public.hex(), args.contract, args.host, args.port,
    )  # fmt: skip
    svc.start()
    try:
        config = uvicorn.Config(
            build_app(svc), host=args.host, port=args.port, log_level="warning",
            timeout_keep_alive=5,  # idle connections are closed after 5 s
            limit_concurrency=svc.config.max_concurrent_uploads * 4,  # connections + tasks; beyond: 503
            h11_max_incomplete_event_size=16 * 1024,  # request line + headers
        )  # fmt: skip
        uvicorn.Server(config).run()
    finally:
        svc.stop()
    return 0
