"""Process harnesses for tests and benchmarks (an oracle cluster, a provider process).

Product code never imports this package (an import-linter contract in `make lint` enforces it)."""
