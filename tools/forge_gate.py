"""Prove that a forge command can fail: run it on a throwaway project whose one test fails.

`make test` runs this with the very command it then uses for the Foundry suite, so that command is
known to exit non-zero on a failing test (the npm wrapper ``node_modules/.bin/forge`` exits 0 there).
It also checks the same command exits 0 on a project whose tests pass, so the gate cannot pass by a
forge that always fails.

    python tools/forge_gate.py FORGE [ARGS...]     # exit 0: the command is a working gate
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLC_SHIM = REPO_ROOT / "tools" / "solc-shim"

FOUNDRY_TOML = """\
[profile.default]
src = "src"
test = "test"
out = "out"
cache_path = "cache"
solc = "{solc}"
offline = true
auto_detect_solc = false
"""

GATE_TEST = """\
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

contract GateTest {{
    function test_passes() public pure {{}}
{failing}}}
"""
FAILING = '    function test_fails() public pure { require(false, "gate: deliberate failure"); }\n'


def _run(forge: list[str], root: Path, *, failing: bool) -> subprocess.CompletedProcess[str]:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "test").mkdir(parents=True, exist_ok=True)
    (root / "foundry.toml").write_text(FOUNDRY_TOML.format(solc=SOLC_SHIM))
    (root / "test" / "Gate.t.sol").write_text(GATE_TEST.format(failing=FAILING if failing else ""))
    # FOUNDRY_* settings of the caller (a match filter, a profile) are for the real suite, not this one.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOUNDRY_", "DAPP_"))}
    return subprocess.run(
        [*forge, "test", "--offline", "--root", str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def check(forge: list[str]) -> str | None:
    """None when ``forge`` fails a failing test and passes a passing one; otherwise what went wrong."""
    tmp = Path(tempfile.mkdtemp(prefix="forge-gate-"))
    try:
        bad = _run(forge, tmp / "failing", failing=True)
        if bad.returncode == 0:
            return f"`{' '.join(forge)} test` exited 0 on a deliberately failing test: it cannot fail a build"
        if "gate: deliberate failure" not in bad.stdout + bad.stderr:
            return f"`{' '.join(forge)} test` exited {bad.returncode} without running the failing test:\n{bad.stderr}"
        good = _run(forge, tmp / "passing", failing=False)
        if good.returncode != 0:
            return f"`{' '.join(forge)} test` exited {good.returncode} on a passing test:\n{good.stdout}{good.stderr}"
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    problem = check(argv)
    if problem:
        print(f"forge gate BROKEN: {problem}", file=sys.stderr)
        return 1
    print(f"forge gate ok: `{Path(argv[0]).name} test` exits non-zero on a failing test and 0 on a passing one")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
