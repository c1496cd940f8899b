"""`mia demo`: one whole Q-MIA auction on a chain, from escrow to audit, printed as a table.

Nine providers hold slices of scikit-learn's bundled digits: clean ones at different costs, one
with noisy labels, one that copied another's records, a small one, and one that never reveals. A
three-member oracle committee (threshold 2; one member deliberately faulty) values the data with
exact KNN-Shapley times quality checks, the contract settles, everyone withdraws and the auditor
re-derives every payment from chain data alone.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nacl.public
import nacl.signing
import numpy as np
from eth_account import Account
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sklearn.datasets import load_digits

from deploy import connect, deploy_mia
from offchain.scoring import METHOD_KNN_SHAPLEY_QUALITY, score_auction, task_hash
from offchain.valuation import Dataset
from pysdk.auction import OracleInfo
from pysdk.auditor import Auditor
from pysdk.buyer import Buyer, Schedule
from pysdk.merkle import dataset_root
from pysdk.oracle import Oracle
from pysdk.provider import Provider
from pysdk.salts import SaltVault

ETHER = 10**18


@dataclass
class ProviderSpec:
    name: str
    cost_milli: int  # private cost in milli-ether; bids are truthful (Q-MIA is DSIC)
    kind: str  # clean | noisy | copy | small | silent
    rows: slice


SPECS = [
    ProviderSpec("clinic-A", 600, "clean", slice(0, 150)),
    ProviderSpec("clinic-B", 900, "clean", slice(150, 300)),
    ProviderSpec("lab-C", 1500, "clean", slice(300, 450)),
    ProviderSpec("archive-D", 400, "clean", slice(450, 600)),
    ProviderSpec("scraper-E", 500, "noisy", slice(600, 750)),
    ProviderSpec("copycat-F", 300, "copy", slice(0, 150)),
    ProviderSpec("vault-G", 2500, "clean", slice(750, 900)),
    ProviderSpec("startup-H", 200, "small", slice(900, 960)),
    ProviderSpec("ghost-I", 500, "silent", slice(960, 1100)),
]


def make_datasets(seed: int = 7) -> tuple[list[tuple[np.ndarray, np.ndarray]], Dataset]:
    """Provider slices of digits (with the noise and copying each spec names) and the buyer's validation set."""
    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    x, y = x[perm].astype(np.float64), y[perm].astype(np.int64)
    data = []
    for spec in SPECS:
        xs, ys = x[spec.rows].copy(), y[spec.rows].copy()
        if spec.kind == "noisy":
            flip = rng.random(len(ys)) < 0.5
            ys[flip] = rng.integers(0, 10, flip.sum())
        data.append((xs, ys))
    validation = Dataset(features=x[1397:], labels=y[1397:])
    return data, validation


