"""The oracle's HTTP API (Starlette, served by uvicorn).

GET  /v1/keys                               address, X25519 and Ed25519 public keys, upload limits
GET  /v1/health                             liveness, the auctions being served and rounds that failed
PUT  /v1/auctions/{id}/uploads              a provider's SealedBox-encrypted dataset (signed headers)
GET  /v1/auctions/{id}/uploads/{provider}   whether this oracle holds a usable upload, or why not
                                            (before the reveal deadline: only to the provider, signed)
GET  /v1/auctions/{id}/report               this oracle's signed EIP-712 report (after the reveal deadline)
GET  /v1/auctions/{id}/transcript           its Ed25519-signed transcript

Every refusal is JSON `{"error": "..."}` with a 4xx status (503 when this oracle is overloaded, its
chain node is down or its data directory is not writable); no traceback ever reaches a client.
An upload is checked in increasing order of cost: per-IP rate limit, headers, per-(IP, provider)
failure limit, signature (no chain call before it), auction and committee, phase and commitment,
then the body streams to a temp file in the data directory (hashed on the way, read and total
timeouts, byte and concurrency budgets), is decrypted and validated in a bounded worker pool, and
is renamed into place only if everything passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import is_address, to_checksum_address
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mia.oracle.dataroom import UploadInvalid, check_upload, label_set_of
from mia.oracle.limits import ByteSlots, TokenBuckets, UploadBudget
from mia.oracle.reads import ChainReads, ReadFailed, ReadReverted
from mia.protocol.types import Bid, Phase
from mia.sdk.dataroom import (
    API_PREFIX,
    HEADER_PROVIDER,
    HEADER_ROOT,
    HEADER_SHA256,
    HEADER_SIGNATURE,
    status_message,
    upload_message,
    upload_signer,
)

if TYPE_CHECKING:
    from mia.oracle.service import OracleService

log = logging.getLogger("mia.oracle.api")
MAX_AUCTION_ID = 2**63 - 1  # SQLite integers; the contract numbers auctions from 1 upwards
COUNT_REFRESH = 1.0  # seconds between re-reads of auctionCount for ids beyond the known count
CHUNK_FLOOR = 64 * 1024  # a body must arrive at least this fast (bytes/s) after the read timeout


class Refusal(Exception):
    """A request refused with `status` and a one-line reason (turned into the JSON error body)."""

    def __init__(self, status: int, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.retry_after = status, reason, retry_after


def _error(status: int, message: str, *, retry_after: float | None = None) -> JSONResponse:
    headers = {"retry-after": str(max(1, round(retry_after)))} if retry_after is not None else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _hex(value: str | None, size: int) -> bytes | None:
    if not value or len(value) > 2 * size + 2:
        return None
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        return None
    return raw if len(raw) == size else None


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _trim_heap() -> None:
    """Hands freed heap pages back to the OS after a large upload (glibc keeps them otherwise)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def build_app(svc: OracleService) -> Starlette:
    """The ASGI app over one running oracle service."""
    cfg = svc.config
    committees: dict[int, list[str]] = {}
    known = {"count": 0, "at": 0.0}
    per_ip = TokenBuckets(rate=cfg.ip_rate, burst=cfg.ip_rate * 2)
    failures = TokenBuckets(rate=cfg.fail_rate, burst=cfg.fail_burst)
    budget = UploadBudget(max_uploads=cfg.max_concurrent_uploads, max_bytes=cfg.max_buffered)
    checkers = ThreadPoolExecutor(max_workers=cfg.check_workers, thread_name_prefix="upload-check")
    check_bytes = ByteSlots(cfg.max_upload)  # bytes of uploads being checked at once
    dim = int(cfg.validation.features.shape[1])
    label_set = label_set_of(cfg.validation)

    # -- chain reads (each only after the request is authenticated or cheap to refuse) -------------
    reads = ChainReads(cfg.rpc_url, svc.reader.contract)
    not_found = f"does not exist on contract {svc.client.contract.address}"

    def _read(*calls: tuple[str, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        try:
            return reads.call(*calls)
        except ReadFailed as exc:  # the node is down or answered garbage: not the client's fault
            log.warning("chain read failed: %s", exc)
            raise Refusal(503, "this oracle's chain node is unavailable; retry later", retry_after=5) from None

    def auction_exists(aid: int) -> bool:
        if aid <= known["count"]:
            return True
        now = time.monotonic()
        if now - known["at"] >= COUNT_REFRESH:
            known["count"] = int(_read(("auctionCount", ()))[0][0])
            known["at"] = now
        return aid <= known["count"]

    def serving(aid: int) -> None:
        """Refuses (404) ids the contract never issued and auctions this oracle does not serve."""
        if aid not in committees:
            if not 1 <= aid <= MAX_AUCTION_ID or not auction_exists(aid):
                raise Refusal(404, f"auction {aid} {not_found}")
            try:
                committees[aid] = [to_checksum_address(a) for a in _read(("oraclesOf", (aid,)))[0][0]]
            except ReadReverted:
                raise Refusal(404, f"auction {aid} {not_found}") from None
        if svc.address not in committees[aid]:
            raise Refusal(404, f"oracle {svc.address} is not on the committee of auction {aid}")

    def phase_and_bid(aid: int, provider: str) -> tuple[Phase, bool, bool]:
        """The auction's phase and whether `provider` committed and revealed, in one round trip."""
        try:
            (ph,), (bid,) = _read(("phase", (aid,)), ("getBid", (aid, provider)))
        except ReadReverted:
            raise Refusal(404, f"auction {aid} {not_found}") from None
        b = Bid.decode(bid)
        return Phase(int(ph)), b.committed, b.revealed

    def auction_id(request: Request) -> int:
        """The path's auction id; parsed here (not by the router) so any string is a 404, never a 500."""
        raw = str(request.path_params["auction_id"])
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not 1 <= int(raw) <= MAX_AUCTION_ID:
            raise Refusal(404, f"auction {raw[:32]} {not_found}")
        return int(raw)

    def limit_ip(request: Request) -> None:
        ip = _client(request)
        if not per_ip.take(ip):
            raise Refusal(429, "too many requests from this address; slow down", retry_after=per_ip.retry_after(ip))

    def limit_failures(key: tuple[str, str]) -> None:
        if not failures.allowed(key):
            raise Refusal(
                429,
                "too many failed requests for this provider from this address; slow down",
                retry_after=failures.retry_after(key),
            )

    # -- endpoints ----------------------------------------------------------------------------------
    async def keys(request: Request) -> JSONResponse:
        limit_ip(request)
        return JSONResponse(
            {
                "address": svc.address,
                "x25519": svc.keys.x25519_public.hex(),
                "ed25519": svc.keys.ed25519_public.hex(),
                "chain_id": svc.chain.chain_id,
                "contract": svc.client.contract.address,
                "max_upload": cfg.max_upload,
            }
        )

    async def health(request: Request) -> JSONResponse:
        limit_ip(request)
        failed = await run_in_threadpool(svc.store.failed_rounds)
        return JSONResponse({"ok": True, "open_rounds": svc.store.open_rounds(), "failed_rounds": failed})

    async def upload(request: Request) -> JSONResponse:
        limit_ip(request)
        aid = auction_id(request)
        h = request.headers
        provider_raw = h.get(HEADER_PROVIDER, "")
        digest = h.get(HEADER_SHA256, "").lower()
        root = _hex(h.get(HEADER_ROOT), 32)
        signature = _hex(h.get(HEADER_SIGNATURE), 65)
        if not is_address(provider_raw) or _hex(digest, 32) is None or root is None or signature is None:
            raise Refusal(
                400,
                f"missing or malformed headers: {HEADER_PROVIDER} (address), {HEADER_SHA256} (32-byte hex), "
                f"{HEADER_ROOT} (32-byte hex) and {HEADER_SIGNATURE} (65-byte hex) are required",
            )
        provider = to_checksum_address(provider_raw)
        fkey = (_client(request), provider)
        limit_failures(fkey)
        try:
            return await _upload(request, aid, provider, digest, root, signature)
        except Refusal as r:
            if r.status in (400, 401, 403, 404, 409, 413, 422):
                failures.take(fkey)
            raise

    async def _upload(
        request: Request, aid: int, provider: str, digest: str, root: bytes, signature: bytes
    ) -> JSONResponse:
        message = upload_message(svc.chain.chain_id, svc.client.contract.address, aid, svc.address, provider,
                                 digest, root)  # fmt: skip
        try:
            signer = upload_signer(message, signature)  # C secp256k1, ~0.1 ms: before any chain call
        except ValueError:
            signer = None
        if signer != provider:
            raise Refusal(401, f"the upload signature is not {provider}'s over this auction, oracle and sha256")
        await run_in_threadpool(serving, aid)
        ph, committed, _ = await run_in_threadpool(phase_and_bid, aid, provider)
        if ph not in (Phase.COMMIT, Phase.REVEAL):
            raise Refusal(409, f"uploads for auction {aid} are closed (phase {ph.name})")
        if ph == Phase.REVEAL and not committed:
            raise Refusal(403, f"{provider} did not commit a bid in auction {aid}; uploads now need a commitment")

        limit = cfg.max_upload
        declared_raw = request.headers.get("content-length")
        declared = int(declared_raw) if declared_raw is not None and declared_raw.isdigit() else None
        if declared is not None and declared > limit:
            why = f"oversized: {declared} bytes exceed the limit of {limit} bytes"
            await run_in_threadpool(svc.store.reject_upload, aid, provider, why, sha256=digest)
            raise Refusal(413, f"upload of {declared} bytes exceeds this oracle's limit of {limit} bytes")
        size_cap = declared if declared is not None else limit
        if not committed:
            total = await run_in_threadpool(svc.store.pending_bytes)
            mine = await run_in_threadpool(svc.store.pending_bytes, _client(request))
            if total + size_cap > cfg.max_pending or mine + size_cap > cfg.max_pending_per_ip:
                raise Refusal(
                    507,
                    "this oracle's storage for uploads from providers without a bid is full"
                    + (" for this address" if total + size_cap <= cfg.max_pending else "")
                    + "; commit the bid first, then upload",
                )
        if not budget.reserve(size_cap):
            raise Refusal(503, "this oracle is receiving too many uploads; retry shortly", retry_after=2)
        try:
            return await _receive(request, aid, provider, digest, root, declared, size_cap, committed)
        finally:
            budget.release(size_cap)

    async def _receive(
        request: Request,
        aid: int,
        provider: str,
        digest: str,
        root: bytes,
        declared: int | None,
        size_cap: int,
        committed: bool,
    ) -> JSONResponse:
        limit = cfg.max_upload
        fd, tmp = await run_in_threadpool(svc.store.upload_tempfile, aid)
        kept = False
        try:
            size, sha = await _stream_to(request, fd, size_cap, declared, limit, aid, provider, digest)
            if sha != digest:
                raise Refusal(
                    400, "the body's sha256 differs from the signed x-mia-sha256 header (corrupted in transit?)"
                )
            loop = asyncio.get_running_loop()
            taken = await check_bytes.acquire(size)
            try:
                n_records = await loop.run_in_executor(checkers, _check_file, tmp, root)
            except UploadInvalid as exc:
                await run_in_threadpool(svc.store.reject_upload, aid, provider, str(exc), sha256=digest)
                log.info("auction %d: upload from %s rejected: %s", aid, provider, exc)
                raise Refusal(422, str(exc)) from None
            finally:
                await check_bytes.release(taken)
            await run_in_threadpool(svc.store.accept_upload_file, aid, provider, tmp, digest, "0x" + root.hex(), size,
                                    committed=committed, client=_client(request))  # fmt: skip
            kept = True
        finally:
            if not kept:
                tmp.unlink(missing_ok=True)
        log.info("auction %d: accepted %d-byte upload (%d records) from %s", aid, size, n_records, provider)
        return JSONResponse({"sha256": digest, "size": size, "records": n_records, "root": "0x" + root.hex()})

    def _check_file(path: Path, root: bytes) -> int:
        """Decrypts and validates a received upload (in the bounded worker pool); its record count."""
        ciphertext = path.read_bytes()
        big = len(ciphertext) > 8 * 1024 * 1024
        try:
            return check_upload(svc.keys.box, ciphertext, root, expected_dim=dim, label_set=label_set).n_records
        finally:
            del ciphertext
            if big:
                _trim_heap()

    async def _stream_to(
        request: Request,
        fd: int,
        size_cap: int,
        declared: int | None,
        limit: int,
        aid: int,
        provider: str,
        digest: str,
    ) -> tuple[int, str]:
        """Writes the body to `fd` while hashing it; enforces size, idle and total timeouts."""
        sha = hashlib.sha256()
        size = 0
        deadline = time.monotonic() + cfg.read_timeout + size_cap / CHUNK_FLOOR
        stream = request.stream().__aiter__()
        with os.fdopen(fd, "wb") as f:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Refusal(408, "upload body arrived too slowly; the connection was closed")
                try:
                    chunk = await asyncio.wait_for(stream.__anext__(), timeout=min(cfg.read_timeout, remaining))
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise Refusal(
                        408, f"no upload data for {cfg.read_timeout:g} s; the connection was closed"
                    ) from None
                except ClientDisconnect:
                    raise Refusal(400, "the client disconnected before the upload was complete") from None
                size += len(chunk)
                if size > limit:
                    why = f"oversized: more than the limit of {limit} bytes"
                    await run_in_threadpool(svc.store.reject_upload, aid, provider, why, sha256=digest)
                    raise Refusal(413, f"upload exceeds this oracle's limit of {limit} bytes")
                if declared is not None and size > declared:
                    raise Refusal(400, "the body is longer than its content-length")
                sha.update(chunk)
                f.write(chunk)
        return size, sha.hexdigest()

    async def upload_status(request: Request) -> JSONResponse:
        limit_ip(request)
        aid = auction_id(request)
        provider_raw = request.path_params["provider"]
        if not is_address(provider_raw):
            raise Refusal(400, f"not an address: {provider_raw[:64]}")
        provider = to_checksum_address(provider_raw)
        fkey = (_client(request), provider)
        limit_failures(fkey)
        try:
            return await _status(request, aid, provider)
        except Refusal:
            failures.take(fkey)
            raise

    async def _status(request: Request, aid: int, provider: str) -> JSONResponse:
        signature = _hex(request.headers.get(HEADER_SIGNATURE), 65)
        authenticated = False
        if signature is not None:
            msg = status_message(svc.chain.chain_id, svc.client.contract.address, aid, svc.address, provider)
            try:
                authenticated = upload_signer(msg, signature) == provider
            except ValueError:
                authenticated = False
            if not authenticated:
                raise Refusal(401, f"the status signature is not {provider}'s over this auction and oracle")
        await run_in_threadpool(serving, aid)
        if not authenticated:
            ph, _, revealed = await run_in_threadpool(phase_and_bid, aid, provider)
            if ph in (Phase.COMMIT, Phase.REVEAL) or not revealed:
                # the same answer whether or not an upload exists: who takes part stays private
                raise Refusal(
                    401,
                    f"before the reveal deadline (and for providers who did not reveal) upload status is told only "
                    f"to the provider: sign the status message and send it in {HEADER_SIGNATURE}",
                )
        up = await run_in_threadpool(svc.store.upload, aid, provider)
        if up is None:
            raise Refusal(404, f"no upload from {provider} for auction {aid}")
        return JSONResponse({"status": up.status, "sha256": up.sha256, "root": up.root, "reason": up.reason})

    async def report(request: Request) -> JSONResponse:
        limit_ip(request)
        aid = auction_id(request)
        rnd = await run_in_threadpool(svc.store.round, aid)
        if rnd is None or rnd.report is None:
            raise Refusal(404, f"no report for auction {aid} yet")
        return JSONResponse({"signer": svc.address, "report": rnd.report, "signature": rnd.signature})

    async def transcript(request: Request) -> JSONResponse:
        limit_ip(request)
        aid = auction_id(request)
        rnd = await run_in_threadpool(svc.store.round, aid)
        if rnd is None or rnd.transcript is None:
            raise Refusal(404, f"no transcript for auction {aid} yet")
        return JSONResponse(
            {
                "transcript": rnd.transcript,
                "transcript_hash": rnd.transcript["transcript_hash"],
                "signature": rnd.transcript_signature,
                "ed25519": svc.keys.ed25519_public.hex(),
            }
        )

    # -- errors -------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            reads.close()
            checkers.shutdown(wait=False, cancel_futures=True)

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Refusal)
        return _error(exc.status, exc.reason, retry_after=exc.retry_after)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        reason = {404: "no such endpoint", 405: "method not allowed on this endpoint"}.get(exc.status_code, exc.detail)
        return _error(exc.status_code, str(reason))

    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, OSError | sqlite3.OperationalError):
            log.error("data directory %s is not usable: %s: %s", cfg.data_dir, type(exc).__name__, exc)
            return _error(503, f"this oracle cannot write its data directory ({type(exc).__name__}: "
                               f"{getattr(exc, 'strerror', None) or exc}); its operator must fix it")  # fmt: skip
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _error(500, "internal error in the oracle (logged on its side)")

    p = API_PREFIX
    return Starlette(
        routes=[
            Route(f"{p}/keys", keys),
            Route(f"{p}/health", health),
            Route(f"{p}/auctions/{{auction_id}}/uploads", upload, methods=["PUT"]),
            Route(f"{p}/auctions/{{auction_id}}/uploads/{{provider}}", upload_status),
            Route(f"{p}/auctions/{{auction_id}}/report", report),
            Route(f"{p}/auctions/{{auction_id}}/transcript", transcript),
        ],
        exception_handlers={Refusal: refused, HTTPException: http_error, Exception: crashed},
        lifespan=lifespan,
    )
