"""Wiring of one oracle service: configuration, keys, store, chain loop and HTTP server.

`python -m offchain.oracle_service` and `mia oracle serve` both land in `serve()`. The Ethereum key
comes from a keystore file or an environment variable (never the command line); the X25519 and
Ed25519 keys live in the data directory. Logs name auctions, providers and sizes, never data or keys.
"""

from __future__ import annotations

import argparse
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from eth_account.signers.local import LocalAccount

from offchain.oracle_service.keys import OracleKeys, load_keys
from offchain.oracle_service.store import Store
from offchain.oracle_service.watcher import Watcher
from offchain.valuation import Dataset
from pysdk.auction import AuctionClient
from pysdk.chain import Chain
from pysdk.dataroom import DEFAULT_MAX_UPLOAD, load_committee
from pysdk.errors import MiaError

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
        self.keys: OracleKeys = load_keys(config.data_dir)
        self.store = Store(config.data_dir)
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
    )  # fmt: skip


def serve(args: argparse.Namespace) -> int:
    """Runs the service until SIGINT/SIGTERM."""
    import uvicorn

    from offchain.oracle_service.api import build_app
    from pysdk.keys import load_signer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # peers are polled often; failures are logged by us
    account = load_signer(keystore=args.keystore, key_env=args.key_env)
    svc = OracleService(config_from_args(args), account)
    log.info(
        "oracle %s (X25519 %s, Ed25519 %s) serving contract %s on http://%s:%d",
        svc.address, svc.keys.x25519_public.hex(), svc.keys.ed25519_public.hex(), args.contract, args.host, args.port,
    )  # fmt: skip
    svc.start()
    try:
        uvicorn.Server(uvicorn.Config(build_app(svc), host=args.host, port=args.port, log_level="warning")).run()
    finally:
        svc.stop()
    return 0
