"""Adversaries with raw signed transactions (eth_account sign + send_raw_transaction), not the SDK's polite
path: MUT dilution by a later auction, slot squatting, outsiders in an allowlisted auction, and forced sends.

Every transaction below is built, signed and sent by hand. A transaction expected to fail is first asked for
its revert reason (so the named error is checked) and then sent anyway: it must be mined with status 0 and
change nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from conftest import ETHER, TASK, TRANSCRIPT, WAD, Env, new_account, oracle_infos
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from mia.protocol.commitment import commitment_of, new_salt
from mia.protocol.contract_errors import (
    DepositNotRefundable,
    DepositTooLow,
    InvitationRequired,
    NotInvited,
    NotMinter,
    TooManyProviders,
)
from mia.protocol.errors import ContractRevert
from mia.protocol.types import Mechanism, Phase
from mia.sdk.allowlist import Allowlist
from mia.sdk.auction import ETH
from mia.sdk.auditor import CANCELLED, OPEN, SCORED, SETTLED, Auditor
from mia.sdk.chain import decode_revert
from mia.sdk.mut import MutToken
from mia.sdk.oracle import Oracle
from tools.build_contracts import dev_artifact

GAS = 5_000_000


# ------------------------------------------------------------------------------------------ raw sending


def raw_send(env: Env, acct: LocalAccount, to: str | None, data: bytes | str, value: int = 0):
    """Signs and sends one EIP-1559 transaction by hand; returns its receipt (status 0 or 1)."""
    w3 = env.w3
    tx = {
        "data": data,
        "value": value,
        "gas": GAS,
        "nonce": w3.eth.get_transaction_count(acct.address),
        "chainId": w3.eth.chain_id,
        "maxFeePerGas": 2 * w3.eth.get_block("latest")["baseFeePerGas"] + 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    if to is not None:
        tx["to"] = Web3.to_checksum_address(to)
    signed = Account.sign_transaction(tx, acct.key)
    return w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))


def raw_ok(env: Env, acct: LocalAccount, to: str | None, data: bytes | str, value: int = 0):
    receipt = raw_send(env, acct, to, data, value)
    assert receipt["status"] == 1, f"transaction reverted: {receipt['transactionHash'].hex()}"
    return receipt


def raw_revert(env: Env, acct: LocalAccount, to: str, data: bytes | str, value: int = 0) -> ContractRevert:
    """The named error the transaction reverts with; it is then sent anyway and must be mined as a failure."""
    try:
        env.w3.eth.estimate_gas({"from": acct.address, "to": to, "data": data, "value": value})
    except Exception as exc:
        err = decode_revert(exc)
        assert err is not None, f"not a revert: {exc!r}"
    else:
        raise AssertionError("the transaction did not revert")
    assert raw_send(env, acct, to, data, value)["status"] == 0
    return err


# ------------------------------------------------------------------------------------------ an auction by hand


@dataclass
class Bidder:
    acct: LocalAccount
    cost: int
    salt: bytes
    root: bytes


def params(env: Env, committee: Sequence[Oracle], **kw) -> tuple:
    """AuctionParams as a tuple, for raw `createAuction` calls."""
    now = env.chain.now()
    p = {
        "asset": ETH,
        "budget": 10 * ETHER,
        "deposit": ETHER // 10,
        "maxProviders": 5,
        "threshold": 2,
        "mechanism": Mechanism.QMIA,
        "liquidity": 0,
        "modelId": b"model".ljust(32, b"\0"),
        "faultTolerance": 0,
        "scoreChunk": 0,
        "allowlistRoot": bytes(32),
    } | kw
    infos = oracle_infos(committee)
    return (
        Web3.to_checksum_address(p["asset"]), p["budget"], p["deposit"], now + 3600, now + 7200, now + 10800,
        p["maxProviders"], p["threshold"], [o.address for o in infos], [o.encryption_key for o in infos], TASK, 1,
        int(p["mechanism"]), p["liquidity"], 0, p["modelId"], p["faultTolerance"], p["scoreChunk"],
        p["allowlistRoot"],
    )  # fmt: skip


def create(env: Env, buyer: LocalAccount, p: tuple, value: int) -> int:
    receipt = raw_ok(env, buyer, env.mia.address, env.mia.encode_abi("createAuction", [p]), value)
    (event,) = env.mia.events.AuctionCreated().process_receipt(receipt)
    return event["args"]["auctionId"]


def bidder(env: Env, cost: int, eth: int = 10 * ETHER) -> Bidder:
    return Bidder(env.account(eth), cost, new_salt(), Web3.keccak(new_salt()))


def commit(env: Env, aid: int, b: Bidder, deposit: int, proof: Sequence[bytes] | None = None):
    c = commitment_of(env.chain.chain_id, env.mia.address, aid, b.acct.address, b.cost, b.salt, b.root)
    if proof is None:
        data = env.mia.encode_abi("commit", [aid, c])
    else:
        data = env.mia.encode_abi("commitInvited", [aid, c, list(proof)])
    return raw_ok(env, b.acct, env.mia.address, data, deposit)


def reveal(env: Env, aid: int, b: Bidder):
    return raw_ok(env, b.acct, env.mia.address, env.mia.encode_abi("reveal", [aid, b.cost, b.salt, b.root]))


def score(env: Env, aid: int, committee: Sequence[Oracle], scores: dict[str, tuple[int, int]], relayer: LocalAccount):
    """Every committee member signs the same scores; a third party posts them all in one raw transaction
    (all n reports of the only chunk: the contract aggregates them at once)."""
    deadline = env.mia.functions.getAuction(aid).call()[8]
    reports = [o.build_report(aid, scores, transcript_hash=TRANSCRIPT, deadline=deadline) for o in committee]
    sigs = [o.sign(r) for o, r in zip(committee, reports, strict=True)]
    data = env.mia.encode_abi("postReports", [aid, 0, [r.as_tuple() for r in reports], sigs])
    return raw_ok(env, relayer, env.mia.address, data)


def settle(env: Env, aid: int, caller: LocalAccount):
    return raw_ok(env, caller, env.mia.address, env.mia.encode_abi("settle", [aid]))


def advance(env: Env, aid: int, field: int) -> None:
    """To the auction's commit (1), reveal (4) or scoring (8) deadline (indices into `getAuction`)."""
    env.chain.advance_to(env.mia.functions.getAuction(aid).call()[field])


