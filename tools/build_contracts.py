"""Development build of `contracts/`: compiles with the pinned npm solc (driven by py-solc-x) and ships
the product contracts' artifacts as package data.

    python -m tools.build_contracts           # every contract (tests' ones too) into build/contracts/
    python -m tools.build_contracts --ship    # ...and regenerate mia/protocol/abi/ + contract_errors.py
    python -m tools.build_contracts --check   # exit 1 unless the shipped files match a fresh compile

The installed package never compiles: `mia.protocol.artifacts` only reads `mia/protocol/abi/`. Native
solc cannot be downloaded in our environments, so py-solc-x is pointed at `tools/solc-shim`, a tiny
command-line face over the npm `solc` package. Settings come from `foundry.toml` so that forge and the
SDK build the same bytecode.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import keyword
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
CONTRACTS_DIR = REPO_ROOT / "contracts"
TEST_CONTRACTS_DIR = CONTRACTS_DIR / "test"
BUILD_DIR = REPO_ROOT / "build" / "contracts"
SHIM = REPO_ROOT / "tools" / "solc-shim"
FOUNDRY_TOML = REPO_ROOT / "foundry.toml"
ABI_DIR = REPO_ROOT / "mia" / "protocol" / "abi"
ERRORS_MODULE = REPO_ROOT / "mia" / "protocol" / "contract_errors.py"
REGENERATE = "python -m tools.build_contracts --ship"

# What the product code deploys or calls: shipped with their ABI and bytecode. IERC20 is the interface
# every payment-asset call goes through (only its ABI matters).
SHIPPED = ("MiaAuction", "MarginalUtilityToken", "MutFactory", "IERC20")
# What solc reports per contract; the NatSpec (devdoc, userdoc) documents the generated error classes.
OUTPUTS = ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "storageLayout", "devdoc", "userdoc"]


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
    def load(cls, path: Path | None = None) -> CompilerSettings:
        profile = tomllib.loads((path or FOUNDRY_TOML).read_text())["profile"]["default"]
        return cls(
            solc_version=profile["solc_version_pin"],
            evm_version=profile["evm_version"],
            optimizer_runs=int(profile["optimizer_runs"]),
            optimizer=bool(profile["optimizer"]),
            via_ir=bool(profile.get("via_ir", False)),
            remappings=tuple(profile.get("remappings", ())),
        )


def _sources(root: Path, *, with_tests: bool = True) -> dict[str, dict[str, str]]:
    files = sorted(p for p in root.rglob("*.sol") if with_tests or TEST_CONTRACTS_DIR not in p.parents)
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
            "outputSelection": {"*": {"*": OUTPUTS}},
        },
    }


def compile_contracts(out_dir: Path | None = BUILD_DIR) -> dict[str, dict[str, Any]]:
    """Compiles all contracts; writes `<Name>.json` into `out_dir` if given.

    Returns {contract name: {"abi", "bytecode", "deployedBytecode", "source", "devdoc", "userdoc"}}.
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
            if name in artifacts:
                raise CompilerError(f"two contracts are named {name}: {artifacts[name]['source']} and {source}")
            artifacts[name] = {
                "abi": data["abi"],
                "bytecode": "0x" + data["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
                "source": source,
                "devdoc": data.get("devdoc", {}),
                "userdoc": data.get("userdoc", {}),
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


def _hash(sources: Mapping[str, Mapping[str, str]], foundry_toml: Path | None) -> str:
    # the settings that reach the compiler, not the file: comments and test settings do not change a build
    settings = dataclasses.asdict(CompilerSettings.load(foundry_toml))
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for name, src in sorted(sources.items()):
        h.update(name.encode())
        h.update(src["content"].encode())
    return h.hexdigest()


def sources_hash(foundry_toml: Path | None = None) -> str:
    """Hash of every Solidity source (test contracts too) and the settings: tells whether build/ is stale."""
    return _hash(_sources(CONTRACTS_DIR), foundry_toml)


def product_sources_hash(foundry_toml: Path | None = None) -> str:
    """Hash of the product sources (not contracts/test/) and the settings, recorded in the shipped manifest."""
    return _hash(_sources(CONTRACTS_DIR, with_tests=False), foundry_toml)


# ------------------------------------------------------------------------------------- dev artifacts


def dev_artifact(name: str, build_dir: Path = BUILD_DIR) -> dict[str, Any]:
    """ABI and bytecode of any contract under contracts/ (test ones too) from build/, compiling when stale.

    For tests and tools only: the product reads the shipped `mia.protocol.artifacts`.
    """
    info = build_dir / "BUILD_INFO.json"
    fresh = info.exists() and json.loads(info.read_text()).get("sources_hash") == sources_hash()
    if not fresh:
        compile_contracts(build_dir)
    path = build_dir / f"{name}.json"
    if not path.exists():
        raise CompilerError(f"no contract named {name} under contracts/ (in the build at {build_dir})")
    art: dict[str, Any] = json.loads(path.read_text())
    return art


# ------------------------------------------------------------------------------------ shipped files


def shipped_artifact(art: Mapping[str, Any]) -> dict[str, Any]:
    """What one shipped `mia/protocol/abi/<Name>.json` holds."""
    return {"abi": art["abi"], "bytecode": art["bytecode"], "deployedBytecode": art["deployedBytecode"]}


def manifest(settings: CompilerSettings | None = None) -> dict[str, Any]:
    s = settings or CompilerSettings.load()
    return {
        "sources_hash": product_sources_hash(),
        "solc": s.solc_version,
        "contracts": list(SHIPPED),
        "regenerate": REGENERATE,
    }


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True) + "\n"


def _error_signature(item: Mapping[str, Any]) -> str:
    def typ(i: Mapping[str, Any]) -> str:
        if i["type"].startswith("tuple"):
            return f"({','.join(typ(c) for c in i['components'])}){i['type'][5:]}"
        return str(i["type"])

    return f"{item['name']}({','.join(typ(i) for i in item['inputs'])})"


def _docs(art: Mapping[str, Any], signature: str) -> list[str]:
    lines = []
    for doc, key in ((art.get("userdoc", {}), "notice"), (art.get("devdoc", {}), "details")):
        for entry in doc.get("errors", {}).get(signature, []):
            if entry.get(key):
                lines.append(" ".join(str(entry[key]).split()))
    return lines


def errors_module(artifacts: Mapping[str, Mapping[str, Any]]) -> str:
    """Source of `mia/protocol/contract_errors.py`: one class per custom error in the shipped ABIs."""
    found: dict[str, dict[str, Any]] = {}
    for contract in SHIPPED:
        art = artifacts[contract]
        for item in art["abi"]:
            if item.get("type") != "error":
                continue
            sig = _error_signature(item)
            entry = found.setdefault(item["name"], {"signature": sig, "item": item, "contracts": [], "docs": []})
            if entry["signature"] != sig:
                raise CompilerError(f"error {item['name']} has two signatures: {entry['signature']} and {sig}")
            entry["contracts"].append(contract)
            entry["docs"] += [d for d in _docs(art, sig) if d not in entry["docs"]]
    out = [
        '"""Python classes for the custom errors in the shipped contract ABIs (`mia/protocol/abi/`).',
        "",
        f"Generated by `{REGENERATE}`; do not edit. A name missing here is an ImportError, so an",
        "`except` clause can only name an error some shipped contract can raise.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Final",
        "",
        "from mia.protocol.errors import ContractRevert",
        "",
    ]
    for name in sorted(found):
        if not name.isidentifier() or keyword.iskeyword(name):
            raise CompilerError(f"error name {name!r} is not a Python identifier")
        e = found[name]
        args = ", ".join(f"{i['internalType'] or i['type']} {i['name']}".strip() for i in e["item"]["inputs"])
        doc = [f"`{name}({args})`, raised by {', '.join(e['contracts'])}."] + e["docs"]
        body = "\n\n    ".join(_wrap(doc)) + ("\n    " if len(doc) > 1 else "")
        out += [
            "",
            f"class {name}(ContractRevert):",
            f'    """{body}"""',
            "",
            f'    error_name = "{name}"',
            f'    signature = "{e["signature"]}"',
            "",
        ]
    out += [
        "",
        "CONTRACT_ERRORS: Final[dict[str, type[ContractRevert]]] = {",
        *(f'    "{name}": {name},' for name in sorted(found)),
        "}",
        "",
        "__all__ = [",
        '    "CONTRACT_ERRORS",',
        *(f'    "{name}",' for name in sorted(found)),
        "]",
        "",
    ]
    return "\n".join(out)


def _wrap(paragraphs: Iterable[str], width: int = 112) -> list[str]:
    """Paragraphs wrapped to fit the line length (docstring lines are indented by 4)."""
    import textwrap

    return ["\n    ".join(textwrap.wrap(p, width - 4, break_long_words=False)) for p in paragraphs]


def shipped_files(artifacts: Mapping[str, Mapping[str, Any]]) -> dict[Path, str]:
    """Every shipped file (path -> text) a build of `artifacts` implies."""
    missing = [n for n in SHIPPED if n not in artifacts]
    if missing:
        raise CompilerError(f"shipped contract(s) missing from the build: {', '.join(missing)}")
    files = {ABI_DIR / f"{n}.json": _dump(shipped_artifact(artifacts[n])) for n in SHIPPED}
    files[ABI_DIR / "MANIFEST.json"] = _dump(manifest())
    files[ERRORS_MODULE] = errors_module(artifacts)
    return files


def ship(artifacts: Mapping[str, Mapping[str, Any]]) -> list[Path]:
    """Writes the shipped files; removes stale `<Name>.json` of contracts no longer shipped."""
    files = shipped_files(artifacts)
    ABI_DIR.mkdir(parents=True, exist_ok=True)
    for old in ABI_DIR.glob("*.json"):
        if old not in files:
            old.unlink()
    for path, text in files.items():
        path.write_text(text)
    return list(files)


def stale_shipped_files(artifacts: Mapping[str, Mapping[str, Any]]) -> list[Path]:
    """Shipped files that differ from what `artifacts` implies (empty when up to date)."""
    return [p for p, text in shipped_files(artifacts).items() if not p.exists() or p.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tools.build_contracts",
        description="Compile contracts/ into build/contracts/ and (with --ship) regenerate the shipped artifacts.",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--ship", action="store_true", help="also regenerate mia/protocol/abi/ and contract_errors.py")
    mode.add_argument("--check", action="store_true", help="fail unless the shipped files match a fresh compile")
    args = p.parse_args(argv)
    try:
        arts = compile_contracts(BUILD_DIR)
        if args.check:
            stale = stale_shipped_files(arts)
            for path in stale:
                print(f"stale: {path.relative_to(REPO_ROOT)}", file=sys.stderr)
            if stale:
                print(f"shipped artifacts are out of date: run `{REGENERATE}`", file=sys.stderr)
                return 1
            print("shipped artifacts match the sources")
            return 0
        print(f"compiled {sum(1 for a in arts.values() if len(a['bytecode']) > 2)} contracts into {BUILD_DIR}")
        if args.ship:
            for path in ship(arts):
                print(f"wrote {path.relative_to(REPO_ROOT)}")
    except CompilerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
