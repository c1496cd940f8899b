"""Upload throughput and end-to-end round latency of a 2-of-3 oracle committee on anvil.

For n = 8, 32, 100 providers (each holding 60 digits records): three `mia oracle serve` processes,
providers uploading encrypted datasets in parallel (8 client threads) and committing, reveals, then
the oracles value, sign and each post their own report, and one aggregates; the round ends when the
auction is settled.
Phases are advanced on anvil as soon as every party is done, so latency is the protocol's own work.

    PYTHONPATH=. .venv/bin/python bench/round.py [--sizes 8 32 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from eth_account import Account

from mia.protocol.types import Phase
from mia.sdk.auction import AuctionClient
from mia.sdk.dataroom import DataroomClient, deliver_dataset, load_committee, records_from_arrays
from mia.sdk.provider import Provider
from mia.sdk.salts import SaltVault
from mia.testing.cluster import ETHER, Cluster, digits_task, wait_for

ROWS = 60


def one_round(c: Cluster, n: int, wd: Path, rows_each: int = ROWS) -> dict[str, float]:
    chain = c.chain
    buyer = Account.create()
    chain.fund(buyer.address, 100 * ETHER)
    aid = c.create_auction(buyer, c.oracles, threshold=2)
    x, y, _ = digits_task()
    urls = load_committee(c.committee_file)
    provs = []
    for i in range(n):
        acct = Account.create()
        chain.fund(acct.address, ETHER)
        provs.append(Provider(chain, c.contract, acct, SaltVault(wd / f"vault-{n}-{i}", "bench")))
    rows = [(i * rows_each) % max(1, len(y) - rows_each) for i in range(n)]
    datasets = [records_from_arrays(x[r : r + rows_each], y[r : r + rows_each]) for r in rows]
    sent = []

    def bid(i: int) -> None:
        with DataroomClient() as http:
            t0 = time.perf_counter()
            root, receipts = deliver_dataset(provs[i], aid, datasets[i], urls, http=http)
            sent.append((sum(r.size for r in receipts), time.perf_counter() - t0))
        provs[i].commit(aid, (i % 10 + 1) * ETHER // 100, root)

    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(bid, range(n)))
    upload_wall = time.perf_counter() - start
    info = c.client.auction(aid)
    c.advance_to(info.commit_deadline)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: p.reveal(aid), provs))
    c.advance_to(info.reveal_deadline)
    t_scoring = time.perf_counter()
    wait_for(lambda: c.client.phase(aid) == Phase.SCORED, 900, f"scores of auction {aid}")
    scored = time.perf_counter()
    AuctionClient(chain, c.contract, chain.funder).settle(aid)
    end = time.perf_counter()
    total_bytes = sum(b for b, _ in sent)
    return {
        "n": n,
        "rows": rows_each,
        "mb": total_bytes / 1e6,
        "mbps_aggregate": total_bytes / 1e6 / upload_wall,
        "mbps_per_client": total_bytes / 1e6 / sum(s for _, s in sent),
        "scoring_s": scored - t_scoring,
        "round_s": end - start,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 32, 100])
    ap.add_argument("--rows", type=int, default=ROWS, help="digits records per provider (at most 1,797)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mia-bench-round-") as tmp:
        wd = Path(tmp)
        c = Cluster(wd)
        try:
            c.start(3, grace=2.0)
            rows = [one_round(c, n, wd, args.rows) for n in args.sizes]
        finally:
            c.close()
    print("| providers | records each | uploaded (MB, 3 oracles) | upload MB/s (aggregate, 8 clients) "
          "| upload MB/s (per client) | scoring → on chain (s) "
          "| round latency, first upload → settled (s) |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']} | {r['rows']} | {r['mb']:.2f} | {r['mbps_aggregate']:.2f} | {r['mbps_per_client']:.2f} "
              f"| {r['scoring_s']:.1f} | {r['round_s']:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
