"""The token bucket: a burst, then a steady rate, with an honest Retry-After."""

from __future__ import annotations

import threading

import pytest

from videoident.ratelimit import Decision, TokenBucketLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refusal_with_retry_after_then_refill() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(rate_per_s=2.0, burst=5, clock=clock)
    assert all(limiter.acquire("a").allowed for _ in range(5))
    refused = limiter.acquire("a")
    assert not refused.allowed and refused.retry_after_s == pytest.approx(0.5)
    assert refused.retry_after_header == "1"
    assert limiter.acquire("b").allowed, "keys have separate buckets"
    clock.now += 0.5
    assert limiter.acquire("a").allowed
    assert not limiter.acquire("a").allowed
    clock.now += 100
    assert [limiter.acquire("a").allowed for _ in range(6)] == [True] * 5 + [False], "refill caps at the burst"


def test_the_sustained_rate_is_honoured() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(rate_per_s=10.0, burst=1, clock=clock)
    allowed = 0
    for _ in range(1000):  # 10 s of requests every 10 ms
        clock.now += 0.01
        allowed += limiter.acquire("a").allowed
    assert 99 <= allowed <= 101


def test_idle_buckets_are_forgotten() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(rate_per_s=1.0, burst=1, clock=clock)
    for i in range(100):
        limiter.acquire(f"k{i}")
    clock.now += 3600
    limiter.acquire("new")
    assert len(limiter) == 1


def test_concurrent_acquires_never_exceed_the_burst() -> None:
    limiter = TokenBucketLimiter(rate_per_s=0.001, burst=50)
    results: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(20):
            ok = limiter.acquire("shared").allowed
            with lock:
                results.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 50


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenBucketLimiter(rate_per_s=0)
    with pytest.raises(ValueError):
        TokenBucketLimiter(burst=2).acquire("a", cost=3)
    with pytest.raises(ValueError):
        Decision(False, -1.0, 0)
