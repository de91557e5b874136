"""Scale-out: sessions created per second and agent-queue latency with 1, 2 and 4 workers.

``run(quick)`` returns a JSON-able dict (``rows`` for the bench report). Run it alone with::

    .venv/bin/python -c "from api.benchmarks.scale import run; import json; print(json.dumps(run(True), indent=1))"

For each worker count the benchmark starts ``videoident serve --workers N`` as a subprocess on a free
loopback port, on a **fresh PostgreSQL database** (127.0.0.1:5432, trust auth, dropped afterwards) and a
Redis key prefix of its own (127.0.0.1:6379, its keys deleted afterwards), environment ``test`` with a
random master key, the rate limit raised (the service is measured, not the 429 path) and the analysis pool
off (``VIDEOIDENT_ANALYSIS_PROCESSES=0``: no video here). Then, from this process:

* **sessions/s**: :data:`CLIENTS` concurrent bank clients (httpx, keep-alive connections spread over the
  workers by the kernel) ``POST /v1/sessions`` back to back for a fixed time; the count of ``201``s per
  second, the latency p50/p95, the answers per worker (``X-Videoident-Worker``), and the CPU seconds of the
  whole server process tree per created session (CPU, unlike wall time, does not depend on what else the
  shared machine runs).
* **queue latency**: :data:`AGENTS` agents (logged in over HTTP) poll ``POST /console/api/next`` every
  :data:`AGENT_POLL_S`; customers join the waiting room (``POST /ident/{token}/api/join``) one every
  :data:`JOIN_EVERY_S`. Latency = from sending the join to the moment the ``next`` answer that assigns that
  customer arrives; it includes the agents' poll interval. An agent who got a call frees itself by having
  the customer cancel (``POST /ident/{token}/api/cancel``).

PostgreSQL or Redis missing: ``{"skipped": reason}``. 4 workers on a 2-core machine cannot be faster than 2.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from api.benchmarks.harness import summarise
from videoident.scratch_db import LOCAL_ADMIN_DSN, scratch_postgres_database

__all__ = ["AGENTS", "CLIENTS", "WORKER_COUNTS", "run"]

#: The worker counts of issue 13.
WORKER_COUNTS = (1, 2, 4)
#: Concurrent bank clients creating sessions (enough to keep 4 workers busy; a bank integration is 1-10).
CLIENTS = 16
#: Seconds of session creation per worker count (quick, full).
CREATE_S = (6.0, 20.0)
#: Customers joining the waiting room per worker count (quick, full).
CUSTOMERS = (12, 40)
#: A customer joins every this many seconds (a busy ident centre sees far fewer; it keeps the queue short).
JOIN_EVERY_S = 0.25
#: Agents polling for the next call; each polls every AGENT_POLL_S (a console refreshes about as often).
AGENTS = 4
AGENT_POLL_S = 0.25
#: One request's timeout; a later answer counts as an error.
REQUEST_TIMEOUT_S = 30.0
#: Starting N workers (imports, the parent's migrations) on a loaded 2-core machine.
STARTUP_TIMEOUT_S = 240.0
#: The Redis of the development and CI machines (PostgreSQL: videoident.scratch_db).
REDIS_URL = "redis://127.0.0.1:6379/0"
WORKER_HEADER = "x-videoident-worker"
_READY_LINE = "Application startup complete."
_REPO = Path(__file__).resolve().parents[2]
_PASSWORD = secrets.token_urlsafe(16)  # the bench agents' password (this run only)
_SESSION_BODY = {
    "reference": "bench-scale", "purpose": "account_opening", "contact": {"email": "bench@example.org"},
    "claimed_identity": {"given_name": "Erika", "family_name": "Mustermann", "birthdate": "1983-08-12"},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unavailable() -> str | None:
    """Why the benchmark cannot run here, or None."""
    import psycopg
    import redis

    try:
        psycopg.connect(LOCAL_ADMIN_DSN, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        return f"needs PostgreSQL on 127.0.0.1:5432: {exc}".strip()
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"needs Redis on 127.0.0.1:6379: {exc}"
    finally:
        client.close()
    return None


@contextlib.contextmanager
def _redis_prefix() -> Iterator[str]:
    import redis

    prefix = f"videoident-bench-{secrets.token_hex(4)}:"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


@dataclass
class _Setup:
    """What the benchmark prepared through the core before the server starts."""

    api_key: str
    agents: list[tuple[str, str]]  # (name, TOTP secret)
    customers: list[tuple[str, str]]  # (session id, customer token)


def _prepare(env: dict[str, str], customers: int) -> _Setup:
    """Migrate, provision a tenant, agents and the customers' sessions (in this process, through the core)."""
    from datetime import date

    import pyotp
    from argon2 import PasswordHasher, Type

    from videoident.agents import AgentRole, AgentStore
    from videoident.db import make_engine, make_sessionmaker
    from videoident.masking_policy import Profile
    from videoident.service import ClaimedIdentity, Contact, IdentService
    from videoident.settings import Environment, Settings
    from videoident.states import Purpose
    from videoident.tenants import SecretBox, provision_tenant

    settings = Settings(environment=Environment(env["VIDEOIDENT_ENVIRONMENT"]),
                        data_dir=Path(env["VIDEOIDENT_DATA_DIR"]), database_url=env["VIDEOIDENT_DATABASE_URL"],
                        master_key=env["VIDEOIDENT_MASTER_KEY"])  # type: ignore[arg-type]
    engine = make_engine(settings.resolved_database_url)
    try:
        service = IdentService.from_settings(settings, engine)
        sessions = make_sessionmaker(engine)
        with sessions() as db:
            tenant = provision_tenant(service, db, SecretBox(settings), "bench-bank", "Bench Bank", Profile.GWG_DE)
        # A light Argon2: logins are set-up here, not what is measured.
        light = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)
        store = AgentStore(sessions, settings.master_key_bytes, hasher=light)
        agents = []
        for i in range(AGENTS):
            created = store.create(f"bench-agent-{i}", AgentRole.AGENT, _PASSWORD)
            agents.append((f"bench-agent-{i}", pyotp.parse_uri(created.provisioning_uri).secret))
        customers_ = []
        for _ in range(customers):
            made = service.create_session(tenant.tenant_id, identity=ClaimedIdentity("Erika", "Mustermann",
                                                                                     date(1983, 8, 12)),
                                          purpose=Purpose.ACCOUNT_OPENING, reference="bench-queue",
                                          contact=Contact(email="bench@example.org"))
            customers_.append((made.session.id, made.customer_token))
        return _Setup(tenant.credentials.api_key, agents, customers_)
    finally:
        engine.dispose()


