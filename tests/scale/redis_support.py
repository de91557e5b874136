"""Redis for the tests: the server of the development and CI machines, with a key prefix per test.

Each test gets its own prefix (``videoident-test-<hex>:``) and deletes only the keys under it afterwards, so
tests and engineers sharing one Redis never flush each other's data.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import redis

__all__ = ["REDIS_URL", "RedisNamespace", "fresh_redis_namespace"]

#: The Redis server of the development and CI machines.
REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class RedisNamespace:
    url: str
    prefix: str

    def env(self) -> dict[str, str]:
        """The service's settings for this namespace."""
        return {"VIDEOIDENT_REDIS_URL": self.url, "VIDEOIDENT_REDIS_PREFIX": self.prefix}


@contextmanager
def fresh_redis_namespace() -> Iterator[RedisNamespace]:
    """A key prefix of its own on the local Redis; its keys are deleted afterwards.

    Redis absent: fails on CI (``CI`` set), skips with the reason in a user's clone."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        reason = f"needs Redis on 127.0.0.1:6379: {exc}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    prefix = f"videoident-test-{secrets.token_hex(4)}:"
    try:
        yield RedisNamespace(REDIS_URL, prefix)
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
        client.close()
