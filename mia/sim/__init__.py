"""Market simulator (docs/experiments.md): the papers' claims as measurements on real data.

Every on-chain decision goes through `mia.mechanism` (the reference the contracts mirror to the
wei) and every valuation through `mia.valuation` (the oracle's engine). Baselines that no
contract implements live in `baselines` and are marked as such.
"""
