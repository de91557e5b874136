"""``videoident serve --workers 2`` on one address, a fresh PostgreSQL database and a Redis namespace of its
own, exercised over HTTP: work really spreads over both workers (``X-Videoident-Worker``), the rate limit is
one bucket for both, webhooks go out exactly once, the agent queue assigns every waiting customer to exactly
one agent (at random), and a worker killed with SIGKILL is restarted by the parent without losing a committed
session. The folder's tests must stay well under a minute together on the shared 2-core machine."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import Engine, select

from tests.conftest import fresh_postgres_database
from tests.hardening.receiver import receiver
from tests.scale.cluster_support import (
    WORKER_HEADER,
    ClusterServer,
    fresh_connection_get,
    worker_ids,
    worker_index,
    worker_pid,
)
from tests.scale.redis_support import fresh_redis_namespace
from videoident.agents import AgentRole, AgentStore
from videoident.db import make_engine, make_sessionmaker
from videoident.masking_policy import Profile
from videoident.service import IdentService
from videoident.settings import Settings
from videoident.tenants import SecretBox, provision_tenant
from videoident.webhooks import WebhookDelivery

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

#: The limit every tenant of the test cluster gets: small enough that a test exhausts it in one burst.
BURST = 40
RATE_PER_S = 1.0
PASSWORD = "correct horse battery staple"
#: A cheap Argon2 for the test's agent accounts (the server verifies with the parameters stored in the hash).
LIGHT = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)


@dataclass
class Cluster:
    server: ClusterServer
    service: IdentService
    settings: Settings
    engine: Engine

    def new_tenant(self, name: str) -> dict[str, str]:
        with make_sessionmaker(self.engine)() as db:
            tenant = provision_tenant(self.service, db, SecretBox(self.settings), name, name, Profile.GWG_DE)
        return {"Authorization": f"Bearer {tenant.credentials.api_key}"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    data_dir = tmp_path_factory.mktemp("cluster")
    master_key = base64.b64encode(secrets.token_bytes(32)).decode()
    with fresh_postgres_database("scale") as database_url, fresh_redis_namespace() as ns:
        server = ClusterServer(data_dir, database_url, master_key, workers=2)
        server.extra_env.update(ns.env())
        server.extra_env.update({"VIDEOIDENT_RATE_LIMIT_PER_S": str(RATE_PER_S),
                                 "VIDEOIDENT_RATE_LIMIT_BURST": str(BURST),
                                 "VIDEOIDENT_ANALYSIS_PROCESSES": "0"})  # no analysis pools to start
        settings = Settings(data_dir=data_dir, database_url=database_url, master_key=master_key,  # type: ignore[arg-type]
                            redis_url=ns.url, redis_prefix=ns.prefix)
        try:
            server.start()  # the parent migrates; the test's core connects afterwards
            engine = make_engine(database_url)
            yield Cluster(server, IdentService.from_settings(settings, engine), settings, engine)
            engine.dispose()
        finally:
            server.stop()


def _session_body(callback_url: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reference": f"order-{secrets.token_hex(3)}", "purpose": "account_opening",
        "claimed_identity": {"given_name": "Erika", "family_name": "Mustermann", "birthdate": "1983-08-12"},
        "contact": {"email": "erika@example.org"},
    }
    if callback_url:
        body["callback_url"] = callback_url
    return body


#: A bank client's retries of a request whose connection broke (same Idempotency-Key: never two sessions).
CLIENT_RETRIES = 3


def _create_sessions(base_url: str, headers: dict[str, str], count: int,
                     callback_url: str | None = None) -> list[httpx.Response]:
    """``count`` sessions, 8 at a time, each on a new connection; a broken connection (a worker killed) is
    retried with the same ``Idempotency-Key``, as a bank's client does."""
    def one(_: int) -> httpx.Response:
        key = secrets.token_hex(8)
        for attempt in range(CLIENT_RETRIES):
            try:
                return httpx.post(f"{base_url}/v1/sessions", json=_session_body(callback_url), timeout=60,
                                  headers={**headers, "Connection": "close", "Idempotency-Key": key})
            except httpx.TransportError:
                if attempt == CLIENT_RETRIES - 1:
                    raise
                time.sleep(0.2)
        raise AssertionError("unreachable")

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def test_sessions_are_created_through_both_workers_and_read_through_either(cluster: Cluster) -> None:
    headers = cluster.new_tenant("bank-spread")
    created = _create_sessions(cluster.server.base_url, headers, 16)
    assert [r.status_code for r in created] == [201] * 16, created[0].text
    assert len(worker_ids(created)) == 2, f"all requests hit one worker: {worker_ids(created)}"
    ids = [r.json()["id"] for r in created]
    with httpx.Client(base_url=cluster.server.base_url, headers=headers, timeout=60) as client:
        assert all(client.get(f"/v1/sessions/{sid}").status_code == 200 for sid in ids)


