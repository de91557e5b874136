"""The bank API's token bucket in Redis, shared by every worker (``VIDEOIDENT_REDIS_URL``).

Same contract as :class:`videoident.ratelimit.TokenBucketLimiter`: ``burst`` tokens per key, refilled at
``rate_per_s``. One Lua script reads, refills, takes and writes the bucket atomically (Redis runs a script
without interleaving other commands), with the clock of the Redis server (``TIME``), so workers whose clocks
differ still share one consistent bucket. A bucket is a hash ``<prefix>ratelimit:<key>`` with fields
``tokens`` and ``ts_us``; it expires once it would be full again, so Redis holds only active keys.

Redis not answering raises :class:`videoident.redis_client.RedisUnavailable`: the API answers 503 rather than
falling back silently to a per-process limit (N workers would then allow N times the limit).
"""

from __future__ import annotations

import math

import redis

from videoident.ratelimit import DEFAULT_BURST, DEFAULT_RATE_PER_S, Decision
from videoident.redis_client import RedisUnavailable

__all__ = ["RedisTokenBucketLimiter"]

#: Float slack, as in the in-process limiter (refills summed from many small intervals).
_EPSILON = 1e-9
#: A bucket's key lives this long after it would be full again (a margin for clock steps; a missing key
#: and a full bucket behave the same).
_TTL_MARGIN_MS = 1000

#: KEYS[1] bucket; ARGV rate_per_s, burst, cost, ttl_ms, epsilon. Returns {allowed 0|1, wait_s, tokens}
#: as strings (Lua numbers returned to Redis are truncated to integers).
_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local ttl_ms = tonumber(ARGV[4])
local epsilon = tonumber(ARGV[5])
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts_us')
local tokens = tonumber(state[1])
local ts_us = tonumber(state[2])
if tokens == nil or ts_us == nil then
  tokens = burst
  ts_us = now_us
end
local elapsed_s = math.max(0, now_us - ts_us) / 1000000
tokens = math.min(burst, tokens + elapsed_s * rate)
local allowed = 0
local wait_s = 0
if tokens + epsilon >= cost then
  tokens = math.max(0, tokens - cost)
  allowed = 1
else
  wait_s = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts_us', string.format('%.0f', now_us))
redis.call('PEXPIRE', KEYS[1], ttl_ms)
return {allowed, string.format('%.17g', wait_s), string.format('%.17g', tokens)}
"""


class RedisTokenBucketLimiter:
    """Token bucket per key in Redis; implements :class:`videoident.ratelimit.RateLimiter`.

    ``client`` from :func:`videoident.redis_client.connect`; ``prefix`` namespaces the keys (e.g.
    ``videoident:``). Thread-safe (the client is a connection pool)."""

    def __init__(self, client: redis.Redis, prefix: str, rate_per_s: float = DEFAULT_RATE_PER_S,
                 burst: int = DEFAULT_BURST) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._client = client
        self._prefix = f"{prefix}ratelimit:"
        self._script = client.register_script(_BUCKET_LUA)
        #: Time for an empty bucket to fill up, plus the margin.
        self._ttl_ms = math.ceil(burst / rate_per_s * 1000) + _TTL_MARGIN_MS

    def acquire(self, key: str, cost: float = 1.0) -> Decision:
        if cost <= 0 or cost > self.burst:
            raise ValueError(f"cost must be in (0, {self.burst}]")
        try:
            allowed, wait_s, tokens = self._script(
                keys=[self._prefix + key], args=[repr(self.rate_per_s), self.burst, repr(cost), self._ttl_ms,
                                                 repr(_EPSILON)])
        except redis.RedisError as exc:  # refused, timed out, read-only replica, out of memory ...
            raise RedisUnavailable(f"the rate limiter's Redis does not answer: {type(exc).__name__}") from exc
        if int(allowed) == 1:
            return Decision(True, 0.0, int(float(tokens)))
        return Decision(False, max(0.0, float(wait_s)), 0)
