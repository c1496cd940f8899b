"""Deterministic compilation with the pinned solc-js, configured from foundry.toml, and the shipped
artifacts (mia/protocol/abi/, contract_errors.py) kept equal to what the sources compile to."""

from __future__ import annotations

import json
import subprocess
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import tools.build_contracts as build
from mia.protocol import artifacts as shipped_artifacts
from mia.protocol.artifacts import ArtifactError, artifact, manifest, shipped
from tools.build_contracts import (
    ABI_DIR,
    ERRORS_MODULE,
    FOUNDRY_TOML,
    REGENERATE,
    SHIM,
    SHIPPED,
    CompilerSettings,
    compile_contracts,
    dev_artifact,
    product_sources_hash,
    shipped_files,
    standard_input,
)

DEPLOYED = ("MiaAuction", "QMIAHarness", "TestToken", "FalseReturnToken", "FeeOnTransferToken", "ReentrantReceiver")
TEST_ONLY = ("QMIAHarness", "TestToken", "FalseReturnToken", "FeeOnTransferToken", "ReentrantReceiver", "ForceSend")


@pytest.fixture(scope="module")
def two_builds():
    """Two independent compilations of every contract (in parallel: each is one solc-js process)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(lambda _: compile_contracts(out_dir=None), range(2))
    return first, second


def test_two_compilations_are_byte_identical(two_builds):
    first, second = two_builds
    assert set(first) == set(second) and set(DEPLOYED) <= set(first)
    for name in first:
        assert first[name]["bytecode"] == second[name]["bytecode"], name
        assert first[name]["deployedBytecode"] == second[name]["deployedBytecode"], name
        assert first[name]["abi"] == second[name]["abi"], name
    for name in DEPLOYED:
        assert len(first[name]["bytecode"]) > 2, name  # real code, not an interface
        # no metadata hash: nothing path- or time-dependent is appended
        assert "a264697066735822" not in first[name]["deployedBytecode"], name


def test_shipped_artifacts_are_byte_identical_to_a_fresh_compile(two_builds):
    first, _ = two_builds
    assert set(shipped()) == set(SHIPPED)
    for name in SHIPPED:
        ours = artifact(name)
        for key in ("abi", "bytecode", "deployedBytecode"):
            assert ours[key] == first[name][key], f"mia/protocol/abi/{name}.json {key} is stale: run `{REGENERATE}`"
    # and every shipped file, the generated error module included, is exactly what the tool writes
    stale = [str(p) for p, text in shipped_files(first).items() if not p.exists() or p.read_text() != text]
    assert not stale, f"stale shipped files {stale}: run `{REGENERATE}`"


def test_the_manifest_records_the_current_sources():
    m = manifest()
    assert m["sources_hash"] == product_sources_hash(), (
        f"contracts/ or foundry.toml changed since mia/protocol/abi/ was generated: run `{REGENERATE}`"
    )
    assert m["solc"] == CompilerSettings.load().solc_version
    assert m["contracts"] == list(SHIPPED)
    assert sorted(p.name for p in ABI_DIR.glob("*.json")) == sorted([*(f"{n}.json" for n in SHIPPED), "MANIFEST.json"])


def test_test_contracts_are_not_shipped_but_the_dev_build_has_them():
    for name in TEST_ONLY:
        with pytest.raises(ArtifactError, match=f"no shipped contract named '{name}'"):
            artifact(name)
        assert len(dev_artifact(name)["bytecode"]) > 2
    assert dev_artifact("MiaAuction")["bytecode"] == artifact("MiaAuction")["bytecode"]
    with pytest.raises(build.CompilerError, match="no contract named Nope"):
        dev_artifact("Nope")


def test_artifacts_are_read_from_package_data_without_the_compiler():
    # the product package reads its files only: it neither imports the build tool nor knows the repo root
    source = Path(shipped_artifacts.__file__).read_text()
    assert "import tools" not in source and "from tools" not in source
    assert "solcx" not in source and "REPO_ROOT" not in source
    for name in SHIPPED:
        data = json.loads((ABI_DIR / f"{name}.json").read_text())
        assert set(data) == {"abi", "bytecode", "deployedBytecode"}


def test_a_contract_edit_is_caught_by_the_sources_hash(tmp_path, monkeypatch):
    original = product_sources_hash()
    contracts = tmp_path / "contracts"
    for src in build.CONTRACTS_DIR.rglob("*.sol"):
        dst = contracts / src.relative_to(build.CONTRACTS_DIR)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(src.read_text())
    monkeypatch.setattr(build, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(build, "CONTRACTS_DIR", contracts)
    monkeypatch.setattr(build, "TEST_CONTRACTS_DIR", contracts / "test")
    assert build.product_sources_hash() == original
    # a test contract is not part of what ships...
    (contracts / "test" / "TestToken.sol").write_text("// edited\n")
    assert build.product_sources_hash() == original and build.sources_hash() != original
    # ...a product contract is
    (contracts / "MiaAuction.sol").write_text((contracts / "MiaAuction.sol").read_text() + "\n// edited\n")
    assert build.product_sources_hash() != original


def test_the_generated_error_module_names_exactly_the_shipped_errors():
    from mia.protocol import contract_errors
    from mia.protocol.errors import ContractRevert

    in_abis = {i["name"] for n in SHIPPED for i in artifact(n)["abi"] if i["type"] == "error"}
    assert set(contract_errors.CONTRACT_ERRORS) == in_abis == set(contract_errors.__all__) - {"CONTRACT_ERRORS"}
    for name, cls in contract_errors.CONTRACT_ERRORS.items():
        assert issubclass(cls, ContractRevert) and cls.__name__ == cls.error_name == name
        assert cls.signature.startswith(f"{name}(") and cls.__doc__ and f"`{name}(" in cls.__doc__
    assert ERRORS_MODULE.read_text().startswith('"""')


