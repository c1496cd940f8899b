"""Data-room throughput: encrypted 1,500-record uploads to `mia oracle serve`, and honest latency under a flood.

One anvil chain, one auction whose committee is two oracle services started side by side: this tree's
and a peer, by default the same service from another source tree (`--peer-tree`, e.g. an export of an
earlier commit), so both see the same input in the same run. For each service, in turn:

- throughput: `--uploads` distinct providers each upload a 1,500-record digits dataset (sealed to the
  oracle, signed headers, ~0.5 MB) through `--clients` concurrent HTTP clients; uploads/s and latency;
- flood: one honest provider uploads `--honest` datasets one after another while a flood of
  well-formed requests with bad signatures arrives at `--flood-rate` per second; honest p50/p99 and
  how the flood was answered.

Clients are prepared before the clock starts (encryption, signing); the load generator is one asyncio
process on the same machine, so the numbers include its CPU share.

    PYTHONPATH=. .venv/bin/python bench/dataroom.py [--peer-tree DIR] [--uploads 160] [--clients 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import nacl.public
import numpy as np
from eth_account import Account
from eth_utils import to_checksum_address

from mia.sdk.dataroom import API_PREFIX, encode_records, records_from_arrays, records_root, upload_headers
from mia.testing.cluster import ETHER, Cluster, OracleProcess, digits_task

RECORDS = 1500


@dataclass(frozen=True)
class Prepared:
    body: bytes
    headers: dict[str, str]


def prepare(c: Cluster, o: OracleProcess, aid: int, n: int, seed: int) -> list[Prepared]:
    """`n` distinct providers' sealed, signed uploads to oracle `o` (work done before timing)."""
    x, y, _ = digits_task()
    rng = np.random.default_rng(seed)
    key = nacl.public.SealedBox(nacl.public.PublicKey(o.x25519))
    out = []
    for _ in range(n):
        rows = rng.choice(len(y), RECORDS, replace=True)
        recs = records_from_arrays(x[rows], y[rows])
        ct = key.encrypt(encode_records(recs))
        acct = Account.create()
        out.append(Prepared(ct, upload_headers(acct, c.chain.chain_id, c.contract, aid, o.account.address, ct,
                                               records_root(recs))))  # fmt: skip
    return out


def cpu_seconds(o: OracleProcess) -> float:
    """User + system CPU time of the service process so far (load-independent cost per upload)."""
    assert o.proc is not None
    fields = Path(f"/proc/{o.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


async def put(http: httpx.AsyncClient, url: str, p: Prepared) -> tuple[int, float]:
    t0 = time.perf_counter()
    try:
        r = await http.put(url, content=p.body, headers=p.headers)
        status = r.status_code
    except httpx.HTTPError:
        status = 0
    return status, time.perf_counter() - t0


async def throughput(url: str, uploads: list[Prepared], clients: int) -> dict[str, float]:
    queue = list(uploads)
    lat: list[float] = []
    codes: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60.0, limits=limits) as http:

        async def worker() -> None:
            while queue:
                status, dt = await put(http, url, queue.pop())
                codes[status] += 1
                if status == 200:
                    lat.append(dt)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
    return {"ok": codes[200], "n": len(uploads), "rate": codes[200] / wall, "p50": pct(lat, 50), "p99": pct(lat, 99),
            "codes": dict(codes)}  # fmt: skip


async def flood(url: str, honest: list[Prepared], bad: list[Prepared], rate: float) -> dict[str, float]:
    """Sequential honest uploads while bad-signature requests arrive at `rate` per second."""
    lat: list[float] = []
    bad_codes: Counter[int] = Counter()
    bad_lat: list[float] = []
    done = asyncio.Event()
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=60.0, limits=limits) as http, httpx.AsyncClient(timeout=30.0) as good:

        async def one_bad(i: int) -> None:
            status, dt = await put(http, url, bad[i % len(bad)])
            bad_codes[status] += 1
            bad_lat.append(dt)

        async def flooder() -> None:
            tasks = []
            t0 = time.perf_counter()
            i = 0
            while not done.is_set():
                tasks.append(asyncio.create_task(one_bad(i)))
                i += 1
                await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
            await asyncio.gather(*tasks)

        async def uploader() -> None:
            await asyncio.sleep(1.0)  # let the flood build up
            for p in honest:
                status, dt = await put(good, url, p)
                lat.append(dt if status == 200 else float("inf"))
            done.set()

        t0 = time.perf_counter()
        await asyncio.gather(flooder(), uploader())
        wall = time.perf_counter() - t0
    sent = sum(bad_codes.values())
    return {"p50": pct(lat, 50), "p99": pct(lat, 99), "failed": sum(1 for v in lat if v == float("inf")),
            "flood_sent": sent, "flood_rate": sent / wall, "flood_p50": pct(bad_lat, 50),
            "flood_codes": dict(bad_codes)}  # fmt: skip


