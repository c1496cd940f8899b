"""Which optional extra brings which modules, so a command whose extra is missing stops with the
install line instead of a traceback (the base install has no torch, simulator or embedded chain)."""

from __future__ import annotations

from importlib.util import find_spec

from mia.protocol.errors import MiaError

# The top-level modules each extra of pyproject.toml provides; a test checks that every distribution
# behind them is pinned in that extra.
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "oracle": ("torch", "sklearn", "tqdm", "starlette", "uvicorn"),
    "sim": ("matplotlib", "torch", "sklearn", "tqdm"),
    "embedded": ("eth_tester", "eth"),
    "lm": ("transformers", "tokenizers", "peft"),
    "dev": ("solcx",),
}


def _installed(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or half-removed package counts as missing
        return False


def missing_extras(*extras: str) -> list[str]:
    """The extras among ``extras`` that are not (fully) installed, in the order given."""
    return [e for e in extras if not all(_installed(m) for m in EXTRA_MODULES[e])]


def install_hint(command: str, extras: list[str]) -> str:
    """One line naming the command, the missing extras and the pip command that installs them."""
    names = " and ".join(extras) + (" extras" if len(extras) > 1 else " extra")
    return f"`{command}` needs the {names}: pip install 'mia[{','.join(extras)}]'"


def require(command: str, *extras: str) -> None:
    """Raise a one-line MiaError naming the extras ``command`` needs and lacks; return if all are there."""
    lacking = missing_extras(*extras)
    if lacking:
        raise MiaError(install_hint(command, lacking))


def extra_for_module(name: str | None) -> str | None:
    """The extra that provides module ``name`` (dotted names map by their top level), if any."""
    top = (name or "").partition(".")[0]
    return next((extra for extra, modules in EXTRA_MODULES.items() if top in modules), None)
