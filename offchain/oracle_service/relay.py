"""How k independent oracles get their signed reports into one `submitScores` call, exactly once.

Every oracle publishes its own signed report over HTTP. Each oracle fetches its peers' reports and
keeps those that verify: a committee member's EIP-712 signature over this chain and contract, the
same auction, round and method, and the same revealed providers and dataset roots as its own. When
all n reports are in (or at least k are in and a grace period has passed), the live oracle with the
lowest committee slot relays at once and every other one waits `stagger` seconds per rank before it
tries; before sending, each re-reads the auction's phase, and a relay that finds the scores already
accepted (or loses a race and hits `WrongPhase`) records the round as finalized instead of failing.
Submitting every verified report, not just k, keeps a single corrupted oracle at most a minority.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from eth_utils import to_checksum_address

from offchain.oracle_service.worker import signed_report_from_json
from pysdk.dataroom import API_PREFIX
from pysdk.reports import ScoreReport, recover_signer
from pysdk.safejson import loads_bounded

PEER_REPLY_MAX = 16 * 1024 * 1024  # a report of 1,000 providers is ~200 kB; parse nothing bigger

log = logging.getLogger("mia.oracle.relay")


@dataclass(frozen=True)
class SignedReport:
    signer: str
    report: ScoreReport
    signature: bytes


def compatible(mine: ScoreReport, other: ScoreReport) -> bool:
    """Reports the contract would accept together with ours (same round, providers and roots)."""
    return (
        other.auction_id == mine.auction_id
        and other.round == mine.round
        and other.method_id == mine.method_id
        and [p.lower() for p in other.providers] == [p.lower() for p in mine.providers]
        and list(other.dataset_roots) == list(mine.dataset_roots)
    )


def fetch_peer_reports(
    http: httpx.Client,
    peers: Mapping[str, str],
    mine: ScoreReport,
    committee: list[str],
    chain_id: int,
    contract: str,
) -> list[SignedReport]:
    """Verified reports of the reachable peers (unreachable, unready or invalid ones are skipped)."""
    members = {to_checksum_address(a) for a in committee}
    out = []
    for addr, url in peers.items():
        addr = to_checksum_address(addr)
        if addr not in members:
            continue
        try:
            r = http.get(f"{url}{API_PREFIX}/auctions/{mine.auction_id}/report")
        except httpx.HTTPError:
            continue
        if r.status_code != 200:
            continue
        try:
            report, signature = signed_report_from_json(loads_bounded(r.content, max_bytes=PEER_REPLY_MAX))
            signer = recover_signer(report, signature, chain_id, contract)
        except ValueError as exc:  # invalid JSON, ReportFormatError, or a signature that does not recover
            log.warning("auction %d: peer %s served an unusable report (%s)", mine.auction_id, addr, exc)
            continue
        if signer != addr or not compatible(mine, report):
            log.warning("auction %d: peer %s report rejected (signer or provider list differs)", mine.auction_id, addr)
            continue
        out.append(SignedReport(signer, report, signature))
    return out


def relay_delay(my_slot: int, live_slots: list[int], *, stagger: float) -> float:
    """Seconds this oracle waits (after the reports are ready) before relaying: its rank among live peers."""
    return sorted(live_slots).index(my_slot) * stagger if my_slot in live_slots else 0.0


def ready_to_relay(
    n_reports: int, n_oracles: int, threshold: int, waited: float, *, grace: float, delay: float, seen_for: float
) -> bool:
    """All reports in and our turn, or a quorum in and the grace period over and our turn.

    `waited` counts from our own report; `seen_for` from when we first saw this many reports, so the
    relay order holds even when a peer (e.g. one restarted mid-round) reports later than we did.
    """
    if n_reports < threshold:
        return False
    if n_reports == n_oracles:
        return seen_for >= delay
    return waited >= grace and seen_for >= delay