def _tree_cpu_s(root_pid: int) -> float:
    """User + system CPU seconds of ``root_pid`` and every live descendant (from /proc)."""
    total = 0.0
    stack = [root_pid]
    tick = os.sysconf("SC_CLK_TCK")
    while stack:
        pid = stack.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{pid}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


class _Cluster:
    def __init__(self, workers: int, env: dict[str, str], log_path: Path) -> None:
        self.workers = workers
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = env | {"VIDEOIDENT_PUBLIC_BASE_URL": self.base_url}
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
                [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", str(workers)], cwd=_REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    def wait_ready(self) -> float:
        started = time.perf_counter()
        while time.perf_counter() - started < STARTUP_TIMEOUT_S:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}: {self._tail()}")
            if self.log_path.read_text(errors="replace").count(_READY_LINE) >= self.workers:
                return time.perf_counter() - started
            time.sleep(0.25)
        raise RuntimeError(f"{self.workers} workers did not start in {STARTUP_TIMEOUT_S} s: {self._tail()}")

    def _tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-1500:]

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, 15)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()


async def _create_sessions(base: str, api_key: str, seconds: float) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    workers: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S, limits=limits,
                                 headers={"Authorization": f"Bearer {api_key}"}) as client:
        deadline = time.perf_counter() + seconds

        async def bank_client() -> None:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    response = await client.post("/v1/sessions", json=_SESSION_BODY)
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1
                    continue
                statuses[str(response.status_code)] += 1
                workers[response.headers.get(WORKER_HEADER, "single")] += 1
                if response.status_code == 201:
                    latencies.append(time.perf_counter() - sent)

        started = time.perf_counter()
        await asyncio.gather(*(bank_client() for _ in range(CLIENTS)))
        wall_s = time.perf_counter() - started
    return {"created": len(latencies), "wall_s": round(wall_s, 2),
            "sessions_per_s": round(len(latencies) / wall_s, 2), "latency_s": summarise(latencies),
            "statuses": dict(statuses), "per_worker": sorted(workers.values(), reverse=True)}


