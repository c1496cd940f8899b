"""Where the native Foundry binaries (forge, anvil) are: the one place that resolves them.

The npm packages ``@foundry-rs/forge`` and ``@foundry-rs/anvil`` put JavaScript wrappers in
``node_modules/.bin``. Those wrappers are unfit to call: the forge wrapper exits 0 even when tests fail
(so a gate built on it can never fail), and killing the anvil wrapper by PID leaves the anvil it started
running. The real binaries ship in per-platform packages (``@foundry-rs/forge-linux-amd64/bin/forge``);
everything in the project that runs forge or anvil resolves it here, and a platform without such a package
gets a clear error instead of a silent fall-back to the wrapper.

Outside a source checkout (an installed package) there is no ``node_modules``: the binaries come from
``MIA_FORGE`` / ``MIA_ANVIL`` (explicit paths) or a native one on PATH. An explicit setting always wins.

Run as ``python -m mia.sdk.toolchain forge`` to print a binary's path (the Makefile does), or
``python -m mia.sdk.toolchain --link DIR`` to put links to every tool into DIR (for programs that look
forge up on PATH).
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from mia.protocol.errors import MiaError

REPO_ROOT = Path(__file__).resolve().parents[2]
# Only a source checkout (this file under <root>/mia/sdk/, next to package.json) has the pinned npm packages.
NODE_MODULES = REPO_ROOT / "node_modules"
TOOLS = ("forge", "anvil")
# Explicit binary per tool, e.g. MIA_ANVIL=/opt/foundry/bin/anvil.
ENV_VARS = {tool: f"MIA_{tool.upper()}" for tool in TOOLS}

# (sys.platform prefix, platform.machine()) -> the suffix of Foundry's per-platform npm packages.
_OS = {"linux": "linux", "darwin": "darwin", "win32": "win32"}
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class ToolchainError(MiaError):
    """A Foundry binary the command needs is missing or is only a JavaScript wrapper."""


def platform_suffix(sys_platform: str | None = None, machine: str | None = None) -> str:
    """The npm platform suffix for this machine, e.g. ``linux-amd64``."""
    sys_platform = sys_platform or sys.platform
    machine = (machine or platform.machine()).lower()
    os_name = next((v for k, v in _OS.items() if sys_platform.startswith(k)), sys_platform)
    return f"{os_name}-{_ARCH.get(machine, machine)}"


def is_script_wrapper(path: Path) -> bool:
    """True for an interpreted wrapper (``#!`` script or ``.js``/``.mjs`` file) rather than a native binary."""
    real = path.resolve()
    if real.suffix in (".js", ".mjs", ".cjs"):
        return True
    try:
        with real.open("rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return False


def native_binary(
    tool: str,
    *,
    node_modules: Path = NODE_MODULES,
    sys_platform: str | None = None,
    machine: str | None = None,
    search_path: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """The native ``tool`` binary: ``MIA_<TOOL>`` if set, else the pinned npm platform package, else a
    native one on PATH.

    Raises ToolchainError naming what was looked for when none exists; a wrapper script (such as
    ``node_modules/.bin/forge``) is never returned.
    """
    if tool not in TOOLS:
        raise ToolchainError(f"unknown Foundry tool {tool!r}: expected one of {', '.join(TOOLS)}")
    explicit = (os.environ if environ is None else environ).get(ENV_VARS[tool])
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ToolchainError(f"{ENV_VARS[tool]}={explicit} is not an executable file")
        if is_script_wrapper(path):
            raise ToolchainError(f"{ENV_VARS[tool]}={explicit} is a script wrapper, not the native {tool} binary")
        return path
    suffix = platform_suffix(sys_platform, machine)
    exe = f"{tool}.exe" if suffix.startswith("win32") else tool
    pinned = node_modules / "@foundry-rs" / f"{tool}-{suffix}" / "bin" / exe
    if pinned.is_file() and os.access(pinned, os.X_OK):
        return pinned
    if search_path:
        found = shutil.which(tool)
        if found and not is_script_wrapper(Path(found)):
            return Path(found)
    if node_modules.is_dir():  # a source checkout
        where = f"{pinned.relative_to(node_modules.parent)} (run `make setup`; npm publishes @foundry-rs/{tool}"
        where += " for linux/darwin amd64/arm64 and win32 amd64)"
    else:
        where = f"the {ENV_VARS[tool]} setting (path to a native {tool})"
    raise ToolchainError(f"no native {tool} binary for platform {suffix}: looked for {where} and for {tool} on PATH")


def link_tools(directory: Path) -> list[Path]:
    """Make ``directory/forge`` and ``directory/anvil`` links to the native binaries (for PATH lookups)."""
    directory.mkdir(parents=True, exist_ok=True)
    links = []
    for tool in TOOLS:
        target = native_binary(tool)
        link = directory / tool
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
        links.append(link)
    return links


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if len(args) == 2 and args[0] == "--link":
            for link in link_tools(Path(args[1])):
                print(link)
            return 0
        if len(args) == 1 and args[0] in TOOLS:
            print(native_binary(args[0]))
            return 0
    except ToolchainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("usage: python -m mia.sdk.toolchain {forge|anvil} | --link DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