def test_settings_come_from_foundry_toml():
    profile = tomllib.loads(FOUNDRY_TOML.read_text())["profile"]["default"]
    s = CompilerSettings.load()
    assert s.solc_version == profile["solc_version_pin"]
    assert s.evm_version == profile["evm_version"]
    assert s.optimizer is profile["optimizer"] and s.optimizer_runs == profile["optimizer_runs"]
    assert s.via_ir is profile["via_ir"]
    assert list(s.remappings) == profile["remappings"]
    settings = standard_input(s)["settings"]
    assert settings["optimizer"] == {"enabled": profile["optimizer"], "runs": profile["optimizer_runs"]}
    assert settings["viaIR"] is profile["via_ir"] and settings["evmVersion"] == profile["evm_version"]
    assert settings["remappings"] == profile["remappings"]
    assert settings["metadata"] == {"bytecodeHash": "none", "appendCBOR": False}
    # the shim answers with the pinned version
    out = subprocess.run([str(SHIM), "--version"], capture_output=True, text=True, check=True).stdout
    assert f"Version: {profile['solc_version_pin']}" in out


def test_a_changed_foundry_toml_changes_the_settings_and_the_build_hash(tmp_path, monkeypatch):
    text = FOUNDRY_TOML.read_text()
    assert "optimizer_runs = 200" in text and 'evm_version = "cancun"' in text
    changed = tmp_path / "foundry.toml"
    changed.write_text(text.replace("optimizer_runs = 200", "optimizer_runs = 999").replace('"cancun"', '"paris"'))
    s = CompilerSettings.load(changed)
    assert (s.optimizer_runs, s.evm_version) == (999, "paris")
    assert standard_input(s)["settings"]["optimizer"]["runs"] == 999
    original, shipped_hash = build.sources_hash(), build.product_sources_hash()
    monkeypatch.setattr(build, "FOUNDRY_TOML", changed)
    assert build.sources_hash() != original and build.product_sources_hash() != shipped_hash
