"""A whole committee on one machine, every party its own process: anvil, n oracle services, a buyer
(`mia auction create`) and providers (`mia bid commit` / `reveal`), all on 127.0.0.1.

Used by the multi-process tests and `bench/round.py`. Time is driven explicitly on anvil (phases are
an hour long; `advance_to` jumps over them), so runs are fast and do not race wall-clock deadlines.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from eth_account import Account
from eth_account.signers.local import LocalAccount

from mia.oracle.scoring import METHOD_KNN_SHAPLEY_QUALITY, task_hash
from mia.protocol.errors import MiaError
from mia.sdk.anvil import ANVIL_DEV_KEY, AnvilNode, _free_port
from mia.sdk.auction import AuctionClient
from mia.sdk.chain import Chain
from mia.sdk.dataroom import API_PREFIX, records_from_arrays, save_committee
from mia.sdk.deployer import deploy_mia
from mia.valuation import Dataset

# The source checkout these harnesses run services from (they are development tools, never installed use).
REPO_ROOT = Path(__file__).resolve().parents[2]

ETHER = 10**18
PHASE = 3600


@dataclass
class OracleProcess:
    """One `mia oracle serve` child with its key, port and data directory."""

    account: LocalAccount
    port: int
    data_dir: Path
    args: list[str]
    proc: subprocess.Popen[bytes] | None = None
    x25519: bytes = b""
    module: str = "mia.cli"
    root: Path = REPO_ROOT  # source tree the service runs from (benchmarks compare against another checkout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "service.log"

    def spawn(self) -> None:
        env = {**os.environ, "MIA_PRIVATE_KEY": self.account.key.hex(), "PYTHONPATH": str(self.root)}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "oracle", "serve", *self.args],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.root,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 120.0) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise MiaError(f"oracle service exited at start:\n{self.log_path.read_text()[-2000:]}")
            try:
                keys = httpx.get(f"{self.url}{API_PREFIX}/keys", timeout=1).json()
                self.x25519 = bytes.fromhex(keys["x25519"])
                return
            except (httpx.HTTPError, ValueError):
                time.sleep(0.2)
        self.kill()
        raise MiaError(f"oracle service on {self.url} did not start within {timeout:.0f} s")

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def kill(self) -> None:
        """SIGKILL: a crash, not a clean stop."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def digits_task(seed: int = 3) -> tuple[np.ndarray, np.ndarray, Dataset]:
    """Shuffled scikit-learn digits and the buyer's validation set (its last 300 rows)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    perm = np.random.default_rng(seed).permutation(len(y))
    x, y = x[perm].astype(np.float64), y[perm].astype(np.int64)
    return x[:-300], y[:-300], Dataset(features=x[-300:], labels=y[-300:])


@dataclass
class Cluster:
    """anvil + a deployed MiaAuction + oracle services; `close()` stops every child process."""

    workdir: Path
    model_id: str = "digits-knn-5"
    node: AnvilNode | None = None
    chain: Chain | None = None
    contract: str = ""
    oracles: list[OracleProcess] = field(default_factory=list)
    validation: Dataset | None = None

    def start(
        self,
        n_oracles: int,
        *,
        extra_args: Sequence[Sequence[str]] = (),
        modules: Sequence[str] = (),
        roots: Sequence[Path] = (),
        grace: float = 3.0,
    ) -> Cluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.node = AnvilNode().start()
        self.chain = Chain.rpc(self.node.url, funder=Account.from_key(ANVIL_DEV_KEY), kind="anvil")
        self.contract = deploy_mia(self.chain).address
        _, _, self.validation = digits_task()
        vpath = self.workdir / "validation.npz"
        np.savez(vpath, features=self.validation.features, labels=self.validation.labels)
        accounts = [Account.create() for _ in range(n_oracles)]
        ports = [_free_port() for _ in range(n_oracles)]
        committee = self.workdir / "committee.json"
        save_committee(committee, {a.address: f"http://127.0.0.1:{p}" for a, p in zip(accounts, ports, strict=True)})
        for i, (acct, port) in enumerate(zip(accounts, ports, strict=True)):
            self.chain.fund(acct.address, 10 * ETHER)
            data = self.workdir / f"oracle-{i}"
            data.mkdir(parents=True, exist_ok=True)
            args = [
                "--rpc-url", self.node.url, "--contract", self.contract, "--data-dir", str(data),
                "--validation", str(vpath), "--model-id", self.model_id, "--committee", str(committee),
                "--port", str(port), "--poll", "0.2", "--grace", str(grace), "--stagger", "1.5",
                *(extra_args[i] if i < len(extra_args) else ()),
            ]  # fmt: skip
            module = modules[i] if i < len(modules) else "mia.cli"
            root = roots[i] if i < len(roots) else REPO_ROOT
            self.oracles.append(OracleProcess(acct, port, data, args, module=module, root=root))
        for o in self.oracles:
            o.spawn()
        for o in self.oracles:
            o.wait_ready()
        return self

    @property
    def committee_file(self) -> Path:
        return self.workdir / "committee.json"

    @property
    def client(self) -> AuctionClient:
        assert self.chain is not None
        return AuctionClient(self.chain, self.contract)

    def mia(self, args: Sequence[str], key: str, *, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """A `mia` CLI child process signing with `key`."""
        return self.python(["-m", "mia.cli", *args], key, env=env)

    def python(self, args: Sequence[str], key: str, *, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """A Python child process (`args` after the interpreter) signing with `key`."""
        full_env = {**os.environ, "MIA_PRIVATE_KEY": key, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
        return subprocess.Popen(
            [sys.executable, *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=full_env, cwd=REPO_ROOT,
        )  # fmt: skip

    def create_auction(
        self, buyer: LocalAccount, oracles: Sequence[OracleProcess], *, threshold: int, budget: str = "4"
    ) -> int:
        """The buyer's own process creates and funds the auction; returns its id."""
        assert self.validation is not None and self.node is not None
        th = task_hash(self.validation, METHOD_KNN_SHAPLEY_QUALITY, self.model_id)
        args = ["auction", "create", "--rpc-url", self.node.url, "--contract", self.contract, "--budget", budget,
                "--deposit", "0.05", "--threshold", str(threshold), "--task-hash", th.hex(),
                "--commit-period", str(PHASE), "--reveal-period", str(PHASE), "--scoring-period", str(PHASE),
                "--max-providers", "1000"]  # fmt: skip
        for o in oracles:
            args += ["--oracle", f"{o.account.address}:{o.x25519.hex()}"]
        out = run_all([self.mia(args, buyer.key.hex())])[0]
        return int(out.split("auction ")[1].split(" ")[0])

    def write_dataset(self, name: str, x: np.ndarray, y: np.ndarray) -> Path:
        path = self.workdir / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records_from_arrays(x, y)))
        return path

    def bid_args(self, action: str, auction_id: int, vault: Path, extra: Sequence[str] = ()) -> list[str]:
        assert self.node is not None
        return ["bid", action, "--rpc-url", self.node.url, "--contract", self.contract, "--auction", str(auction_id),
                "--vault", str(vault), *extra]  # fmt: skip

    def advance_to(self, timestamp: int) -> None:
        assert self.chain is not None
        self.chain.advance_to(timestamp)

    def close(self) -> None:
        for o in self.oracles:
            o.stop()
        if self.node is not None:
            self.node.stop()


def run_all(procs: Sequence[subprocess.Popen[bytes]], timeout: float = 120.0) -> list[str]:
    """Waits for every child; raises with its output if any failed."""
    outs = []
    for p in procs:
        out, _ = p.communicate(timeout=timeout)
        text = out.decode(errors="replace")
        if p.returncode != 0:
            raise MiaError(f"`mia` child failed (exit {p.returncode}):\n{text[-2000:]}")
        outs.append(text)
    return outs


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    """Polls `predicate()` until truthy; raises naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise MiaError(f"timed out after {timeout:.0f} s waiting for {what}")
