"""Hostile input against a running `mia oracle serve` (its own process, on anvil, 127.0.0.1 only).

Each attack is made the way a stranger would make it: raw HTTP with self-generated keys and valid
signatures where the attack needs them. After every attack the service must still answer, honest
uploads must still succeed within their latency bound, and nothing it accepted may be lost, even
across `kill -9`. Loops and floods are bounded in count and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import nacl.public
import numpy as np
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from mia.oracle.store import Store
from mia.protocol.types import Phase
from mia.sdk.anvil import anvil_available
from mia.sdk.dataroom import (
    API_PREFIX,
    encode_records,
    records_from_arrays,
    records_root,
    status_headers,
    upload_headers,
)
from mia.sdk.provider import Provider
from mia.sdk.salts import SaltVault
from mia.testing.cluster import ETHER, Cluster, OracleProcess, digits_task, wait_for

pytestmark = [
    pytest.mark.anvil,
    pytest.mark.skipif(not anvil_available(), reason="anvil not installed (run make setup)"),
]
MAX_UPLOAD = 1_000_000
READ_TIMEOUT = 2.0
HONEST_BOUND = 5.0  # seconds an honest upload may take while an attack runs
ROWS = 40
PENDING_PER_IP = 6_000_000  # stored bytes from uncommitted providers per client IP (the suite uses ~1 MB)


class World:
    """One oracle service, its chain and helpers to build signed (honest or hostile) uploads."""

    def __init__(self, c: Cluster) -> None:
        self.c = c
        self.o: OracleProcess = c.oracles[0]
        self.x, self.y, _ = digits_task()
        self.buyer = Account.create()
        c.chain.fund(self.buyer.address, 100 * ETHER)
        self.accepted: dict[tuple[int, str], str] = {}  # (auction, provider) -> sha256 of every 200 answer

    @property
    def url(self) -> str:
        return self.o.url

    def auction(self) -> int:
        return self.c.create_auction(self.buyer, [self.o], threshold=1)

    def records(self, seed: int, n: int = ROWS) -> list[dict]:
        rows = np.random.default_rng(seed).choice(len(self.y), n, replace=n > len(self.y))
        return records_from_arrays(self.x[rows], self.y[rows])

    def sealed(self, plaintext: bytes) -> bytes:
        return nacl.public.SealedBox(nacl.public.PublicKey(self.o.x25519)).encrypt(plaintext)

    def signed(self, acct: LocalAccount, aid: int, body: bytes, root: bytes) -> dict[str, str]:
        return upload_headers(acct, self.c.chain.chain_id, self.c.contract, aid, self.o.account.address, body, root)

    def put(self, aid: int, body: bytes, headers: dict[str, str], *, timeout: float = 30.0) -> httpx.Response:
        return httpx.put(f"{self.url}{API_PREFIX}/auctions/{aid}/uploads", content=body, headers=headers,
                         timeout=timeout)  # fmt: skip

    def hostile(
        self, aid: int, plaintext: bytes, root: bytes | None = None, acct: LocalAccount | None = None
    ) -> httpx.Response:
        """A validly signed upload of arbitrary plaintext (by a fresh key unless `acct` is given)."""
        acct = acct or Account.create()
        body = self.sealed(plaintext)
        return self.put(aid, body, self.signed(acct, aid, body, root or b"\x11" * 32))

    def honest(self, aid: int, acct: LocalAccount | None = None, seed: int = 0) -> tuple[LocalAccount, float]:
        """An honest upload; asserts it is accepted within the latency bound; returns (account, seconds)."""
        acct = acct or Account.create()
        recs = self.records(seed)
        body = self.sealed(encode_records(recs))
        t0 = time.perf_counter()
        r = self.put(aid, body, self.signed(acct, aid, body, records_root(recs)))
        dt = time.perf_counter() - t0
        assert r.status_code == 200, r.text
        assert dt < HONEST_BOUND, f"honest upload took {dt:.2f} s"
        self.accepted[(aid, acct.address)] = r.json()["sha256"]
        return acct, dt

    def alive(self) -> None:
        assert self.o.alive, f"the service died:\n{self.o.log_path.read_text()[-3000:]}"
        r = httpx.get(f"{self.url}{API_PREFIX}/health", timeout=10)
        assert r.status_code == 200 and r.json()["ok"] is True

    def status(self, aid: int, acct: LocalAccount) -> httpx.Response:
        h = status_headers(acct, self.c.chain.chain_id, self.c.contract, aid, self.o.account.address)
        return httpx.get(f"{self.url}{API_PREFIX}/auctions/{aid}/uploads/{acct.address}", headers=h, timeout=10)

    def nothing_lost(self, aid: int) -> int:
        """Every upload of auction `aid` answered with 200 is on disk, intact; returns how many."""
        store = Store(self.o.data_dir)
        n = 0
        for (a, provider), sha in self.accepted.items():
            if a != aid:
                continue
            row = store.upload(aid, provider)
            assert row is not None and row.status == "accepted" and row.sha256 == sha
            assert hashlib.sha256(store.ciphertext_path(aid, provider).read_bytes()).hexdigest() == sha
            n += 1
        store.close()
        return n


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    c = Cluster(tmp_path_factory.mktemp("hostile"))
    args = ["--max-upload", str(MAX_UPLOAD), "--read-timeout", str(READ_TIMEOUT), "--fail-rate", "1",
            "--ip-rate", "400", "--max-pending-per-ip", str(PENDING_PER_IP)]  # fmt: skip
    try:
        c.start(1, extra_args=[args])
        yield World(c)
    finally:
        c.close()


def _error(r: httpx.Response, status: int, *needles: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.text
    reason = r.json()["error"]
    assert "Traceback" not in reason
    for n in needles:
        assert n in reason, reason


# ------------------------------------------------------------------------------------------ payloads


def test_deep_nesting_is_refused_and_the_service_survives(world: World) -> None:
    aid = world.auction()
    deep = b'{"features":' + b"[" * 80_000 + b"]" * 80_000 + b',"label":1}\n'
    _error(world.hostile(aid, deep), 422, "nesting depth")
    deep_obj = b'{"a":' * 80_000 + b"1" + b"}" * 80_000 + b"\n"
    _error(world.hostile(aid, deep_obj), 422, "nesting depth")
    world.alive()
    world.honest(aid)


@pytest.fixture(scope="module")
def records_aid(world: World) -> int:
    return world.auction()


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        (b'{"features":[%s],"label":1}' % b",".join([b"1" * 5000] * 64), "digits"),  # beyond int parsing limits
        (b'{"features":[%s],"label":1}' % b",".join([b"1" * 400] * 64), "magnitude"),  # beyond float64
        (b'{"features":[%s],"label":1}' % b",".join([b"1e400"] * 64), "NaN/inf"),
        (b'{"features":[%s],"label":1}' % b",".join([b"NaN"] * 64), "NaN/inf"),
        (b'{"features":[%s],"label":1}' % b",".join([b"1e300"] * 64), "magnitude"),
        (b'{"features":[%s],"label":%d}' % (b",".join([b"1"] * 64), 10**40), "int64"),
        (b'{"features":[%s],"label":11}' % b",".join([b"1"] * 64), "outside the allowed set"),
        (b'{"features":[%s],"label":true}' % b",".join([b"1"] * 64), "must be an int or a string"),
        (b'{"features":[%s],"label":"%s"}' % (b",".join([b"1"] * 64), b"x" * 300), "longer than"),
        (b'{"features":[%s],"label":1}' % b",".join([b"true"] * 64), "list of numbers"),
        (b'{"features":[1,2],"label":1}', "expected 64"),
        (b'{"features":[],"label":1}', "empty"),
        (b'{"features":[%s],"label":1,"note":"\\ud800"}' % b",".join([b"1"] * 64), "not encodable"),
        (b"[1,2,3]", "expected a JSON object"),
        (b"\xff\xfe", "not UTF-8"),
    ],
    ids=[
        "hugeint",
        "bigint",
        "inf",
        "nan",
        "1e300",
        "label1e40",
        "label-outside",
        "label-bool",
        "label-long",
        "bool-features",
        "dim",
        "empty",
        "surrogate",
        "array",
        "utf8",
    ],
)
def test_bad_records_are_refused_at_upload(world: World, records_aid: int, line: bytes, needle: str) -> None:
    """Whatever is accepted can be valued: every bad value is a 422 naming the problem."""
    aid = records_aid
    good = encode_records(world.records(1))
    plaintext = good + line + b"\n"
    _error(world.hostile(aid, plaintext), 422, needle)
    world.alive()


# ------------------------------------------------------------------------------------------ requests


def test_unknown_and_huge_ids_get_json_404s(world: World) -> None:
    aid = world.auction()
    for bad in (0, 10**6, 2**63, 2**70, 10**80):
        for path in ("report", "transcript"):
            _error(httpx.get(f"{world.url}{API_PREFIX}/auctions/{bad}/{path}", timeout=10), 404)
        body = world.sealed(b"x")
        headers = world.signed(Account.create(), bad, body, b"\x01" * 32)
        _error(world.put(bad, body, headers), 404, "does not exist")
        acct = Account.create()
        _error(world.status(bad, acct), 404)
    for junk in ("abc", "1" * 5000, "-1", "１"):  # not digits, beyond int parsing limits, negative, non-ASCII digit
        _error(httpx.get(f"{world.url}{API_PREFIX}/auctions/{junk}/report", timeout=10), 404, "does not exist")
    _error(httpx.get(f"{world.url}{API_PREFIX}/nothing/here", timeout=10), 404, "no such endpoint")
    _error(httpx.delete(f"{world.url}{API_PREFIX}/auctions/{aid}/uploads", timeout=10), 405)
    _error(world.put(aid, b"x", {"x-mia-provider": "nope"}), 400, "malformed headers")
    world.alive()


def test_bad_signature_is_refused_before_any_chain_read(world: World) -> None:
    """A forged signature on an id the contract never issued is a 401, not a 404: nothing was looked up."""
    body = world.sealed(b"x")
    headers = world.signed(Account.create(), 10**9, body, b"\x01" * 32)
    headers["x-mia-signature"] = "0x" + os.urandom(65).hex()
    _error(world.put(10**9, body, headers), 401, "signature")


def test_oversized_bodies_are_refused_while_streaming(world: World) -> None:
    aid = world.auction()
    acct = Account.create()
    big = os.urandom(MAX_UPLOAD + 1)
    _error(world.put(aid, big, world.signed(acct, aid, big, b"\x01" * 32)), 413, "limit")

    def chunks():
        for _ in range(MAX_UPLOAD // 65536 + 2):
            yield b"\0" * 65536

    acct2 = Account.create()
    headers = world.signed(acct2, aid, b"whatever", b"\x01" * 32)  # no content-length: chunked
    r = httpx.put(f"{world.url}{API_PREFIX}/auctions/{aid}/uploads", content=chunks(), headers=headers, timeout=30)
    _error(r, 413, "limit")
    world.alive()
    world.honest(aid)


def test_slow_bodies_time_out_and_others_are_served(world: World) -> None:
    aid = world.auction()
    acct = Account.create()
    body = world.sealed(encode_records(world.records(2)))
    headers = world.signed(acct, aid, body, records_root(world.records(2)))
    head = f"PUT {API_PREFIX}/auctions/{aid}/uploads HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    socks = []
    try:
        for _ in range(8):  # eight slowloris bodies at once
            s = socket.create_connection(("127.0.0.1", world.o.port), timeout=READ_TIMEOUT * 5)
            s.sendall(head.encode() + body[:100])
            socks.append(s)
        t0 = time.perf_counter()
        world.honest(aid)  # served meanwhile
        for s in socks:
            reply = _read_reply(s)
            assert reply.startswith("HTTP/1.1 408"), reply
            assert "too slowly" in reply or "no upload data" in reply
        assert time.perf_counter() - t0 < READ_TIMEOUT * 6
    finally:
        for s in socks:
            s.close()
    world.alive()


def _read_reply(s: socket.socket) -> str:
    """One whole HTTP response (headers and content-length body) from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")), 0)
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode(errors="replace")