def test_the_rate_limit_is_one_bucket_across_workers(cluster: Cluster) -> None:
    """Per-process buckets would let 2 x BURST through; the shared one lets BURST (plus the refill) through,
    and once it is empty both workers refuse."""
    headers = cluster.new_tenant("bank-limited")
    url = f"{cluster.server.base_url}/v1/webhook-deliveries"
    started = time.monotonic()
    responses = fresh_connection_get(url, headers, 2 * BURST)
    elapsed_s = time.monotonic() - started
    allowed = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(allowed) + len(refused) == len(responses)
    assert BURST <= len(allowed) <= BURST + RATE_PER_S * elapsed_s + 1, (len(allowed), elapsed_s)
    assert len(worker_ids(allowed)) == 2, "both workers drew from the bucket"
    # Still empty: keep asking until each worker has said 429 (each request may land on either).
    for _ in range(10):
        if len(worker_ids(refused)) == 2:
            break
        refused += [r for r in fresh_connection_get(url, headers, 8) if r.status_code == 429]
    assert len(worker_ids(refused)) == 2, f"only {worker_ids(refused)} refused"
    assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)


def test_webhooks_go_out_exactly_once_with_two_workers(cluster: Cluster) -> None:
    headers = cluster.new_tenant("bank-hooks")
    with receiver() as rec:
        created = _create_sessions(cluster.server.base_url, headers, 12, callback_url=rec.url)
        assert [r.status_code for r in created] == [201] * 12
        ids = {r.json()["id"] for r in created}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            seen = {json.loads(d.body)["data"]["session_id"] for d in list(rec.deliveries)}
            if ids <= seen:
                break
            time.sleep(0.2)
        time.sleep(2.5)  # two more polling rounds of both dispatchers: a duplicate would arrive now
        deliveries = list(rec.deliveries)
    assert {json.loads(d.body)["data"]["session_id"] for d in deliveries} >= ids
    counts = Counter(d.event_id for d in deliveries)
    assert counts and max(counts.values()) == 1, [e for e, n in counts.items() if n > 1]
    with make_sessionmaker(cluster.engine)() as db:
        rows = db.scalars(select(WebhookDelivery).where(WebhookDelivery.session_id.in_(ids))).all()
    assert len(rows) == len(counts) and all(r.status == "delivered" and r.attempts == 1 for r in rows)


def _agent_client(cluster: Cluster, name: str, served_by: set[str]) -> httpx.Client:
    agents = AgentStore(make_sessionmaker(cluster.engine), cluster.settings.master_key_bytes, hasher=LIGHT)
    created = agents.create(name, AgentRole.AGENT, PASSWORD)
    totp = pyotp.TOTP(pyotp.parse_uri(created.provisioning_uri).secret)
    # No keep-alive: every request of the agent lands on whichever worker the kernel picks.
    client = httpx.Client(base_url=cluster.server.base_url, timeout=60,
                          limits=httpx.Limits(max_keepalive_connections=0))
    login = client.post("/console/api/login", json={"name": name, "password": PASSWORD, "totp": totp.now()})
    assert login.status_code == 200, login.text
    served_by.add(login.headers[WORKER_HEADER])
    return client


