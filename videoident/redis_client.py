"""One way to open Redis for the scaled mode (``VIDEOIDENT_REDIS_URL``): a sync and an asyncio client.

Every key the service writes starts with :func:`key_prefix` (``VIDEOIDENT_REDIS_PREFIX``, default
``videoident:``), so one Redis can serve several installations or test runs, and a test flushes only its own
keys. The clients time out quickly: a Redis that does not answer is reported as :class:`RedisUnavailable`
by the callers (503 at the API), never waited on for the length of a request.
"""

from __future__ import annotations

import redis
import redis.asyncio as aioredis

from videoident.settings import Settings

__all__ = ["CONNECT_TIMEOUT_S", "SOCKET_TIMEOUT_S", "RedisUnavailable", "connect", "connect_async", "key_prefix"]

#: Opening a TCP connection to Redis on the same LAN takes well under a millisecond; 2 s means "down".
CONNECT_TIMEOUT_S = 2.0
#: One Redis command (a Lua script of a few operations) answers in < 1 ms; 2 s means "hung".
SOCKET_TIMEOUT_S = 2.0


class RedisUnavailable(RuntimeError):
    """Redis is configured but does not answer (connection refused, timeout)."""


def key_prefix(settings: Settings) -> str:
    """The prefix of every key this installation writes, e.g. ``videoident:``."""
    return settings.redis_prefix


def _url(settings: Settings) -> str:
    if not settings.redis_url:
        raise ValueError("VIDEOIDENT_REDIS_URL is not set")
    return settings.redis_url


def connect(settings: Settings) -> redis.Redis:
    """A synchronous client (a connection pool, thread-safe) for ``settings.redis_url``; decodes to ``str``."""
    return redis.Redis.from_url(_url(settings), socket_connect_timeout=CONNECT_TIMEOUT_S,
                                socket_timeout=SOCKET_TIMEOUT_S, decode_responses=True,
                                health_check_interval=30)


def connect_async(settings: Settings) -> aioredis.Redis:
    """An asyncio client for ``settings.redis_url`` (one per event loop); decodes to ``str``.

    For pub/sub subscriptions, which block on reads, use ``client.pubsub()`` and read with
    ``get_message(timeout=...)``: the socket timeout applies to commands, not to waiting for a message."""
    return aioredis.Redis.from_url(_url(settings), socket_connect_timeout=CONNECT_TIMEOUT_S,
                                   socket_timeout=SOCKET_TIMEOUT_S, decode_responses=True,
                                   health_check_interval=30)
