"""Deterministic compilation of `contracts/` with the pinned npm solc, driven by py-solc-x.

Native solc cannot be downloaded in our environments, so py-solc-x is pointed at
`tools/solc-shim`, a tiny command-line face over the npm `solc` package. Settings come from
`foundry.toml` so that forge and the SDK build the same bytecode.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = REPO_ROOT / "contracts"
BUILD_DIR = REPO_ROOT / "build" / "contracts"
SHIM = REPO_ROOT / "tools" / "solc-shim"
FOUNDRY_TOML = REPO_ROOT / "foundry.toml"


class CompilerError(RuntimeError):
    """The Solidity sources failed to compile, or the toolchain is missing."""


@dataclass(frozen=True)
class CompilerSettings:
    """Pinned compiler version and codegen options (read from foundry.toml)."""

    solc_version: str
    evm_version: str
    optimizer_runs: int
    optimizer: bool
    via_ir: bool
    remappings: tuple[str, ...]

    @classmethod
    def load(cls, path: Path = FOUNDRY_TOML) -> CompilerSettings:
        profile = tomllib.loads(path.read_text())["profile"]["default"]
        return cls(
            solc_version=profile["solc_version_pin"],
            evm_version=profile["evm_version"],
            optimizer_runs=int(profile["optimizer_runs"]),
            optimizer=bool(profile["optimizer"]),
            via_ir=bool(profile.get("via_ir", False)),
            remappings=tuple(profile.get("remappings", ())),
        )


def _sources(root: Path) -> dict[str, dict[str, str]]:
    files = sorted(p for p in root.rglob("*.sol"))
    return {str(p.relative_to(REPO_ROOT)): {"content": p.read_text()} for p in files}


def standard_input(settings: CompilerSettings | None = None) -> dict[str, Any]:
    """The solc standard-JSON input for every contract under `contracts/`."""
    s = settings or CompilerSettings.load()
    return {
        "language": "Solidity",
        "sources": _sources(CONTRACTS_DIR),
        "settings": {
            "remappings": list(s.remappings),
            "optimizer": {"enabled": s.optimizer, "runs": s.optimizer_runs},
            "viaIR": s.via_ir,
            "evmVersion": s.evm_version,
            "metadata": {"bytecodeHash": "none", "appendCBOR": False},
            "outputSelection": {
                "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "storageLayout"]}
            },
        },
    }


def compile_contracts(out_dir: Path | None = BUILD_DIR) -> dict[str, dict[str, Any]]:
    """Compiles all contracts; writes `<Name>.json` (abi, bytecode) into `out_dir` if given.

    Returns {contract name: {"abi", "bytecode", "deployedBytecode", "source"}}.
    """
    import solcx  # imported lazily: only compilation needs it

    if not SHIM.exists() or not (REPO_ROOT / "node_modules" / "solc").exists():
        raise CompilerError("solc toolchain missing: run `make setup` (npm install) first")
    settings = CompilerSettings.load()
    try:
        output = solcx.compile_standard(
            standard_input(settings),
            solc_binary=str(SHIM),
            allow_paths=[str(REPO_ROOT)],
            base_path=str(REPO_ROOT),
        )
    except solcx.exceptions.SolcError as exc:
        raise CompilerError(_format_errors(exc.stdout_data) or exc.message) from None
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompilerError("\n".join(e.get("formattedMessage", e["message"]) for e in errors))
    artifacts: dict[str, dict[str, Any]] = {}
    for source, contracts in output["contracts"].items():
        for name, data in contracts.items():
            artifacts[name] = {
                "abi": data["abi"],
                "bytecode": "0x" + data["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
                "source": source,
            }
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, art in artifacts.items():
            (out_dir / f"{name}.json").write_text(json.dumps(art, indent=1, sort_keys=True))
        (out_dir / "BUILD_INFO.json").write_text(
            json.dumps({"sources_hash": sources_hash(), "solc": settings.solc_version}, indent=1)
        )
    return artifacts


def _format_errors(stdout: str) -> str:
    try:
        errors = json.loads(stdout).get("errors", [])
    except (json.JSONDecodeError, AttributeError):
        return ""
    return "\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors if e.get("severity") == "error")


def sources_hash() -> str:
    """Hash of every Solidity source and the compiler settings: tells whether a build is stale."""
    h = hashlib.sha256(FOUNDRY_TOML.read_bytes())
    for name, src in sorted(_sources(CONTRACTS_DIR).items()):
        h.update(name.encode())
        h.update(src["content"].encode())
    return h.hexdigest()


def load_artifact(name: str, build_dir: Path = BUILD_DIR) -> dict[str, Any]:
    """ABI and bytecode of contract `name`, compiling first when the build is missing or stale."""
    info = build_dir / "BUILD_INFO.json"
    fresh = info.exists() and json.loads(info.read_text()).get("sources_hash") == sources_hash()
    if not fresh or not (build_dir / f"{name}.json").exists():
        if os.environ.get("MIA_NO_COMPILE"):
            raise CompilerError(f"artifact {name} missing or stale and MIA_NO_COMPILE is set")
        compile_contracts(build_dir)
    path = build_dir / f"{name}.json"
    if not path.exists():
        raise CompilerError(f"no contract named {name} under contracts/")
    return json.loads(path.read_text())
