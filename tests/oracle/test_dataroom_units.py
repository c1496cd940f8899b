"""Fast checks of the data room's pieces: wire format, upload signatures, upload checks, store, relay rules."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import httpx
import nacl.public
import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from mia.oracle.dataroom import UploadInvalid, check_upload, provider_input
from mia.oracle.relay import posted_slots, relay_delay
from mia.oracle.store import Store
from mia.sdk.dataroom import (
    DataroomClient,
    DataroomError,
    encode_records,
    parse_records,
    records_root,
    sign_upload,
    upload_message,
    upload_signer,
)

RECS = [{"features": [float(i), 1.5, -2.0], "label": i % 3} for i in range(7)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.fixed_dictionaries({"features": st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=2),
                                       "label": st.integers(0, 9)}), min_size=1, max_size=12))  # fmt: skip
def test_wire_form_round_trips_to_the_same_root(records: list[dict]) -> None:
    assert records_root(parse_records(encode_records(records))) == records_root(records)


def test_parse_names_the_malformed_line() -> None:
    with pytest.raises(DataroomError, match=r"line 3: malformed record \(invalid JSON"):
        parse_records(b'{"a": 1}\n{"a": 2}\n{"a": \n')
    with pytest.raises(DataroomError, match=r"line 1: malformed record \(expected a JSON object"):
        parse_records(b"[1, 2]\n")


def test_upload_signature_binds_every_field() -> None:
    acct = Account.create()
    msg = upload_message(1, "0x" + "11" * 20, 5, "0x" + "22" * 20, acct.address, "ab" * 32, b"\x01" * 32)
    sig = sign_upload(acct.key, msg)
    assert upload_signer(msg, sig) == acct.address
    other = upload_message(1, "0x" + "11" * 20, 6, "0x" + "22" * 20, acct.address, "ab" * 32, b"\x01" * 32)
    assert upload_signer(other, sig) != acct.address


def test_upload_checks_give_precise_reasons() -> None:
    box = nacl.public.PrivateKey.generate()
    payload = encode_records(RECS)
    root = records_root(RECS)
    ok = check_upload(box, nacl.public.SealedBox(box.public_key).encrypt(payload), root, expected_dim=3)
    assert ok.n_records == 7 and ok.root == root
    stranger = nacl.public.SealedBox(nacl.public.PrivateKey.generate().public_key).encrypt(payload)
    with pytest.raises(UploadInvalid, match="does not decrypt"):
        check_upload(box, stranger, root, expected_dim=3)
    with pytest.raises(UploadInvalid, match="dataset root mismatch"):
        check_upload(box, nacl.public.SealedBox(box.public_key).encrypt(payload), b"\x02" * 32, expected_dim=3)
    with pytest.raises(UploadInvalid, match="features have 3 values, the task needs 64"):
        check_upload(box, nacl.public.SealedBox(box.public_key).encrypt(payload), root, expected_dim=64)
    bad = encode_records([*RECS, {"features": "x", "label": 1}])
    with pytest.raises(UploadInvalid, match="line 8: 'features' must be a list of numbers"):
        check_upload(box, nacl.public.SealedBox(box.public_key).encrypt(bad), records_root(parse_records(bad)),
                     expected_dim=3)  # fmt: skip
    # at scoring time the revealed root decides
    pd = provider_input("p", b"\x03" * 32, box=box, ciphertext=nacl.public.SealedBox(box.public_key).encrypt(payload),
                        rejection=None, expected_dim=3)  # fmt: skip
    assert pd.error is not None and pd.error.startswith("dataset root mismatch")
    assert provider_input("p", root, box=box, ciphertext=None, rejection=None, expected_dim=3).error == (
        "no dataset was uploaded to this oracle"
    )


def test_a_rejection_never_replaces_an_accepted_upload(tmp_path) -> None:
    store = Store(tmp_path)
    p = Account.create().address
    store.reject_upload(1, p, "first try was oversized")
    assert store.upload(1, p).status == "rejected"
    store.accept_upload(1, p, b"cipher", hashlib.sha256(b"cipher").hexdigest(), "0x" + "00" * 32)
    store.reject_upload(1, p, "a later replay with a bad body")
    up = store.upload(1, p)
    assert up.status == "accepted" and up.reason is None
    assert store.ciphertext_path(1, p).read_bytes() == b"cipher"
    store.close()
    again = Store(tmp_path)  # survives a restart
    assert again.upload(1, p).status == "accepted"


def test_relay_rules() -> None:
    assert relay_delay(2, [0, 2], stagger=1.5) == 1.5  # the lowest posted slot aggregates first
    assert relay_delay(2, [2], stagger=1.5) == 0.0
    assert relay_delay(1, [0, 2], stagger=1.5) == 0.0  # did not post: not in the order
    assert posted_slots(0b101, 3) == [0, 2]
    assert posted_slots(0, 4) == []


DEEP_IN_A_THREAD = """
import sys, threading
import eth_account  # raises the recursion limit to 100,000 (through py_ecc)
from mia.sdk.dataroom import DataroomError, parse_records
from mia.protocol.safejson import restore_recursion_limit
assert sys.getrecursionlimit() >= 100_000, sys.getrecursionlimit()
deep = b'{"features":' + b"[" * 80_000 + b"]" * 80_000 + b',"label":1}\\n'
out = []
def parse():
    try:
        parse_records(deep)
    except DataroomError as exc:
        out.append(str(exc))
