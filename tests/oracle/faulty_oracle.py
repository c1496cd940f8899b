"""An oracle service whose valuation is deliberately corrupted (a bribed or broken committee member).

It inflates the first provider to the maximum score and zeroes everyone else, then signs and relays
like any honest service: the tests check that the on-chain medians and payments do not move.
"""

from __future__ import annotations

import dataclasses
import sys

import mia.oracle.worker as worker
from mia.cli.commands import main

_honest = worker.score_providers


def _corrupted(*args, **kwargs):
    scores = _honest(*args, **kwargs)
    n = len(scores.q_wad)
    return dataclasses.replace(scores, q_wad=(10**18,) + (0,) * (n - 1), delta_wad=(10**18,) + (-(10**17),) * (n - 1))


worker.score_providers = _corrupted

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