def signers(env: Env, n: int) -> list[Oracle]:
    return [Oracle(env.chain, env.mia, new_account()) for _ in range(n)]


@dataclass
class RawRun:
    """The lifecycle of one auction by hand, run `through` any step: the bidders commit (with an
    invitation proof where the auction has an allowlist) and reveal, the committee's reports go in through
    the relayer (all members, so they aggregate at once), the relayer settles."""

    env: Env
    aid: int
    bidders: Sequence[Bidder]
    deposit: int
    committee: Sequence[Oracle]
    relayer: LocalAccount
    allowlist: Allowlist | None = None
    step: str = "created"

    STEPS = ("created", "committed", "revealed", "scored", "settled")

    def through(self, step: str, scores: dict[str, tuple[int, int]] | None = None) -> RawRun:
        env, aid = self.env, self.aid
        for name in self.STEPS[self.STEPS.index(self.step) + 1 : self.STEPS.index(step) + 1]:
            if name == "committed":
                for b in self.bidders:
                    commit(env, aid, b, self.deposit, self.allowlist and self.allowlist.proof(b.acct.address))
            elif name == "revealed":
                advance(env, aid, 1)
                for b in self.bidders:
                    reveal(env, aid, b)
                advance(env, aid, 4)
            elif name == "scored":
                score(
                    env, aid, self.committee, scores or {b.acct.address: (WAD, WAD) for b in self.bidders}, self.relayer
                )
            else:
                settle(env, aid, self.relayer)
            self.step = name
        return self


# ------------------------------------------------------------------------------------------ B1: MUT dilution


