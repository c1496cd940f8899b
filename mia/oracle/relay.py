"""How a committee's reports reach the chain: each oracle posts its OWN signed report, and the chunks
are aggregated over every report posted, exactly once.

Since the contract aggregates a chunk over every report posted for it (never over a subset a relayer
picks), no oracle needs its peers' reports: each posts its own, chunk by chunk, and a restarted oracle
finds what it already posted on chain (`has_posted`) and sends nothing twice. Once the contract's rule
allows aggregation (all n members posted, or the scoring window closed with at least k reports), the
posted member with the lowest committee slot aggregates at once and every other one waits `stagger`
seconds per rank before it tries; a member that finds the chunk already aggregated records the round
as finalized instead of failing.
"""

from __future__ import annotations


def relay_delay(my_slot: int, live_slots: list[int], *, stagger: float) -> float:
    """Seconds this oracle waits (after aggregation became possible) before trying: its rank among the
    members that posted (a member that did not post is not expected to aggregate)."""
    return sorted(live_slots).index(my_slot) * stagger if my_slot in live_slots else 0.0


def posted_slots(posters: int, n: int) -> list[int]:
    """Committee slots set in a chunk's `posters` bitmap."""
    return [k for k in range(n) if posters >> k & 1]