async def _queue_latency(base: str, setup: _Setup) -> dict[str, Any]:
    import pyotp

    joined_at: dict[str, float] = {}
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    total = len(setup.customers)
    done = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        customer = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S))
        agents = []
        for name, secret in setup.agents:
            agent = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S))
            login = await agent.post("/console/api/login",
                                     json={"name": name, "password": _PASSWORD, "totp": pyotp.TOTP(secret).now()})
            login.raise_for_status()
            agents.append(agent)
        token_of = dict(setup.customers)

        async def poll(agent: httpx.AsyncClient) -> None:
            while not done.is_set():
                response = await agent.post("/console/api/next")
                arrived = time.perf_counter()
                if response.status_code != 200:
                    errors[f"next {response.status_code}"] += 1
                    await asyncio.sleep(AGENT_POLL_S)
                    continue
                session_id = response.json()["session_id"]
                token = token_of.get(session_id) if session_id else None
                if token is None:
                    await asyncio.sleep(AGENT_POLL_S)
                    continue
                if token in joined_at:
                    latencies.append(arrived - joined_at.pop(token))
                cancelled = await customer.post(f"/ident/{token}/api/cancel")  # frees the agent
                if cancelled.status_code != 200:
                    errors[f"cancel {cancelled.status_code}"] += 1
                if len(latencies) + sum(errors.values()) >= total:
                    done.set()

        async def feed() -> None:
            from api.routers.customer import CONSENT_VERSION

            for _session_id, token in setup.customers:
                joined_at[token] = time.perf_counter()
                response = await customer.post(f"/ident/{token}/api/join",
                                               json={"consent": True, "consent_version": CONSENT_VERSION})
                if response.status_code != 200:
                    errors[f"join {response.status_code}"] += 1
                    joined_at.pop(token, None)
                await asyncio.sleep(JOIN_EVERY_S)

        pollers = [asyncio.create_task(poll(agent)) for agent in agents]
        await feed()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=60)
        done.set()
        await asyncio.gather(*pollers, return_exceptions=True)
    return {"customers": total, "assigned": len(latencies), "latency_s": summarise(latencies),
            "errors": dict(errors)}


def _one(workers: int, quick: bool, work_dir: Path) -> dict[str, Any]:
    with scratch_postgres_database("bench_scale") as database_url, _redis_prefix() as prefix:
        data_dir = work_dir / f"w{workers}"
        data_dir.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOIDENT_")} | {
            "VIDEOIDENT_ENVIRONMENT": "test", "VIDEOIDENT_DATA_DIR": str(data_dir),
            "VIDEOIDENT_DATABASE_URL": database_url,
            "VIDEOIDENT_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "VIDEOIDENT_REDIS_URL": REDIS_URL, "VIDEOIDENT_REDIS_PREFIX": prefix,
            "VIDEOIDENT_RATE_LIMIT_PER_S": "1000000", "VIDEOIDENT_RATE_LIMIT_BURST": "1000000",
            "VIDEOIDENT_ANALYSIS_PROCESSES": "0", "PYTHONUNBUFFERED": "1",
        }
        setup = _prepare(env, CUSTOMERS[0 if quick else 1])
        cluster = _Cluster(workers, env, data_dir / "serve.log")
        try:
            startup_s = cluster.wait_ready()
            cpu0 = _tree_cpu_s(cluster.process.pid)
            created = asyncio.run(_create_sessions(cluster.base_url, setup.api_key, CREATE_S[0 if quick else 1]))
            cpu_s = _tree_cpu_s(cluster.process.pid) - cpu0
            queue = asyncio.run(_queue_latency(cluster.base_url, setup))
        finally:
            cluster.stop()
    created["server_cpu_ms_per_session"] = round(1000 * cpu_s / max(1, created["created"]), 1)
    return {"workers": workers, "startup_s": round(startup_s, 1), "create": created, "queue": queue}


def run(quick: bool = True) -> dict[str, Any]:
    reason = _unavailable()
    if reason is not None:
        return {"skipped": reason}
    load_before = [round(x, 2) for x in os.getloadavg()]
    results = []
    with tempfile.TemporaryDirectory(prefix="videoident-bench-scale-") as tmp:
        for workers in WORKER_COUNTS:
            results.append(_one(workers, quick, Path(tmp)))
    rows: list[dict[str, Any]] = []
    for r in results:
        n = r["workers"]
        rows += [
            {"name": f"scale: sessions created/s, {n} worker(s), {CLIENTS} clients", "unit": "1/s",
             "value": r["create"]["sessions_per_s"]},
            {"name": f"scale: POST /v1/sessions p95, {n} worker(s)", "unit": "s",
             "value": r["create"]["latency_s"].get("p95")},
            {"name": f"scale: server CPU per created session, {n} worker(s)", "unit": "ms",
             "value": r["create"]["server_cpu_ms_per_session"]},
            {"name": f"scale: queue join -> assigned p50, {n} worker(s), {AGENTS} agents polling "
                     f"every {AGENT_POLL_S} s", "unit": "s", "value": r["queue"]["latency_s"].get("p50")},
            {"name": f"scale: queue join -> assigned p95, {n} worker(s)", "unit": "s",
             "value": r["queue"]["latency_s"].get("p95")},
        ]
    load_after = [round(x, 2) for x in os.getloadavg()]
    return {"quick": quick, "cores": os.cpu_count(), "load_avg_1_5_15m_before_after": [load_before, load_after],
            "clients": CLIENTS, "agents": AGENTS, "agent_poll_s": AGENT_POLL_S, "runs": results, "rows": rows}