t = threading.Thread(target=parse)  # the service parses uploads in worker threads
t.start(); t.join()
restore_recursion_limit()
print(out[0], sys.getrecursionlimit())
"""


def test_an_80000_deep_record_is_refused_in_a_worker_thread_not_a_segfault() -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    r = subprocess.run([sys.executable, "-c", DEEP_IN_A_THREAD], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])  # -11 was SIGSEGV
    assert "nesting depth exceeds the limit of 8" in r.stdout and r.stdout.split()[-1] == "1000"


def test_oracle_replies_that_are_not_json_objects_are_refused() -> None:
    replies = {"/v1/keys": b'["0xabc"]', "/v1/auctions/1/uploads": b"17", "/v1/auctions/1/uploads/0xp": b'"x"'}
    http = DataroomClient()
    http.close()
    reply = httpx.MockTransport(lambda req: httpx.Response(200, content=replies[req.url.path]))
    http.http = httpx.Client(transport=reply)
    oracle = "0x" + "11" * 20
    with http:
        with pytest.raises(DataroomError, match="expected a JSON object"):
            http.keys(oracle, "http://oracle")
        with pytest.raises(DataroomError, match="expected a JSON object"):
            http.upload(url="http://oracle", oracle=oracle, ciphertext=b"c", headers={}, auction_id=1)
        with pytest.raises(DataroomError, match="expected a JSON object"):
            http.status(url="http://oracle", oracle=oracle, auction_id=1, provider="0xp")


def test_bounded_json_limits_and_semantics() -> None:
    from mia.protocol.safejson import JSONLimitError, loads_bounded, loads_lines, max_depth

    assert max_depth(b'{"a":[1,{"b":"[[[[[[[[[["}]}') == 3  # brackets inside strings do not count
    assert max_depth(b'"\\"[[[["') == 0  # nor after an escaped quote
    with pytest.raises(JSONLimitError, match="nesting depth 40 exceeds the limit of 32"):
        loads_bounded(b"[" * 40 + b"]" * 40)
    with pytest.raises(JSONLimitError, match="exceeds the limit of 10 bytes"):
        loads_bounded(b"[1,2,3,4,5,6]", max_bytes=10)
    with pytest.raises(JSONLimitError, match="digits"):
        loads_bounded(b"1" * 5000)
    # the fast parser keeps json's meaning: exact big integers, NaN literals, duplicate keys
    doc = b'{"a":123456789012345678901234567890,"b":NaN,"c":1,"c":2}\n\n{"d":1.5}\n'
    parsed = loads_lines(doc)
    assert [n for n, _ in parsed] == [1, 3]
    assert parsed[0][1]["a"] == 123456789012345678901234567890 and parsed[0][1]["c"] == 2
    with pytest.raises(JSONLimitError, match="line 2: invalid JSON"):
        loads_lines(b'{"a":1}\n{"a":\n')


def test_fast_signature_recovery_matches_eth_account() -> None:
    import os

    acct = Account.create()
    msg = upload_message(1, "0x" + "11" * 20, 5, "0x" + "22" * 20, acct.address, "ab" * 32, b"\x01" * 32)
    sig = sign_upload(acct.key, msg)
    assert upload_signer(msg, sig) == acct.address
    assert upload_signer(msg, sig[:64] + bytes([sig[64] - 27])) == acct.address  # v as 0/1
    for _ in range(50):  # random bytes never raise anything but ValueError, and never recover the signer
        with contextlib.suppress(ValueError):
            assert upload_signer(msg, os.urandom(65)) != acct.address
    with pytest.raises(ValueError):
        upload_signer(msg, b"\x00" * 65)
    with pytest.raises(ValueError):
        upload_signer(msg, sig[:64])


def test_token_buckets_and_upload_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from mia.oracle import limits

    now = [100.0]
    monkeypatch.setattr(limits.time, "monotonic", lambda: now[0])
    b = limits.TokenBuckets(rate=2.0, burst=3.0, max_keys=4)
    assert [b.take("ip") for _ in range(4)] == [True, True, True, False]
    assert b.retry_after("ip") == pytest.approx(0.5)
    now[0] += 0.5
    assert b.take("ip") and not b.take("ip")
    for k in range(10):  # many keys: the table stays bounded
        b.take(("k", k))
    assert len(b._buckets) <= 4
    budget = limits.UploadBudget(max_uploads=2, max_bytes=100)
    assert budget.reserve(60) and not budget.reserve(50) and budget.reserve(40) and not budget.reserve(0)
    budget.release(60)
    assert budget.reserve(60) and (budget.uploads, budget.bytes) == (2, 100)


def test_byte_slots_queue_large_checks() -> None:
    import asyncio

    from mia.oracle.limits import ByteSlots

    async def main() -> list[str]:
        slots, order = ByteSlots(100), []

        async def check(name: str, size: int, hold: float) -> None:
            taken = await slots.acquire(size)
            order.append(f"+{name}")
            assert slots.used <= slots.capacity
            await asyncio.sleep(hold)
            order.append(f"-{name}")
            await slots.release(taken)

        await asyncio.gather(check("a", 70, 0.05), check("b", 60, 0.0), check("huge", 500, 0.0))
        assert slots.used == 0
        return order

    order = asyncio.run(main())
    assert order.index("+b") > order.index("-a")  # 70 + 60 > 100: b waited for a
    assert "+huge" in order  # larger than the capacity: still runs, alone


def test_one_failing_round_never_blocks_another(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 1 raises on every step: it backs off (1, 2, 4 s), is marked failed after 3 attempts with the
    reason, and round 2 is stepped on every tick meanwhile."""
    from types import SimpleNamespace

    from mia.oracle import watcher as watcher_mod

    now = [1000.0]
    monkeypatch.setattr(watcher_mod.time, "monotonic", lambda: now[0])
    store = Store(tmp_path)
    store.watch(1)
    store.watch(2)
    cfg = SimpleNamespace(retry_base=1.0, retry_cap=4.0, max_attempts=3)

    class Flaky(watcher_mod.Watcher):
        calls: list[int]

        def discover(self) -> None:
            pass

        def step(self, aid: int) -> None:
            self.calls.append(aid)
            if aid == 1:
                raise OverflowError("int too large to convert to float")

    w = Flaky(SimpleNamespace(store=store, config=cfg))
    w.calls = []
    schedule = [0.0, 0.5, 0.5, 1.0, 1.0, 2.0]  # seconds between ticks
    for dt in schedule:
        now[0] += dt
        w.tick()
    assert w.calls.count(2) == len(schedule)
    assert w.calls.count(1) == 3  # t = 0, 1, 3 (backoff 1 s, then 2 s); the 4 s wait is still running
    rnd = store.round(1)
    assert rnd.state == "failed" and "scoring failed 3 times" in rnd.note and "OverflowError" in rnd.note
    assert store.failed_rounds() == {1: rnd.note}
    assert store.round(2).state == "watching"
    w.http.close()


