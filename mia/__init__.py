"""mia: verifiable, truthful auctions for buying LLM training data.

Layers, each importing only those below it: protocol < mechanism < sdk | valuation < oracle | sim
< demo < cli (checked by import-linter in `make lint`); `mia.testing` holds test harnesses only.
"""
