"""The token bucket in Redis: one bucket shared by every worker, atomic under concurrency, and a 503 (not a
silent per-process fallback) when Redis does not answer. Real Redis on 127.0.0.1:6379."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.scale.redis_support import RedisNamespace, fresh_redis_namespace
from videoident.ratelimit_redis import RedisTokenBucketLimiter
from videoident.redis_client import RedisUnavailable, connect
from videoident.settings import Settings

pytestmark = pytest.mark.redis


@pytest.fixture
def namespace() -> Iterator[RedisNamespace]:
    with fresh_redis_namespace() as ns:
        yield ns


def _limiter(ns: RedisNamespace, rate_per_s: float, burst: int) -> RedisTokenBucketLimiter:
    settings = Settings(redis_url=ns.url, redis_prefix=ns.prefix)
    return RedisTokenBucketLimiter(connect(settings), ns.prefix, rate_per_s, burst)


def test_burst_then_refusal_with_retry_after(namespace: RedisNamespace) -> None:
    limiter = _limiter(namespace, rate_per_s=0.5, burst=5)
    assert [limiter.acquire("a").allowed for _ in range(6)] == [True] * 5 + [False]
    refused = limiter.acquire("a")
    # One token takes 2 s at 0.5/s; a few ms may have refilled since the bucket emptied.
    assert not refused.allowed and 1.9 < refused.retry_after_s <= 2.0
    assert refused.retry_after_header == "2"
    assert limiter.acquire("b").allowed, "keys have separate buckets"


def test_two_clients_share_one_bucket_and_it_refills(namespace: RedisNamespace) -> None:
    """Two limiters with their own connections (as two workers have) draw from the same bucket."""
    on_a, on_b = _limiter(namespace, 20.0, 4), _limiter(namespace, 20.0, 4)
    assert on_a.acquire("t").allowed and on_a.acquire("t").allowed
    assert on_b.acquire("t").allowed and on_b.acquire("t").allowed
    assert not on_a.acquire("t").allowed and not on_b.acquire("t").allowed
    time.sleep(0.2)  # 20/s: four tokens back, not more than the burst
    assert sum(on_b.acquire("t").allowed for _ in range(6)) == 4


def test_keys_expire_once_the_bucket_would_be_full(namespace: RedisNamespace) -> None:
    limiter = _limiter(namespace, rate_per_s=10.0, burst=10)
    limiter.acquire("k")
    client = connect(Settings(redis_url=namespace.url))
    ttl_ms = client.pttl(f"{namespace.prefix}ratelimit:k")
    assert 0 < ttl_ms <= 1000 + 1000  # 10 tokens at 10/s = 1 s, plus the margin


def test_concurrent_acquires_never_exceed_the_burst(namespace: RedisNamespace) -> None:
    limiters = [_limiter(namespace, rate_per_s=0.001, burst=50) for _ in range(4)]
    results: list[bool] = []
    lock = threading.Lock()

    def worker(limiter: RedisTokenBucketLimiter) -> None:
        for _ in range(40):
            allowed = limiter.acquire("hot").allowed
            with lock:
                results.append(allowed)

    threads = [threading.Thread(target=worker, args=(limiters[i % 4],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 320 and sum(results) == 50


def test_unreachable_redis_raises() -> None:
    limiter = RedisTokenBucketLimiter(connect(Settings(redis_url="redis://127.0.0.1:1/0")), "x:", 1.0, 1)
    with pytest.raises(RedisUnavailable):
        limiter.acquire("a")


def test_the_api_answers_503_when_redis_is_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A configured but dead Redis: the bank API refuses with 503 and a reason, never skips the limit."""
    monkeypatch.setenv("VIDEOIDENT_ANALYSIS_PROCESSES", "0")  # no analysis pool to start for a REST call
    from api.app import create_app
    from api.deps import ensure_demo_tenant, open_bank

    settings = Settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:1/0")
    app = create_app(settings)
    state = open_bank(settings)
    app.state.bank = state
    demo = ensure_demo_tenant(state)
    assert demo is not None
    with TestClient(app) as client:
        response = client.get("/v1/webhook-deliveries", headers={"Authorization": f"Bearer {demo[0]}"})
    state.engine.dispose()
    assert response.status_code == 503
    assert response.json()["code"] == "rate_limiter_unavailable"
    assert response.headers["Retry-After"] == "5"
