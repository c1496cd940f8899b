"""`mia demo`: whole auctions on a chain, from escrow to audit, printed as tables.

Nine providers hold slices of scikit-learn's bundled digits: clean ones at different costs, one
with noisy labels, one that copied another's records, a small one, and one that never reveals. A
four-member oracle committee (fault tolerance f = 1, quorum 3; one member deliberately faulty)
values the data with exact KNN-Shapley times quality checks, each member posts its own signed
report, the contract takes every provider's weight as the median over all posted reports and
settles, everyone withdraws and the auditor re-derives every payment from chain data alone.
Round 1 pays cash (Q-MIA); round 2 is Mixed-MIA with λ = 0.5, paying half in Marginal Utility
Tokens, after which the buyer deposits model revenue and every MUT holder claims its pro-rata share.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.public
import nacl.signing
import numpy as np
from eth_account import Account
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sklearn.datasets import load_digits

from mia.oracle.scoring import METHOD_KNN_SHAPLEY_QUALITY, score_auction, task_hash
from mia.protocol.constants import MAX_QUALITY, WAD
from mia.protocol.merkle import dataset_root
from mia.protocol.types import Mechanism
from mia.sdk.auction import OracleInfo
from mia.sdk.auditor import Auditor, AuditReport
from mia.sdk.buyer import Buyer, Schedule
from mia.sdk.deployer import deploy_mia
from mia.sdk.mut import MutToken
from mia.sdk.networks import connect
from mia.sdk.oracle import Oracle
from mia.sdk.provider import Provider
from mia.sdk.salts import SaltVault
from mia.valuation import Dataset

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


@dataclass
class RoundResult:
    auction_id: int
    title: str
    audit: AuditReport
    quality_source: dict[str, float]
    utility_source: dict[str, float]
    buyer_refund: int


class DemoMarket:
    """The demo's cast on one chain: a buyer, nine providers, a 4-member oracle committee (f = 1, quorum 3), a relayer.

    Subclasses change the task (data, commitment roots, task hash, how an oracle scores) through
    ``specs``, ``faulty_target``, :meth:`make_data`, :meth:`root`, :meth:`task_hash` and :meth:`score`.
    """

    specs: list[ProviderSpec] = SPECS
    faulty_target = "scraper-E"  # the provider the faulty oracle inflates
    method_id = METHOD_KNN_SHAPLEY_QUALITY
    model_id = "digits-knn-5"
    valuation = "KNN-Shapley × quality"
    validation: Any  # the buyer's validation set, in whatever form the subclass's scorer takes

    def make_data(self, workdir: Path) -> tuple[list, Dataset]:
        return make_datasets()

    def root(self, data) -> bytes:
        return dataset_root(*data)

    def task_hash(self) -> bytes:
        return task_hash(self.validation, METHOD_KNN_SHAPLEY_QUALITY, self.model_id)

    def score(self, revealed: list[str], data: list, j: int):
        return score_auction(revealed, data, self.validation, signing_key=self.ed_keys[j])

    def __init__(self, chain, contract: str, workdir: Path, progress: Progress) -> None:
        self.chain, self.contract, self.progress = chain, contract, progress
        self.datasets, self.validation = self.make_data(workdir)
        self.accounts = {s.name: Account.create() for s in self.specs}
        self.buyer_acct, self.relayer = Account.create(), Account.create()
        self.oracle_keys = [Account.create() for _ in range(4)]
        self.box_keys = [nacl.public.PrivateKey.generate() for _ in range(4)]
        self.ed_keys = [nacl.signing.SigningKey.generate() for _ in range(4)]
        task = progress.add_task("fund accounts", total=len(self.accounts) + len(self.oracle_keys) + 2)
        for a in [self.buyer_acct, self.relayer, *self.oracle_keys, *self.accounts.values()]:
            chain.fund(a.address, 100 * ETHER)
            progress.advance(task)
        self.buyer = Buyer(chain, contract, self.buyer_acct)
        vault = SaltVault(workdir / "salts.vault", passphrase="demo-passphrase")
        self.providers = {s.name: Provider(chain, contract, self.accounts[s.name], vault) for s in self.specs}
        self.roots = [self.root(d) for d in self.datasets]

    def run_round(self, label: str, mechanism: Mechanism, *, liquidity: int = ETHER, budget: int = 4 * ETHER):
        chain, progress = self.chain, self.progress
        deposit = ETHER // 20
        aid = self.buyer.create_auction(
            budget=budget,
            deposit=deposit,
            oracles=[
                OracleInfo(o.address, bytes(b.public_key)) for o, b in zip(self.oracle_keys, self.box_keys, strict=True)
            ],
            threshold=3,
            fault_tolerance=1,
            task_hash=self.task_hash(),
            method_id=self.method_id,
            schedule=Schedule(commit=600, reveal=600, scoring=600),
            mechanism=mechanism,
            liquidity=liquidity,
            model_id=self.model_id.encode()[:32].ljust(32, b"\0"),
        )
        info = self.buyer.auction(aid)
        task = progress.add_task(f"{label}: commit sealed bids (salts backed up)", total=len(self.specs))
        for spec, root in zip(self.specs, self.roots, strict=True):
            self.providers[spec.name].commit(aid, spec.cost_milli * ETHER // 1000, root)
            progress.advance(task)
        chain.advance_to(info.commit_deadline)
        task = progress.add_task(f"{label}: reveal bids", total=sum(s.kind != "silent" for s in self.specs))
        for spec in self.specs:
            if spec.kind != "silent":
                self.providers[spec.name].reveal(aid)
                progress.advance(task)

        chain.advance_to(info.reveal_deadline)
        oracles = [Oracle(chain, self.contract, k) for k in self.oracle_keys]
        revealed, _ = oracles[0].revealed(aid)
        by_addr = {self.accounts[s.name].address: i for i, s in enumerate(self.specs)}
        task = progress.add_task(f"{label}: oracles value the data ({self.valuation})", total=len(oracles))
        scores = []
        for j, oracle in enumerate(oracles):
            sc = self.score(revealed, [self.datasets[by_addr[p]] for p in revealed], j)
            mapping = sc.as_mapping()
            if j == 3:  # a faulty (or bribed) oracle inflates the noisy scraper: the median ignores it
                noisy = self.accounts[self.faulty_target].address
                mapping[noisy] = (MAX_QUALITY, mapping[noisy][1] * 10 + WAD)
            chunks = oracle.build_reports(
                aid, mapping, transcript_hash=sc.transcript_hash, deadline=info.scoring_deadline
            )
            oracle.post_own(aid, chunks)  # each member posts its own signed report
            scores.append(sc)
            progress.advance(task)
        # Anyone aggregates: every provider's weight is the median over all four posted reports.
        Oracle(chain, self.contract, self.relayer).finalize(aid)

        task = progress.add_task(f"{label}: settle on-chain and withdraw", total=len(self.specs) + 2)
        self.buyer.settle(aid)
        progress.advance(task)
        for s in self.specs:
            if self.providers[s.name].deposit_refundable(aid, self.accounts[s.name].address):
                self.providers[s.name].refund_deposit(aid)  # weight > 0: deposit back (weight 0: forfeited)
            if self.providers[s.name].credit(self.accounts[s.name].address):
                self.providers[s.name].withdraw()
            progress.advance(task)
        refund = self.buyer.credit(self.buyer_acct.address)
        self.buyer.withdraw()
        progress.advance(task)
        honest = scores[0].result
        return RoundResult(
            auction_id=aid,
            title=f"Auction {aid}: {label}, budget {budget / ETHER:.2f} ETH, 4 oracles (f = 1, quorum 3)",
            audit=Auditor(chain, self.contract).audit(aid),
            quality_source={p: honest[p].quality for p in revealed},
            utility_source={p: honest[p].marginal_utility for p in revealed},
            buyer_refund=refund,
        )

    def revenue_round(self, token_address: str, revenue: int) -> list[tuple[str, int, int, int]]:
        """The buyer deposits model revenue into the MUT pool; every holder claims. Rows: name, MUT, share, paid."""
        MutToken(self.chain, token_address, self.buyer_acct).deposit_revenue(revenue)
        rows = []
        for spec in self.specs:
            acct = self.accounts[spec.name]
            token = MutToken(self.chain, token_address, acct)
            bal = token.balance_of(acct.address)
            if bal == 0:
                continue
            before = self.chain.balance(acct.address)
            claimed = token.claim()
            rows.append((spec.name, bal, claimed, before))
        return rows


def _round_table(market: DemoMarket, r: RoundResult) -> Table:
    lines = {p.provider: p for p in r.audit.providers}
    table = Table(title=r.title)
    cols = (
        "provider",
        "data",
        "cost",
        "bid",
        "weight w",
        "marginal utility Δ",
        "won",
        "paid cash",
        "paid MUT",
        "utility",
    )
    for col in cols:
        table.add_column(col, justify="left" if col in ("provider", "data", "won") else "right", no_wrap=True)
    deposit = ETHER // 20
    for spec in market.specs:
        addr = market.accounts[spec.name].address
        line = lines[addr]
        cost = spec.cost_milli / 1000
        if not line.revealed:
            table.add_row(spec.name, spec.kind, f"{cost:.3f}", "sealed", "-", "-", "no (no reveal)", "0", "0",
                          f"{-deposit / ETHER:.3f} (deposit)")  # fmt: skip
            continue
        cash, mut = line.paid / ETHER, line.mut / ETHER
        forfeit = -deposit / ETHER if not line.weight else 0.0  # weight 0: the deposit went to the buyer
        utility = cash + mut - cost if line.won else forfeit
        table.add_row(
            spec.name,
            spec.kind,
            f"{cost:.3f}",
            f"{(line.cost or 0) / ETHER:.3f}",
            f"{(line.weight or 0) / WAD:.3f}",
            f"{r.utility_source[addr]:+.4f}",
            "yes" if line.won else "no",
            f"{cash:.4f}",
            f"{mut:.4f}",
            f"{utility:+.4f}",
        )
    return table


def _print_audit(console: Console, r: RoundResult) -> None:
    for c in r.audit.checks:
        mark = "[green]✓[/green]" if c.ok else "[red]✗[/red]"
        console.print(f"  {mark} {c.name}" + (f" ({c.detail})" if c.detail and not c.ok else ""))


def run_demo(
    network: str = "embedded",
    *,
    console: Console | None = None,
    workdir: Path | None = None,
    market_cls: type[DemoMarket] = DemoMarket,
) -> bool:
    """Runs both rounds and the revenue claim; returns the audit verdict.

    The providers' salt vault lives in `workdir`; without one, a temporary folder that is removed after.
    """
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="mia-demo-") as tmp:
            return run_demo(network, console=console, workdir=Path(tmp), market_cls=market_cls)
    console = console or Console(width=None if Console().is_terminal else 150)
    started = time.perf_counter()
    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=console, transient=False,
    )  # fmt: skip
    with connect(network) as chain, progress:
        step = progress.add_task(f"deploy on {network} chain", total=1)
        contract = deploy_mia(chain, network=network).address
        progress.advance(step)
        market = market_cls(chain, contract, workdir, progress)
        cash_round = market.run_round("Q-MIA (cash)", Mechanism.QMIA)
        mixed_round = market.run_round("Mixed-MIA λ=0.5", Mechanism.MIXED_MIA, liquidity=ETHER // 2)
        token = mixed_round.audit.mut_token
        revenue = ETHER
        claims = market.revenue_round(token, revenue) if token else []
        # re-audit after the claims so the pool checks see them
        final = [Auditor(chain, contract).audit(r.auction_id) for r in (cash_round, mixed_round)]
        cash_round.audit, mixed_round.audit = final
        escrow_left = chain.balance(contract)
        pool_left = chain.balance(token) if token else 0

    verdict = escrow_left == 0
    for r in (cash_round, mixed_round):
        console.print(_round_table(market, r))
        paid = sum(x.paid for x in r.audit.providers)
        minted = sum(x.mut for x in r.audit.providers)
        console.print(
            f"cash paid {paid / ETHER:.4f} ETH, MUT minted {minted / ETHER:.4f}; "
            f"buyer refund {r.buyer_refund / ETHER:.4f} ETH (incl. forfeited deposit)"
        )
        _print_audit(console, r)
        verdict = verdict and r.audit.passed
    table = Table(title=f"MUT revenue: buyer deposits {revenue / ETHER:.2f} ETH of model revenue; holders claim")
    for col in ("holder", "MUT held", "share", "claimed ETH"):
        table.add_column(col, justify="left" if col == "holder" else "right", no_wrap=True)
    supply = sum(b for _, b, _, _ in claims) or 1
    for name, bal, claimed, _ in claims:
        table.add_row(name, f"{bal / ETHER:.4f}", f"{100 * bal / supply:.2f}%", f"{claimed / ETHER:.6f}")
    console.print(table)
    claimed_total = sum(c for _, _, c, _ in claims)
    console.print(
        f"claimed {claimed_total} of {revenue} wei deposited; rounding dust left in the pool: {pool_left} wei; "
        f"escrow left in the auction contract: {escrow_left} wei"
    )
    verdict = verdict and claimed_total + pool_left == revenue
    console.print(
        f"[bold]{'AUDIT PASSED' if verdict else 'AUDIT FAILED'}[/bold]: every payment, mint and claim re-derived "
        f"from chain data ({time.perf_counter() - started:.1f} s on {network})"
    )
    return verdict