def run_demo(network: str = "embedded", *, console: Console | None = None, workdir: Path | None = None) -> bool:
    """Runs the whole auction; returns the audit verdict."""
    console = console or Console(width=None if Console().is_terminal else 120)
    started = time.perf_counter()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="mia-demo-"))
    datasets, validation = make_datasets()
    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=console, transient=False,
    )  # fmt: skip
    with connect(network) as chain, progress:
        step = progress.add_task(f"deploy on {network} chain", total=1)
        dep = deploy_mia(chain, network=network)
        contract = dep.address
        progress.advance(step)

        accounts = {s.name: Account.create() for s in SPECS}
        buyer_acct, relayer = Account.create(), Account.create()
        oracle_keys = [Account.create() for _ in range(3)]
        box_keys = [nacl.public.PrivateKey.generate() for _ in range(3)]
        ed_keys = [nacl.signing.SigningKey.generate() for _ in range(3)]
        fund = progress.add_task("fund accounts", total=len(accounts) + 2)
        for a in [buyer_acct, relayer, *accounts.values()]:
            chain.fund(a.address, 100 * ETHER)
            progress.advance(fund)

        buyer = Buyer(chain, contract, buyer_acct)
        budget, deposit = 4 * ETHER, ETHER // 20
        aid = buyer.create_auction(
            budget=budget,
            deposit=deposit,
            oracles=[OracleInfo(o.address, bytes(b.public_key)) for o, b in zip(oracle_keys, box_keys, strict=True)],
            threshold=2,
            task_hash=task_hash(validation, METHOD_KNN_SHAPLEY_QUALITY, "digits-knn-5"),
            method_id=METHOD_KNN_SHAPLEY_QUALITY,
            schedule=Schedule(commit=600, reveal=600, scoring=600),
        )
        info = buyer.auction(aid)

        vault = SaltVault(workdir / "salts.vault", passphrase="demo-passphrase")
        providers = {s.name: Provider(chain, contract, accounts[s.name], vault) for s in SPECS}
        roots = [dataset_root(x, y) for x, y in datasets]
        task = progress.add_task("commit sealed bids (salts backed up)", total=len(SPECS))
        for spec, root in zip(SPECS, roots, strict=True):
            providers[spec.name].commit(aid, spec.cost_milli * ETHER // 1000, root)
            progress.advance(task)

        chain.advance_to(info.commit_deadline)
        task = progress.add_task("reveal bids", total=sum(s.kind != "silent" for s in SPECS))
        for spec in SPECS:
            if spec.kind != "silent":
                providers[spec.name].reveal(aid)
                progress.advance(task)

        chain.advance_to(info.reveal_deadline)
        oracle_clients = [Oracle(chain, contract, k) for k in oracle_keys]
        revealed, _ = oracle_clients[0].revealed(aid)
        by_addr = {accounts[s.name].address: i for i, s in enumerate(SPECS)}
        task = progress.add_task("oracles value the data (KNN-Shapley × quality)", total=3)
        reports, sigs, scores = [], [], []
        for j, oracle in enumerate(oracle_clients):
            sc = score_auction(revealed, [datasets[by_addr[p]] for p in revealed], validation, signing_key=ed_keys[j])
            mapping = sc.as_mapping()
            if j == 2:  # a faulty (or bribed) oracle inflates the noisy scraper: the median ignores it
                noisy = accounts["scraper-E"].address
                mapping[noisy] = (10**18, mapping[noisy][1] * 10 + 10**18)
            report = oracle.build_report(
                aid, mapping, transcript_hash=sc.transcript_hash, deadline=info.scoring_deadline
            )
            reports.append(report)
            sigs.append(oracle.sign(report))
            scores.append(sc)
            progress.advance(task)
        relay = Oracle(chain, contract, relayer)
        relay.submit(aid, reports, sigs)

        task = progress.add_task("settle on-chain and withdraw", total=len(SPECS) + 2)
        buyer.settle(aid)
        progress.advance(task)
        credits = {s.name: providers[s.name].credit(accounts[s.name].address) for s in SPECS}
        for s in SPECS:
            if credits[s.name]:
                providers[s.name].withdraw()
            progress.advance(task)
        buyer_refund = buyer.credit(buyer_acct.address)
        buyer.withdraw()
        progress.advance(task)

        audit = Auditor(chain, contract).audit(aid)
        escrow_left = chain.balance(contract)

    honest = scores[0]
    lines = {p.provider: p for p in audit.providers}
    table = Table(title=f"Auction {aid}: Q-MIA, budget {budget / ETHER:.2f} ETH, 2-of-3 oracles", show_lines=False)
    for col in ("provider", "data", "cost", "bid", "quality q", "marginal utility Δ", "won", "paid", "utility"):
        table.add_column(col, justify="left" if col in ("provider", "data", "won") else "right", no_wrap=True)
    for spec in SPECS:
        addr = accounts[spec.name].address
        line = lines[addr]
        cost = spec.cost_milli / 1000
        if not line.revealed:
            table.add_row(spec.name, spec.kind, f"{cost:.3f}", "sealed", "-", "-", "no (no reveal)",
                          "0", f"{-deposit / ETHER:.3f} (deposit)")  # fmt: skip
            continue
        pv = honest.result[addr]
        paid = line.paid / ETHER
        utility = paid - cost if line.won else 0.0
        table.add_row(
            spec.name,
            spec.kind,
            f"{cost:.3f}",
            f"{(line.cost or 0) / ETHER:.3f}",
            f"{(line.q or 0) / 1e18:.3f}",
            f"{pv.marginal_utility:+.4f}",
            "yes" if line.won else "no",
            f"{paid:.4f}",
            f"{utility:+.4f}",
        )
    console.print(table)
    total_paid = sum(x.paid for x in audit.providers)
    console.print(
        f"paid {total_paid / ETHER:.4f} of {budget / ETHER:.2f} ETH budget; "
        f"buyer refund {buyer_refund / ETHER:.4f} ETH (incl. forfeited deposit); "
        f"escrow left in contract: {escrow_left} wei"
    )
    verdict = audit.ok and escrow_left == 0
    for c in audit.checks:
        mark = "[green]✓[/green]" if c.ok else "[red]✗[/red]"
        console.print(f"  {mark} {c.name}" + (f" ({c.detail})" if c.detail and not c.ok else ""))
    console.print(
        f"[bold]{'AUDIT PASSED' if verdict else 'AUDIT FAILED'}[/bold]: every payment re-derived from chain data "
        f"({time.perf_counter() - started:.1f} s on {network})"
    )
    return verdict
