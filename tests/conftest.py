"""Shared fixtures for the contract, SDK and mechanism tests.

One embedded chain with a deployed MiaAuction per test module (`env`); every test makes its own fresh
auction, accounts and vaults through the factories on `Env`, so tests never depend on each other.
`AuctionRun` is the one auction-lifecycle driver: create → commit → reveal → score (posted reports, in
chunks or whole, then aggregation) → order → settle (one shot or in chunks) → withdraw, run to any step and
parameterised by mechanism, number of providers, committee size and f, chunk sizes and payment asset.

Speed: `Chain.embedded()` installs `mia.sdk.pyevm_speedups` (one-run gas estimation, indexed
transaction lookup); the salt vault's Argon2id limits are lowered to libsodium's minimum except in
tests marked `real_kdf` (the vault's own tests).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import nacl.pwhash
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3.contract import Contract

from mia.protocol.artifacts import erc20_at
from mia.protocol.reports import ScoreReport
from mia.protocol.types import Mechanism, Phase
from mia.sdk import salts as sdk_salts
from mia.sdk.auction import ETH, OracleInfo
from mia.sdk.auditor import Auditor
from mia.sdk.buyer import Buyer, Schedule
from mia.sdk.chain import Chain
from mia.sdk.chunked import settle_in_chunks, settlement_order, split_report, submit_score_chunks
from mia.sdk.oracle import Oracle
from mia.sdk.provider import Provider
from mia.sdk.salts import SaltVault
from tools.build_contracts import dev_artifact

ETHER = 10**18
WAD = 10**18
TRANSCRIPT = b"\x7a" * 32
TASK = keccak(b"mia test task")
VAULT_PASSPHRASE = "correct horse battery staple"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_kdf: run with the salt vault's production Argon2id limits")


# ---------------------------------------------------------------------------------------------- speed


def embedded_chain() -> Chain:
    return Chain.embedded()  # with mia.sdk.pyevm_speedups installed


@pytest.fixture(autouse=True)
def _fast_vault_kdf(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("real_kdf") is None:
        monkeypatch.setattr(sdk_salts, "_OPSLIMIT", nacl.pwhash.argon2id.OPSLIMIT_MIN)
        monkeypatch.setattr(sdk_salts, "_MEMLIMIT", nacl.pwhash.argon2id.MEMLIMIT_MIN)


# ------------------------------------------------------------------------------------------- helpers

_KEY_COUNTER = itertools.count(1)


def new_account() -> LocalAccount:
    """A fresh deterministic account (distinct across the whole session)."""
    return Account.from_key(keccak(b"mia-tests/" + next(_KEY_COUNTER).to_bytes(8, "big")))


def asset_address(asset: str | Contract) -> str:
    return to_checksum_address(asset if isinstance(asset, str) else asset.address)


def asset_balance(chain: Chain, asset: str | Contract, holder: str) -> int:
    """ETH (asset = address(0)) or ERC-20 balance of `holder`."""
    addr = asset_address(asset)
    if int(addr, 16) == 0:
        return chain.balance(holder)
    token = asset if isinstance(asset, Contract) else None
    if token is None:
        token = erc20_at(chain.w3, addr)
    return token.functions.balanceOf(to_checksum_address(holder)).call()


def escrow_ok(chain: Chain, auction_contract: Contract, asset: str | Contract = ETH) -> None:
    """The escrow invariant: the contract holds exactly what it owes in `asset`."""
    addr = asset_address(asset)
    owed = auction_contract.functions.totalOwed(addr).call()
    held = asset_balance(chain, asset, auction_contract.address)
    assert held == owed, f"escrow broken for {addr}: contract holds {held}, owes {owed}"


def gas_cost(receipt: Any) -> int:
    return receipt["gasUsed"] * receipt["effectiveGasPrice"]


@dataclass
class FundsSnapshot:
    """Balances, credits and totals that must not change when a call reverts."""

    values: dict[tuple[str, str, str], int]

    @classmethod
    def take(cls, env: Env, accounts: Iterable[str], assets: Iterable[str | Contract] = (ETH,)) -> FundsSnapshot:
        values: dict[tuple[str, str, str], int] = {}
        mia = env.mia
        for asset in assets:
            a = asset_address(asset)
            values[("totalOwed", a, "")] = mia.functions.totalOwed(a).call()
            values[("held", a, mia.address)] = asset_balance(env.chain, asset, mia.address)
            for acct in accounts:
                acct = to_checksum_address(acct)
                values[("balance", a, acct)] = asset_balance(env.chain, asset, acct)
                values[("credit", a, acct)] = mia.functions.credits(a, acct).call()
        return cls(values)


@contextlib.contextmanager
def funds_unchanged(
    env: Env, accounts: Iterable[str], assets: Iterable[str | Contract] = (ETH,)
) -> Iterator[FundsSnapshot]:
    """Asserts that no balance, credit or total owed changed inside the block (even if it raised)."""
    accounts, assets = list(accounts), list(assets)
    before = FundsSnapshot.take(env, accounts, assets)
    try:
        yield before
    finally:
        after = FundsSnapshot.take(env, accounts, assets)
        changed = {k: (before.values[k], after.values[k]) for k in before.values if before.values[k] != after.values[k]}
        assert not changed, f"funds moved: {changed}"


# --------------------------------------------------------------------------------------------- world


class Env:
    """One chain + MiaAuction, and factories for funded participants."""

    def __init__(self, chain: Chain, mia: Contract, vault_dir: Any) -> None:
        self.chain = chain
        self.mia = mia
        self.vault_dir = vault_dir
        # MiaAuction's deployment block: its whole history, so log queries need not scan older blocks
        self.from_block = chain.w3.eth.block_number
        self.children: list[Env] = []  # other deployments made by tests on the same chain
        self.tokens: list[Contract] = []  # tokens the current test uses as payment assets

    @classmethod
    def deploy(cls, chain: Chain, vault_dir: Any) -> Env:
        return cls(chain, chain.deploy("MiaAuction"), vault_dir)

    def auditor(self) -> Auditor:
        return Auditor(self.chain, self.mia, from_block=self.from_block)

    @property
    def w3(self):
        return self.chain.w3

    def account(self, eth: int = 1_000 * ETHER) -> LocalAccount:
        acct = new_account()
        if eth:
            self.chain.fund(acct.address, eth)
        return acct

    def buyer(self, eth: int = 1_000 * ETHER) -> Buyer:
        return Buyer(self.chain, self.mia, self.account(eth))

    def vault(self, name: str | None = None) -> SaltVault:
        return SaltVault(self.vault_dir / f"{name or new_account().address}.vault", VAULT_PASSPHRASE)

    def provider(self, eth: int = 10 * ETHER, vault: SaltVault | None = None) -> Provider:
        acct = self.account(eth)
        return Provider(self.chain, self.mia, acct, vault or self.vault(acct.address))

    def committee(self, size: int = 3, *, funded: bool = False) -> list[Oracle]:
        """Oracle signers; only the first needs gas (it relays the reports) unless every member posts its
        own (`funded`)."""
        members = [Oracle(self.chain, self.mia, new_account()) for _ in range(size)]
        for m in members if funded else members[:1]:
            self.chain.fund(m.address, 10 * ETHER)
        return members

    def token(self, name: str = "TestToken") -> Contract:
        """Deploys test token contract `name` (built from contracts/test/, never shipped)."""
        return self.chain.deploy(dev_artifact(name), *(("Test", "TST") if name == "TestToken" else ()))

    def mint(self, token: Contract, to: str, amount: int) -> None:
        self.chain.sender(self.chain.funder).transact(token.functions.mint(to_checksum_address(to), amount))


def oracle_infos(committee: Sequence[Oracle]) -> list[OracleInfo]:
    return [OracleInfo(o.address, keccak(b"x25519/" + bytes.fromhex(o.address[2:]))) for o in committee]


def dataset_root_for(k: int, tag: bytes = b"") -> bytes:
    return keccak(b"dataset/" + tag + k.to_bytes(8, "big"))


Score = tuple[int, int]


class AuctionRun:
    """One auction, driven step by step (or `through(...)` a step) with the SDK clients.

    `costs[i]` is provider i's (truthful) bid; `reveal[i]` whether it reveals; scores are given per
    provider index (all oracles agree) or per oracle (`oracle_scores[o][i]`). `committee` is either the
    members or their number (`fund_committee`: every member gets gas, to post its own report). A
    `score_chunk` sets the auction's scoring chunk (0: the contract's cap) and reports are posted chunk by
    chunk; non-zero `order_chunk` / `pay_chunk` settle
    through `orderForSettlement` / `settleChunk` instead of one `settle`.
    """

    STEPS = ("created", "committed", "revealed", "scored", "ordered", "settled", "withdrawn")

    def __init__(
        self,
        env: Env,
        costs: Sequence[int],
        *,
        budget: int = 10 * ETHER,
        deposit: int = ETHER // 100,
        threshold: int = 2,
        committee: Sequence[Oracle] | int | None = None,
        fund_committee: bool = False,
        buyer: Buyer | None = None,
        providers: Sequence[Provider] | None = None,
        roots: Sequence[bytes] | None = None,
        reveal: Sequence[bool] | None = None,
        asset: str | Contract = ETH,
        schedule: Schedule | None = None,
        method_id: int = 1,
        max_providers: int = 100,
        fault_tolerance: int = 0,
        score_chunk: int = 0,
        mechanism: Mechanism = Mechanism.QMIA,
        liquidity: int = WAD,
        rho: int = 0,
        model_id: bytes = bytes(32),
        order_chunk: int = 0,
        pay_chunk: int = 0,
    ) -> None:
        self.env = env
        self.chain = env.chain
        self.costs = list(costs)
        n = len(self.costs)
        self.budget, self.deposit, self.threshold = budget, deposit, threshold
        if committee is None or isinstance(committee, int):
            self.committee = env.committee(committee or 3, funded=fund_committee)
        else:
            self.committee = list(committee)
        self.asset = asset_address(asset)
        self.token = asset if isinstance(asset, Contract) else None
        self.buyer = buyer or env.buyer()
        self.providers = list(providers) if providers is not None else [env.provider() for _ in range(n)]
        assert len(self.providers) == n
        self.roots = (
            list(roots)
            if roots is not None
            else [dataset_root_for(i, self.providers[i].address.encode()) for i in range(n)]
        )
        self.reveal_mask = list(reveal) if reveal is not None else [True] * n
        self.schedule, self.method_id, self.max_providers = schedule or Schedule(), method_id, max_providers
        self.fault_tolerance, self.score_chunk = fault_tolerance, score_chunk
        self.mechanism, self.liquidity, self.rho, self.model_id = mechanism, liquidity, rho, model_id
        self.order_chunk, self.pay_chunk = order_chunk, pay_chunk
        self.id: int | None = None
        self.step = "new"
        self.receipts: dict[str, list[Any]] = {}  # step -> the receipts it sent

    # -- parties ------------------------------------------------------------------------------------
    @property
    def info(self):
        return self.buyer.auction(self.id)

    @property
    def phase(self) -> Phase:
        return self.buyer.phase(self.id)

    def addresses(self) -> list[str]:
        return [self.buyer.address, *(p.address for p in self.providers), self.committee[0].address]

    @property
    def revealers(self) -> list[Provider]:
        return [p for p, r in zip(self.providers, self.reveal_mask, strict=True) if r]

    @property
    def chunked_settlement(self) -> bool:
        return bool(self.order_chunk or self.pay_chunk)

    # -- steps --------------------------------------------------------------------------------------
    def mint(self) -> None:
        """Token auctions: mints the budget to the buyer and a deposit to every provider."""
        self.env.mint(self.token, self.buyer.address, self.budget)
        for p in self.providers:
            self.env.mint(self.token, p.address, self.deposit)

    def create(self, *, mint: bool = True) -> int:
        if self.token is not None and mint:
            self.mint()
        self.id = self.buyer.create_auction(
            budget=self.budget,
            deposit=self.deposit,
            oracles=oracle_infos(self.committee),
            threshold=self.threshold,
            task_hash=TASK,
            method_id=self.method_id,
            asset=self.asset,
            schedule=self.schedule,
            max_providers=self.max_providers,
            fault_tolerance=self.fault_tolerance,
            score_chunk=self.score_chunk,
            mechanism=self.mechanism,
            liquidity=self.liquidity,
            rho=self.rho,
            model_id=self.model_id,
        )
        self.step = "created"
        return self.id

    def commit(self) -> None:
        for p, cost, root in zip(self.providers, self.costs, self.roots, strict=True):
            p.commit(self.id, cost, root)
        self.step = "committed"

    def to_reveal(self) -> None:
        self.chain.advance_to(self.info.commit_deadline)

    def reveal(self) -> None:
        self.to_reveal()
        for p in self.revealers:
            p.reveal(self.id)
        self.step = "revealed"

    def to_scoring(self) -> None:
        self.chain.advance_to(self.info.reveal_deadline)

    def to_expiry(self) -> None:
        self.chain.advance_to(self.info.scoring_deadline)

    def score_map(self, scores: Sequence[Score]) -> dict[str, Score]:
        return {p.address: s for p, s in zip(self.providers, scores, strict=True)}

    def report(self, oracle: Oracle, scores: Sequence[Score], *, deadline: int | None = None) -> ScoreReport:
        """Oracle's report over the revealed providers (scores indexed like `costs`)."""
        return oracle.build_report(
            self.id,
            self.score_map(scores),
            transcript_hash=TRANSCRIPT,
            deadline=deadline if deadline is not None else self.info.scoring_deadline,
        )

    def signed_reports(
        self, oracle_scores: Sequence[Sequence[Score]], signers: Sequence[Oracle] | None = None
    ) -> tuple[list[ScoreReport], list[bytes]]:
        signers = list(signers) if signers is not None else self.committee[: len(oracle_scores)]
        reports = [self.report(o, s) for o, s in zip(signers, oracle_scores, strict=True)]
        return reports, [o.sign(r) for o, r in zip(signers, reports, strict=True)]

    def signed_chunks(
        self,
        oracle_scores: Sequence[Sequence[Score]],
        signers: Sequence[Oracle] | None = None,
        chunk: int | None = None,
    ) -> list[tuple[list[ScoreReport], list[bytes]]]:
        """Per scoring chunk (element c is chunk c): every signer's report over the same providers, signed.
        `chunk` defaults to the auction's scoring chunk (as the contract fixed it); 0 means one whole
        report each."""
        signers = list(signers) if signers is not None else self.committee[: len(oracle_scores)]
        reports, signatures = self.signed_reports(oracle_scores, signers)
        size = self.info.score_chunk if chunk is None else chunk
        if not size or size >= len(reports[0].providers):
            return [(reports, signatures)]
        parts = [split_report(r, size) for r in reports]
        return [
            (list(reps), [o.sign(r) for o, r in zip(signers, reps, strict=True)]) for reps in zip(*parts, strict=True)
        ]

    def submit(self, reports: Sequence[ScoreReport], signatures: Sequence[bytes]):
        return self.committee[0].submit(self.id, reports, signatures)

    def post_and_aggregate(self, chunks: Sequence[tuple[Sequence[ScoreReport], Sequence[bytes]]]) -> list[Any]:
        """The first member relays every chunk's signed reports (skipping members that already posted that
        chunk, so a partly posted run resumes); unless that aggregated every chunk, it
        closes the window and aggregates what was posted. Returns the posting receipts, then the
        aggregating ones (also kept under `receipts["posted"]` and `receipts["scored"]`)."""
        posted = submit_score_chunks(self.committee[0], self.id, chunks)
        aggregated = []
        if self.phase == Phase.SCORING:
            self.to_expiry()
            aggregated = self.committee[0].finalize(self.id)
        self.receipts["posted"], self.receipts["scored"] = posted, aggregated
        self.step = "scored"
        return posted + aggregated

    def score(
        self,
        scores: Sequence[Score] | None = None,
        *,
        oracle_scores: Sequence[Sequence[Score]] | None = None,
        n_reports: int | None = None,
        signers: Sequence[Oracle] | None = None,
    ):
        """Moves to Scoring and posts `n_reports` (default: the threshold) signed reports, chunk by chunk
        when the run has a `score_chunk`; unless that was every member (which aggregates at once), closes
        the window and aggregates the posted reports. Returns the receipt of the last transaction (the
        one that aggregated the last chunk)."""
        self.to_scoring()
        if oracle_scores is None:
            if scores is None:
                scores = [(WAD, WAD)] * len(self.costs)
            oracle_scores = [scores] * (len(signers) if signers is not None else n_reports or self.threshold)
        return self.post_and_aggregate(self.signed_chunks(oracle_scores, signers))[-1]

    def order(self) -> None:
        """Chunked settlement only: places the whole settlement order, `order_chunk` providers a call."""
        if self.chunked_settlement:
            indices, _ = settlement_order(self.buyer, self.id)
            f, size = self.buyer.contract.functions, self.order_chunk or len(indices) or 1
            self.receipts["ordered"] = [
                self.buyer.sender.transact(f.orderForSettlement(self.id, indices[k : k + size]))
                for k in range(0, len(indices), size)
            ]
        self.step = "ordered"

    def settle(self):
        """One `settle`, or `settleChunk` calls of `pay_chunk` providers (after `order`); returns the last
        receipt."""
        if self.chunked_settlement:
            kw = {k: v for k, v in (("order_chunk", self.order_chunk), ("pay_chunk", self.pay_chunk)) if v}
            receipts = settle_in_chunks(self.buyer, self.id, **kw)
        else:
            receipts = [self.buyer.settle(self.id)]
        self.receipts["settled"] = receipts
        self.step = "settled"
        return receipts[-1]

    def withdraw(self) -> dict[str, int]:
        """After the auction ended: refunds every refundable deposit, then the buyer and every provider
        withdraw their whole credit; returns what each withdrew (address -> amount)."""
        self.refund_deposits()
        got = {}
        for party in (self.buyer, *self.providers):
            if party.credit(party.address, self.asset):
                got[party.address] = party.withdraw(self.asset)
        self.step = "withdrawn"
        return got

    def through(self, step: str, scores: Sequence[Score] | None = None, **score_kw: Any) -> AuctionRun:
        """Runs every step up to and including `step` (one of STEPS)."""
        target = self.STEPS.index(step)
        actions = {
            "created": self.create,
            "committed": self.commit,
            "revealed": self.reveal,
            "scored": lambda: self.score(scores, **score_kw),
            "ordered": self.order,
            "settled": self.settle,
            "withdrawn": self.withdraw,
        }
        done = self.STEPS.index(self.step) if self.step in self.STEPS else -1
        for name in self.STEPS[done + 1 : target + 1]:
            actions[name]()
        return self

    # -- results ------------------------------------------------------------------------------------
    def refund_deposits(self) -> None:
        """After the auction ended: credits back every refundable deposit (revealed, weight > 0 or cancelled)."""
        for p in self.revealers:
            if p.deposit_refundable(self.id, p.address):
                p.refund_deposit(self.id)

    def payments(self, receipt: Any = None) -> dict[str, int]:
        """Payment events of this auction: provider -> amount."""
        logs = self.env.mia.events.Payment().get_logs(
            from_block=self.env.from_block, argument_filters={"auctionId": self.id}
        )
        return {e["args"]["provider"]: e["args"]["amount"] for e in logs}

    def outcome(self) -> tuple[list[tuple[int, int]], int]:
        """Per provider (in `costs` order) its (cash, MUT) payment, and the buyer's refund at settlement."""
        logs = self.env.mia.events.Payment().get_logs(
            from_block=self.env.from_block, argument_filters={"auctionId": self.id}
        )
        paid = {e["args"]["provider"]: (e["args"]["amount"], e["args"]["mutAmount"]) for e in logs}
        (settled,) = self.env.mia.events.AuctionSettled().get_logs(
            from_block=self.env.from_block, argument_filters={"auctionId": self.id}
        )
        return [paid.get(p.address, (0, 0)) for p in self.providers], settled["args"]["buyerRefund"]

    def audit(self) -> None:
        """The auditor re-derives this auction from chain data without a mismatch."""
        report = self.env.auditor().audit(self.id)
        assert report.ok, report.mismatches

    def credit(self, who: str) -> int:
        return self.buyer.credit(who, self.asset)


