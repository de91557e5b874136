"""Rate limits for the bank API: a token bucket per key behind a small interface.

The in-process :class:`TokenBucketLimiter` serves a single worker; a Redis backend with the same
:class:`RateLimiter` protocol comes with the scale-out work, so the API never depends on the storage.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_RATE_PER_S",
    "Decision",
    "RateLimitSettings",
    "RateLimiter",
    "TokenBucketLimiter",
]

#: Sustained requests per second per API key. A bank's back office creates sessions and polls status;
#: 10/s is ten times the peak of a busy bank's ident volume (~1 session/s) plus polling, and keeps one
#: misbehaving client from starving the two-core reference machine.
DEFAULT_RATE_PER_S = 10.0
#: Requests a key may send at once after being idle (a batch job starting up).
DEFAULT_BURST = 40
#: Buckets idle this long are full again and are forgotten, so memory stays bounded by active keys.
_IDLE_EVICT_S = 600.0
#: Float slack: refills summed from many small intervals fall a hair short of a whole token.
_EPSILON = 1e-9
#: Evict idle buckets at most this often (an O(n) sweep).
_SWEEP_EVERY_S = 60.0


class RateLimitSettings(BaseSettings):
    """``VIDEOIDENT_RATE_LIMIT_PER_S`` and ``VIDEOIDENT_RATE_LIMIT_BURST``: the bank API's limit per tenant."""

    model_config = SettingsConfigDict(env_prefix="VIDEOIDENT_RATE_LIMIT_", extra="ignore")

    per_s: float = Field(default=DEFAULT_RATE_PER_S, gt=0)
    burst: int = Field(default=DEFAULT_BURST, ge=1)

    def limiter(self) -> TokenBucketLimiter:
        return TokenBucketLimiter(self.per_s, self.burst)


@dataclass(frozen=True)
class Decision:
    """Whether one request may proceed; if not, how long until it could (``retry_after_s`` >= 0)."""

    allowed: bool
    retry_after_s: float
    remaining: int

    def __post_init__(self) -> None:
        if self.retry_after_s < 0:
            raise ValueError("retry_after_s must be >= 0")

    @property
    def retry_after_header(self) -> str:
        """Whole seconds for the HTTP ``Retry-After`` header (never 0 for a refusal)."""
        return str(max(1, math.ceil(self.retry_after_s)))


class RateLimiter(Protocol):
    def acquire(self, key: str, cost: float = 1.0) -> Decision: ...


@dataclass
class _Bucket:
    tokens: float
    updated_s: float


class TokenBucketLimiter:
    """Token bucket per key: ``burst`` tokens, refilled at ``rate_per_s``; thread-safe.

    ``clock`` returns monotonic seconds (injected so behaviour is testable without sleeping)."""

    def __init__(
        self,
        rate_per_s: float = DEFAULT_RATE_PER_S,
        burst: int = DEFAULT_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._last_sweep_s = clock()

    def acquire(self, key: str, cost: float = 1.0) -> Decision:
        if cost <= 0 or cost > self.burst:
            raise ValueError(f"cost must be in (0, {self.burst}]")
        now = self._clock()
        with self._lock:
            self._sweep(now)
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            elapsed = max(0.0, now - bucket.updated_s)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate_per_s)
            bucket.updated_s = now
            if bucket.tokens + _EPSILON >= cost:
                bucket.tokens = max(0.0, bucket.tokens - cost)
                return Decision(True, 0.0, int(bucket.tokens))
            wait_s = (cost - bucket.tokens) / self.rate_per_s
            return Decision(False, wait_s, 0)

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep_s < _SWEEP_EVERY_S:
            return
        self._last_sweep_s = now
        idle = [k for k, b in self._buckets.items() if now - b.updated_s > _IDLE_EVICT_S]
        for key in idle:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
