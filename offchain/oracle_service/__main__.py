"""`python -m offchain.oracle_service ...`: the same as `mia oracle serve ...`."""

from __future__ import annotations

import sys

from pysdk.cli import main

if __name__ == "__main__":
    sys.exit(main(["oracle", "serve", *sys.argv[1:]]))
