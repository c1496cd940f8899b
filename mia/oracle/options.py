"""Command-line options of `mia oracle serve` (kept free of heavy imports so `mia --help` stays fast)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mia.sdk.dataroom import DEFAULT_MAX_UPLOAD


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rpc-url", required=True)
    p.add_argument("--contract", required=True)
    p.add_argument("--data-dir", required=True, type=Path, help="state, uploads and the X25519/Ed25519 keys")
    p.add_argument("--validation", required=True, help="the buyer's validation set (.npz: features, labels)")
    p.add_argument("--model-id", required=True, help="model id of the task (checked against the on-chain task hash)")
    p.add_argument("--committee", help="JSON file of the oracles' addresses and URLs (to fetch peers' reports)")
    p.add_argument("--keystore", help="oracle's keystore v3 file (password: MIA_KEYSTORE_PASSWORD or prompt)")
    p.add_argument("--key-env", default="MIA_PRIVATE_KEY", help="env var holding the oracle's hex key")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8700)
    p.add_argument("--poll", type=float, default=1.0, help="seconds between chain polls")
    p.add_argument("--grace", type=float, default=30.0, help="seconds to wait for missing peers' reports")
    p.add_argument("--stagger", type=float, default=5.0, help="seconds between relay attempts of successive oracles")
    p.add_argument("--max-upload", type=int, default=DEFAULT_MAX_UPLOAD, help="largest encrypted upload, bytes")
    p.add_argument("--device", default="cpu")
    g = p.add_argument_group("resource bounds")
    g.add_argument("--max-concurrent-uploads", type=int, default=64, help="upload bodies received at once")
    g.add_argument("--max-buffered", type=int, default=1 << 30, help="bytes reserved by uploads in flight")
    g.add_argument(
        "--max-pending", type=int, default=2 << 30, help="stored bytes from providers without an on-chain bid"
    )
    g.add_argument(
        "--max-pending-per-ip", type=int, default=256 << 20, help="of which one client IP may hold this much"
    )
    g.add_argument("--read-timeout", type=float, default=10.0, help="seconds without body bytes before a drop")
    g.add_argument("--ip-rate", type=float, default=200.0, help="requests per second per client IP")
    g.add_argument("--fail-rate", type=float, default=1.0, help="failed requests/s per client IP and provider")
    g.add_argument("--max-attempts", type=int, default=5, help="scoring attempts of a round before it fails")
