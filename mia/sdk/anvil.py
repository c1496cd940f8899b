"""Start and stop a local anvil node (the native binary of the pinned npm package) on 127.0.0.1.

The child is the anvil binary itself (never the npm JavaScript wrapper, which would survive a kill of its
PID), and on Linux it is told to exit when the process that started it dies, so a killed `mia node`, test
or oracle cluster never leaves an anvil behind.
"""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
import time

import requests

from mia.protocol.errors import MiaError
from mia.sdk.toolchain import ToolchainError, native_binary

# anvil's documented, public development key (account 0 of its default test mnemonic).
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_CHAIN_ID = 31337


def anvil_available() -> bool:
    """Whether a native anvil binary can be found (tests that need one skip otherwise)."""
    try:
        native_binary("anvil")
    except ToolchainError:
        return False
    return True


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to send SIGTERM to this child when its parent dies, however the parent dies."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]  # an (host, port) pair for AF_INET
        return port


class AnvilNode:
    """A child anvil process; use as a context manager so it always stops."""

    def __init__(self, *, port: int | None = None, chain_id: int = ANVIL_CHAIN_ID, block_time: int | None = None):
        self.binary = str(native_binary("anvil"))
        self.port = port or _free_port()
        self.chain_id = chain_id
        self.block_time = block_time
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> AnvilNode:
        args = [
            self.binary,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--silent",
            "--gas-limit", "30000000",
            "--code-size-limit", "49152",
        ]  # fmt: skip
        if self.block_time:
            args += ["--block-time", str(self.block_time)]
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise MiaError(f"anvil exited at start (code {self.proc.returncode}): {err.strip()[:400]}")
            try:
                r = requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=1)
                if r.ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise MiaError(f"anvil did not answer on {self.url} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
