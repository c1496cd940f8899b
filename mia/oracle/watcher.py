"""Follows the chain and drives every auction this oracle serves, one idempotent step per poll.

Per auction: discovered (the oracle is on the committee and its on-chain X25519 key is this one's)
→ after the reveal deadline, valued and signed once (persisted before it is published) → its own
report posted, chunk by chunk → the chunks aggregated over every posted report once the contract's
rule allows (all n posted, or the window closed with a quorum) → finalized when the scores are on
chain, or cancelled when the window closed short of the quorum (any oracle may cancel; the budget and
deposits become withdrawable). Every step re-reads the chain first, so a restart at any point resumes
without posting twice.

Rounds are isolated: a step that raises is retried for that auction alone, after a backoff that
doubles up to a cap, and scoring that keeps failing is given up after a bounded number of attempts
(state `failed`, the reason in the round's note and on /v1/health) while the round is still
followed to its on-chain end. Uploads from providers that never committed (once the commit deadline
passed) or never revealed (once the reveal deadline passed) are deleted.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import httpx
from eth_utils import to_checksum_address

from mia.oracle.relay import posted_slots, relay_delay
from mia.oracle.scoring import task_hash
from mia.oracle.worker import report_from_json, report_to_json, score_round
from mia.protocol.contract_errors import AlreadyPosted, CannotCancel, ChunkFinalized, WrongPhase
from mia.protocol.errors import ContractRevert, MiaError
from mia.protocol.types import Phase
from mia.sdk.dataroom import onchain_committee
from mia.sdk.oracle import Oracle
from mia.sdk.scoring import chunk_count, chunk_reports, chunk_state, finalizable, finalize

if TYPE_CHECKING:
    from mia.oracle.service import OracleService

log = logging.getLogger("mia.oracle.watcher")


class Watcher:
    """The oracle's chain loop; `tick()` is one pass (tests call it directly)."""

    def __init__(self, svc: OracleService) -> None:
        self.svc = svc
        self.http = httpx.Client(timeout=5.0)
        self._committees: dict[int, list[str]] = {}
        self._first_seen: dict[tuple[int, int], float] = {}  # (auction, number of reports) -> time
        self._failures: dict[int, int] = {}  # auction -> consecutive failed steps
        self._retry_at: dict[int, float] = {}  # auction -> monotonic time of the next attempt

    # -- loop ---------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # a flaky node or peer must not kill the service; retry next poll
                log.warning("chain poll failed: %s: %s", type(exc).__name__, exc)
            stop.wait(self.svc.config.poll)

    def tick(self) -> None:
        self.discover()
        now = time.monotonic()
        for aid in self.svc.store.open_rounds():
            if self._retry_at.get(aid, 0.0) > now:
                continue
            try:
                self.step(aid)
            except Exception as exc:  # this auction only: the others still advance
                self.round_failed(aid, exc)
            else:
                self._failures.pop(aid, None)
                self._retry_at.pop(aid, None)

    def round_failed(self, aid: int, exc: Exception) -> None:
        """Backs off this auction's retries; marks its scoring failed after `max_attempts` in a row."""
        cfg = self.svc.config
        n = self._failures.get(aid, 0) + 1
        self._failures[aid] = n
        delay = min(cfg.retry_cap, cfg.retry_base * 2 ** (n - 1))
        self._retry_at[aid] = time.monotonic() + delay
        why = f"{type(exc).__name__}: {exc}"[:300]
        rnd = self.svc.store.round(aid)
        state = rnd.state if rnd is not None else "watching"
        if state == "watching" and n >= cfg.max_attempts:
            self.svc.store.set_state(aid, "failed", note=f"scoring failed {n} times; last: {why}")
            log.error("auction %d: scoring failed %d times, giving up (%s)", aid, n, why)
        else:
            self.svc.store.set_state(aid, state, note=f"attempt {n} failed: {why}")
            log.warning("auction %d: step failed (attempt %d, retry in %.0f s): %s", aid, n, delay, why)

    # -- discovery ----------------------------------------------------------------------------------
    def committee(self, aid: int) -> list[str]:
        if aid not in self._committees:
            self._committees[aid] = [to_checksum_address(a) for a in self.svc.client.oracles(aid)]
        return self._committees[aid]

    def discover(self) -> None:
        svc = self.svc
        count = svc.client.contract.functions.auctionCount().call()
        scanned = int(svc.store.get_meta("scanned", "0") or 0)
        for aid in range(scanned + 1, count + 1):
            if svc.address in self.committee(aid):
                svc.store.watch(aid)
                onchain = {o.address: o.encryption_key for o in onchain_committee(svc.client, aid)}
                if onchain.get(svc.address) != svc.keys.x25519_public:
                    svc.store.set_state(aid, "refused", note="the on-chain X25519 key for this oracle is not ours")
                    log.warning("auction %d: on-chain encryption key differs from this oracle's; not serving", aid)
                else:
                    log.info("auction %d: serving as committee member", aid)
            svc.store.set_meta("scanned", str(aid))

    # -- one auction --------------------------------------------------------------------------------
    def step(self, aid: int) -> None:
        svc = self.svc
        phase = svc.client.phase(aid)
        if phase != Phase.COMMIT:
            self.purge(aid, phase)
        if phase in (Phase.SCORED, Phase.SETTLED):
            svc.store.set_state(aid, "finalized")
            log.info("auction %d: scores are on chain", aid)
        elif phase == Phase.CANCELLED:
            svc.store.set_state(aid, "cancelled")
        elif phase == Phase.EXPIRED:
            if svc.client.contract.functions.cancellable(aid).call():
                self.cancel(aid)
            else:
                self.aggregate(aid)  # the window closed with a quorum in every chunk: aggregate, never cancel
        elif phase == Phase.SCORING:
            rnd = svc.store.round(aid)
            if rnd is not None and rnd.state == "watching":
                self.score(aid)
            rnd = svc.store.round(aid)
            if rnd is not None and rnd.state == "reported":
                self.relay(aid)

    def purge(self, aid: int, phase: Phase) -> None:
        """Deletes uploads of providers without a commitment (after the commit deadline) or reveal (after the
        reveal deadline), once each; what remains counts as committed for the pending-storage quota."""
        svc = self.svc
        stage = "committed" if phase == Phase.REVEAL else "revealed"
        key = f"purged:{aid}:{stage}"
        if svc.store.get_meta(key) is not None:
            return
        uploaders = svc.store.uploaders(aid)
        if uploaders:
            if stage == "committed":
                keep = {to_checksum_address(p) for p in svc.client.contract.functions.providersOf(aid).call()}
                why = "the provider did not commit a bid before the commit deadline"
            else:
                keep = {to_checksum_address(p) for p in svc.client.revealed(aid)[0]}
                why = "the provider did not reveal its bid before the reveal deadline"
            gone = [p for p in uploaders if p not in keep]
            svc.store.purge_uploads(aid, gone, why)
            svc.store.mark_committed(aid)
            if gone:
                log.info("auction %d: deleted %d upload(s): %s", aid, len(gone), why)
        svc.store.set_meta(key, "1")

    def score(self, aid: int) -> None:
        svc = self.svc
        info = svc.client.auction(aid)
        expected = task_hash(svc.config.validation, info.method_id, svc.config.model_id)
        if info.task_hash != expected:
            svc.store.set_state(aid, "refused", note="task hash differs from this oracle's validation set and model")
            log.warning("auction %d: task hash mismatch; this oracle holds a different task", aid)
            return
        providers, roots = svc.client.revealed(aid)
        if not providers:
            svc.store.set_state(aid, "finalized", note="nobody revealed; nothing to score")
            return
        started = time.perf_counter()
        signed = score_round(
            info=info, providers=providers, roots=roots, store=svc.store, keys=svc.keys, account=svc.account,
            validation=svc.config.validation, chain_id=svc.chain.chain_id, contract=svc.client.contract.address,
            k=svc.config.k, device=svc.config.device,
        )  # fmt: skip
        svc.store.save_report(
            aid,
            report_to_json(signed.report),
            "0x" + signed.signature.hex(),
            signed.transcript,
            "0x" + signed.transcript_signature.hex(),
        )
        log.info(
            "auction %d: valued %d providers in %.2f s; report signed and published",
            aid, len(providers), time.perf_counter() - started,
        )  # fmt: skip

    def relay(self, aid: int) -> None:
        """Posts this oracle's own report for every chunk not yet holding it, then aggregates if allowed."""
        svc = self.svc
        rnd = svc.store.round(aid)
        assert rnd is not None and rnd.report is not None
        mine = report_from_json(rnd.report)
        oracle = Oracle(svc.chain, svc.client.contract, svc.account)
        try:
            receipts = oracle.post_own(aid, chunk_reports(mine, svc.client.auction(aid).score_chunk))
        except ContractRevert as exc:
            if not isinstance(exc, WrongPhase | AlreadyPosted):
                log.warning("auction %d: report refused by the contract: %s", aid, exc)
            return
        except MiaError as exc:
            log.warning("auction %d: posting the report failed: %s", aid, exc)
            return
        if receipts:
            log.info("auction %d: posted own signed report (%d chunk(s))", aid, len(receipts))
        self.aggregate(aid)

    def aggregate(self, aid: int) -> None:
        """Aggregates every chunk the rule allows, over every posted report: the posted member with the
        lowest slot at once, the others `stagger` seconds per rank later (if it is still needed)."""
        svc = self.svc
        info = svc.client.auction(aid)
        phase = svc.client.phase(aid)
        states = [chunk_state(svc.client, aid, c) for c in range(chunk_count(info.n_revealed, info.score_chunk))]
        ready = [s for s in states if finalizable(info, s, phase)]
        if not ready:
            return
        committee = self.committee(aid)
        delay = relay_delay(committee.index(svc.address), posted_slots(ready[0].posters, info.n_oracles),
                            stagger=svc.config.stagger)  # fmt: skip
        now = time.time()
        if now - self._first_seen.setdefault((aid, ready[0].count), now) < delay:
            return
        try:
            receipts = finalize(Oracle(svc.chain, svc.client.contract, svc.account), aid)
        except ContractRevert as exc:
            if isinstance(exc, ChunkFinalized | WrongPhase):
                log.info("auction %d: another oracle aggregated first", aid)
            else:
                log.warning("auction %d: aggregation refused by the contract: %s", aid, exc)
            return
        except MiaError as exc:
            log.warning("auction %d: aggregation failed: %s", aid, exc)
            return
        if receipts:
            tx = receipts[-1]["transactionHash"].hex()
            svc.store.set_state(aid, "finalized", relay_tx=tx, note=f"aggregated {len(receipts)} chunk(s)")
            log.info("auction %d: aggregated %d chunk(s) over every posted report (tx %s)", aid, len(receipts), tx)

    def cancel(self, aid: int) -> None:
        svc = self.svc
        try:
            svc.client.sender.transact(svc.client.contract.functions.cancel(aid))
            log.info("auction %d: scoring deadline passed without scores; cancelled", aid)
        except ContractRevert as exc:
            if not isinstance(exc, CannotCancel):
                log.warning("auction %d: cancel failed: %s", aid, exc)
                return
        svc.store.set_state(aid, "cancelled")