def test_floods_are_bounded_and_honest_uploads_keep_their_latency(world: World) -> None:
    aid = world.auction()
    body = world.sealed(b"flood")
    template = world.signed(Account.create(), aid, body, b"\x01" * 32)
    forged = [{**template, "x-mia-provider": to_checksum_address(os.urandom(20)),
               "x-mia-signature": "0x" + os.urandom(65).hex()} for _ in range(300)]  # fmt: skip
    one_addr = {**template, "x-mia-signature": "0x" + os.urandom(65).hex()}
    codes: dict[int, int] = {}
    lat: list[float] = []

    async def flood() -> None:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=16)) as http:
            url = f"{world.url}{API_PREFIX}/auctions/{aid}/uploads"

            async def one(h: dict[str, str]) -> None:
                r = await http.put(url, content=body, headers=h)
                codes[r.status_code] = codes.get(r.status_code, 0) + 1

            await asyncio.gather(*(one(h) for h in forged), *(one(one_addr) for _ in range(60)))

    async def honest() -> None:
        for i in range(5):
            _, dt = await asyncio.to_thread(world.honest, aid, None, 10 + i)
            lat.append(dt)

    async def main() -> None:
        await asyncio.gather(flood(), honest())

    asyncio.run(main())
    assert set(codes) <= {401, 429}, codes
    assert codes.get(429, 0) >= 30  # one address: its failure budget (burst 20, 1/s) runs out
    assert max(lat) < HONEST_BOUND
    world.alive()


