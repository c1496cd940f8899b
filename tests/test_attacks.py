"""Attacks and misuse against MiaAuction: each must fail with the exact decoded error, move no funds,
and keep the escrow invariant (the contract holds exactly what it owes; checked after every test)."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import (
    ETHER,
    TRANSCRIPT,
    WAD,
    AuctionRun,
    Env,
    asset_balance,
    dataset_root_for,
    escrow_ok,
    funds_unchanged,
    gas_cost,
    new_account,
)
from eth_account import Account
from eth_utils import keccak

from mia.mechanism import Settlement
from mia.protocol.commitment import commitment_of
from mia.protocol.contract_errors import (
    AlreadyCommitted,
    AlreadyPosted,
    CannotCancel,
    CommitmentMismatch,
    DatasetRootMismatch,
    EthTransferFailed,
    InvalidSignature,
    NoReports,
    NotCommitted,
    NothingToWithdraw,
    NotOracle,
    ProviderMismatch,
    ReportAuctionMismatch,
    ReportExpired,
    SafeERC20FailedOperation,
    ScoreOutOfBounds,
    TokenAmountMismatch,
    WrongPhase,
)
from mia.protocol.reports import SECP256K1_N, ScoreReport, digest, sign_report
from mia.protocol.types import Phase
from mia.sdk import auditor as sdk_auditor
from mia.sdk.auction import ETH
from tools.build_contracts import dev_artifact

ONE = (WAD, WAD)  # q = 1, Δ = 1: every provider weighs the same


@pytest.fixture(autouse=True)
def _escrow_invariant(env: Env):
    """After every test: each deployment touched holds exactly what it owes, in ETH and every token."""
    env.children.clear()
    env.tokens.clear()
    yield
    for e in (env, *env.children):
        escrow_ok(e.chain, e.mia, ETH)
        for token in env.tokens:
            escrow_ok(e.chain, e.mia, token)


def _opening(run: AuctionRun, i: int):
    o = run.providers[i].vault.get(run.chain.chain_id, run.env.mia.address, run.id, run.providers[i].address)
    return o.cost, bytes.fromhex(o.salt[2:]), bytes.fromhex(o.dataset_root[2:])


def _reveal_raw(provider, auction_id: int, cost: int, salt: bytes, root: bytes):
    return provider.sender.transact(provider.contract.functions.reveal(auction_id, cost, salt, root))


def _args(exc_info) -> dict:
    return exc_info.value.args_dict


# ------------------------------------------------------------------------------------ commit / reveal


def test_copied_commitment_can_be_posted_but_never_revealed(env: Env, auction):
    run = auction([ETHER, 2 * ETHER])
    run.through("committed")
    copier = env.provider()
    # the copier reads the honest bid from the chain and posts the very same bytes with a deposit
    (event,) = env.mia.events.BidCommitted().get_logs(
        from_block=env.from_block, argument_filters={"auctionId": run.id, "provider": run.providers[0].address}
    )
    copied = bytes(event["args"]["commitment"])
    copier.sender.transact(env.mia.functions.commit(run.id, copied), value=run.deposit)
    assert bytes(env.mia.functions.getBid(run.id, copier.address).call()[0]) == copied

    run.reveal()  # the honest reveal publishes cost, salt and root ...
    (revealed,) = env.mia.events.BidRevealed().get_logs(
        from_block=env.from_block, argument_filters={"auctionId": run.id, "provider": run.providers[0].address}
    )
    a = revealed["args"]
    cost, salt, root = a["cost"], bytes(a["salt"]), bytes(a["datasetRoot"])
    assert (cost, salt, root) == _opening(run, 0)
    # ... and still the copier cannot open the copied commitment: it binds the original sender
    with funds_unchanged(env, [*run.addresses(), copier.address]), pytest.raises(CommitmentMismatch) as ei:
        _reveal_raw(copier, run.id, cost, salt, root)
    assert _args(ei) == {"provider": copier.address}

    run.score([ONE, ONE])
    run.settle()
    assert env.mia.functions.getBid(run.id, copier.address).call()[3] is False  # never revealed
    assert run.credit(copier.address) == 0  # deposit forfeited to the buyer
    settled = env.mia.events.AuctionSettled().get_logs(
        from_block=env.from_block, argument_filters={"auctionId": run.id}
    )
    assert settled[0]["args"]["forfeited"] == run.deposit
    assert copier.address not in run.payments()


def test_nobody_can_reveal_someone_elses_bid(env: Env, auction):
    run = auction([ETHER, 2 * ETHER]).through("committed")
    run.to_reveal()
    opening = _opening(run, 0)
    stranger = env.provider()
    other = run.providers[1]
    with funds_unchanged(env, [*run.addresses(), stranger.address]):
        with pytest.raises(NotCommitted) as ei:
            _reveal_raw(stranger, run.id, *opening)
        assert _args(ei) == {"provider": stranger.address}
        with pytest.raises(CommitmentMismatch) as ei:
            _reveal_raw(other, run.id, *opening)
        assert _args(ei) == {"provider": other.address}
    assert env.mia.functions.getBid(run.id, run.providers[0].address).call()[3] is False
    run.providers[0].reveal(run.id)  # the owner still can
    assert env.mia.functions.getBid(run.id, run.providers[0].address).call()[3] is True


@pytest.mark.parametrize("field", ["salt", "cost", "root"])
def test_wrong_opening_is_rejected(env: Env, auction, field):
    run = auction([ETHER]).through("committed")
    run.to_reveal()
    cost, salt, root = _opening(run, 0)
    bad = {
        "salt": (cost, keccak(salt), root),
        "cost": (cost + 1, salt, root),
        "root": (cost, salt, dataset_root_for(99)),
    }[field]
    p = run.providers[0]
    with funds_unchanged(env, run.addresses()), pytest.raises(CommitmentMismatch) as ei:
        _reveal_raw(p, run.id, *bad)
    assert _args(ei) == {"provider": p.address}
    _reveal_raw(p, run.id, cost, salt, root)
    assert env.mia.functions.getBid(run.id, p.address).call()[3] is True  # the true opening is accepted
    assert run.credit(p.address) == 0  # the deposit stays in escrow until the auction ends


@pytest.mark.parametrize("late", [Phase.SCORING, Phase.EXPIRED])
def test_revealing_late_fails(env: Env, auction, late):
    run = auction([ETHER]).through("committed")
    run.to_scoring() if late == Phase.SCORING else run.to_expiry()
    assert run.phase == late
    with funds_unchanged(env, run.addresses()), pytest.raises(WrongPhase) as ei:
        run.providers[0].reveal(run.id)
    assert _args(ei) == {"auctionId": run.id, "current": int(late)}
    assert run.credit(run.providers[0].address) == 0


def test_committing_twice_fails(env: Env, auction):
    run = auction([ETHER]).through("committed")
    p = run.providers[0]
    with funds_unchanged(env, run.addresses()), pytest.raises(AlreadyCommitted) as ei:
        p.commit(run.id, ETHER // 2, dataset_root_for(1))
    assert _args(ei) == {"provider": p.address}
    assert run.info.n_committed == 1


def test_commit_after_the_deadline_fails(env: Env, auction):
    run = auction([ETHER]).through("created")
    run.to_reveal()
    late = env.provider()
    with funds_unchanged(env, [*run.addresses(), late.address]), pytest.raises(WrongPhase) as ei:
        late.commit(run.id, ETHER, dataset_root_for(1))
    assert _args(ei) == {"auctionId": run.id, "current": int(Phase.REVEAL)}
    assert run.info.n_committed == 0


# ---------------------------------------------------------------------------------------- reports


def _scoring_run(auction, n: int = 2, **kw) -> AuctionRun:
    run = auction([ETHER * (i + 1) for i in range(n)], **kw).through("revealed")
    run.to_scoring()
    return run


def _submit_fails(env: Env, run: AuctionRun, exc_type, reports, sigs, *, relayer=None):
    relayer = relayer or run.committee[0]
    with funds_unchanged(env, run.addresses()), pytest.raises(exc_type) as ei:
        relayer.submit(run.id, reports, sigs)
    assert run.phase == Phase.SCORING  # nothing was accepted
    return ei.value.args_dict


def _accept(run: AuctionRun, reports, sigs) -> None:
    """Positive control: the honest version of the same submission is accepted (and, unless every member
    posted, aggregated once the scoring window closes)."""
    run.submit(reports, sigs)
    if run.phase == Phase.SCORING:
        run.to_expiry()
        run.committee[0].finalize(run.id)
    assert run.phase == Phase.SCORED


def test_report_signed_by_a_non_member_is_rejected(env: Env, auction):
    run = _scoring_run(auction)
    outsider = new_account()
    reports, sigs = run.signed_reports([[ONE, ONE]] * 2)
    forged = sign_report(reports[1], outsider.key, env.chain.chain_id, env.mia.address)
    args = _submit_fails(env, run, NotOracle, reports, [sigs[0], forged])
    assert args == {"signer": outsider.address}
    _accept(run, reports, sigs)


def test_same_oracle_twice_is_rejected(env: Env, auction):
    run = _scoring_run(auction)
    o = run.committee[0]
    reports, sigs = run.signed_reports([[ONE, ONE]] * 2, signers=[o, o])
    args = _submit_fails(env, run, AlreadyPosted, reports, sigs)
    assert args == {"oracle": o.address, "chunk": 0}
    # Posted once, the member's report stands: a second (different) report of its is refused later too.
    run.submit(reports[:1], sigs[:1])
    other = run.report(o, [(WAD, 5 * WAD), ONE])
    args = _submit_fails(env, run, AlreadyPosted, [other], [o.sign(other)])
    assert args == {"oracle": o.address, "chunk": 0}


def test_malleated_high_s_signature_is_rejected(env: Env, auction):
    run = _scoring_run(auction)
    reports, sigs = run.signed_reports([[ONE, ONE]] * 2)
    r, s, v = sigs[1][:32], int.from_bytes(sigs[1][32:64], "big"), sigs[1][64]
    assert s <= SECP256K1_N // 2  # the SDK signs with low s
    high = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28
    # the twin is a valid signature by the same key: only the low-s rule tells them apart
    from eth_keys import KeyAPI

    twin = KeyAPI.Signature(vrs=(55 - v - 27, int.from_bytes(r, "big"), SECP256K1_N - s))
    recovered = twin.recover_public_key_from_msg_hash(digest(reports[1], env.chain.chain_id, env.mia.address))
    assert recovered.to_checksum_address() == run.committee[1].address
    args = _submit_fails(env, run, InvalidSignature, reports, [sigs[0], high])
    assert args == {"report": 1}
    _accept(run, reports, sigs)


def test_report_replayed_from_another_auction_is_rejected(env: Env, auction):
    """Same providers, same roots, same committee in two auctions: a report still names its auction."""
    first = auction([ETHER, 2 * ETHER])
    second = auction(
        [ETHER, 2 * ETHER], providers=first.providers, roots=first.roots, committee=first.committee, buyer=first.buyer
    )
    first.create()
    second.create()
    first.commit()
    second.commit()
    first.reveal()
    second.reveal()
    first.to_scoring()
    second.to_scoring()
    assert env.mia.functions.revealedProviders(first.id).call() == env.mia.functions.revealedProviders(second.id).call()
    reports, sigs = first.signed_reports([[ONE, ONE]] * 2)
    args = _submit_fails(env, second, ReportAuctionMismatch, reports, sigs)
    assert args == {"report": 0, "auctionId": first.id}
    _accept(first, reports, sigs)


@pytest.mark.parametrize("domain", ["chain", "contract"])
def test_report_signed_for_another_chain_or_contract_is_rejected(env: Env, fresh_env: Env, auction, domain):
    run = _scoring_run(auction)
    reports, sigs = run.signed_reports([[ONE, ONE]] * 2)
    chain_id, contract = env.chain.chain_id, env.mia.address
    if domain == "chain":
        chain_id += 1
    else:
        contract = fresh_env.mia.address  # another MiaAuction deployment
    o = run.committee[1]
    foreign = sign_report(reports[1], o.account.key, chain_id, contract)
    # under this contract's domain the signature recovers to some unrelated address
    stranger = Account._recover_hash(digest(reports[1], env.chain.chain_id, env.mia.address), signature=foreign)
    assert stranger not in {m.address for m in run.committee}
    args = _submit_fails(env, run, NotOracle, reports, [sigs[0], foreign])
    assert args == {"signer": stranger}
    _accept(run, reports, sigs)


def test_report_after_its_deadline_is_rejected(env: Env, auction):
    run = _scoring_run(auction)
    deadline = run.info.reveal_deadline + 100
    reports = [run.report(o, [ONE, ONE], deadline=deadline) for o in run.committee[:2]]
    sigs = [o.sign(r) for o, r in zip(run.committee[:2], reports, strict=True)]
    env.chain.advance_to(deadline + 1)
    args = _submit_fails(env, run, ReportExpired, reports, sigs)
    assert args == {"report": 0, "deadline": deadline}


@pytest.mark.parametrize(
    ("bad", "position"),
    [((WAD + 1, WAD), 0), ((WAD, 10**36 + 1), 1), ((WAD, -(10**36) - 1), 1)],
    ids=["q>1", "delta>1e36", "delta<-1e36"],
)
def test_scores_out_of_bounds_are_rejected(env: Env, auction, bad, position):
    run = _scoring_run(auction)
    scores = [ONE, ONE]
    scores[position] = bad
    reports, sigs = run.signed_reports([scores, [ONE, ONE]])
    args = _submit_fails(env, run, ScoreOutOfBounds, reports, sigs)
    assert args == {"report": 0, "position": position}
    # the bounds themselves are allowed
    _accept(run, *run.signed_reports([[(WAD, 10**36), (0, -(10**36))]] * 2))


def test_no_report_or_a_repeated_report_is_rejected(env: Env, auction):
    run = _scoring_run(auction)
    reports, sigs = run.signed_reports([[ONE, ONE]] * 3)
    _submit_fails(env, run, NoReports, [], [])
    args = _submit_fails(env, run, AlreadyPosted, [*reports, reports[0]], [*sigs, sigs[0]])
    assert args == {"oracle": run.committee[0].address, "chunk": 0}
    _accept(run, reports, sigs)  # 3 of 3 aggregates at once


def _resign(run: AuctionRun, reports: list[ScoreReport]) -> list[bytes]:
    return [o.sign(r) for o, r in zip(run.committee, reports, strict=False)]


def test_wrong_provider_list_or_dataset_root_is_rejected(env: Env, auction):
    run = _scoring_run(auction, n=3, reveal=[True, False, True])
    good = [run.report(o, [ONE, ONE, ONE]) for o in run.committee[:2]]
    p0, p1, p2 = (p.address for p in run.providers)
    roots = good[0].dataset_roots

    def variant(**changes) -> list[ScoreReport]:
        return [dataclasses.replace(good[0], **changes), good[1]]

    # wrong order
    reports = variant(providers=(p2, p0), dataset_roots=(roots[1], roots[0]))  # p2 first skips revealed p0
    assert _submit_fails(env, run, ProviderMismatch, reports, _resign(run, reports)) == {"report": 0, "position": 0}
    # a non-revealer in place of a revealer
    reports = variant(providers=(p0, p1))
    assert _submit_fails(env, run, ProviderMismatch, reports, _resign(run, reports)) == {"report": 0, "position": 1}
    # the second report lists other providers than the first
    reports = [good[0], dataclasses.replace(good[1], providers=(p0, p0))]
    assert _submit_fails(env, run, ProviderMismatch, reports, _resign(run, reports)) == {"report": 1, "position": 0}
    # a wrong dataset root
    reports = variant(dataset_roots=(roots[0], dataset_root_for(7)))
    assert _submit_fails(env, run, DatasetRootMismatch, reports, _resign(run, reports)) == {"report": 0, "position": 1}
    reports = [good[0], dataclasses.replace(good[1], dataset_roots=(roots[1], roots[0]))]
    assert _submit_fails(env, run, DatasetRootMismatch, reports, _resign(run, reports)) == {"report": 1, "position": 0}
    _accept(run, good, _resign(run, good))


# --------------------------------------------------------------------------------- settle / withdraw


def test_settle_before_scores_fails(env: Env, auction):
    run = auction([ETHER]).through("committed")
    run.to_reveal()
    with funds_unchanged(env, run.addresses()), pytest.raises(WrongPhase) as ei:
        run.settle()
    assert _args(ei) == {"auctionId": run.id, "current": int(Phase.REVEAL)}
    run.reveal()
    run.to_scoring()
    with funds_unchanged(env, run.addresses()), pytest.raises(WrongPhase) as ei:
        run.settle()
    assert _args(ei) == {"auctionId": run.id, "current": int(Phase.SCORING)}


def test_settling_twice_fails(env: Env, auction):
    run = auction([ETHER, 2 * ETHER]).through("settled", [ONE, ONE])
    with funds_unchanged(env, run.addresses()), pytest.raises(WrongPhase) as ei:
        run.settle()
    assert _args(ei) == {"auctionId": run.id, "current": int(Phase.SETTLED)}


def test_withdrawing_twice_fails(env: Env, auction):
    run = auction([ETHER, 2 * ETHER]).through("settled", [ONE, ONE])
    p = run.providers[0]
    credit = run.credit(p.address)
    assert credit > run.deposit  # deposit back plus a payment
    before = env.chain.balance(p.address)
    receipt = p.sender.transact(env.mia.functions.withdraw(ETH))
    assert env.chain.balance(p.address) == before + credit - gas_cost(receipt)
    with funds_unchanged(env, run.addresses()), pytest.raises(NothingToWithdraw) as ei:
        p.withdraw()
    assert _args(ei) == {"asset": ETH, "account": p.address}


def _receiver_bid(env: Env, run: AuctionRun, owner, receiver, cost: int):
    """Commits for the ReentrantReceiver contract (a provider that is a contract), via `execute`."""
    salt, root = keccak(b"receiver salt"), dataset_root_for(1234)
    c = commitment_of(env.chain.chain_id, env.mia.address, run.id, receiver.address, cost, salt, root)
    ex = env.chain.sender(owner)
    data = env.mia.encode_abi("commit", args=[run.id, c])
    ex.transact(receiver.functions.execute(env.mia.address, run.deposit, data), value=run.deposit)
    return lambda: ex.transact(
        receiver.functions.execute(env.mia.address, 0, env.mia.encode_abi("reveal", args=[run.id, cost, salt, root]))
    )


@pytest.mark.parametrize("bubble", [False, True], ids=["swallow", "bubble"])
def test_reentrant_receiver_is_paid_exactly_once(env: Env, auction, bubble):
    owner = env.account()
    receiver = env.chain.deploy(dev_artifact("ReentrantReceiver"), deployer=owner)
    run = auction([ETHER]).through("created")
    reveal_receiver = _receiver_bid(env, run, owner, receiver, ETHER // 2)
    run.commit()
    run.reveal()
    reveal_receiver()
    run.to_scoring()
    providers, _ = run.buyer.revealed(run.id)
    assert receiver.address in providers
    reports = [
        run.committee[k].build_report(
            run.id, {p: ONE for p in providers}, transcript_hash=TRANSCRIPT, deadline=run.info.scoring_deadline
        )
        for k in range(3)
    ]
    run.submit(reports, _resign(run, reports))  # every member: aggregated at once
    run.settle()
    credit = env.mia.functions.credits(ETH, receiver.address).call()
    assert credit > run.deposit

    ex = env.chain.sender(owner)
    withdraw = env.mia.encode_abi("withdraw", args=[ETH])
    ex.transact(receiver.functions.configure(env.mia.address, withdraw, bubble))
    owed = env.mia.functions.totalOwed(ETH).call()
    if bubble:
        # the failed re-entry reverts the payment itself: the whole withdrawal fails, the credit stays
        with funds_unchanged(env, [receiver.address, owner.address]), pytest.raises(EthTransferFailed) as ei:
            ex.transact(receiver.functions.execute(env.mia.address, 0, withdraw))
        assert _args(ei) == {"to": receiver.address, "amount": credit}
        assert receiver.functions.reentryAttempts().call() == 0
        ex.transact(receiver.functions.configure(env.mia.address, withdraw, False))  # stop misbehaving
    ex.transact(receiver.functions.execute(env.mia.address, 0, withdraw))
    assert env.chain.balance(receiver.address) == credit  # paid exactly once
    assert receiver.functions.reentryAttempts().call() == 1
    assert receiver.functions.reentrySuccesses().call() == 0
    assert env.mia.functions.credits(ETH, receiver.address).call() == 0
    assert env.mia.functions.totalOwed(ETH).call() == owed - credit
    paid = env.mia.events.Withdrawal().get_logs(
        from_block=env.from_block, argument_filters={"account": receiver.address}
    )
    assert [e["args"]["amount"] for e in paid] == [credit]


# ---------------------------------------------------------------------------------------- tokens


def _token(env: Env, name: str):
    token = env.token(name)
    env.tokens.append(token)
    return token


def test_false_returning_token_cannot_fund_an_auction(env: Env, auction):
    token = _token(env, "FalseReturnToken")
    run = auction([ETHER], asset=token)
    run.mint()
    env.chain.sender(env.chain.funder).transact(token.functions.setFailing(True))
    # (the buyer's approve costs gas, so only token balances are compared)
    with funds_unchanged(env, [run.buyer.address], [token]), pytest.raises(SafeERC20FailedOperation) as ei:
        run.create(mint=False)
    assert _args(ei) == {"token": token.address}
    assert asset_balance(env.chain, token, run.buyer.address) == run.budget


def test_false_returning_token_after_settlement_keeps_the_credit(env: Env, auction):
    token = _token(env, "FalseReturnToken")
    run = auction([ETHER, 2 * ETHER], asset=token).through("settled", [ONE, ONE])
    p = run.providers[0]
    credit = run.credit(p.address)
    assert credit > run.deposit
    env.chain.sender(env.chain.funder).transact(token.functions.setFailing(True))
    with funds_unchanged(env, [p.address], [token]), pytest.raises(SafeERC20FailedOperation) as ei:
        p.withdraw(token.address)
    assert _args(ei) == {"token": token.address}
    env.chain.sender(env.chain.funder).transact(token.functions.setFailing(False))
    assert p.withdraw(token.address) == credit
    assert asset_balance(env.chain, token, p.address) == credit
    assert run.credit(p.address) == 0


def test_fee_on_transfer_token_is_rejected(env: Env, auction):
    token = _token(env, "FeeOnTransferToken")
    run = auction([ETHER], asset=token, budget=10 * ETHER)
    run.mint()
    with funds_unchanged(env, [run.buyer.address], [token]), pytest.raises(TokenAmountMismatch) as ei:
        run.create(mint=False)
    assert _args(ei) == {"expected": 10 * ETHER, "received": 10 * ETHER - 10 * ETHER // 100}


# ---------------------------------------------------------------------------- timeouts and refunds


def test_cancel_before_the_scoring_deadline_fails(env: Env, auction):
    run = auction([ETHER]).through("created")
    stranger = env.provider()
    with funds_unchanged(env, [*run.addresses(), stranger.address]), pytest.raises(CannotCancel) as ei:
        stranger.sender.transact(env.mia.functions.cancel(run.id))
    assert _args(ei) == {"auctionId": run.id, "current": int(Phase.COMMIT)}
    run.commit()
    with funds_unchanged(env, run.addresses()), pytest.raises(CannotCancel) as ei:
        run.buyer.cancel(run.id)  # the buyer's early exit closes with the first commitment
    assert _args(ei) == {"auctionId": run.id, "current": int(Phase.COMMIT)}
    run.reveal()
    run.to_scoring()
    with funds_unchanged(env, [*run.addresses(), stranger.address]), pytest.raises(CannotCancel) as ei:
        stranger.sender.transact(env.mia.functions.cancel(run.id))
    assert _args(ei) == {"auctionId": run.id, "current": int(Phase.SCORING)}


def test_buyer_may_cancel_before_any_commitment(fresh_env: Env):
    env = fresh_env
    run = AuctionRun(env, [ETHER]).through("created")
    run.buyer.cancel(run.id)
    assert run.phase == Phase.CANCELLED
    assert run.buyer.withdraw() == run.budget
    assert env.chain.balance(env.mia.address) == 0
    assert env.auditor().audit(run.id).ok


def test_oracles_missing_the_deadline_lets_anyone_cancel_and_everyone_withdraw(fresh_env: Env):
    env = fresh_env
    run = AuctionRun(env, [ETHER, 2 * ETHER, 3 * ETHER], reveal=[True, False, True], deposit=ETHER // 10)
    run.through("revealed")
    run.to_expiry()
    assert run.phase == Phase.EXPIRED
    stranger = env.provider()
    stranger.sender.transact(env.mia.functions.cancel(run.id))
    assert run.phase == Phase.CANCELLED
    assert run.credit(run.buyer.address) == run.budget + run.deposit  # budget + the forfeited deposit
    run.refund_deposits()  # on cancel every revealer gets its deposit back, whatever its data
    for p, revealed in zip(run.providers, run.reveal_mask, strict=True):
        assert run.credit(p.address) == (run.deposit if revealed else 0)
    # a late score submission or settlement cannot resurrect it
    with pytest.raises(WrongPhase) as ei:
        run.settle()
    assert _args(ei) == {"auctionId": run.id, "current": int(Phase.CANCELLED)}

    for client in (run.buyer, *run.revealers):
        owed = run.credit(client.address)
        before = env.chain.balance(client.address)
        receipt = client.sender.transact(env.mia.functions.withdraw(ETH))
        assert env.chain.balance(client.address) == before + owed - gas_cost(receipt)
    assert env.chain.balance(env.mia.address) == 0
    assert env.mia.functions.totalOwed(ETH).call() == 0
    report = env.auditor().audit(run.id)
    assert report.ok, report.mismatches
    assert report.status == "cancelled"


def test_nobody_reveals_settle_refunds_the_buyer_everything(fresh_env: Env):
    env = fresh_env
    run = AuctionRun(env, [ETHER, 2 * ETHER], reveal=[False, False], deposit=ETHER // 10)
    run.through("revealed")
    run.to_scoring()
    run.settle()
    assert run.payments() == {}
    assert run.credit(run.buyer.address) == run.budget + 2 * run.deposit
    assert all(run.credit(p.address) == 0 for p in run.providers)
    assert run.buyer.withdraw() == run.budget + 2 * run.deposit
    assert env.chain.balance(env.mia.address) == 0
    report = env.auditor().audit(run.id)
    assert report.ok, report.mismatches


# ----------------------------------------------------------------------------------------- auditor


def test_settled_auction_audits_clean_after_all_withdrawals(fresh_env: Env):
    env = fresh_env
    run = AuctionRun(env, [ETHER, 2 * ETHER, 4 * ETHER], budget=5 * ETHER)
    run.through("withdrawn", oracle_scores=[[ONE, (WAD // 2, WAD), ONE], [ONE, (WAD, 2 * WAD), ONE]])
    assert env.chain.balance(env.mia.address) == 0
    report = env.auditor().audit(run.id)
    assert report.ok, report.mismatches
    assert {c.name for c in report.checks} >= {
        "payments match the Q-MIA reference to the wei",
        "escrow: balance covers what is owed",
        "posted reports: valid signatures of committee members, one per member and chunk",
        "aggregate = lower median of posted weights w = q·max(Δ,0)",
        "every posted report aggregated (no subset chosen)",
    }


def test_auditor_detects_payments_that_differ_from_the_reference(fresh_env: Env, monkeypatch):
    env = fresh_env
    run = AuctionRun(env, [ETHER, 2 * ETHER]).through("settled", [ONE, ONE])
    assert env.auditor().audit(run.id).ok
    honest = sdk_auditor.settle

    def inflated(mechanism, bids, weights, budget, **kw) -> Settlement:
        out = honest(mechanism, bids, weights, budget, **kw)
        return dataclasses.replace(out, cash=tuple(p + 1 if w else p for p, w in zip(out.cash, out.won, strict=True)))

    monkeypatch.setattr(sdk_auditor, "settle", inflated)
    report = env.auditor().audit(run.id)
    assert not report.ok
    failed = {c.name for c in report.mismatches}
    assert "payments match the Q-MIA reference to the wei" in failed
    assert "total cash paid" in failed
    bad = next(c for c in report.mismatches if c.name.startswith("payments match"))
    winners = [p.address for p in run.providers if p.address in run.payments()]
    assert winners and all(w in bad.detail for w in winners)
