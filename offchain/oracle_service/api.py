"""The oracle's HTTP API (Starlette, served by uvicorn).

GET  /v1/keys                               address, X25519 and Ed25519 public keys
GET  /v1/health                             liveness and the auctions being served
PUT  /v1/auctions/{id}/uploads              a provider's SealedBox-encrypted dataset (signed headers)
GET  /v1/auctions/{id}/uploads/{provider}   whether this oracle holds a usable upload, or why not
GET  /v1/auctions/{id}/report               this oracle's signed EIP-712 report (after the reveal deadline)
GET  /v1/auctions/{id}/transcript           its Ed25519-signed transcript

Errors are JSON `{"error": "..."}` with precise messages; the body size cap is enforced while
streaming (413) so an oversized upload never sits in memory.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from eth_utils import is_address, to_checksum_address
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from offchain.oracle_service.dataroom import UploadInvalid, check_upload
from pysdk.auction import Phase
from pysdk.dataroom import (
    API_PREFIX,
    HEADER_PROVIDER,
    HEADER_ROOT,
    HEADER_SHA256,
    HEADER_SIGNATURE,
    upload_message,
    upload_signer,
)
from pysdk.errors import ContractRevert

if TYPE_CHECKING:
    from offchain.oracle_service.service import OracleService

log = logging.getLogger("mia.oracle.api")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _hex(value: str | None, size: int) -> bytes | None:
    if not value:
        return None
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        return None
    return raw if len(raw) == size else None


def build_app(svc: OracleService) -> Starlette:
    """The ASGI app over one running oracle service."""
    committees: dict[int, list[str]] = {}

    def committee(aid: int) -> list[str] | None:
        if aid not in committees:
            try:
                committees[aid] = [to_checksum_address(a) for a in svc.reader.oracles(aid)]
                svc.reader.phase(aid)  # raises AuctionNotFound for unknown ids
            except ContractRevert:
                committees.pop(aid, None)
                return None
        return committees[aid]

    async def keys(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "address": svc.address,
                "x25519": svc.keys.x25519_public.hex(),
                "ed25519": svc.keys.ed25519_public.hex(),
                "chain_id": svc.chain.chain_id,
                "contract": svc.client.contract.address,
                "max_upload": svc.config.max_upload,
            }
        )

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "open_rounds": svc.store.open_rounds()})

    async def upload(request: Request) -> JSONResponse:
        aid = int(request.path_params["auction_id"])
        h = request.headers
        provider_raw = h.get(HEADER_PROVIDER, "")
        digest = h.get(HEADER_SHA256, "").lower()
        root = _hex(h.get(HEADER_ROOT), 32)
        signature = _hex(h.get(HEADER_SIGNATURE), 65)
        if not is_address(provider_raw) or _hex(digest, 32) is None or root is None or signature is None:
            return _error(
                400,
                f"missing or malformed headers: {HEADER_PROVIDER} (address), {HEADER_SHA256} (32-byte hex), "
                f"{HEADER_ROOT} (32-byte hex) and {HEADER_SIGNATURE} (65-byte hex) are required",
            )
        provider = to_checksum_address(provider_raw)
        members = await run_in_threadpool(committee, aid)
        if members is None:
            return _error(404, f"auction {aid} does not exist on contract {svc.client.contract.address}")
        if svc.address not in members:
            return _error(404, f"oracle {svc.address} is not on the committee of auction {aid}")
        phase = await run_in_threadpool(svc.reader.phase, aid)
        if phase not in (Phase.COMMIT, Phase.REVEAL):
            return _error(409, f"uploads for auction {aid} are closed (phase {phase.name})")
        message = upload_message(
            svc.chain.chain_id, svc.client.contract.address, aid, svc.address, provider, digest, root
        )
        try:
            signer = upload_signer(message, signature)
        except ValueError:
            signer = None
        if signer != provider:
            return _error(401, f"the upload signature is not {provider}'s over this auction, oracle and sha256")
        limit = svc.config.max_upload
        declared = h.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            reason = f"oversized: {declared} bytes exceed the limit of {limit} bytes"
            await run_in_threadpool(svc.store.reject_upload, aid, provider, reason, sha256=digest)
            return _error(413, f"upload of {declared} bytes exceeds this oracle's limit of {limit} bytes")

        received, size = bytearray(), 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                await run_in_threadpool(
                    svc.store.reject_upload,
                    aid,
                    provider,
                    f"oversized: more than the limit of {limit} bytes",
                    sha256=digest,
                )
                return _error(413, f"upload exceeds this oracle's limit of {limit} bytes")
            received += chunk
        body = bytes(received)
        if hashlib.sha256(body).hexdigest() != digest:
            return _error(400, "the body's sha256 differs from the signed x-mia-sha256 header (corrupted in transit?)")
        dim = int(svc.config.validation.features.shape[1])
        try:
            ds = await run_in_threadpool(check_upload, svc.keys.box, body, root, expected_dim=dim)
        except UploadInvalid as exc:
            await run_in_threadpool(svc.store.reject_upload, aid, provider, str(exc), sha256=digest)
            log.info("auction %d: upload from %s rejected: %s", aid, provider, exc)
            return _error(422, str(exc))
        await run_in_threadpool(svc.store.accept_upload, aid, provider, body, digest, "0x" + root.hex())
        log.info("auction %d: accepted %d-byte upload (%d records) from %s", aid, size, ds.n_records, provider)
        return JSONResponse({"sha256": digest, "size": size, "records": ds.n_records, "root": "0x" + root.hex()})

    async def upload_status(request: Request) -> JSONResponse:
        aid = int(request.path_params["auction_id"])
        provider = request.path_params["provider"]
        if not is_address(provider):
            return _error(400, f"not an address: {provider}")
        up = await run_in_threadpool(svc.store.upload, aid, provider)
        if up is None:
            return _error(404, f"no upload from {to_checksum_address(provider)} for auction {aid}")
        return JSONResponse({"status": up.status, "sha256": up.sha256, "root": up.root, "reason": up.reason})

    async def report(request: Request) -> JSONResponse:
        aid = int(request.path_params["auction_id"])
        rnd = await run_in_threadpool(svc.store.round, aid)
        if rnd is None or rnd.report is None:
            return _error(404, f"no report for auction {aid} yet")
        return JSONResponse({"signer": svc.address, "report": rnd.report, "signature": rnd.signature})

    async def transcript(request: Request) -> JSONResponse:
        aid = int(request.path_params["auction_id"])
        rnd = await run_in_threadpool(svc.store.round, aid)
        if rnd is None or rnd.transcript is None:
            return _error(404, f"no transcript for auction {aid} yet")
        return JSONResponse(
            {
                "transcript": rnd.transcript,
                "transcript_hash": rnd.transcript["transcript_hash"],
                "signature": rnd.transcript_signature,
                "ed25519": svc.keys.ed25519_public.hex(),
            }
        )

    p = API_PREFIX
    return Starlette(
        routes=[
            Route(f"{p}/keys", keys),
            Route(f"{p}/health", health),
            Route(f"{p}/auctions/{{auction_id:int}}/uploads", upload, methods=["PUT"]),
            Route(f"{p}/auctions/{{auction_id:int}}/uploads/{{provider}}", upload_status),
            Route(f"{p}/auctions/{{auction_id:int}}/report", report),
            Route(f"{p}/auctions/{{auction_id:int}}/transcript", transcript),
        ]
    )