def test_status_reveals_nothing_before_the_reveal(world: World) -> None:
    aid = world.auction()
    uploader, _ = world.honest(aid)
    stranger = Account.create()
    base = f"{world.url}{API_PREFIX}/auctions/{aid}/uploads"
    a = httpx.get(f"{base}/{uploader.address}", timeout=10)
    b = httpx.get(f"{base}/{stranger.address}", timeout=10)
    _error(a, 401, "only")
    _error(b, 401, "only")
    assert a.json() == b.json()  # the same answer whether or not an upload exists
    mine = world.status(aid, uploader)
    assert mine.status_code == 200 and mine.json()["status"] == "accepted"
    forged = status_headers(stranger, world.c.chain.chain_id, world.c.contract, aid, world.o.account.address)
    forged["x-mia-provider"] = uploader.address
    _error(httpx.get(f"{base}/{uploader.address}", headers=forged, timeout=10), 401, "signature")


def test_unwritable_data_directory_gives_a_json_reason(world: World) -> None:
    aid = world.auction()
    world.honest(aid)  # creates uploads/<aid>
    dirs = [world.o.data_dir / "uploads" / str(aid), world.o.data_dir / "uploads", world.o.data_dir]
    with _read_only(dirs):
        acct = Account.create()
        recs = world.records(3)
        body = world.sealed(encode_records(recs))
        r = world.put(aid, body, world.signed(acct, aid, body, records_root(recs)))
        _error(r, 503, "data directory")
        world.alive()
    world.honest(aid)