def run_auction(
    env: Env, costs: Sequence[int], scores: Sequence[Score] | None = None, *, until: str = "settled", **kw: Any
) -> AuctionRun:
    """create → commit → reveal → score → settle, stopping after `until`."""
    score_kw = {k: kw.pop(k) for k in ("oracle_scores", "n_reports") if k in kw}
    return AuctionRun(env, costs, **kw).through(until, scores, **score_kw)


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def chain() -> Chain:
    return embedded_chain()


@pytest.fixture(scope="module")
def env(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> Env:
    """The module's shared chain and MiaAuction deployment."""
    return Env.deploy(chain, tmp_path_factory.mktemp("vaults"))


@pytest.fixture(scope="module")
def mia(env: Env) -> Contract:
    return env.mia


@pytest.fixture
def fresh_env(env: Env) -> Env:
    """A MiaAuction of this test's own on the module's chain, for tests that audit the whole contract
    or need its balance to end at exactly zero. (eth-tester's log queries scan every block in range,
    so the auditor of a long-lived deployment slows down as the module's chain grows.)"""
    child = Env.deploy(env.chain, env.vault_dir)
    env.children.append(child)
    return child


@pytest.fixture
def anvil_env(tmp_path: Any) -> Iterator[Env]:
    """A MiaAuction on a local anvil of this test's own (stopped afterwards)."""
    from mia.sdk.networks import connect

    chain = connect("anvil")
    try:
        yield Env.deploy(chain, tmp_path)
    finally:
        chain.close()


@pytest.fixture
def own_env(tmp_path: Any) -> Env:
    """A chain and MiaAuction of this test's own: eth-tester slows down as one chain's state grows."""
    return Env.deploy(embedded_chain(), tmp_path)


@pytest.fixture
def auction(env: Env):
    """Factory: `auction(costs, **kw)` -> a new, not yet created AuctionRun."""

    def make(costs: Sequence[int], **kw: Any) -> AuctionRun:
        return AuctionRun(env, costs, **kw)

    return make
