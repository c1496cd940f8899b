"""Resource bounds of the oracle's HTTP data room: token buckets and the in-flight upload budget.

Everything here is in-process and O(1) per request; state is bounded (buckets are dropped when full
again, and the table is capped), so a flood of fresh addresses or IPs cannot grow memory either.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class TokenBuckets:
    """One token bucket per key (`rate` tokens/s, at most `burst`); `take` is False when it is empty."""

    rate: float
    burst: float
    max_keys: int = 100_000
    _buckets: dict[object, tuple[float, float]] = field(default_factory=dict)

    def _level(self, key: object, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def take(self, key: object, cost: float = 1.0) -> bool:
        """Spends `cost` tokens if there are that many."""
        now = time.monotonic()
        tokens = self._level(key, now)
        if tokens < cost:
            self._buckets[key] = (tokens, now)
            return False
        self._store(key, tokens - cost, now)
        return True

    def allowed(self, key: object) -> bool:
        """Whether at least one token is left (without spending it)."""
        return self._level(key, time.monotonic()) >= 1.0

    def retry_after(self, key: object) -> float:
        """Seconds until one token is back."""
        return max(0.0, (1.0 - self._level(key, time.monotonic())) / self.rate)

    def _store(self, key: object, tokens: float, now: float) -> None:
        if tokens >= self.burst:
            self._buckets.pop(key, None)  # a full bucket is the default: forget it
            return
        if key not in self._buckets and len(self._buckets) >= self.max_keys:
            self._prune(now)
        self._buckets[key] = (tokens, now)

    def _prune(self, now: float) -> None:
        full = [k for k in self._buckets if self._level(k, now) >= self.burst]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self.max_keys:  # still full of drained buckets: drop the oldest half
            for k in sorted(self._buckets, key=lambda k: self._buckets[k][1])[: self.max_keys // 2]:
                del self._buckets[k]


@dataclass
class UploadBudget:
    """Caps uploads in flight and the bytes they may hold; reservations are released exactly once."""

    max_uploads: int
    max_bytes: int
    uploads: int = 0
    bytes: int = 0

    def reserve(self, size: int) -> bool:
        if self.uploads >= self.max_uploads or self.bytes + size > self.max_bytes:
            return False
        self.uploads += 1
        self.bytes += size
        return True

    def release(self, size: int) -> None:
        self.uploads -= 1
        self.bytes -= size


class ByteSlots:
    """At most `capacity` bytes of uploads being checked at once (one upload of any size always fits).

    Decrypting and validating holds a few times an upload's size in memory; this bounds the sum, so
    concurrent checks of large uploads queue instead of multiplying the peak.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._cond: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:  # created on first use, inside the server's event loop
            self._cond = asyncio.Condition()
        return self._cond

    async def acquire(self, size: int) -> int:
        """Waits until `size` bytes fit; returns the amount to `release`."""
        take = min(size, self.capacity)
        cond = self._condition()
        async with cond:
            await cond.wait_for(lambda: self.used + take <= self.capacity)
            self.used += take
        return take

    async def release(self, taken: int) -> None:
        cond = self._condition()
        async with cond:
            self.used -= taken
            cond.notify_all()