def test_later_auction_cannot_dilute_earlier_mut_holders(fresh_env: Env):
    """Attack 4. The buyer's second pure-MUT auction (1-of-1 committee it controls, one invited Sybil,
    budget 2^128 - 1) mints ~3.4e38 MUT, but into a token of its own: the first auction's winners still
    receive every wei of the revenue deposited for their data, and nobody can mint into their token."""
    env = fresh_env
    buyer, relayer = env.account(), env.account()
    committee = signers(env, 3)
    honest = [bidder(env, c) for c in (ETHER, 2 * ETHER, 3 * ETHER)]
    first = create(env, buyer, params(env, committee, mechanism=Mechanism.MUT), 0)
    RawRun(env, first, honest, ETHER // 10, committee, relayer).through("settled")
    mut1 = MutToken(env.chain, env.mia.functions.getAuction(first).call()[17])
    held = {b.acct.address: mut1.balance_of(b.acct.address) for b in honest}
    supply1 = mut1.state().supply
    assert supply1 == sum(held.values()) > 0 and mut1.auction_id == first

    # the dilution attempt: an allowlist of one Sybil waives the minimum deposit, a self-run committee of one
    sybil, sybil_oracle = bidder(env, 0), signers(env, 1)
    invite = Allowlist([sybil.acct.address])
    p = params(
        env, sybil_oracle, mechanism=Mechanism.MUT, budget=2**128 - 1, deposit=0, threshold=1,
        maxProviders=1, allowlistRoot=invite.root,
    )  # fmt: skip
    second = create(env, buyer, p, 0)
    RawRun(env, second, [sybil], 0, sybil_oracle, buyer, invite).through("settled", {sybil.acct.address: (WAD, 10**36)})
    mut2 = MutToken(env.chain, env.mia.functions.getAuction(second).call()[17])
    assert mut2.address != mut1.address
    assert mut2.balance_of(sybil.acct.address) > 3 * 10**38  # minted, but only into auction 2's token
    assert mut1.state().supply == supply1 and mut1.balance_of(sybil.acct.address) == 0

    # nobody mints into an auction's token but that auction's settlement
    mint = mut1.contract.encode_abi("mint", [sybil.acct.address, 10**30])
    assert isinstance(raw_revert(env, sybil.acct, mut1.address, mint), NotMinter)
    assert isinstance(raw_revert(env, buyer, mut1.address, mint), NotMinter)

    # 100 ETH of revenue deposited for auction 1's data goes to auction 1's winners, pro rata to the wei
    revenue = 100 * ETHER
    raw_ok(env, buyer, mut1.address, mut1.contract.encode_abi("depositRevenue", [revenue]), revenue)
    for b in honest:
        exact = revenue * held[b.acct.address] // supply1
        assert exact - 1 <= mut1.claimable(b.acct.address) <= exact
        raw_ok(env, b.acct, mut1.address, mut1.contract.encode_abi("claim", []))
    assert mut1.claimable(sybil.acct.address) == 0
    assert env.w3.eth.get_balance(mut1.address) < len(honest)  # only rounding dust stays
    for aid in (first, second):
        rep = Auditor(env.chain, env.mia, from_block=env.from_block).audit(aid)
        assert rep.passed, rep.mismatches


# ------------------------------------------------------------------------------------------ B2: squatting


def test_open_auction_refuses_a_deposit_below_the_minimum(fresh_env: Env):
    env = fresh_env
    buyer = env.account()
    committee = signers(env, 3)
    minimum = -(-10 * ETHER // (100 * 5))  # ceil(B / (100 * maxProviders))
    assert env.mia.functions.minimumDeposit(10 * ETHER, 5).call() == minimum
    data = env.mia.encode_abi("createAuction", [params(env, committee, deposit=minimum - 1)])
    err = raw_revert(env, buyer, env.mia.address, data, 10 * ETHER)
    assert isinstance(err, DepositTooLow) and err.args_dict == {"minimum": minimum}
    assert env.w3.eth.get_balance(env.mia.address) == 0
    create(env, buyer, params(env, committee, deposit=minimum), 10 * ETHER)  # the minimum itself is fine


@pytest.mark.parametrize("junk_reveals", [True, False])
def test_slot_squatting_costs_the_squatter_every_junk_deposit(fresh_env: Env, junk_reveals: bool):
    """Attack 5. Sybils take all five slots at the minimum deposit, so the honest provider is turned away
    (TooManyProviders). Junk data scores weight 0 (or is never revealed): every junk deposit goes to the
    buyer, none can be refunded, and the squatters are out at least maxProviders x deposit >= 1% of B."""
    env = fresh_env
    buyer, relayer = env.account(), env.account()
    committee = signers(env, 3)
    deposit = env.mia.functions.minimumDeposit(10 * ETHER, 5).call()
    aid = create(env, buyer, params(env, committee, deposit=deposit), 10 * ETHER)
    sybils = [bidder(env, 0) for _ in range(5)]
    spent_before = sum(env.w3.eth.get_balance(s.acct.address) for s in sybils)
    run = RawRun(env, aid, sybils, deposit, committee, relayer).through("committed")
    late = bidder(env, ETHER)
    c = commitment_of(env.chain.chain_id, env.mia.address, aid, late.acct.address, late.cost, late.salt, late.root)
    err = raw_revert(env, late.acct, env.mia.address, env.mia.encode_abi("commit", [aid, c]), deposit)
    assert isinstance(err, TooManyProviders)
    if junk_reveals:
        junk = {s.acct.address: (WAD, -WAD) for s in sybils}  # honest oracles: no marginal utility
        run.through("settled", junk)
    else:
        advance(env, aid, 4)
        settle(env, aid, relayer)
    (settled,) = env.mia.events.AuctionSettled().get_logs(from_block=env.from_block)
    assert settled["args"]["forfeited"] == 5 * deposit
    assert env.mia.functions.credits(ETH, buyer.address).call() == 10 * ETHER + 5 * deposit
    for s in sybils:
        data = env.mia.encode_abi("refundDeposit", [aid, s.acct.address])
        assert isinstance(raw_revert(env, s.acct, env.mia.address, data), DepositNotRefundable)
        assert env.mia.functions.credits(ETH, s.acct.address).call() == 0
    spent = spent_before - sum(env.w3.eth.get_balance(s.acct.address) for s in sybils)
    assert spent >= 5 * deposit >= 10 * ETHER // 100  # the deposits (plus gas): at least 1% of the budget
    rep = Auditor(env.chain, env.mia, from_block=env.from_block).audit(aid)
    assert rep.passed, rep.mismatches


def test_allowlist_turns_outsiders_away(fresh_env: Env):
    """Only invited providers commit: plain `commit` is refused, a stolen proof does not fit the sender,
    a forged one fails; the minimum deposit does not apply (outsiders cannot take slots)."""
    env = fresh_env
    buyer = env.account()
    committee = signers(env, 3)
    invited = [bidder(env, ETHER) for _ in range(3)]
    outsider = bidder(env, ETHER)
    allow = Allowlist(b.acct.address for b in invited)
    aid = create(env, buyer, params(env, committee, deposit=0, allowlistRoot=allow.root), 10 * ETHER)
    c = commitment_of(
        env.chain.chain_id, env.mia.address, aid, outsider.acct.address, outsider.cost, outsider.salt, outsider.root
    )
    plain = env.mia.encode_abi("commit", [aid, c])
    err = raw_revert(env, outsider.acct, env.mia.address, plain)
    assert isinstance(err, InvitationRequired) and err.args_dict == {"auctionId": aid}
    for proof in (allow.proof(invited[0].acct.address), [Web3.keccak(b"forged")], []):
        data = env.mia.encode_abi("commitInvited", [aid, c, proof])
        err = raw_revert(env, outsider.acct, env.mia.address, data)
        assert isinstance(err, NotInvited) and err.args_dict == {"provider": outsider.acct.address}
    for b in invited:
        commit(env, aid, b, 0, allow.proof(b.acct.address))
    assert env.mia.functions.getAuction(aid).call()[2] == 3  # nCommitted
    # an invitation proof is worthless in an auction open to anyone
    open_aid = create(env, buyer, params(env, committee), 10 * ETHER)
    data = env.mia.encode_abi("commitInvited", [open_aid, c, allow.proof(invited[0].acct.address)])
    assert isinstance(raw_revert(env, invited[0].acct, env.mia.address, data), NotInvited)


# ------------------------------------------------------------------------------------------ B3: forced sends


def test_forced_sends_change_nothing_and_audit_as_a_surplus(fresh_env: Env):
    """Attack 6. 1 wei forced in by SELFDESTRUCT-in-constructor and 1 token unit by a plain transfer:
    whole auctions in both assets still run, withdraw and audit clean; the surplus is a note, never a
    mismatch, and stays behind (owed to nobody)."""
    env = fresh_env
    griefer, buyer, relayer = env.account(), env.account(), env.account()
    token = env.token()
    force = env.w3.eth.contract(abi=dev_artifact("ForceSend")["abi"], bytecode=dev_artifact("ForceSend")["bytecode"])
    raw_ok(env, griefer, None, force.constructor(env.mia.address).data_in_transaction, 1)
    env.mint(token, griefer.address, 1)
    raw_ok(env, griefer, token.address, token.encode_abi("transfer", [env.mia.address, 1]))
    assert env.w3.eth.get_balance(env.mia.address) == 1 and env.mia.functions.totalOwed(ETH).call() == 0

    committee = signers(env, 3)
    for asset in (ETH, token.address):
        ids = []
        for _ in range(2):
            bidders = [bidder(env, c) for c in (ETHER, 2 * ETHER)]
            if asset != ETH:
                env.mint(token, buyer.address, 10 * ETHER)
                raw_ok(env, buyer, token.address, token.encode_abi("approve", [env.mia.address, 10 * ETHER]))
                for b in bidders:
                    env.mint(token, b.acct.address, ETHER // 10)
                    raw_ok(env, b.acct, token.address, token.encode_abi("approve", [env.mia.address, ETHER]))
            value = 10 * ETHER if asset == ETH else 0
            aid = create(env, buyer, params(env, committee, asset=asset), value)
            RawRun(env, aid, bidders, ETHER // 10 if asset == ETH else 0, committee, relayer).through("settled")
            for b in bidders:
                raw_ok(env, relayer, env.mia.address, env.mia.encode_abi("refundDeposit", [aid, b.acct.address]))
                raw_ok(env, b.acct, env.mia.address, env.mia.encode_abi("withdraw", [asset]))
            ids.append(aid)
        if env.mia.functions.credits(asset, buyer.address).call():  # Q-MIA may spend the whole budget
            raw_ok(env, buyer, env.mia.address, env.mia.encode_abi("withdraw", [asset]))
        assert env.mia.functions.totalOwed(asset).call() == 0
        for aid in ids:
            rep = Auditor(env.chain, env.mia, from_block=env.from_block).audit(aid)
            assert rep.passed, rep.mismatches
            assert any("surplus of 1 base units" in n for n in rep.notes)
            assert rep.verdict == "AUDIT PASSED (settled)"
    assert env.w3.eth.get_balance(env.mia.address) == 1  # the forced wei stays; nobody can take it
    assert token.functions.balanceOf(env.mia.address).call() == 1


def test_verdict_names_the_state_and_never_passes_unpaid_money(fresh_env: Env, monkeypatch, capsys):
    """Open and scored-but-unsettled auctions are at most "no mismatch so far" (exit 0); settled and
    cancelled ones pass; a real mismatch fails with a non-zero exit."""
    from mia.cli import commands as cli
    from mia.sdk.chain import Chain

    env = fresh_env
    monkeypatch.setattr(Chain, "rpc", classmethod(lambda cls, url, **kw: env.chain))
    buyer, relayer = env.account(), env.account()
    committee = signers(env, 3)

    def audit(aid: int) -> tuple[int, str]:
        code = cli.main(["audit", "--rpc-url", "http://127.0.0.1:1", "--contract", env.mia.address,
                         "--auction", str(aid), "--from-block", str(env.from_block)])  # fmt: skip
        return code, capsys.readouterr().out

    aid = create(env, buyer, params(env, committee), 10 * ETHER)
    run = RawRun(env, aid, [bidder(env, ETHER)], ETHER // 10, committee, relayer).through("committed")
    rep = Auditor(env.chain, env.mia, from_block=env.from_block).audit(aid)
    assert (rep.status, rep.phase, rep.passed) == (OPEN, "commit", False)
    code, out = audit(aid)
    assert code == 0 and "NO MISMATCH SO FAR (open, commit phase)" in out and "PASSED" not in out

    run.through("scored")
    rep = Auditor(env.chain, env.mia, from_block=env.from_block).audit(aid)
    assert (rep.status, rep.ok, rep.passed) == (SCORED, True, False)
    code, out = audit(aid)
    assert code == 0 and "NO MISMATCH SO FAR (scored, not settled)" in out and "PASSED" not in out

    run.through("settled")
    code, out = audit(aid)
    assert code == 0 and "AUDIT PASSED (settled)" in out

    # a real mismatch: the reference says otherwise
    import mia.sdk.auditor

    honest = mia.sdk.auditor.settle

    def inflated(*args, **kw):
        out = honest(*args, **kw)
        return dataclasses.replace(out, cash=tuple(c + 1 if w else c for c, w in zip(out.cash, out.won, strict=True)))

    monkeypatch.setattr(mia.sdk.auditor, "settle", inflated)
    code, out = audit(aid)
    assert code == 1 and "AUDIT FAILED (settled)" in out
    monkeypatch.setattr(mia.sdk.auditor, "settle", honest)

    # cancelled: ended, nothing left to pay but refunds, which the audit re-derives
    other = create(env, buyer, params(env, committee), 10 * ETHER)
    c2 = bidder(env, ETHER)
    RawRun(env, other, [c2], ETHER // 10, committee, relayer).through("revealed")
    advance(env, other, 8)
    assert Auditor(env.chain, env.mia).phase(other) == Phase.EXPIRED
    raw_ok(env, relayer, env.mia.address, env.mia.encode_abi("cancel", [other]))
    raw_ok(env, relayer, env.mia.address, env.mia.encode_abi("refundDeposit", [other, c2.acct.address]))
    rep = Auditor(env.chain, env.mia, from_block=env.from_block).audit(other)
    assert (rep.status, rep.passed) == (CANCELLED, True)
    assert audit(other)[0] == 0
    assert rep.verdict == "AUDIT PASSED (cancelled)" and rep.status != SETTLED