@contextlib.contextmanager
def _read_only(dirs: list[Path]):
    """Makes directories unwritable even for root (immutable flag where available, else mode 0555)."""
    root = os.geteuid() == 0 and shutil.which("chattr") is not None
    modes = {d: d.stat().st_mode for d in dirs}
    try:
        for d in dirs:
            if root:
                subprocess.run(["chattr", "+i", str(d)], check=True)
            else:
                d.chmod(0o555)
        yield
    finally:
        for d in dirs:
            if root:
                subprocess.run(["chattr", "-i", str(d)], check=False)
            d.chmod(modes[d])


# ------------------------------------------------------------------------------------------ rounds


def test_a_bad_provider_never_stalls_another_auction(world: World, tmp_path: Path) -> None:
    """Auction A: a provider's bad-label upload is refused; another's was stored before validation existed
    (written straight into the store). Auction B: honest. Both are scored; A's bad providers get q = 0."""
    c = world.c
    a, b = world.auction(), world.auction()
    provs = {}
    for name in ("a-good", "a-refused", "a-legacy", "b-good"):
        acct = Account.create()
        c.chain.fund(acct.address, ETHER)
        provs[name] = Provider(c.chain, c.contract, acct, SaltVault(tmp_path / name, "pw"))
    bad_line = b'{"features":[%s],"label":%d}\n' % (b",".join([b"1.0"] * 64), 10**40)
    good = encode_records(world.records(5))
    bad_plain = good + bad_line
    bad_root = records_root([json.loads(x) for x in bad_plain.splitlines()])
    _error(world.hostile(a, bad_plain, bad_root, provs["a-refused"].account), 422, "int64")
    legacy = provs["a-legacy"].account.address
    sealed = world.sealed(bad_plain)
    Store(world.o.data_dir).accept_upload(a, legacy, sealed, hashlib.sha256(sealed).hexdigest(), "0x" + bad_root.hex())
    world.honest(a, provs["a-good"].account, seed=6)
    world.honest(b, provs["b-good"].account, seed=7)
    ghost, _ = world.honest(a, seed=8)  # uploads, never commits: deleted once the commit deadline passed
    roots = {"a-good": records_root(world.records(6)), "b-good": records_root(world.records(7)),
             "a-refused": bad_root, "a-legacy": bad_root}  # fmt: skip
    for name, p in provs.items():
        p.commit(b if name.startswith("b") else a, ETHER // 100, roots[name])
    info = [c.client.auction(x) for x in (a, b)]
    c.advance_to(max(i.commit_deadline for i in info))
    latecomer = world.hostile(a, good, records_root(world.records(5)))
    _error(latecomer, 403, "did not commit")  # after the commit deadline only committed providers upload
    store = Store(world.o.data_dir)
    wait_for(lambda: store.upload(a, ghost.address).status == "purged", 30, "the uncommitted upload to be deleted")
    for name, p in provs.items():
        p.reveal(b if name.startswith("b") else a)
    c.advance_to(max(i.reveal_deadline for i in info))
    for x in (a, b):
        wait_for(lambda x=x: c.client.phase(x) == Phase.SCORED, 180, f"scores of auction {x}")
    rep = httpx.get(f"{world.url}{API_PREFIX}/auctions/{a}/report", timeout=10).json()["report"]
    q = dict(zip(rep["providers"], rep["q"], strict=True))
    assert int(q[provs["a-good"].account.address]) > 0
    assert int(q[provs["a-refused"].account.address]) == 0 and int(q[legacy]) == 0
    row = store.upload(a, ghost.address)
    assert row is not None and row.status == "purged" and "did not commit" in (row.reason or "")
    assert not store.ciphertext_path(a, ghost.address).exists()
    store.close()
    world.alive()


def test_kill_9_at_each_stage_loses_nothing_accepted(world: World) -> None:
    """kill -9 while bodies stream in and are checked, then restart: every 200 answer is still on disk,
    stray temp files are gone, and uploads work again."""
    aid = world.auction()
    world.honest(aid, seed=20)
    recs = world.records(21)
    plaintext = encode_records(recs)
    ok = [0]

    def uploader() -> None:
        for _ in range(200):  # bounded; ends at the first failed connection (the kill)
            acct = Account.create()
            body = world.sealed(plaintext)
            try:
                r = world.put(aid, body, world.signed(acct, aid, body, records_root(recs)), timeout=10)
            except httpx.HTTPError:
                return  # killed mid-request: never answered, so never accepted
            if r.status_code == 200:
                world.accepted[(aid, acct.address)] = r.json()["sha256"]
                ok[0] += 1

    threads = [threading.Thread(target=uploader) for _ in range(4)]
    for t in threads:
        t.start()
    wait_for(lambda: ok[0] >= 6, 60, "a few accepted uploads")
    world.o.kill()  # SIGKILL while the others are streaming or being checked
    for t in threads:
        t.join(timeout=60)
    world.o.start()
    assert world.nothing_lost(aid) >= 7
    assert not list((world.o.data_dir / "uploads").glob("*/.upload-*"))
    world.honest(aid, seed=22)
    world.alive()


def test_uncommitted_storage_is_capped_per_address_and_committed_providers_still_upload(
    world: World, tmp_path: Path
) -> None:
    """A stranger with fresh keys fills its share of the storage for providers without a bid (507), and
    a provider that committed on chain is not affected."""
    aid = world.auction()
    codes = []
    for i in range(2 * PENDING_PER_IP // 900_000 + 2):  # bounded: enough ~0.9 MB uploads to pass the cap
        recs = world.records(100 + i, 2900)
        body = world.sealed(encode_records(recs))
        r = world.put(aid, body, world.signed(Account.create(), aid, body, records_root(recs)))
        codes.append(r.status_code)
        if r.status_code == 507:
            _error(r, 507, "for this address", "commit the bid first")
            break
    assert codes[-1] == 507 and set(codes[:-1]) == {200}, codes
    acct = Account.create()
    world.c.chain.fund(acct.address, ETHER)
    provider = Provider(world.c.chain, world.c.contract, acct, SaltVault(tmp_path / "v", "pw"))
    recs = world.records(99, 2900)
    provider.commit(aid, ETHER // 100, records_root(recs))
    body = world.sealed(encode_records(recs))
    r = world.put(aid, body, world.signed(acct, aid, body, records_root(recs)))
    assert r.status_code == 200, r.text
    world.alive()


def test_an_unusable_data_directory_stops_the_service_with_a_reason(tmp_path: Path) -> None:
    import sys

    from mia.testing.cluster import REPO_ROOT

    data = tmp_path / "data"
    data.mkdir()
    _, _, validation = digits_task()
    np.savez(tmp_path / "v.npz", features=validation.features, labels=validation.labels)
    args = ["--rpc-url", "http://127.0.0.1:9", "--contract", "0x" + "11" * 20, "--data-dir", str(data),
            "--validation", str(tmp_path / "v.npz"), "--model-id", "m"]  # fmt: skip
    env = {**os.environ, "MIA_PRIVATE_KEY": Account.create().key.hex(), "PYTHONPATH": str(REPO_ROOT)}
    with _read_only([data]):
        r = subprocess.run([sys.executable, "-m", "mia.cli", "oracle", "serve", *args], capture_output=True, text=True,
                           env=env, cwd=REPO_ROOT, timeout=120)  # fmt: skip
    assert r.returncode == 2, r.stderr[-2000:]
    assert f"the data directory {data} is not usable" in r.stderr and "Traceback" not in r.stderr
