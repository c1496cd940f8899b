"""Deterministic compilation with the pinned solc-js, configured from foundry.toml."""

from __future__ import annotations

import subprocess
import tomllib
from concurrent.futures import ThreadPoolExecutor

import mia.protocol.compiler as compiler
import pytest
from mia.protocol.compiler import FOUNDRY_TOML, SHIM, CompilerSettings, compile_contracts, standard_input

from mia.protocol.artifacts import artifact

DEPLOYED = ("MiaAuction", "QMIAHarness", "TestToken", "FalseReturnToken", "FeeOnTransferToken", "ReentrantReceiver")


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


def test_cached_artifacts_are_what_the_compiler_builds(two_builds):
    first, _ = two_builds
    for name in DEPLOYED:
        assert artifact(name)["bytecode"] == first[name]["bytecode"], name


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
    original = compiler.sources_hash()
    monkeypatch.setattr(compiler, "FOUNDRY_TOML", changed)
    assert compiler.sources_hash() != original
