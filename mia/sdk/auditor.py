"""Auditor role: rebuild an auction from chain data alone and re-derive every payment.

Nothing here trusts the buyer, the oracles or the contract's own arithmetic: commitments are
recomputed from the revealed openings, the committee policy (n >= 3f+1, 2f+1 <= k <= n-f, buyer not a
member) is re-checked, every posted report is rebuilt from its `ReportPosted` event (so reports relayed
through a contract wallet audit like any other) and its signature recovered, every chunk's aggregate is
recomputed over EVERY posted report (median of w = q·max(Δ,0)), the Q-MIA outcome is recomputed with the
Python reference (`mia.mechanism`), and the escrow is reconciled against the contract's real balance.

The verdict names the auction's state: only an ended auction (settled or cancelled) can pass; an open or
scored-but-unsettled one is at most "consistent so far", since money not yet paid cannot be vouched for.
Money nobody is owed (a forced send: SELFDESTRUCT, a plain token transfer) is reported as a note, never as
a mismatch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from web3 import Web3
from web3.contract import Contract
from web3.types import EventData, LogReceipt

from mia.mechanism import MECHANISMS, aggregate_weights, settle
from mia.protocol.commitment import commitment_of
from mia.protocol.reports import digest, recover_signer
from mia.sdk.auction import AuctionClient
from mia.sdk.chain import Chain
from mia.sdk.events import EventReader, decode_events, default_confirmations
from mia.sdk.scoring import chunk_count, posted_reports

if TYPE_CHECKING:
    from mia.sdk.mut import MutToken


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class ProviderLine:
    """Re-derived outcome of one provider."""

    provider: str
    index: int
    commitment: bytes
    revealed: bool = False
    cost: int | None = None
    root: bytes = b""  # the dataset root its reveal opened
    q: int | None = None
    delta: int | None = None
    weight: int | None = None
    won: bool = False
    expected_payment: int = 0  # cash
    paid: int = 0  # cash
    expected_mut: int = 0
    mut: int = 0


#: Auction states an audit can find, in the words of its verdict.
OPEN, SCORED, SETTLED, CANCELLED = "open", "scored, not settled", "settled", "cancelled"


@dataclass
class AuditReport:
    auction_id: int
    checks: list[Check] = field(default_factory=list)
    providers: list[ProviderLine] = field(default_factory=list)
    budget: int = 0
    status: str = OPEN
    phase: str = ""
    mechanism: str = "Q-MIA"
    mut_token: str | None = None
    notes: list[str] = field(default_factory=list)  # information, never a mismatch (e.g. a surplus)

    @property
    def ok(self) -> bool:
        """No mismatch found (whatever the state)."""
        return all(c.ok for c in self.checks)

    @property
    def final(self) -> bool:
        """The auction has ended: every payment it will make is on the chain."""
        return self.status in (SETTLED, CANCELLED)

    @property
    def passed(self) -> bool:
        """PASSED means: ended, and everything re-derived matches."""
        return self.ok and self.final

    @property
    def verdict(self) -> str:
        """One line naming the state; never PASSED for money not yet paid."""
        where = self.status + (f", {self.phase} phase" if self.status == OPEN and self.phase else "")
        if not self.ok:
            return f"AUDIT FAILED ({where}): {len(self.mismatches)} mismatch(es)"
        if self.final:
            return f"AUDIT PASSED ({where})"
        return f"NO MISMATCH SO FAR ({where}): nothing is paid yet; audit again once it is settled or cancelled"

    @property
    def mismatches(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def add(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append(Check(name, bool(ok), detail))


class Auditor(AuctionClient):
    """Read-only: needs a chain connection and the auction contract's address, nothing else.

    Events come from a reorg-safe `EventReader`: logs deeper than `confirmations` blocks are cached,
    newer ones are re-read on every audit, and logs of blocks that left the canonical chain are dropped.
    `confirmations` defaults to 0 on the embedded chain and `DEFAULT_CONFIRMATIONS` over RPC.
    """

    def __init__(
        self, chain: Chain, contract: Contract | str, *, from_block: int = 0, confirmations: int | None = None
    ) -> None:
        super().__init__(chain, contract, None)
        self.from_block = from_block
        depth = default_confirmations(chain.kind) if confirmations is None else confirmations
        self.reader = EventReader(chain.w3, confirmations=depth, from_block=from_block)
        self._view: dict[str, list[LogReceipt]] | None = None

    def _logs_of(self, contract: Contract, name: str, **filters: Any) -> list[EventData]:
        """One consistent view per audit: every address's logs are read once, then filtered."""
        if self._view is None:
            return self.reader.events(contract, name, **filters)
        if contract.address not in self._view:
            self._view[contract.address] = self.reader.logs(contract.address)
        return decode_events(contract, name, self._view[contract.address], filters)

    def _events(self, name: str, **filters: Any) -> list[EventData]:
        return self._logs_of(self.contract, name, **filters)

    def audit(self, auction_id: int) -> AuditReport:
        self._view = {}
        try:
            return self._audit(auction_id)
        finally:
            self._view = None

    def _audit(self, auction_id: int) -> AuditReport:
        rep = AuditReport(auction_id)
        created = self._events("AuctionCreated", auctionId=auction_id)
        rep.add("auction created", len(created) == 1, f"{len(created)} creation events")
        if not created:
            return rep
        c = created[0]["args"]
        rep.budget = c["budget"]
        configured: list[EventData | None] = [*self._events("MechanismConfigured", auctionId=auction_id)]
        (cfg_event,) = configured or [None]
        if cfg_event is None:
            rep.add("mechanism configured", False, "no MechanismConfigured event")
            return rep
        cfg = cfg_event["args"]
        rep.mechanism = MECHANISMS.get(cfg["mechanism"], str(cfg["mechanism"]))
        rep.mut_token = cfg["mutToken"] if int(cfg["mutToken"], 16) else None
        chain_id, address = self.chain.chain_id, self.contract.address

        # 1. commitments and reveals
        lines: dict[str, ProviderLine] = {}
        for e in self._events("BidCommitted", auctionId=auction_id):
            a = e["args"]
            lines[a["provider"]] = ProviderLine(a["provider"], a["index"], bytes(a["commitment"]))
        rep.add("commit indices", sorted(x.index for x in lines.values()) == list(range(1, len(lines) + 1)))
        bad_reveals = []
        for e in self._events("BidRevealed", auctionId=auction_id):
            a = e["args"]
            line = lines.get(a["provider"])
            recomputed = commitment_of(
                chain_id, address, auction_id, a["provider"], a["cost"], bytes(a["salt"]), bytes(a["datasetRoot"])
            )
            if line is None or recomputed != line.commitment or line.revealed:
                bad_reveals.append(a["provider"])
                continue
            line.revealed, line.cost = True, a["cost"]
            line.root = bytes(a["datasetRoot"])
        rep.add("reveals open their commitments", not bad_reveals, ", ".join(bad_reveals))
        revealed = sorted((x for x in lines.values() if x.revealed), key=lambda x: x.index)
        rep.providers = sorted(lines.values(), key=lambda x: x.index)

        # 2. committee policy and oracle reports, verified from the events alone
        settled = self._events("AuctionSettled", auctionId=auction_id)
        cancelled = self._events("AuctionCancelled", auctionId=auction_id)
        finalized = self._events("ScoresFinalized", auctionId=auction_id)
        self._audit_reports(rep, auction_id, c, revealed)

        # 3. mechanism
        payment_events = {e["args"]["provider"]: e["args"] for e in self._events("Payment", auctionId=auction_id)}
        rep.phase = self.phase(auction_id).name.lower()
        if finalized:
            rep.status = SCORED
        refunded: set[str] = set()
        if settled:
            rep.status = SETTLED
            s = settled[0]["args"]
            scored = all(x.weight is not None for x in revealed)
            if revealed and not scored:
                rep.add("settled with scores", False, "settlement without accepted scores")
            bids = [x.cost or 0 for x in revealed]
            weights = [x.weight or 0 for x in revealed]
            # deposits of non-revealers and of revealed providers with aggregated weight 0 go to the buyer
            refunded = {x.provider for x, w in zip(revealed, weights, strict=True) if w > 0}
            forfeited = (len(lines) - len(refunded)) * c["deposit"]
            out = settle(cfg["mechanism"], bids, weights, c["budget"], liquidity=cfg["liquidity"], rho=cfg["rho"])
            for k, x in enumerate(revealed):
                x.weight, x.won = weights[k], out.won[k]
                x.expected_payment, x.expected_mut = out.cash[k], out.mut[k]
            for x in rep.providers:
                ev = payment_events.get(x.provider)
                x.paid, x.mut = (ev["amount"], ev["mutAmount"]) if ev else (0, 0)
            wrong = [
                x.provider
                for x in rep.providers
                if (x.paid, x.mut) != (x.expected_payment, x.expected_mut) or (x.provider in payment_events) != x.won
            ]
            rep.add(f"payments match the {rep.mechanism} reference to the wei", not wrong, ", ".join(wrong))
            rep.add("total cash paid", s["totalPaid"] == out.total_cash, f"{s['totalPaid']} vs {out.total_cash}")
            rep.add("total MUT minted", s["totalMut"] == out.total_mut, f"{s['totalMut']} vs {out.total_mut}")
            rep.add("payments within budget", out.total_cash + out.total_mut <= c["budget"])
            rep.add("cash within the cash escrow", out.total_cash <= cfg["cashEscrow"])
            rep.add(
                "individually rational",
                all(p >= (x.cost or 0) for x, p in zip(revealed, out.payments, strict=True) if x.won),
            )
            rep.add("forfeited deposits", s["forfeited"] == forfeited, f"{s['forfeited']} vs {forfeited}")
            refund = cfg["cashEscrow"] - out.total_cash + forfeited
            rep.add("buyer refund", s["buyerRefund"] == refund, f"{s['buyerRefund']} vs {refund}")
        elif cancelled:
            rep.status = CANCELLED
            refunded = {x.provider for x in revealed}
            forfeited = (len(lines) - len(revealed)) * c["deposit"]
            a = cancelled[0]["args"]
            rep.add("nothing paid on cancel", not payment_events)
            refund = cfg["cashEscrow"] + forfeited
            rep.add("cancel refund", a["buyerRefund"] == refund, f"{a['buyerRefund']} vs {refund}")
        rep.add("settled at most once", len(settled) + len(cancelled) <= 1)
        refunds = [e["args"] for e in self._events("DepositRefunded", auctionId=auction_id)]
        wrong_refunds = [r["provider"] for r in refunds if r["provider"] not in refunded or r["amount"] != c["deposit"]]
        once = len({r["provider"] for r in refunds}) == len(refunds)
        rep.add(
            "deposits refunded only to revealed providers with weight > 0 (all revealers on cancel), once",
            not wrong_refunds and once,
            ", ".join(wrong_refunds),
        )

        # 4. escrow of the whole contract for this asset, and the auction's own MUT
        self._audit_escrow(rep, c["asset"])
        if rep.mut_token:
            self.audit_mut(rep, rep.mut_token, auction_id=auction_id, cap=c["budget"])
        return rep

    def _audit_reports(
        self, rep: AuditReport, auction_id: int, c: Mapping[str, Any], revealed: list[ProviderLine]
    ) -> None:
        """Committee policy; every `ReportPosted` event re-verified; every aggregated chunk recomputed over
        every report posted for it, and compared with the weights the contract stored."""
        chain_id, address = self.chain.chain_id, self.contract.address
        committee = [Web3.to_checksum_address(o) for o in c["oracles"]]
        policies: list[EventData | None] = [*self._events("ScoringConfigured", auctionId=auction_id)]
        (policy,) = policies or [None]
        if policy is None:
            rep.add("committee policy", False, "no ScoringConfigured event")
            return
        f, k, n, size = (policy["args"][x] for x in ("faultTolerance", "threshold", "committeeSize", "scoreChunk"))
        buyer = Web3.to_checksum_address(c["buyer"])
        rep.add(
            "committee policy: n >= 3f+1, 2f+1 <= k <= n-f, buyer not a member, members distinct",
            n == len(committee) and n >= 3 * f + 1 and 2 * f + 1 <= k <= n - f and k == c["threshold"]
            and buyer not in committee and len(set(committee)) == n and size > 0,
            f"n={n}, f={f}, k={k}",
        )  # fmt: skip
        events = self._events("ReportPosted", auctionId=auction_id)
        finals = {e["args"]["chunk"]: e for e in self._events("ScoreChunkFinalized", auctionId=auction_id)}
        providers = [x.provider for x in revealed]
        roots = [x.root for x in revealed]
        info = self.auction(auction_id)
        try:
            posted = posted_reports(events, info, providers, roots, size)
        except ValueError as exc:
            rep.add("posted reports name existing chunks", False, str(exc))
            return
        problems: list[str] = []
        seen: set[tuple[str, int]] = set()
        for p in posted:
            try:
                signer = recover_signer(p.report, p.signature, chain_id, address)
            except ValueError as exc:
                problems.append(f"{p.oracle} chunk {p.chunk}: {exc}")
                continue
            if signer != p.oracle or signer not in committee:
                problems.append(f"chunk {p.chunk}: report of {p.oracle} signed by {signer}, not that member")
            if p.digest != digest(p.report, chain_id, address):
                problems.append(f"chunk {p.chunk}: digest of {p.oracle}'s report differs")
            if (p.oracle, p.chunk) in seen:
                problems.append(f"chunk {p.chunk}: {p.oracle} posted twice")
            seen.add((p.oracle, p.chunk))
        rep.add("posted reports: valid signatures of committee members, one per member and chunk",
                not problems, "; ".join(problems))  # fmt: skip
        if not posted and not finals:
            return
        # Every finalized chunk: aggregated over every report posted for it, by the rule, with a quorum.
        slot: dict[str, int] = {a: i for i, a in enumerate(committee)}
        wrong_set, wrong_rule, wrong_quorum = [], [], []
        weights: dict[str, int] = {}
        for chunk in range(chunk_count(len(revealed), size)):
            mine = sorted((p for p in posted if p.chunk == chunk), key=lambda p: slot.get(p.oracle, n))
            e = finals.get(chunk)
            if e is None:
                continue
            a = e["args"]
            bitmap = sum(1 << slot[p.oracle] for p in mine if p.oracle in slot)
            if a["reports"] != len(mine) or a["posters"] != bitmap:
                wrong_set.append(f"chunk {chunk}: {a['reports']} aggregated, {len(mine)} posted")
            if len(mine) != n:
                when = self.chain.w3.eth.get_block(e["blockNumber"])["timestamp"]
                if len(mine) < k or when < c["scoringDeadline"]:
                    wrong_quorum.append(f"chunk {chunk}: {len(mine)} of {n} reports, finalized at {when}")
            if not mine:
                continue
            agg = aggregate_weights([p.weights for p in mine])
            for prov, w in zip(mine[0].report.providers, agg, strict=True):
                weights[prov] = w
                stored = self.contract.functions.weightOf(auction_id, prov).call()
                if stored != w:
                    wrong_rule.append(f"{prov}: stored {stored}, rule gives {w}")
        rep.add("every posted report aggregated (no subset chosen)", not wrong_set, "; ".join(wrong_set))
        rep.add("each chunk aggregated with all n reports, or >= k after the window", not wrong_quorum,
                "; ".join(wrong_quorum))  # fmt: skip
        rep.add("aggregate = lower median of posted weights w = q·max(Δ,0)", not wrong_rule, "; ".join(wrong_rule))
        if len(finals) == chunk_count(len(revealed), size) and revealed:
            for x in revealed:
                x.weight = weights.get(x.provider)

    def _audit_escrow(self, rep: AuditReport, asset: str) -> None:
        inflow = 0
        escrows = {e["args"]["auctionId"]: e["args"]["cashEscrow"] for e in self._events("MechanismConfigured")}
        for e in self._events("AuctionCreated"):
            if e["args"]["asset"] != asset:
                continue
            inflow += escrows[e["args"]["auctionId"]]
            n_commits = len(self._events("BidCommitted", auctionId=e["args"]["auctionId"]))
            inflow += n_commits * e["args"]["deposit"]
        outflow = sum(e["args"]["amount"] for e in self._events("Withdrawal", asset=asset))
        owed = self.total_owed(asset)
        balance = self.escrow_balance(asset)
        rep.add("escrow: events reconcile with what is owed", inflow - outflow == owed, f"{inflow - outflow} vs {owed}")
        rep.add("escrow: balance covers what is owed", balance >= owed, f"balance {balance}, owed {owed}")
        if balance > owed:
            rep.notes.append(
                f"surplus of {balance - owed} base units in the auction contract beyond what it owes "
                "(a forced send or a plain transfer): owed to nobody, changes no payment"
            )

    def audit_mut(self, rep: AuditReport, token_address: str, *, auction_id: int, cap: int) -> None:
        """The auction's own MUT: bound to it, supply equal to its mints and within the cap stated at creation;
        the revenue pool never owes more than it holds."""
        from mia.sdk.mut import MutToken

        token = MutToken(self.chain, token_address)
        configured = self._events("MechanismConfigured")
        users = [e["args"]["auctionId"] for e in configured if e["args"]["mutToken"] == token.address]
        f = token.contract.functions
        binding = (f.auctionId().call(), f.maxSupply().call(), f.minter().call())
        bound = binding == (auction_id, cap, self.contract.address)
        rep.add(
            "MUT belongs to this auction alone (its id, cap = budget, minted only by this contract)",
            users == [auction_id] and bound,
            f"used by auctions {users}",
        )
        minted = sum(e["args"]["mutAmount"] for e in self._events("Payment", auctionId=auction_id))
        state = token.state()
        rep.add("MUT supply equals this auction's mints", state.supply == minted, f"{state.supply} vs {minted}")
        rep.add("MUT supply within its cap", state.supply <= cap, f"{state.supply} vs cap {cap}")
        tc = token.contract
        deposits = sum(e["args"]["amount"] for e in self._logs_of(tc, "RevenueDeposited"))
        claims = sum(e["args"]["amount"] for e in self._logs_of(tc, "RevenueClaimed"))
        rep.add(
            "revenue deposits and claims reconcile", (deposits, claims) == (state.total_deposited, state.total_claimed)
        )
        holders = {e["args"]["to"] for e in self._logs_of(tc, "Transfer")}
        entitled = sum(token.claimable(h) for h in holders)
        held = self.chain.balance(token.address) if int(token.asset, 16) == 0 else self._token_balance(token)
        rep.add(
            "revenue pool covers every entitlement",
            entitled <= state.unclaimed <= held,
            f"entitled {entitled}, unclaimed {state.unclaimed}, held {held}, dust {state.unclaimed - entitled}",
        )

    def _token_balance(self, token: MutToken) -> int:
        from mia.protocol.artifacts import erc20_at

        return int(erc20_at(self.chain.w3, token.asset).functions.balanceOf(token.address).call())


def audit_all(auditor: Auditor, auction_ids: Iterable[int]) -> list[AuditReport]:
    return [auditor.audit(i) for i in auction_ids]
