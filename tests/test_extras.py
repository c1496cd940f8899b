"""The extras of pyproject.toml and the CLI's map of them agree, and a missing extra is one clear line."""

from __future__ import annotations

import argparse
import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from mia.cli import commands
from mia.cli.extras import EXTRA_MODULES, extra_for_module, install_hint, missing_extras

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement string ("eth-tester[py-evm]==1" -> "eth-tester")."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\[=<>!~; ]", requirement, maxsplit=1)[0]).lower()


def _extra_names(extra: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """Every distribution an extra pins, following its `mia[...]` references."""
    names: set[str] = set()
    for req in PYPROJECT["optional-dependencies"][extra]:
        if _name(req) == "mia":
            for inner in re.search(r"\[(.*)\]", req).group(1).split(","):  # type: ignore[union-attr]
                if inner not in seen:
                    names |= _extra_names(inner.strip(), seen | {extra})
        else:
            names.add(_name(req))
    return names


def test_every_pin_is_exact() -> None:
    pins = PYPROJECT["dependencies"] + [r for reqs in PYPROJECT["optional-dependencies"].values() for r in reqs]
    loose = [r for r in pins if _name(r) != "mia" and "==" not in r]
    assert not loose, f"unpinned: {loose}"


def test_each_extra_pins_the_distributions_behind_its_modules() -> None:
    owners = packages_distributions()
    for extra, modules in EXTRA_MODULES.items():
        pinned = _extra_names(extra)
        for module in modules:
            dists = {_name(d) for d in owners.get(module, [])}
            assert dists, f"{module} is not installed in the development environment"
            assert dists & pinned, f"{module} comes from {dists}, which the {extra} extra does not pin"


def test_the_base_install_pins_none_of_the_extras_modules() -> None:
    owners = packages_distributions()
    base = {_name(r) for r in PYPROJECT["dependencies"]}
    heavy = {_name(d) for modules in EXTRA_MODULES.values() for m in modules for d in owners.get(m, [])}
    assert not base & heavy, f"the base install pulls in {base & heavy}"


def test_dev_installs_every_extra_but_the_model_bundle() -> None:
    dev = _extra_names("dev")
    for extra in ("oracle", "sim", "embedded", "lm", "demo"):
        assert _extra_names(extra) <= dev, f"dev misses the {extra} extra"


def test_hint_and_lookup() -> None:
    assert install_hint("mia oracle serve", ["oracle"]) == (
        "`mia oracle serve` needs the oracle extra: pip install 'mia[oracle]'"
    )
    assert install_hint("mia demo", ["oracle", "embedded"]).endswith("extras: pip install 'mia[oracle,embedded]'")
    assert extra_for_module("torch.nn.functional") == "oracle"
    assert extra_for_module("matplotlib") == "sim"
    assert extra_for_module("eth_tester.backends") == "embedded"
    assert extra_for_module("web3") is None and extra_for_module(None) is None
    assert missing_extras("oracle", "sim", "embedded", "dev") == []  # the development install has them all


def _without(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Makes the extras check see ``modules`` as not installed."""
    import mia.cli.extras as extras

    real = extras.find_spec
    monkeypatch.setattr(extras, "find_spec", lambda name, *a: None if name in modules else real(name, *a))


def test_command_without_its_extra_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _without(monkeypatch, "torch", "eth_tester")
    assert commands.main(["valuate", "--validation", "v.jsonl"]) == 2
    assert capsys.readouterr().err.strip() == "error: `mia valuate` needs the oracle extra: pip install 'mia[oracle]'"
    assert commands.main(["demo", "--task", "text"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: `mia demo` needs the oracle and embedded extras: pip install 'mia[oracle,embedded]'"
    assert commands.main(["demo", "--network", "anvil"]) == 2  # anvil needs no embedded chain
    assert capsys.readouterr().err.strip().endswith("needs the oracle extra: pip install 'mia[oracle]'")


def test_an_unguarded_import_of_an_extra_still_names_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def needs_matplotlib(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")

    monkeypatch.setattr(commands, "_simulate", needs_matplotlib)
    assert commands.main(["simulate", "all"]) == 2
    assert capsys.readouterr().err.strip() == "error: `mia simulate` needs the sim extra: pip install 'mia[sim]'"

    def needs_nothing_we_know(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError("No module named 'nowhere'", name="nowhere")

    monkeypatch.setattr(commands, "_simulate", needs_nothing_we_know)
    assert commands.main(["simulate", "all"]) == 1  # not an extra: a bug, reported as one
    assert "unexpected ModuleNotFoundError" in capsys.readouterr().err
