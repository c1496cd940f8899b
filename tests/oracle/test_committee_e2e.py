"""Multi-process rounds on anvil: five oracle services, a buyer and twelve providers, each its own process.

One module-scoped cluster runs three auctions at once so process start-up is paid once:
- auction 1, committee {A, B, D} where D's valuation is corrupted; four providers send bad input
  (undecryptable, wrong root, oversized, malformed record); A is killed and restarted mid-round;
- auction 2, committee {A, B, C}: C is killed mid-round; at the scoring deadline the round is aggregated
  over A's and B's reports (the quorum, k = 2);
- auction 3, committee {A, C, E}: C and E are down past the deadline, the auction is cancelled
  (by the surviving oracle) and every deposit and the budget are withdrawn.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nacl.public
import nacl.signing
import pytest
from eth_account import Account

from mia.mechanism.median import aggregate_weights, report_weights
from mia.mechanism.qmia import weight
from mia.mechanism.settlement import settle
from mia.oracle.keys import BOX_KEY_FILE, SIGN_KEY_FILE
from mia.oracle.scoring import score_providers
from mia.oracle.worker import report_from_json
from mia.protocol.types import Phase
from mia.sdk.anvil import anvil_available
from mia.sdk.auction import AuctionClient
from mia.sdk.dataroom import (
    DataroomClient,
    UploadRejected,
    deliver_dataset,
    encode_records,
    load_dataset,
    onchain_committee,
    records_root,
    upload_headers,
)
from mia.sdk.provider import Provider
from mia.sdk.salts import SaltVault
from mia.testing.cluster import ETHER, Cluster, digits_task, run_all, wait_for
from mia.valuation import ProviderData

pytestmark = [
    pytest.mark.anvil,
    pytest.mark.skipif(not anvil_available(), reason="anvil not installed (run make setup)"),
]
N_GOOD, ROWS, MAX_UPLOAD = 8, 60, 200_000
PASS = {"MIA_VAULT_PASSPHRASE": "e2e-passphrase"}


def _get(url: str):
    import httpx

    r = httpx.get(url, timeout=10)
    r.raise_for_status()
    return r.json()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    wd = tmp_path_factory.mktemp("committee")
    cluster = Cluster(wd)
    mods = ["mia.cli"] * 3 + ["tests.oracle.faulty_oracle", "mia.cli"]
    try:
        cluster.start(5, modules=mods, extra_args=[["--max-upload", str(MAX_UPLOAD)]] * 5, grace=3.0)
        yield run_world(cluster, wd)
    finally:
        cluster.close()


def run_world(c: Cluster, wd: Path) -> dict:
    a, b, cc, d, e = c.oracles
    chain = c.chain
    buyer = Account.create()
    chain.fund(buyer.address, 100 * ETHER)
    aids = [
        c.create_auction(buyer, [a, b, d], threshold=2),
        c.create_auction(buyer, [a, b, cc], threshold=2),
        c.create_auction(buyer, [a, cc, e], threshold=2),
    ]
    x, y, validation = digits_task()
    good = [Account.create() for _ in range(N_GOOD)]
    bad = {kind: Account.create() for kind in ("undecryptable", "wrong-root", "oversized", "malformed")}
    for acct in [*good, *bad.values()]:
        chain.fund(acct.address, 10 * ETHER)
    costs = [(i + 2) * ETHER // 10 for i in range(N_GOOD)]
    paths = [
        c.write_dataset(f"p{i}", x[i * ROWS : (i + 1) * ROWS], y[i * ROWS : (i + 1) * ROWS]) for i in range(N_GOOD)
    ]
    procs = [
        c.python(
            [
                "-m",
                "mia.testing.provider_proc",
                c.node.url,
                c.contract,
                str(c.committee_file),
                str(paths[i]),
                str(costs[i]),
                str(wd / f"vault-{i}"),
                *map(str, aids),
            ],
            good[i].key.hex(),
            env=PASS,
        )
        for i in range(N_GOOD)
    ]
    rejections = bad_inputs(c, aids[0], bad, x, y, wd)
    return {"procs": procs, "cluster": c, "aids": aids, "good": good, "bad": bad, "costs": costs, "paths": paths,
            "buyer": buyer, "validation": validation, "rejections": rejections}  # fmt: skip


def bad_inputs(c: Cluster, aid: int, bad: dict, x, y, wd: Path) -> dict[str, str]:
    """Each bad provider tries its upload (and hears why it failed), then commits anyway and later reveals."""
    urls = json.loads(c.committee_file.read_text())
    urls = {o["address"]: o["url"] for o in urls["oracles"]}
    rejections = {}
    base = 600
    with DataroomClient() as http:
        for j, (kind, acct) in enumerate(bad.items()):
            prov = Provider(c.chain, c.contract, acct, SaltVault(wd / f"bad-{kind}", "pw"))
            recs = load_dataset(c.write_dataset(f"bad-{kind}", x[base + j * ROWS : base + (j + 1) * ROWS],
                                                y[base + j * ROWS : base + (j + 1) * ROWS]))  # fmt: skip
            root = records_root(recs)
            committee = onchain_committee(prov, aid)
            if kind == "wrong-root":
                deliver_dataset(prov, aid, recs, urls, http=http)  # accepted; the commitment names another root
                prov.commit(aid, ETHER // 10, records_root(recs[:-1]))
                continue
            payload = encode_records(recs)
            if kind == "oversized":
                payload = payload * (MAX_UPLOAD // len(payload) + 2)
            if kind == "malformed":
                payload = payload + b'{"features": [1, 2\n'
            for o in committee:
                key = nacl.public.PrivateKey.generate().public_key if kind == "undecryptable" else None
                box = nacl.public.SealedBox(key or nacl.public.PublicKey(o.encryption_key))
                ct = box.encrypt(payload)
                headers = upload_headers(acct, c.chain.chain_id, c.contract, aid, o.address, ct, root)
                with pytest.raises(UploadRejected) as info:
                    http.upload(url=urls[o.address], oracle=o.address, ciphertext=ct, headers=headers, auction_id=aid)
                rejections[kind] = f"{info.value.status} {info.value.reason}"
            prov.commit(aid, ETHER // 10, root)
    return rejections


@pytest.fixture(scope="module")
def rounds(world: dict) -> dict:
    """Drives time: reveal (kill C, crash-restart A mid-round), scoring, settlement and cancellation."""
    c, aids = world["cluster"], world["aids"]
    a, b, cc, d, e = c.oracles
    committed = (N_GOOD + 4, N_GOOD, N_GOOD)
    wait_for(lambda: [c.client.auction(i).n_committed for i in aids] == list(committed), 600, "every commit")
    info = [c.client.auction(i) for i in aids]
    c.advance_to(max(i.commit_deadline for i in info))
    for kind, acct in world["bad"].items():
        Provider(c.chain, c.contract, acct, SaltVault(c.workdir / f"bad-{kind}", "pw")).reveal(aids[0])
    run_all(world["procs"], timeout=600)  # each provider process reveals once the phase opens, then exits
    assert [c.client.auction(i).n_revealed for i in aids] == list(committed)
    cc.kill()
    e.kill()
    a.kill()  # crash mid-round (after every upload), restart from its data directory
    a.start()
    c.advance_to(max(i.reveal_deadline for i in info))
    # auction 1: all three members post, so it is aggregated at once
    wait_for(lambda: c.client.phase(aids[0]) == Phase.SCORED, 180, f"scores of auction {aids[0]}")
    # auction 2 (A and B posted) is aggregated once the window closes; auction 3 (A alone) is cancelled
    wait_for(lambda: c.client.contract.functions.scoreChunkOf(aids[1], 0).call()[4] == 2, 180, "A's and B's reports")
    c.advance_to(max(i.scoring_deadline for i in info) + 1)
    wait_for(lambda: c.client.phase(aids[1]) == Phase.SCORED, 60, f"aggregation of auction {aids[1]}")
    wait_for(lambda: c.client.phase(aids[2]) == Phase.CANCELLED, 60, "the surviving oracle to cancel auction 3")
    reports = {o.account.address: _get(f"{o.url}/v1/auctions/{aids[0]}/report") for o in (a, b, d)}
    return {**world, "reports": reports}


def _events(c: Cluster, name: str, aid: int):
    ev = getattr(c.client.contract.events, name)()
    return ev.get_logs(from_block=0, argument_filters={"auctionId": aid})


def test_corrupted_oracle_moves_nothing(rounds: dict) -> None:
    c, aid = rounds["cluster"], rounds["aids"][0]
    a, b, _, d, _ = c.oracles
    honest = report_from_json(rounds["reports"][a.account.address]["report"])
    other = report_from_json(rounds["reports"][b.account.address]["report"])
    corrupt = report_from_json(rounds["reports"][d.account.address]["report"])
    assert (honest.q, honest.delta) == (other.q, other.delta)  # independent oracles agree exactly
    assert corrupt.q != honest.q and corrupt.delta != honest.delta
    posted = {e["args"]["oracle"] for e in _events(c, "ReportPosted", aid)}
    assert posted == {a.account.address, b.account.address, d.account.address}
    agg = aggregate_weights([report_weights(r.q, r.delta) for r in (honest, other, corrupt)])
    assert agg == report_weights(honest.q, honest.delta)
    for p, w in zip(honest.providers, agg, strict=True):
        assert c.client.contract.functions.weightOf(aid, p).call() == w
    # payments are exactly the reference settlement on the honest scores
    if c.client.phase(aid) == Phase.SCORED:
        AuctionClient(c.chain, c.contract, c.chain.funder).settle(aid)
    info = c.client.auction(aid)
    bids = [c.client.contract.functions.getBid(aid, p).call()[1] for p in honest.providers]
    ref = settle(int(info.mechanism), bids, [weight(qi, di) for qi, di in zip(honest.q, honest.delta, strict=True)],
                 info.budget)  # fmt: skip
    paid = {e["args"]["provider"]: e["args"]["amount"] for e in _events(c, "Payment", aid)}
    assert [paid.get(p, 0) for p in honest.providers] == list(ref.cash)
    assert sum(ref.cash) > 0


def test_bad_input_scored_zero_with_reason_and_changes_nothing_else(rounds: dict) -> None:
    c, aid = rounds["cluster"], rounds["aids"][0]
    rej = rounds["rejections"]
    assert rej["undecryptable"].startswith("422 upload does not decrypt")
    assert rej["oversized"].startswith("413 upload") and str(MAX_UPLOAD) in rej["oversized"]
    assert rej["malformed"].startswith("422 line 61: malformed record (invalid JSON")
    a = c.oracles[0]
    t = _get(f"{a.url}/v1/auctions/{aid}/transcript")
    reasons = t["transcript"]["extra"]["rejections"]
    bad = rounds["bad"]
    assert reasons[bad["undecryptable"].address].startswith("upload rejected: upload does not decrypt")
    assert reasons[bad["oversized"].address].startswith("upload rejected: oversized")
    assert reasons[bad["malformed"].address].startswith("upload rejected: line 61: malformed record")
    assert reasons[bad["wrong-root"].address].startswith("dataset root mismatch: the uploaded records hash to")
    report = report_from_json(_get(f"{a.url}/v1/auctions/{aid}/report")["report"])
    for acct in bad.values():
        assert report.q[report.providers.index(acct.address)] == 0


def test_bad_input_changes_no_other_value(rounds: dict) -> None:
    c, aid = rounds["cluster"], rounds["aids"][0]
    report = report_from_json(_get(f"{c.oracles[0].url}/v1/auctions/{aid}/report")["report"])
    good = [ProviderData(p.address, *_arrays(path)) for p, path in zip(rounds["good"], rounds["paths"], strict=True)]
    # the same providers in the round's commit order (the cross-provider duplicate rule credits the earlier one)
    good.sort(key=lambda d: report.providers.index(d.provider_id))
    alone = score_providers(good, rounds["validation"], signing_key=nacl.signing.SigningKey.generate())
    for p, qi, di in zip(alone.provider_ids, alone.q_wad, alone.delta_wad, strict=True):
        j = report.providers.index(p)
        assert (report.q[j], report.delta[j]) == (qi, di)


def _arrays(path: Path):
    import numpy as np

    recs = load_dataset(path)
    return np.array([r["features"] for r in recs]), [r["label"] for r in recs]


def test_round_settles_with_two_of_three_after_a_kill_and_no_double_submission(rounds: dict) -> None:
    c, aids = rounds["cluster"], rounds["aids"]
    a, b = c.oracles[:2]
    posted = _events(c, "ReportPosted", aids[1])
    assert {e["args"]["oracle"] for e in posted} == {a.account.address, b.account.address}
    assert len(posted) == 2 and len(_events(c, "ScoresFinalized", aids[1])) == 1
    (chunk,) = _events(c, "ScoreChunkFinalized", aids[1])
    assert chunk["args"]["reports"] == 2  # every posted report aggregated
    AuctionClient(c.chain, c.contract, c.chain.funder).settle(aids[1])
    assert len(_events(c, "Payment", aids[1])) > 0
    # every oracle transaction did something: one post per member, chunk and auction, the aggregations and
    # the cancel; no reverted or duplicate transaction (the restarted A posted nothing twice)
    nonces = sum(c.chain.w3.eth.get_transaction_count(o.account.address) for o in c.oracles)
    posts = [e for aid in aids for e in _events(c, "ReportPosted", aid)]
    assert len({(e["args"]["oracle"], e["args"]["auctionId"], e["args"]["chunk"]) for e in posts}) == len(posts)
    done = sum(len(_events(c, name, aid)) for aid in aids for name in ("ScoreChunkFinalized", "AuctionCancelled"))
    assert nonces == len(posts) + done, (nonces, len(posts), done)


def test_two_oracles_down_cancels_and_everything_is_withdrawn(rounds: dict) -> None:
    c, aids = rounds["cluster"], rounds["aids"]
    assert c.client.phase(aids[2]) == Phase.CANCELLED
    for phase_ok in (c.client.phase(aids[0]), c.client.phase(aids[1])):
        assert phase_ok in (Phase.SCORED, Phase.SETTLED)
    for aid in aids[:2]:
        if c.client.phase(aid) == Phase.SCORED:
            AuctionClient(c.chain, c.contract, c.chain.funder).settle(aid)
    everyone = [*rounds["good"], *rounds["bad"].values(), rounds["buyer"]]
    for acct in everyone:
        client = Provider(c.chain, c.contract, acct, SaltVault(c.workdir / "unused", "pw"))
        for aid in aids:  # deposits come back once an auction ends (weight > 0, or cancelled)
            if client.deposit_refundable(aid, acct.address):
                client.refund_deposit(aid)
        if client.credit(acct.address):
            client.withdraw()
    assert c.chain.balance(c.contract) == 0
    assert c.client.total_owed() == 0


def test_logs_hold_no_records_and_no_keys(rounds: dict) -> None:
    c = rounds["cluster"]
    record_line = rounds["paths"][0].read_text().splitlines()[0]
    feature_snippet = json.dumps(load_dataset(rounds["paths"][0])[0]["features"][:6])[1:-1]
    for o in c.oracles:
        log = o.log_path.read_text()
        assert "accepted" in log  # the log is real and names what happened
        secrets = [(o.data_dir / BOX_KEY_FILE).read_bytes().hex(), (o.data_dir / SIGN_KEY_FILE).read_bytes().hex(),
                   o.account.key.hex().removeprefix("0x")]  # fmt: skip
        for s in [record_line, feature_snippet, *secrets]:
            assert s not in log
    assert os.environ.get("MIA_PRIVATE_KEY") is None or os.environ["MIA_PRIVATE_KEY"] not in log
