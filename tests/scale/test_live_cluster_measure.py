"""Measurement, not a test (pytest collects nothing here): what forwarding a live request to the owner worker
costs, and how long a takeover takes after the owner is killed. Two ``videoident serve`` processes on one
fresh PostgreSQL database and Redis namespace, as in :mod:`tests.scale.test_live_cluster`:

    .venv/bin/python -m tests.scale.test_live_cluster_measure [REQUESTS]

Prints, for the console's live view (``GET /console/api/calls/{id}/live``) read directly from the owner A and
forwarded through B: latency p50/p90 and worker B's CPU time per request (/proc, user + system); then the
time from ``kill -9`` of A until B answered the customer's new offer, and until B received its first frame.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aioice.ice
import httpx
import pyotp

from api.media.ice import loopback_host_addresses
from api.routers.customer import CONSENT_VERSION
from tests.conftest import fresh_postgres_database
from tests.scale.redis_support import RedisNamespace, fresh_redis_namespace
from tests.scale.test_live_cluster import LIGHT, PASSWORD, Worker, _connect_customer, _start_both, _worker
from tests.test_live_support import new_customer_session
from videoident.agents import AgentRole, AgentStore
from videoident.db import make_engine, make_sessionmaker
from videoident.service import IdentService
from videoident.settings import Settings

#: Requests per variant (each is a full live-view read: session, audit, evidence list, report).
DEFAULT_REQUESTS = 60


async def _timed(client: httpx.AsyncClient, url: str, count: int, worker: Worker) -> tuple[float, float, float]:
    """(p50 ms, p90 ms, ``worker``'s CPU ms per request) over ``count`` sequential GETs."""
    latencies_ms = []
    cpu_before_s = worker.cpu_s()
    for _ in range(count):
        start = time.perf_counter()
        response = await client.get(url)
        latencies_ms.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.text
    cpu_ms = (worker.cpu_s() - cpu_before_s) / count * 1000
    ordered = sorted(latencies_ms)
    return statistics.median(ordered), ordered[int(0.9 * (count - 1))], cpu_ms


async def measure(tmp: Path, database_url: str, ns: RedisNamespace, requests: int) -> None:
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    settings = Settings(environment="test", data_dir=tmp, database_url=database_url,  # type: ignore[arg-type]
                        master_key=key, redis_url=ns.url, redis_prefix=ns.prefix)
    engine = make_engine(database_url)
    service = IdentService.from_settings(settings, engine)
    a, b = (_worker(tmp, database_url, key, ns, name) for name in ("a", "b"))
    _start_both(a, b)
    try:
        agents = AgentStore(make_sessionmaker(engine), settings.master_key_bytes, hasher=LIGHT)
        created = agents.create("measure", AgentRole.AGENT, PASSWORD)
        totp = pyotp.TOTP(pyotp.parse_uri(created.provisioning_uri).secret)
        session_id, token = new_customer_session(service)
        async with httpx.AsyncClient(base_url=a.base_url, timeout=60) as via_a, \
                httpx.AsyncClient(base_url=b.base_url, timeout=60) as via_b:
            await via_a.post(f"/ident/{token}/api/join", json={"consent": True, "consent_version": CONSENT_VERSION})
            customer, _answer = await _connect_customer(via_a, token)
            login = await via_b.post("/console/api/login",
                                     json={"name": "measure", "password": PASSWORD, "totp": totp.now()})
            assert login.status_code == 200, login.text
            via_a.cookies = via_b.cookies  # console sessions live in the database: one login serves both
            assert (await via_b.post("/console/api/next")).json()["session_id"] == session_id
            url = f"/console/api/calls/{session_id}/live"
            for client in (via_a, via_b):  # warm both paths
                await _timed(client, url, 5, b)
            for name, client in (("direct to the owner A", via_a), ("forwarded through B", via_b)):
                p50, p90, cpu = await _timed(client, url, requests, b)
                print(f"{name}: p50 {p50:.1f} ms, p90 {p90:.1f} ms, worker B CPU {cpu:.2f} ms/request")
            a.kill9()
            killed = time.perf_counter()
            await customer.pc.close()
            customer, answer = await _connect_customer(via_b, token)
            answered = time.perf_counter()
            takeover_ms = (answered - killed) * 1000
            print(f"takeover: kill -9 of A -> the customer's new offer answered by B: {takeover_ms:.0f} ms "
                  f"(HTTP {answer.status_code})")
            while True:
                live = (await via_b.get(url)).json()["live"]
                if live and "owner" not in live and live.get("frames_received", 0) > 0:
                    break
                await asyncio.sleep(0.05)
            print(f"first frame at B: {(time.perf_counter() - answered) * 1000:.0f} ms after the answer")
            await customer.pc.close()
    finally:
        a.stop()
        b.stop()
        engine.dispose()


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_REQUESTS
    aioice.ice.get_host_addresses = loopback_host_addresses  # the servers run in loopback-only mode
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as folder, fresh_postgres_database("live_cluster_measure") as database_url, \
            fresh_redis_namespace() as ns:
        asyncio.run(measure(Path(folder), database_url, ns, requests))
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
