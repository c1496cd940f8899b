"""Issue 13's scoring attacks, sent as RAW signed transactions (eth-account signs, `send_raw_transaction`
sends; no SDK client on the attacking path): a corrupted minority plus a relayer that picks which reports
count, two corrupted members of a 3-of-5 committee, the buyer on its own committee, and the q/Δ split.
Each must fail with a named error or leave every aggregated weight within the honest members' range.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from mia.mechanism import aggregate_weights, report_weights
from mia.protocol.reports import ScoreReport, sign_report
from mia.protocol.types import Phase
from mia.sdk.buyer import Schedule
from tests.conftest import TASK, TRANSCRIPT, WAD, AuctionRun, Env, dataset_root_for
from tools.build_contracts import dev_artifact

ETHER = 10**18
GAS = 10_000_000


def _raw(env: Env, sender: LocalAccount, data: bytes | str, *, value: int = 0) -> bool:
    """Signs and sends one transaction to the auction by hand; True iff it was mined with status 1."""
    w3 = env.chain.w3
    tx = {
        "to": env.mia.address, "data": data, "value": value, "gas": GAS, "chainId": env.chain.chain_id,
        "nonce": w3.eth.get_transaction_count(sender.address),
        "maxFeePerGas": 2 * w3.eth.get_block("latest")["baseFeePerGas"] + 10**9, "maxPriorityFeePerGas": 10**9,
    }  # fmt: skip
    signed = Account.sign_transaction(tx, sender.key)
    try:
        h = w3.eth.send_raw_transaction(signed.raw_transaction)
    except Exception:  # eth-tester refuses a reverting transaction at once
        return False
    return w3.eth.wait_for_transaction_receipt(h)["status"] == 1


def _params(env: Env, oracles: list[str], *, f: int, k: int, budget: int, max_providers: int = 20) -> tuple:
    t = env.chain.now()
    deposit = max(ETHER // 100, -(-budget // (100 * max_providers)))  # at least the open-auction minimum
    return (
        "0x" + "00" * 20, budget, deposit, t + 600, t + 1200, t + 1800, max_providers, k, oracles,
        [bytes(32)] * len(oracles), TASK, 1, 0, 0, 0, bytes(32), f, 0, bytes(32),
    )  # fmt: skip


def _setup(env: Env, n: int, f: int, k: int, costs: list[int], budget: int = 10 * ETHER) -> dict[str, Any]:
    """An auction created, committed and revealed by the honest parties, in its scoring window; every
    member has gas to post its own report."""
    max_providers = max(20, len(costs))
    run = AuctionRun(
        env, costs, budget=budget, deposit=max(ETHER // 100, -(-budget // (100 * max_providers))), threshold=k,
        fault_tolerance=f, committee=n, fund_committee=True, max_providers=max_providers,
        roots=[dataset_root_for(j) for j in range(len(costs))], schedule=Schedule(600, 600, 600),
    ).through("revealed")  # fmt: skip
    run.to_scoring()
    return {
        "aid": run.id, "buyer": run.buyer.account, "oracles": [o.account for o in run.committee],
        "providers": run.providers, "deadline": run.info.scoring_deadline,
    }  # fmt: skip


def _report(env: Env, s: dict[str, Any], scores: list[tuple[int, int]]) -> ScoreReport:
    return ScoreReport(
        auction_id=s["aid"], round=1, providers=tuple(p.address for p in s["providers"]),
        q=tuple(q for q, _ in scores), delta=tuple(d for _, d in scores),
        dataset_roots=tuple(dataset_root_for(j) for j in range(len(s["providers"]))), method_id=1,
        transcript_hash=TRANSCRIPT, deadline=s["deadline"],
    )  # fmt: skip


def _post(env: Env, s: dict[str, Any], relayer: LocalAccount, signed: list[tuple[int, ScoreReport]]) -> bool:
    reports = [r.as_tuple() for _, r in signed]
    sigs = [sign_report(r, s["oracles"][o].key, env.chain.chain_id, env.mia.address) for o, r in signed]
    return _raw(env, relayer, env.mia.encode_abi("postReports", [s["aid"], 0, reports, sigs]))


def _finalize(env: Env, s: dict[str, Any], caller: LocalAccount, weights: list[list[int]]) -> bool:
    providers = [p.address for p in s["providers"]]
    return _raw(env, caller, env.mia.encode_abi("finalizeScores", [s["aid"], 0, providers, weights]))


def _weights_on_chain(env: Env, s: dict[str, Any]) -> list[int]:
    return [env.mia.functions.weightOf(s["aid"], p.address).call() for p in s["providers"]]


def test_one_corrupted_member_and_a_relayer_choosing_the_subset(env: Env):
    """4 members (f = 1, k = 3). The corrupted one zeroes four honest providers and inflates the colluding,
    most expensive bidder; a relayer posts {corrupted, one honest} first and tries to aggregate just
    those, or any subset it likes. Every attempt fails; the aggregate over all posted reports stays in
    the honest range, and the colluder does not take the budget."""
    costs = [ETHER, ETHER, ETHER, ETHER, 5 * ETHER]
    s = _setup(env, 4, 1, 3, costs)
    honest = [[(WAD, 2 * WAD)] * 5, [(WAD, 3 * WAD)] * 4 + [(WAD // 10, WAD)], [(WAD // 2, 4 * WAD)] * 5]
    corrupt = [(0, 0)] * 4 + [(WAD, 10**36)]
    relayer = env.account()
    assert _post(env, s, relayer, [(3, _report(env, s, corrupt)), (0, _report(env, s, honest[0]))])
    w_bad, w0 = report_weights(*zip(*corrupt, strict=True)), report_weights(*zip(*honest[0], strict=True))
    assert not _finalize(env, s, relayer, [w0, w_bad])  # 2 < k and the window is open: ChunkNotFinalizable
    for o in (1, 2):  # the honest members post their own reports
        assert _post(env, s, s["oracles"][o], [(o, _report(env, s, honest[o]))])
    ws = [report_weights(*zip(*h, strict=True)) for h in honest]
    assert not _finalize(env, s, relayer, [ws[0], w_bad])  # a chosen subset: PostedReportsMismatch
    assert not _finalize(env, s, relayer, [ws[0], ws[1], ws[2], [0] * 5])  # altered weights
    assert _finalize(env, s, relayer, [*ws, w_bad])  # all four, in slot order: accepted
    got = _weights_on_chain(env, s)
    assert got == aggregate_weights([*ws, w_bad])
    for j, w in enumerate(got):
        assert min(x[j] for x in ws) <= w <= max(x[j] for x in ws)
    assert _raw(env, relayer, env.mia.encode_abi("settle", [s["aid"]]))
    colluder = env.mia.functions.credits("0x" + "00" * 20, s["providers"][4].address).call()
    assert colluder < 10 * ETHER // 2


def test_a_two_of_three_committee_cannot_claim_fault_tolerance(env: Env):
    """The default committee of the attack (2-of-3) may not declare f = 1; with f = 0 it declares that it
    trusts every member. A 5-member committee cannot declare f = 2, nor a quorum below 2f+1."""
    buyer = env.account()
    members = [env.account().address for _ in range(5)]
    for oracles, f, k in ((members[:3], 1, 2), (members, 2, 5), (members, 1, 2), (members, 1, 5)):
        assert not _raw(
            env,
            buyer,
            env.mia.encode_abi("createAuction", [_params(env, oracles, f=f, k=k, budget=ETHER)]),
            value=ETHER,
        )


def test_two_corrupted_members_of_a_three_of_five_committee_cannot_move_any_weight(env: Env):
    """3-of-5 (f = 1): two corrupted members push every weight up or down and are relayed first; the
    three honest members post their own reports, and the median of all five stays in the honest range."""
    s = _setup(env, 5, 1, 3, [ETHER, 2 * ETHER, 3 * ETHER])
    honest = {o: [(WAD, (o + 1) * WAD)] * 3 for o in (0, 2, 4)}
    up, down = [(WAD, 10**36)] * 3, [(0, -(10**36))] * 3
    relayer = env.account()
    assert _post(env, s, relayer, [(1, _report(env, s, up)), (3, _report(env, s, down))])
    assert _post(env, s, relayer, [(o, _report(env, s, h)) for o, h in honest.items()])
    ws = {o: report_weights(*zip(*h, strict=True)) for o, h in honest.items()}
    ws[1], ws[3] = report_weights(*zip(*up, strict=True)), report_weights(*zip(*down, strict=True))
    assert _finalize(env, s, relayer, [ws[o] for o in range(5)])
    for j, w in enumerate(_weights_on_chain(env, s)):
        assert min(ws[o][j] for o in (0, 2, 4)) <= w <= max(ws[o][j] for o in (0, 2, 4))


def test_buyer_on_its_own_committee_is_refused(env: Env):
    buyer = env.account()
    oracles = [buyer.address, *(env.account().address for _ in range(3))]
    before = env.chain.balance(env.mia.address)
    count = env.mia.functions.auctionCount().call()
    assert not _raw(
        env, buyer, env.mia.encode_abi("createAuction", [_params(env, oracles, f=0, k=1, budget=ETHER)]), value=ETHER
    )
    assert env.chain.balance(env.mia.address) == before
    assert env.mia.functions.auctionCount().call() == count


def test_q_delta_split_attack(env: Env):
    """3 members, all post: honest A (q 1, Δ 1) and B (q 0.1, Δ 10) both weigh 1; corrupted C (q 1, Δ 10).
    Separate medians of q and Δ made the weight 10; the median of weights keeps it at 1."""
    s = _setup(env, 3, 0, 3, [ETHER])
    a, b, c = [(WAD, WAD)], [(WAD // 10, 10 * WAD)], [(WAD, 10 * WAD)]
    assert _post(env, s, env.account(), [(0, _report(env, s, a)), (1, _report(env, s, b)), (2, _report(env, s, c))])
    assert env.mia.functions.phase(s["aid"]).call() == Phase.SCORED  # all members in one call: aggregated
    assert _weights_on_chain(env, s) == [WAD]


def test_window_end_with_a_quorum_aggregates_and_without_one_cancels(env: Env):
    """4 members, k = 3. At the deadline with 3 reports the auction cannot be cancelled (anyone aggregates
    it); with 2 reports it cannot be aggregated (anyone cancels it). Nothing stays stuck either way."""
    scores = [(WAD, WAD), (WAD, 2 * WAD)]
    for posted, ends in ((3, Phase.SCORED), (2, Phase.CANCELLED)):
        s = _setup(env, 4, 1, 3, [ETHER, 2 * ETHER])
        anyone = env.account()
        for o in range(posted):
            assert _post(env, s, s["oracles"][o], [(o, _report(env, s, scores))])
        env.chain.advance_to(s["deadline"])
        assert env.mia.functions.phase(s["aid"]).call() == Phase.EXPIRED
        w = [report_weights(*zip(*scores, strict=True))] * posted
        cancel = env.mia.encode_abi("cancel", [s["aid"]])
        if posted >= 3:
            assert not _raw(env, anyone, cancel)  # CannotCancel: the quorum is there
            assert _finalize(env, s, anyone, w)
            assert _raw(env, anyone, env.mia.encode_abi("settle", [s["aid"]]))
        else:
            assert not _finalize(env, s, anyone, w)  # ChunkNotFinalizable: 2 < k
            assert _raw(env, anyone, cancel)
            ends = Phase.CANCELLED
        assert env.mia.functions.phase(s["aid"]).call() in (ends, Phase.SETTLED)


def test_reports_relayed_through_a_contract_wallet_audit_clean(fresh_env: Env):
    """The relayer is a contract (it calls `postReports` from inside `execute`): the auditor reads every
    report from the `ReportPosted` events, not from the transaction's input, so it audits clean."""
    env = fresh_env
    run = AuctionRun(env, [ETHER, 2 * ETHER], budget=3 * ETHER).through("revealed")
    run.to_scoring()
    owner = env.account()
    wallet = env.chain.deploy(dev_artifact("ReentrantReceiver"), deployer=owner)
    reports, sigs = run.signed_reports([[(WAD, WAD), (WAD, 2 * WAD)]] * 3)
    data = env.mia.encode_abi("postReports", [run.id, 0, [r.as_tuple() for r in reports], sigs])
    assert _raw_wallet(env, owner, wallet, data)
    assert run.phase == Phase.SCORED
    run.settle()
    report = env.auditor().audit(run.id)
    assert report.ok, report.mismatches


