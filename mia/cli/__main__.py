"""`python -m mia.cli ...`: the same as `mia ...`."""

import sys

from mia.cli.commands import main

if __name__ == "__main__":
    sys.exit(main())
