"""The `mia` command line: the top layer, free to use every other one."""

from mia.cli.commands import main

__all__ = ["main"]