def test_each_waiting_customer_goes_to_exactly_one_agent_at_random(cluster: Cluster) -> None:
    from api.routers.customer import CONSENT_VERSION
    from tests.test_live_support import new_customer_session

    customers = [new_customer_session(cluster.service) for _ in range(14)]
    for _sid, token in customers:  # in this order: the first is the longest waiting
        joined = httpx.post(f"{cluster.server.base_url}/ident/{token}/api/join", timeout=60,
                            json={"consent": True, "consent_version": CONSENT_VERSION})
        assert joined.status_code == 200 and joined.json()["status"] == "waiting", joined.text
    served_by: set[str] = set()
    agents = [_agent_client(cluster, f"agent-q{i}", served_by) for i in range(6)]
    barrier = threading.Barrier(len(agents))
    taken: list[tuple[str | None, str]] = []
    lock = threading.Lock()

    def take(client: httpx.Client) -> None:
        barrier.wait()
        response = client.post("/console/api/next")
        assert response.status_code == 200, response.text
        with lock:
            taken.append((response.json()["session_id"], response.headers[WORKER_HEADER]))

    threads = [threading.Thread(target=take, args=(c,)) for c in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in agents:
        client.close()
    assigned = [sid for sid, _ in taken]
    assert None not in assigned and len(set(assigned)) == len(agents), f"double assignment: {assigned}"
    assert set(assigned) <= {sid for sid, _ in customers}
    served_by |= {worker for _, worker in taken}
    assert len(served_by) == 2, "the agents' logins and requests were served by both workers"
    # Random, not first come first served: the six longest-waiting would be picked with p = 1/3003.
    assert set(assigned) != {sid for sid, _ in customers[:6]}
    for sid in assigned:
        assert cluster.service.get_session(sid).status.value == "in_call"


def test_a_killed_worker_is_restarted_and_no_committed_session_is_lost(cluster: Cluster) -> None:
    server = cluster.server
    headers = cluster.new_tenant("bank-crash")
    before = _create_sessions(server.base_url, headers, 6)
    assert [r.status_code for r in before] == [201] * 6
    victim = sorted(worker_ids(before))[0]
    ready = server.ready_count()
    os.kill(worker_pid(victim), signal.SIGKILL)
    # While the victim is down and restarting, the other worker answers; every 201 is a committed session.
    during = _create_sessions(server.base_url, headers, 6)
    assert [r.status_code for r in during] == [201] * 6
    assert server.wait_for_ready_lines(ready + 1, 90), "the parent did not restart the worker"
    after = fresh_connection_get(f"{server.base_url}/healthz", {}, 24)
    restarted = {w for w in worker_ids(after) if worker_index(w) == worker_index(victim)}
    assert restarted and victim not in restarted, f"no new {worker_index(victim)} worker: {worker_ids(after)}"
    assert "exited with -9" in server.log_tail(10**9)
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client:
        for response in before + during:
            got = client.get(f"/v1/sessions/{response.json()['id']}")
            assert got.status_code == 200 and got.json()["status"] == "created"
    assert server.process is not None and server.process.poll() is None, "the parent survived"


def test_sigterm_stops_the_parent_and_every_worker(cluster: Cluster, tmp_path: Path) -> None:
    server = cluster.server
    ids = worker_ids(fresh_connection_get(f"{server.base_url}/healthz", {}, 16))
    assert server.process is not None
    os.kill(server.parent_pid(), signal.SIGTERM)
    assert server.process.wait(timeout=45) == 0
    for worker in ids:
        with pytest.raises(ProcessLookupError):
            os.kill(worker_pid(worker), 0)
    server.process = None
