"""Gas per operation of MiaAuction, measured from transaction receipts, beside public anchors.

Runs auctions of n = 10, 50, 100 revealed providers on the embedded chain (gas is the EVM's, so the
same on any node) and prints a markdown table. Also times the whole demo on eth-tester and anvil.
`--chunked` measures chunked scoring and settlement for n = 10, 100, 1,000 on anvil (receipts' gasUsed,
so intrinsic and calldata gas included): per-provider gas, total, and the largest single transaction.

    python bench/gas.py            # full table
    python bench/gas.py --quick    # n = 10 only, no demo timing
    python bench/gas.py --chunked  # chunked table, n = 10, 100, 1000 (about 10 minutes)
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_account import Account
from rich.console import Console
from web3 import Web3

from mia.protocol.commitment import commitment_of, new_salt
from mia.sdk.auction import OracleInfo
from mia.sdk.buyer import Buyer, Schedule
from mia.sdk.chain import Chain
from mia.sdk.oracle import Oracle

ETHER = 10**18
ANCHORS = {
    "commit": "UMA DVM commit: 169,052 avg",
    "reveal": "UMA DVM reveal: 296,768 avg",
    "report / signer": "Chainlink OCR2: ~6–7k per verified signature",
}


def commit_and_reveal(chain: Chain, contract, aid: int, info, n: int, rng) -> tuple[list, list[int], list[int]]:
    """n fresh providers with random costs commit, then reveal; leaves the chain at the reveal deadline.

    Returns the providers (account, cost, salt, root) and the gas of each commit and each reveal.
    """
    provs, commits, reveals = [], [], []
    for _ in range(n):
        a = Account.create()
        chain.fund(a.address, ETHER + info.deposit)
        cost, salt, root = rng.randint(1, 5) * ETHER // 10, new_salt(), secrets.token_bytes(32)
        c = commitment_of(chain.chain_id, contract.address, aid, a.address, cost, salt, root)
        commits.append(chain.sender(a).transact(contract.functions.commit(aid, c), value=info.deposit)["gasUsed"])
        provs.append((a, cost, salt, root))
    chain.advance_to(info.commit_deadline)
    for a, cost, salt, root in provs:
        reveals.append(chain.sender(a).transact(contract.functions.reveal(aid, cost, salt, root))["gasUsed"])
    chain.advance_to(info.reveal_deadline)
    return provs, commits, reveals


def run_auction(
    chain: Chain, contract, n: int, k: int, m: int = 4, f: int = 1, rng_seed: int = 0, mechanism: int = 0
) -> dict[str, Any]:
    """One full auction with n providers, a committee of m (fault tolerance f, quorum k): every member
    posts its own report (one transaction each), then anyone aggregates; returns gas lists per operation."""
    import random

    rng = random.Random(rng_seed)
    gas: dict[str, list[int]] = {}
    buyer_acct = Account.create()
    chain.fund(buyer_acct.address, 1000 * ETHER)
    oracles = [Account.create() for _ in range(m)]
    for o in oracles:
        chain.fund(o.address, 10 * ETHER)
    buyer = Buyer(chain, contract, buyer_acct)
    aid = buyer.create_auction(
        budget=100 * ETHER, deposit=buyer.minimum_deposit(100 * ETHER, max(n, 1)), threshold=k, fault_tolerance=f,
        oracles=[OracleInfo(o.address, secrets.token_bytes(32)) for o in oracles],
        task_hash=b"\x01" * 32, method_id=1, schedule=Schedule(600, 600, 600), max_providers=max(n, 1),
        mechanism=mechanism, liquidity=ETHER // 2,
    )  # fmt: skip
    receipt = chain.w3.eth.get_transaction_receipt(
        contract.events.AuctionCreated().get_logs(argument_filters={"auctionId": aid})[0]["transactionHash"]
    )
    gas["create"] = [receipt["gasUsed"]]
    info = buyer.auction(aid)
    provs, gas["commit"], gas["reveal"] = commit_and_reveal(chain, contract, aid, info, n, rng)
    clients = [Oracle(chain, contract, o) for o in oracles]
    scores = {a.address: (rng.randint(5, 10) * 10**17, rng.randint(1, 10) * 10**16) for a, *_ in provs}
    posts = []
    for c in clients:
        report = c.build_report(aid, scores, transcript_hash=b"\x02" * 32, deadline=info.scoring_deadline)
        posts.append(c.submit(aid, [report], [c.sign(report)]))
    gas["post"] = [p["gasUsed"] for p in posts]
    gas["post_parts"] = submit_breakdown(chain, posts[-1])
    (r,) = clients[0].finalize(aid)  # all m posted: aggregated at once, over every report
    gas["finalize"] = [r["gasUsed"]]
    r = buyer.settle(aid)
    gas["settle"] = [r["gasUsed"]]
    gas["settle_receipt"] = r
    a = provs[0][0]
    r = chain.sender(a).transact(contract.functions.refundDeposit(aid, a.address))
    gas["refundDeposit"] = [r["gasUsed"]]
    r = chain.sender(a).transact(contract.functions.withdraw("0x" + "00" * 20))
    gas["withdraw"] = [r["gasUsed"]]
    gas["mut_token"] = buyer.auction(aid).mut_token
    gas["buyer"], gas["winner"] = buyer_acct, a
    return gas


def submit_breakdown(chain: Chain, receipt) -> tuple[int, int]:
    """(calldata gas, log gas) of a transaction: what a report costs beyond verifying it.

    Calldata at 4 gas per zero byte and 16 per other byte; each log at 375 + 375 per topic + 8 per data
    byte (the memory it is built in is not counted, so the remainder slightly overstates verification).
    """
    data = bytes(chain.w3.eth.get_transaction(receipt["transactionHash"])["input"])
    calldata = sum(4 if b == 0 else 16 for b in data)
    logs = sum(375 + 375 * len(lg["topics"]) + 8 * len(bytes(lg["data"])) for lg in receipt["logs"])
    return calldata, logs


def invited_commit_gas(chain: Chain, contract, n: int = 8) -> int:
    """Average gas of `commitInvited` in an auction admitting `n` providers (Merkle proofs of depth log2 n)."""
    from mia.sdk.allowlist import Allowlist

    buyer_acct = Account.create()
    chain.fund(buyer_acct.address, 100 * ETHER)
    provs = [Account.create() for _ in range(n)]
    allow = Allowlist(a.address for a in provs)
    buyer = Buyer(chain, contract, buyer_acct)
    aid = buyer.create_auction(
        budget=ETHER, deposit=ETHER // 100, threshold=1, oracles=[OracleInfo(Account.create().address, bytes(32))],
        task_hash=b"\x01" * 32, method_id=1, schedule=Schedule(600, 600, 600), max_providers=n,
        allowlist_root=allow.root,
    )  # fmt: skip
    gas = []
    for a in provs:
        chain.fund(a.address, ETHER)
        c = commitment_of(chain.chain_id, contract.address, aid, a.address, ETHER, new_salt(), secrets.token_bytes(32))
        fn = contract.functions.commitInvited(aid, c, allow.proof(a.address))
        gas.append(chain.sender(a).transact(fn, value=ETHER // 100)["gasUsed"])
    return round(statistics.mean(gas[1:]))


def mut_gas(chain: Chain, contract) -> list[tuple[str, int, str]]:
    """Gas of the MUT paths: Mixed-MIA settlement (mints), revenue deposit, claim, transfer."""
    from mia.protocol.types import Mechanism
    from mia.sdk.mut import MutToken

    rows = []
    qmia = run_auction(chain, contract, 10, k=3, rng_seed=3)["settle"][0]
    g = run_auction(chain, contract, 10, k=3, rng_seed=3, mechanism=Mechanism.MIXED_MIA)
    extra = g["settle"][0] - qmia
    rows.append(("createAuction Mixed-MIA λ=0.5", g["create"][0], "deploys the auction's own MUT (one per auction)"))
    rows.append(("settle Mixed-MIA λ=0.5 (n = 10)", g["settle"][0], f"{extra:,} more than Q-MIA: MUT mints"))
    transfer_topic = Web3.keccak(text="Transfer(address,address,uint256)")
    mints = sum(
        1 for lg in g["settle_receipt"]["logs"] if lg["address"] == g["mut_token"] and lg["topics"][0] == transfer_topic
    )
    rows.append(("MUT mint, per winner", extra // mints, f"settlement difference above ÷ {mints} winners minted"))
    token = MutToken(chain, g["mut_token"], g["buyer"])
    r = token.deposit_revenue(ETHER)
    rows.append(("MUT depositRevenue", r["gasUsed"], "ETH, any number of holders"))
    holder = MutToken(chain, g["mut_token"], g["winner"])
    r = holder._sender().transact(holder.contract.functions.claim())
    rows.append(("MUT claim", r["gasUsed"], "first claim of a holder"))
    r = holder.transfer(g["buyer"].address, holder.balance_of(g["winner"].address) // 2)
    rows.append(("MUT transfer", r["gasUsed"], "checkpoints both sides' revenue"))
    return rows


def run_chunked(chain: Chain, contract, n: int, mechanism: int = 0, rng_seed: int = 0) -> dict[str, list[int]]:
    """One auction of n revealed providers, 4 oracles (f = 1, k = 3) each posting its own report in chunks of
    250, aggregated chunk by chunk, settled in chunks: gas per transaction."""
    import random

    from mia.sdk.chunked import settle_in_chunks

    rng = random.Random(rng_seed)
    buyer_acct = Account.create()
    chain.fund(buyer_acct.address, 1_000 * ETHER)
    oracles = [Account.create() for _ in range(4)]
    for o in oracles:
        chain.fund(o.address, 50 * ETHER)
    buyer = Buyer(chain, contract, buyer_acct)
    window = 3600 + 3 * n  # room for n commits / reveals on a node that advances time per block
    aid = buyer.create_auction(
        budget=n * ETHER // 10, deposit=max(ETHER // 100, buyer.minimum_deposit(n * ETHER // 10, n)), threshold=3,
        fault_tolerance=1,
        oracles=[OracleInfo(o.address, secrets.token_bytes(32)) for o in oracles],
        task_hash=b"\x01" * 32, method_id=1, schedule=Schedule(window, window, window), max_providers=n,
        mechanism=mechanism, liquidity=ETHER // 2,
    )  # fmt: skip
    info = buyer.auction(aid)
    provs, _, _ = commit_and_reveal(chain, contract, aid, info, n, rng)
    clients = [Oracle(chain, contract, o) for o in oracles]
    scores = {a.address: (rng.randint(5, 10) * 10**17, rng.randint(1, 10) * 10**16) for a, *_ in provs}
    gas: dict[str, list[int]] = {"post": []}
    for c in clients:
        chunks = c.build_reports(aid, scores, transcript_hash=b"\x02" * 32, deadline=info.scoring_deadline)
        gas["post"] += [r["gasUsed"] for r in c.post_own(aid, chunks)]
    gas["finalize"] = [r["gasUsed"] for r in clients[0].finalize(aid)]
    receipts = settle_in_chunks(buyer, aid)
    order_sel = contract.functions.orderForSettlement(aid, []).selector
    gas["order"] = [
        r["gasUsed"]
        for r in receipts
        if chain.w3.eth.get_transaction(r["transactionHash"])["input"][:4].hex() in (order_sel[2:], order_sel)
    ]
    gas["pay"] = [r["gasUsed"] for r in receipts][len(gas["order"]) :]
    return gas


def chunked_table(sizes: list[int], mechanisms: list[int]) -> None:
    from mia.protocol.types import Mechanism
    from mia.sdk.networks import connect

    chain = connect("anvil")
    try:
        contract = chain.deploy("MiaAuction")
        print(
            "| mechanism | n | txs: post / aggregate / order / pay | largest: post / aggregate / order / pay |"
            " gas / provider | total gas | largest tx |"
        )
        print("|---|---:|---|---|---:|---:|---:|")
        for mech in mechanisms:
            for n in sizes:
                g = run_chunked(chain, contract, n, mechanism=mech)
                every = g["post"] + g["finalize"] + g["order"] + g["pay"]
                print(
                    f"| {Mechanism(mech).name} | {n:,} | {len(g['post'])} / {len(g['finalize'])} / {len(g['order'])}"
                    f" / {len(g['pay'])} | {max(g['post']):,} / {max(g['finalize']):,} / "
                    f"{max(g['order'], default=0):,} / {max(g['pay']):,} | "
                    f"{sum(every) / n:,.0f} | {sum(every):,} | {max(every):,} |",
                    flush=True,
                )
    finally:
        chain.close()


def time_demo(network: str) -> float:
    from mia.demo.numeric import run_demo

    t = time.perf_counter()
    ok = run_demo(network, console=Console(file=io.StringIO(), width=120))
    if not ok:
        raise SystemExit(f"demo failed its audit on {network}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--chunked", action="store_true", help="chunked scoring + settlement, n = 10, 100, 1000")
    ap.add_argument("--sizes", default="10,100,1000", help="provider counts for --chunked")
    args = ap.parse_args()
    if args.chunked:
        chunked_table([int(x) for x in args.sizes.split(",")], [0, 1])
        return
    sizes = [10] if args.quick else [10, 50, 100]

    chain = Chain.embedded()
    contract = chain.deploy("MiaAuction")
    per_n = {n: run_auction(chain, contract, n, k=3) for n in sizes}
    base = per_n[sizes[0]]
    one = run_auction(chain, contract, 1, k=3, rng_seed=2)
    post_1 = statistics.mean(one["post"])
    calldata_1, logs_1 = one["post_parts"]
    verify_1 = one["post"][-1] - calldata_1 - logs_1

    rows = [
        ("createAuction (4 oracles, f = 1)", f"{base['create'][0]:,}", "", ""),
        ("commit", f"{statistics.mean(base['commit']):,.0f}", "avg over providers", ANCHORS["commit"]),
        ("reveal", f"{statistics.mean(base['reveal']):,.0f}", "avg over providers", ANCHORS["reveal"]),
        ("postReports: one oracle's own report (n = 1)", f"{post_1:,.0f}", "avg of the 4 members' posts; the "
         "first post of a chunk also checks the provider list", ""),
        ("  of which calldata (n = 1)", f"{calldata_1:,.0f}", "the signed report and its signature", ""),
        ("  of which audit event (n = 1)", f"{logs_1:,.0f}", "ReportPosted: the report's values and signature", ""),
        ("  of which verification + storage (n = 1)", f"{verify_1:,.0f}", "EIP-712 hash, ecrecover, membership, "
         "bounds, one slot for the weights' hash", ANCHORS["report / signer"]),
    ]  # fmt: skip
    for n in sizes:
        g = per_n[n]
        post = statistics.mean(g["post"])
        rows.append((f"postReports, per oracle (n = {n})", f"{post:,.0f}", f"{post / n:,.0f} per provider", ""))
    for n in sizes:
        g = per_n[n]
        fin = g["finalize"][0]
        rows.append((f"finalizeScores, median of 4 reports (n = {n})", f"{fin:,}", f"{fin / n:,.0f} per provider", ""))
    for n in sizes:
        g = per_n[n]
        rows.append((f"settle (n = {n})", f"{g['settle'][0]:,}", f"{g['settle'][0] / n:,.0f} per provider", ""))
    rows.append(("refundDeposit", f"{base['refundDeposit'][0]:,}", "deposit back after settlement (weight > 0)", ""))
    rows.append(("withdraw", f"{base['withdraw'][0]:,}", "ETH", ""))
    invited = f"{invited_commit_gas(chain, contract):,}"
    rows.insert(2, ("commitInvited (8 invited)", invited, "Merkle proof, depth 3", ""))
    for op, g, note in mut_gas(chain, contract):
        rows.append((op, f"{g:,}", note, ""))

    print("| operation | gas | note | public anchor |")
    print("|---|---:|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if not args.quick and not os.environ.get("MIA_BENCH_NO_DEMO"):
        print()
        print("| whole demo (9 providers, 4 oracles f = 1, audit) | wall time |")
        print("|---|---:|")
        for net in ("embedded", "anvil"):
            print(f"| {net} | {time_demo(net):.1f} s |")


if __name__ == "__main__":
    main()
