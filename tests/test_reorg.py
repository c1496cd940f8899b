"""Reorg-safe event reading: the auditor follows the canonical chain, never a history that was dropped."""

from __future__ import annotations

import pytest

from mia.cli.commands import main
from mia.sdk.anvil import anvil_available
from mia.sdk.auditor import Auditor
from mia.sdk.chain import Chain
from mia.sdk.events import DEFAULT_CONFIRMATIONS, EventReader, default_confirmations
from tests.conftest import ETHER, AuctionRun, Env, embedded_chain


def _revert(chain: Chain, snapshot: str) -> None:
    assert chain.w3.provider.make_request("evm_revert", [snapshot])["result"] is True
    chain._senders.clear()  # cached nonces belong to the dropped history


@pytest.mark.anvil
@pytest.mark.skipif(not anvil_available(), reason="anvil not installed (run make setup)")
def test_auditor_follows_the_canonical_history_after_a_revert(anvil_env, capsys):
    env = anvil_env
    chain = env.chain
    committee = env.committee()
    snapshot = chain.w3.provider.make_request("evm_snapshot", [])["result"]

    # history A: two providers commit and reveal
    run_a = AuctionRun(env, [ETHER, 2 * ETHER], committee=committee).through("revealed")
    eager = Auditor(chain, env.mia, from_block=env.from_block, confirmations=0)  # caches everything as final
    deep = Auditor(chain, env.mia, from_block=env.from_block, confirmations=3)
    assert deep.reader.confirmations == 3 and Auditor(chain, env.mia).reader.confirmations == DEFAULT_CONFIRMATIONS
    for auditor in (eager, deep):
        rep = auditor.audit(run_a.id)
        assert rep.ok, rep.mismatches
        assert [x.provider for x in rep.providers] == [p.address for p in run_a.providers]
    head_a = chain.w3.eth.block_number

    # the chain drops history A; history B reuses the same auction id with three other providers, and settles
    _revert(chain, snapshot)
    assert chain.w3.eth.block_number < head_a
    run_b = AuctionRun(env, [ETHER, 3 * ETHER, 2 * ETHER], committee=committee).through("settled")
    assert run_b.id == run_a.id
    assert chain.w3.eth.block_number >= head_a  # same heights, different blocks

    for auditor in (eager, deep, Auditor(chain, env.mia, from_block=env.from_block, confirmations=0)):
        rep = auditor.audit(run_b.id)
        assert rep.ok, rep.mismatches
        assert rep.status == "settled"
        assert [x.provider for x in rep.providers] == [p.address for p in run_b.providers]
        assert not {p.address for p in run_a.providers} & {x.provider for x in rep.providers}
        assert next(c for c in rep.checks if c.name == "auction created").detail == "1 creation events"
    assert eager.reader.discarded_caches == 1  # the read taken before the revert was thrown away, not reused

    # the command line reads the same canonical history, at any confirmation depth
    url = chain.w3.provider.endpoint_uri
    base = ["audit", "--rpc-url", url, "--contract", env.mia.address, "--auction", str(run_b.id)]
    for depth in ("0", "3"):
        assert main([*base, "--from-block", str(env.from_block), "--confirmations", depth]) == 0
        out = capsys.readouterr().out
        assert "AUDIT PASSED" in out and "1 creation events" in out
    with pytest.raises(SystemExit) as exc:
        main([*base, "--confirmations", "-1"])
    assert exc.value.code == 2
    assert "must be 0 or more" in capsys.readouterr().err


def test_reader_drops_removed_duplicated_and_orphaned_logs(tmp_path, monkeypatch):
    chain = embedded_chain()
    env = Env.deploy(chain, tmp_path)
    run = AuctionRun(env, [ETHER, 2 * ETHER]).through("committed")
    reader = EventReader(chain.w3, confirmations=0, from_block=env.from_block)
    honest = reader.events(env.mia, "BidCommitted", auctionId=run.id)
    assert [e["args"]["provider"] for e in honest] == [p.address for p in run.providers]

    real_get_logs = chain.w3.eth.get_logs

    def noisy_get_logs(params):
        logs = list(real_get_logs(params))
        extra = []
        for log in logs:
            extra.append(log)  # a node answering the same log twice
            extra.append({**log, "removed": True, "logIndex": int(log["logIndex"]) + 100})
            extra.append({**log, "blockHash": b"\x01" * 32, "logIndex": int(log["logIndex"]) + 200})
        return logs + extra

    monkeypatch.setattr(chain.w3.eth, "get_logs", noisy_get_logs)
    fresh = EventReader(chain.w3, confirmations=0, from_block=env.from_block)
    again = fresh.events(env.mia, "BidCommitted", auctionId=run.id)
    assert [(e["blockHash"], e["logIndex"]) for e in again] == [(e["blockHash"], e["logIndex"]) for e in honest]
    assert fresh.dropped_logs > 0


def test_reader_caches_only_confirmed_logs(tmp_path):
    chain = embedded_chain()
    env = Env.deploy(chain, tmp_path)
    reader = EventReader(chain.w3, confirmations=1_000, from_block=env.from_block)
    run = AuctionRun(env, [ETHER]).through("committed")
    assert len(reader.events(env.mia, "BidCommitted", auctionId=run.id)) == 1
    assert reader._final == {}  # nothing is 1,000 blocks deep yet: re-read every time
    assert default_confirmations("embedded") == 0 and default_confirmations("rpc") == DEFAULT_CONFIRMATIONS
    with pytest.raises(ValueError):
        EventReader(chain.w3, confirmations=-1)
