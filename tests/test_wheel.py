"""The wheel on its own: built from this tree, installed with the base dependencies only into a fresh
virtual environment outside the repository, and used there by a provider (commit, reveal, withdraw)
and an auditor against an anvil node, while the buyer and the oracles act from the repository.

It proves what `pip install mia` promises: the SDK and CLI of the bidding roles work without torch and
without any file of the source tree, and a command that needs an extra says which one in one line.
Select it with `-m wheel`. One environment serves the whole pytest run (all xdist workers).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import keccak

from mia.sdk.anvil import ANVIL_DEV_KEY, AnvilNode, anvil_available
from mia.sdk.auction import OracleInfo, Phase
from mia.sdk.buyer import Buyer
from mia.sdk.chain import Chain
from mia.sdk.oracle import Oracle

pytestmark = [
    pytest.mark.wheel,
    pytest.mark.anvil,
    pytest.mark.skipif(not anvil_available(), reason="anvil not installed"),
]

REPO = Path(__file__).resolve().parents[1]
ETHER = 10**18
WAD = 10**18
# Modules that only the extras bring; none may be importable in the base install.
EXTRA_ONLY = ("torch", "sklearn", "scipy", "matplotlib", "starlette", "uvicorn", "tqdm", "eth_tester", "solcx")
PIP_TIMEOUT = 900


@dataclass(frozen=True)
class BaseInstall:
    """The fresh environment holding only the wheel and its base dependencies."""

    root: Path
    python: Path
    mia: Path
    work: Path  # a folder outside the repository to run from
    seconds: float  # wall time of build + venv + install (0 when another worker built it)

    def env(self, **extra: str) -> dict[str, str]:
        """The caller's environment without anything that would let the repository's code leak in."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.python.parent}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONNOUSERSITE"] = "1"
        env.update(extra)
        return env

    def run(self, *argv: str | Path, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in argv], cwd=self.work, env=self.env(**env), capture_output=True, text=True, timeout=timeout
        )

    def python_code(self, code: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.run(self.python, "-c", code, **env)


def _check(proc: subprocess.CompletedProcess[str], what: str) -> str:
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock shared by the xdist workers of one run, so only one of them builds."""
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _build(root: Path) -> float:
    """Copies the packaging inputs out of the tree (so no stale in-tree build can leak into the wheel),
    builds the wheel there, and installs it with its base dependencies into a new venv. Returns seconds."""
    t0 = time.monotonic()
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "mia", src / "mia", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    quiet = {"capture_output": True, "text": True, "timeout": PIP_TIMEOUT}
    _check(
        subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", root / "dist", src], **quiet),
        "pip wheel",
    )
    (wheel,) = (root / "dist").glob("mia-*.whl")
    shutil.rmtree(src)  # nothing of the source tree stays next to the environment
    _check(subprocess.run([sys.executable, "-m", "venv", "--without-pip", root / "venv"], **quiet), "venv")
    # The repository's pip installs into the new environment (--python), resolving the base
    # dependencies from the configured index; the environment itself gets no pip and no extras.
    install = [*pip, "--python", root / "venv" / "bin" / "python", "install", "--quiet", wheel]
    _check(subprocess.run(install, **quiet), "pip install of the wheel")
    return time.monotonic() - t0


@pytest.fixture(scope="session")
def base_install(tmp_path_factory: pytest.TempPathFactory) -> BaseInstall:
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base is a folder of the run's own; its parent is common to the run.
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / "mia-wheel"
    assert not root.resolve().is_relative_to(REPO), "the wheel environment must live outside the repository"
    with _locked(shared / "mia-wheel.lock"):
        done = root / "ready.json"
        if done.exists():
            seconds = 0.0
        else:
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            seconds = _build(root)
            done.write_text(json.dumps({"seconds": round(seconds, 1)}))
    work = root / "work" / f"w{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    venv = root / "venv"
    inst = BaseInstall(root, venv / "bin" / "python", venv / "bin" / "mia", work, seconds)
    print(f"\nwheel build + base install: {json.loads(done.read_text())['seconds']} s")
    return inst


def test_base_install_has_the_sdk_and_cli_but_no_extras(base_install: BaseInstall) -> None:
    proc = base_install.python_code("import torch")
    assert proc.returncode != 0 and "No module named 'torch'" in proc.stderr
    probe = f"""
import importlib, importlib.util, json, pkgutil, mia
mods = []
for pkg in ("mia.protocol", "mia.mechanism", "mia.sdk", "mia.cli"):
    p = importlib.import_module(pkg)
    for m in pkgutil.iter_modules(p.__path__):
        mods.append(importlib.import_module(f"{{pkg}}.{{m.name}}").__name__)
print(json.dumps({{"file": mia.__file__, "modules": mods,
                  "extras": [m for m in {EXTRA_ONLY!r} if importlib.util.find_spec(m) is not None]}}))
"""
    out = json.loads(_check(base_install.python_code(probe), "importing the base layers"))
    assert Path(out["file"]).is_relative_to(base_install.root / "venv"), out["file"]
    assert out["extras"] == [], f"the base install pulled in extras' modules: {out['extras']}"
    assert {"mia.sdk.provider", "mia.sdk.auditor", "mia.cli.commands"} <= set(out["modules"])
    embedded = (
        "from mia.protocol.errors import MiaError\nfrom mia.sdk.chain import Chain\n"
        "try:\n    Chain.embedded()\nexcept MiaError as e:\n    print(e)"
    )
    said = _check(base_install.python_code(embedded), "Chain.embedded()")
    assert said.strip() == "the embedded chain needs the embedded extra: pip install 'mia[embedded]'"
    assert "bid" in _check(base_install.run(base_install.mia, "--help"), "mia --help")
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert _check(base_install.run(base_install.mia, "--version"), "mia --version").startswith(f"mia {version} ")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["oracle", "serve", "--rpc-url", "http://127.0.0.1:1", "--contract", "0x" + "11" * 20, "--data-dir", "d",
             "--validation", "v.npz", "--model-id", "m"],
            "`mia oracle serve` needs the oracle extra: pip install 'mia[oracle]'",
        ),
        (["simulate", "single-round"], "`mia simulate` needs the sim extra: pip install 'mia[sim]'"),
        (["valuate", "--validation", "v.jsonl"], "`mia valuate` needs the oracle extra: pip install 'mia[oracle]'"),
        (["demo"], "`mia demo` needs the oracle and embedded extras: pip install 'mia[oracle,embedded]'"),
        (
            ["deploy", "--network", "embedded"],
            "`mia deploy --network embedded` needs the embedded extra: pip install 'mia[embedded]'",
        ),
    ],
)  # fmt: skip
def test_a_command_without_its_extra_says_which_in_one_line(
    base_install: BaseInstall, argv: list[str], line: str
) -> None:
    proc = base_install.run(base_install.mia, *argv)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"error: {line}"
    assert proc.stdout == ""


# The provider's side of a bid, written against the installed package only: load the dataset, commit
# (the opening goes to the salt vault first), print the dataset root.
COMMIT_SCRIPT = """
import sys
from mia.sdk.dataroom import load_dataset, records_root
from mia.sdk.networks import connect
from mia.sdk.provider import Provider
from mia.sdk.salts import SaltVault

rpc_url, contract, auction, dataset, vault = sys.argv[1:]
records = load_dataset(dataset)
root = records_root(records)
with connect("rpc", rpc_url=rpc_url) as chain:
    provider = Provider(chain, contract, chain.funder, SaltVault(vault, "wheel-test passphrase"))
    opening = provider.commit(int(auction), 3 * 10**17, root)
print(f"{root.hex()} {opening.commitment}")
"""


def test_provider_and_auditor_work_from_the_installed_wheel(base_install: BaseInstall) -> None:
    work = base_install.work
    provider = Account.from_key(keccak(b"mia wheel test provider"))
    with AnvilNode() as node:
        chain = Chain.rpc(node.url, funder=Account.from_key(ANVIL_DEV_KEY), kind="anvil")
        mia = chain.deploy("MiaAuction")
        buyer = Buyer(chain, mia, chain.funder)
        committee = [Oracle(chain, mia, Account.from_key(keccak(b"mia wheel oracle %d" % i))) for i in range(3)]
        chain.fund(committee[0].address, ETHER)
        chain.fund(provider.address, 10 * ETHER)
        auction = buyer.create_auction(
            budget=ETHER,
            deposit=ETHER // 100,
            oracles=[OracleInfo(o.address, keccak(o.address.encode())) for o in committee],
            threshold=2,
            task_hash=keccak(b"mia wheel task"),
            method_id=1,
        )
        dataset = work / "data.jsonl"
        dataset.write_text("".join(json.dumps({"features": [i, i + 1], "label": i % 2}) + "\n" for i in range(8)))
        vault = work / "bids.vault"
        keys = {"MIA_PRIVATE_KEY": provider.key.hex(), "MIA_VAULT_PASSPHRASE": "wheel-test passphrase"}
        common = ["--rpc-url", node.url, "--contract", mia.address]

        # commit: a script on the installed SDK
        script = work / "commit.py"
        script.write_text(COMMIT_SCRIPT)
        out = _check(
            base_install.run(base_install.python, script, node.url, mia.address, auction, dataset, vault, **keys),
            "provider commit",
        )
        root_hex, commitment = out.split()
        assert commitment.startswith("0x") and vault.exists()

        # reveal: the installed CLI, from the vault the commit wrote
        chain.advance_to(buyer.auction(auction).commit_deadline)
        reveal = ["bid", "reveal", *common, "--auction", str(auction), "--vault", str(vault)]
        assert "revealed" in _check(base_install.run(base_install.mia, *reveal, **keys), "mia bid reveal")
        assert buyer.revealed(auction) == ([provider.address], [bytes.fromhex(root_hex)])

        # the oracles score and the buyer settles, from the repository
        chain.advance_to(buyer.auction(auction).reveal_deadline)
        deadline = buyer.auction(auction).scoring_deadline
        reports = [
            o.build_report(auction, {provider.address: (WAD, WAD)}, transcript_hash=b"\x01" * 32, deadline=deadline)
            for o in committee[:2]
        ]
        committee[0].submit(auction, reports, [o.sign(r) for o, r in zip(committee[:2], reports, strict=True)])
        if buyer.phase(auction) == Phase.SCORING:
            chain.advance_to(deadline)
            committee[0].finalize(auction)
        buyer.settle(auction)

        # the provider collects, the auditor re-derives every payment: both with the installed CLI
        before = chain.balance(provider.address)
        withdraw = ["bid", "withdraw", *common, "--auction", str(auction)]
        assert "withdrew" in _check(base_install.run(base_install.mia, *withdraw, **keys), "mia bid withdraw")
        assert chain.balance(provider.address) > before
        audit = ["audit", *common, "--auction", str(auction), "--confirmations", "0"]
        out = _check(base_install.run(base_install.mia, *audit), "mia audit")
        assert "AUDIT PASSED (settled)" in out and "✗" not in out