def _raw_wallet(env: Env, owner: LocalAccount, wallet, data: str) -> bool:
    w3 = env.chain.w3
    tx = wallet.functions.execute(env.mia.address, 0, data).build_transaction({
        "from": owner.address, "nonce": w3.eth.get_transaction_count(owner.address), "gas": GAS,
        "chainId": env.chain.chain_id,
        "maxFeePerGas": 2 * w3.eth.get_block("latest")["baseFeePerGas"] + 10**9, "maxPriorityFeePerGas": 10**9,
    })  # fmt: skip
    h = w3.eth.send_raw_transaction(Account.sign_transaction(tx, owner.key).raw_transaction)
    return w3.eth.wait_for_transaction_receipt(h)["status"] == 1


def test_largest_committee_and_largest_chunk_fit_in_one_transaction(env: Env):
    """The worst case of aggregation: 32 members (f = 10) and a full chunk, every member posted. The chunk
    size is capped at MAX_SCORE_CELLS / n = 31 providers for 32 members (250 for up to 4), so each post
    and the aggregation stay far under the 16,777,216-gas per-transaction cap."""
    from mia.sdk.oracle import Oracle

    s = _setup(env, 32, 10, 21, [ETHER + j for j in range(31)], budget=100 * ETHER)
    assert env.mia.functions.getAuction(s["aid"]).call()[21] == 31  # the chunk size the cap implies
    posts = []
    for o, acct in enumerate(s["oracles"]):
        report = _report(env, s, [((j * 7 + o) % 10 * WAD // 10, (j % 5 + o % 3 - 1) * WAD) for j in range(31)])
        sig = sign_report(report, acct.key, env.chain.chain_id, env.mia.address)
        posts.append(Oracle(env.chain, env.mia, acct).submit(s["aid"], [report], [sig]))
    (agg,) = Oracle(env.chain, env.mia, s["buyer"]).finalize(s["aid"])
    assert env.mia.functions.phase(s["aid"]).call() == Phase.SCORED
    assert max(r["gasUsed"] for r in posts) < 16_777_216
    assert agg["gasUsed"] < 8_000_000, agg["gasUsed"]