def bad_requests(c: Cluster, o: OracleProcess, aid: int, n: int) -> list[Prepared]:
    """Well-formed uploads with random signatures, each naming a different random provider."""
    body = os.urandom(1024)
    acct = Account.create()
    h = upload_headers(acct, c.chain.chain_id, c.contract, aid, o.account.address, body, b"\x01" * 32)
    out = []
    for _ in range(n):
        bad = {
            **h,
            "x-mia-provider": to_checksum_address(os.urandom(20)),
            "x-mia-signature": "0x" + os.urandom(65).hex(),
        }
        out.append(Prepared(body, bad))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer-tree", type=Path, help="source tree of the peer service (default: this tree twice)")
    ap.add_argument("--peer-name", default="peer")
    ap.add_argument("--uploads", type=int, default=160)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--honest", type=int, default=20)
    ap.add_argument("--flood-rate", type=float, default=100.0)
    ap.add_argument("--only", choices=["ours", "peer"], help="run one service's measurements")
    args = ap.parse_args()
    from mia.testing.cluster import REPO_ROOT

    peer_root = (args.peer_tree or REPO_ROOT).resolve()
    with tempfile.TemporaryDirectory(prefix="mia-bench-dataroom-") as tmp:
        c = Cluster(Path(tmp))
        rows = []
        try:
            big = ["--max-upload", str(8 * 1024 * 1024)]
            c.start(2, roots=[REPO_ROOT, peer_root], extra_args=[big, big])
            buyer = Account.create()
            c.chain.fund(buyer.address, 100 * ETHER)
            aid = c.create_auction(buyer, c.oracles, threshold=2)
            names = ["ours", args.peer_name]
            for i, o in enumerate(c.oracles):
                if args.only and args.only != ("ours" if i == 0 else "peer"):
                    continue
                url = f"{o.url}{API_PREFIX}/auctions/{aid}/uploads"
                up = prepare(c, o, aid, args.uploads + args.honest, seed=i)
                cpu0 = cpu_seconds(o)
                t = asyncio.run(throughput(url, up[: args.uploads], args.clients))
                t["cpu_ms"] = (cpu_seconds(o) - cpu0) / max(1, t["ok"]) * 1e3
                f = asyncio.run(flood(url, up[args.uploads :], bad_requests(c, o, aid, 2000), args.flood_rate))
                rows.append((names[i], t, f))
                print(names[i], t, f, flush=True)
                if 500 in t["codes"] or 500 in f["flood_codes"]:
                    print(o.log_path.read_text()[-3000:])
        finally:
            c.close()
    load = os.getloadavg()[0]
    print(
        f"\n{RECORDS}-record uploads (~{len(up[0].body) / 1e6:.2f} MB sealed), {args.uploads} providers through "
        f"{args.clients} clients; flood: {args.honest} sequential honest uploads while forged-signature requests "
        f"arrive at {args.flood_rate:.0f}/s; {os.cpu_count()} cores, 1-min load average {load:.1f} at the end\n"
    )
    print("| service | uploads/s (32 clients) | service CPU per upload (ms) | p50 / p99 latency (s) "
          "| honest p50 / p99 under flood (s) | flood answered (/s) | flood answers |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, t, f in rows:
        codes = ", ".join(f"{k or 'no answer'}: {v}" for k, v in sorted(f["flood_codes"].items()))
        lat = f"{t['p50']:.2f} / {t['p99']:.2f}"
        print(f"| {name} | {t['rate']:.1f} ({t['ok']}/{t['n']} ok) | {t['cpu_ms']:.0f} | {lat} "
              f"| {f['p50']:.2f} / {f['p99']:.2f} | {f['flood_rate']:.0f} | {codes} |")  # fmt: skip


if __name__ == "__main__":
    main()
