"""The native Foundry binaries: resolved in one place, never the npm wrappers, and gates that can fail.

The npm wrapper `node_modules/.bin/forge` exits 0 when tests fail and a killed anvil wrapper leaves its
anvil running; these tests pin both problems down so they cannot come back silently.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mia.sdk.anvil import anvil_available
from mia.sdk.toolchain import NODE_MODULES, ToolchainError, is_script_wrapper, native_binary, platform_suffix

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tools"))
import forge_gate  # noqa: E402

needs_foundry = pytest.mark.skipif(not anvil_available(), reason="Foundry binaries not installed (run make setup)")


@pytest.mark.parametrize(
    ("plat", "machine", "suffix"),
    [
        ("linux", "x86_64", "linux-amd64"),
        ("linux", "aarch64", "linux-arm64"),
        ("darwin", "arm64", "darwin-arm64"),
        ("darwin", "x86_64", "darwin-amd64"),
        ("win32", "AMD64", "win32-amd64"),
    ],
)
def test_platform_suffix_matches_the_npm_packages(plat, machine, suffix):
    assert platform_suffix(plat, machine) == suffix


def test_a_platform_without_a_package_gets_a_clear_error(tmp_path):
    with pytest.raises(ToolchainError, match=r"no native forge binary for platform sunos5-sparc"):
        native_binary("forge", node_modules=tmp_path, sys_platform="sunos5", machine="sparc", search_path=False)
    with pytest.raises(ToolchainError, match="unknown Foundry tool"):
        native_binary("cast")


def test_a_wrapper_on_path_is_never_used(tmp_path, monkeypatch):
    """Only a wrapper script named forge on PATH (as node_modules/.bin puts there): refused, not run."""
    fake = tmp_path / "bin" / "forge"
    fake.parent.mkdir()
    fake.write_text("#!/usr/bin/env node\nprocess.exit(0)\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    assert is_script_wrapper(fake)
    with pytest.raises(ToolchainError, match="native forge"):
        native_binary("forge", node_modules=tmp_path / "empty", sys_platform="sunos5", machine="sparc")


def test_outside_a_checkout_the_error_names_the_explicit_setting(tmp_path, monkeypatch):
    """An installed package has no node_modules: the error says how to point at a binary instead."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError, match=r"looked for the MIA_ANVIL setting .* and for anvil on PATH"):
        native_binary("anvil", node_modules=tmp_path / "absent", environ={})


def test_an_explicit_setting_wins_and_must_be_a_native_executable(tmp_path):
    native = tmp_path / "anvil"
    native.write_bytes(b"\x7fELF fake native binary")
    native.chmod(0o755)
    assert native_binary("anvil", node_modules=tmp_path / "absent", environ={"MIA_ANVIL": str(native)}) == native
    wrapper = tmp_path / "wrapper"
    wrapper.write_text("#!/bin/sh\nexit 0\n")
    wrapper.chmod(0o755)
    with pytest.raises(ToolchainError, match=r"MIA_ANVIL=.* is a script wrapper"):
        native_binary("anvil", environ={"MIA_ANVIL": str(wrapper)})
    with pytest.raises(ToolchainError, match=r"MIA_FORGE=.* is not an executable file"):
        native_binary("forge", environ={"MIA_FORGE": str(tmp_path / "missing")})


@needs_foundry
def test_resolved_binaries_are_native_and_the_npm_bins_are_wrappers():
    for tool in ("forge", "anvil"):
        path = native_binary(tool)
        assert not is_script_wrapper(path), path
        assert is_script_wrapper(NODE_MODULES / ".bin" / tool)


@needs_foundry
def test_forge_gate_fails_the_wrapper_and_passes_the_native_binary():
    """The check `make test` runs before the Foundry suite: it must tell a working gate from a broken one."""
    problem = forge_gate.check([str(NODE_MODULES / ".bin" / "forge")])
    assert problem is not None and "exited 0 on a deliberately failing test" in problem
    assert forge_gate.check([str(native_binary("forge"))]) is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start_mia_node(port: int) -> subprocess.Popen[bytes]:
    mia = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from mia.cli.commands import main; raise SystemExit(main())",
            "node",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not _listening(port):
        if mia.poll() is not None or time.monotonic() > deadline:
            mia.kill()
            raise AssertionError("mia node did not start anvil")
        time.sleep(0.1)
    return mia


@needs_foundry
@pytest.mark.anvil
def test_mia_node_mines_while_idle():
    """Deadlines are chain time: an idle `mia node` must still move it forward."""
    from web3 import Web3

    port = _free_port()
    mia = _start_mia_node(port)
    try:
        w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}"))
        first = w3.eth.get_block("latest")
        time.sleep(3.5)
        later = w3.eth.get_block("latest")
        assert later["number"] >= first["number"] + 2
        assert later["timestamp"] >= first["timestamp"] + 2
    finally:
        mia.terminate()
        mia.wait(timeout=15)


@needs_foundry
@pytest.mark.anvil
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killing_mia_node_by_pid_stops_its_anvil(sig):
    port = _free_port()
    mia = _start_mia_node(port)
    try:
        anvil = _children(mia.pid)
        assert len(anvil) == 1, f"expected mia node to run anvil itself, found children {anvil}"
        assert "anvil" in Path(f"/proc/{anvil[0]}/cmdline").read_bytes().decode(errors="replace")
        os.kill(mia.pid, sig)
        mia.wait(timeout=15)
        deadline = time.monotonic() + 15
        while _alive(anvil[0]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(anvil[0]), f"anvil {anvil[0]} still runs after {sig.name} to mia node"
        assert not _listening(port)
    finally:
        if mia.poll() is None:
            mia.kill()
            mia.wait()