@pytest.mark.parametrize("labels", [[1, 2, 3], [1, 2, 11], ["a", "b", "c"], [1, 2, -1]])
def test_upload_label_check_agrees_with_valuation(labels: list) -> None:
    """The data room checks labels without valuation's feature copies; both must accept and refuse alike."""
    import numpy as np

    from mia.oracle.dataroom import _check_labels
    from mia.valuation import ProviderData
    from mia.valuation.data import validate_provider

    label_set = np.arange(10, dtype=np.int64)
    feats = np.zeros((len(labels), 2))
    valuation_ok = validate_provider(0, ProviderData("p", features=feats, labels=labels), 2, label_set).error is None
    try:
        _check_labels(labels, label_set)
        upload_ok = True
    except UploadInvalid:
        upload_ok = False
    assert upload_ok == valuation_ok


def test_pending_storage_is_counted_per_client_until_committed(tmp_path) -> None:
    store = Store(tmp_path)
    p, q = Account.create().address, Account.create().address
    for who, client in ((p, "10.0.0.1"), (q, "10.0.0.2")):
        fd, tmp = store.upload_tempfile(1)
        with open(fd, "wb") as f:
            f.write(b"x" * 100)
        store.accept_upload_file(1, who, tmp, "ab" * 32, "0x" + "00" * 32, 100, committed=False, client=client)
    assert (store.pending_bytes(), store.pending_bytes("10.0.0.1"), store.pending_bytes("10.0.0.9")) == (200, 100, 0)
    store.purge_uploads(1, [q], "the provider did not commit a bid before the commit deadline")
    store.mark_committed(1)
    assert store.pending_bytes() == 0 and store.upload(1, q).status == "purged"
    assert not store.ciphertext_path(1, q).exists() and store.ciphertext_path(1, p).read_bytes() == b"x" * 100
