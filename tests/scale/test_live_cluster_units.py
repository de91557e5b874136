"""The live cluster's parts against the real Redis (127.0.0.1:6379, a key prefix per test): the inter-worker
header, owner leases with compare-and-set, and sealed report snapshots over pub/sub."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis

from api.media.cluster import INTERNAL_MAX_SKEW_S, InternalAuth, LiveCluster, WorkerAddress
from api.media.cluster_proxy import _on_internal_socket
from tests.scale.redis_support import RedisNamespace, fresh_redis_namespace
from videoident.settings import Settings

pytestmark = pytest.mark.redis

MASTER_KEY = base64.b64encode(hashlib.sha256(b"videoident live cluster units").digest()).decode()


def _settings(tmp_path: Path, ns: RedisNamespace, worker: str, key: str = MASTER_KEY) -> Settings:
    url = f"http://127.0.0.1:{9000 + len(worker)}"  # never contacted here
    return Settings(environment="test", data_dir=tmp_path, master_key=key, redis_url=ns.url,  # type: ignore[arg-type]
                    redis_prefix=ns.prefix, worker_id=worker, worker_internal_url=url)


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[LiveCluster, LiveCluster, RedisNamespace]]:
    with fresh_redis_namespace() as ns:
        a = LiveCluster(_settings(tmp_path, ns, "a"))
        b = LiveCluster(_settings(tmp_path, ns, "bb"))
        await a.start()
        await b.start()
        try:
            yield a, b, ns
        finally:
            await a.stop()
            await b.stop()


def test_internal_header_verifies_only_for_the_same_request_key_and_time() -> None:
    now = [1_000_000.0]
    key = hashlib.sha256(b"k").digest()
    signer = InternalAuth(key, "host.example.org-12", clock=lambda: now[0])
    value = signer.sign("POST", "/ident/t/api/offer")
    assert signer.verify(value, "POST", "/ident/t/api/offer") == "host.example.org-12"
    assert signer.verify(value, "POST", "/ident/other/api/offer") is None  # another path
    assert signer.verify(value, "GET", "/ident/t/api/offer") is None  # another method
    assert InternalAuth(hashlib.sha256(b"other").digest(), "x").verify(value, "POST", "/ident/t/api/offer") is None
    _sender, at, mac = value.rsplit(".", 2)
    assert signer.verify(f"evil.{at}.{mac}", "POST", "/ident/t/api/offer") is None  # the sender is signed
    assert signer.verify("garbage", "POST", "/ident/t/api/offer") is None
    now[0] += INTERNAL_MAX_SKEW_S + 1
    assert signer.verify(value, "POST", "/ident/t/api/offer") is None  # too old: no replay


async def test_with_a_separate_internal_port_only_that_port_takes_the_internal_header(tmp_path: Path) -> None:
    with fresh_redis_namespace() as ns:
        settings = _settings(tmp_path, ns, "w1")  # internal URL on port 9002, public port 8000 (the default)
        cluster = LiveCluster(settings)
        assert cluster.separate_internal_port
        assert not _on_internal_socket({"server": ("127.0.0.1", 8000)}, cluster)
        assert _on_internal_socket({"server": ("127.0.0.1", 9002)}, cluster)
        # One port for both (a single worker per port behind a load balancer): the HMAC alone decides.
        settings.port = 9002
        assert _on_internal_socket({"server": ("10.0.0.5", 9002)}, LiveCluster(settings))


async def test_leases_are_claimed_once_renewed_by_the_holder_and_taken_over_from_the_dead(
    pair: tuple[LiveCluster, LiveCluster, RedisNamespace],
) -> None:
    a, b, _ns = pair
    assert await a.owner("s1") is None
    assert await a.claim("s1") == a.me
    assert await b.claim("s1") == a.me  # held: the second claim sees the first owner
    assert await b._renew("s1") is False and await a._renew("s1") is True  # noqa: SLF001
    await b.release("s1")  # not b's to release
    assert await a.owner("s1") == a.me
    # b found a dead (refused the forward): it replaces a's lease, but only while it still names a.
    assert await b.claim("s1", replacing=a.me) == b.me
    assert await a.claim("s1", replacing=WorkerAddress("ghost", "http://127.0.0.1:9")) == b.me
    assert await a._renew("s1") is False  # noqa: SLF001 - a (had it survived) learns it lost the lease
    await b.release("s1")
    assert await a.owner("s1") is None
    assert set(await a.workers()) == {"a", "bb"}


class _FakeLive:
    """What the cluster reads from a live session (the real one needs a peer connection)."""

    def __init__(self, report: dict[str, Any]) -> None:
        self.version = 0
        self.closed = False
        self.connection_state = "connected"
        self.guidance = ("more_light",)
        self._report = report
        self._changed = asyncio.Event()

    def report(self) -> dict[str, Any]:
        return dict(self._report)

    def stats(self) -> dict[str, Any]:
        return {"frames_received": 10 * self.version}

    def check_status(self) -> dict[str, str]:
        return {k: v["verdict"] for k, v in self._report.items()}

    def bump(self, **sections: Any) -> None:
        self._report.update(sections)
        self.version += 1
        self._changed.set()

    async def wait_changed(self, version: int, timeout_s: float) -> int:
        if self.version == version:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout_s)
            except TimeoutError:
                pass
        return self.version


async def test_the_owner_publishes_sealed_snapshots_that_other_workers_read(
    pair: tuple[LiveCluster, LiveCluster, RedisNamespace], tmp_path: Path,
) -> None:
    a, b, ns = pair
    live = _FakeLive({"mrz": {"verdict": "pass", "document_number": "T22000129"}})
    a.opened("s2", live)  # type: ignore[arg-type]
    first = await b.wait_update("s2", -1, 5.0)
    assert first is not None and first.worker_id == "a" and first.report["mrz"]["verdict"] == "pass"
    assert await b.owner("s2") == a.me  # the owner's watcher holds the lease
    # Pub/sub: b waits for the next version and gets it as soon as a publishes.
    waiting = asyncio.create_task(b.wait_update("s2", first.version, 5.0))
    await asyncio.sleep(0.1)
    live.bump(face={"verdict": "fail"})
    update = await waiting
    assert update is not None and update.version == live.version and update.checks["face"] == "fail"
    assert (await asyncio.to_thread(b.latest, "s2")) is not None
    # At rest in Redis the snapshot is sealed: the document number is not readable in a dump.
    raw = redis.Redis.from_url(ns.url).get(b.report_key("s2"))
    assert raw and b"T22000129" not in raw and b"T22000129" not in base64.b64decode(raw)
    # Another installation's master key cannot read it.
    other_key = base64.b64encode(hashlib.sha256(b"another installation").digest()).decode()
    stranger = LiveCluster(_settings(tmp_path, ns, "c", other_key))
    assert await stranger.latest_async("s2") is None
    await stranger.redis.aclose()
    # Closing publishes the end and releases the lease.
    live.closed = True
    await a.closed("s2")
    ended = await b.latest_async("s2")
    assert ended is not None and ended.closed
    assert await b.owner("s2") is None
