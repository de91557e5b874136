"""REST API latency at a fixed request rate, against a real uvicorn server started by the benchmark.

``run(quick)`` returns a JSON-able dict. Run it with::

    .venv/bin/python -c "from api.benchmarks.api_load import run; import json; print(json.dumps(run(True), indent=1))"

The server is ``uvicorn api.app:create_app --factory`` in a **separate process** on 127.0.0.1 (a free
port), on a fresh SQLite database and vault in a temporary folder (environment ``test``, a random master
key), with the per-tenant rate limit raised so the service itself is measured, not the 429 path. A tenant
is provisioned before the server starts. Load is open-loop from this process (httpx, asyncio): request
``i`` is sent at ``start + i / rate``, whatever the previous answers did, so a slow server shows up as
latency instead of a lower rate (no coordinated omission). Latency is measured from the scheduled send
time (``latency``) and from the actual send (``service``). The mix covers the non-video endpoints a
bank and a monitor call: create a session, status, result, evidence list, webhook deliveries, health.
Bounded: at most ``rate x seconds`` requests, each with a timeout, and a hard deadline.
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
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx

from api.benchmarks.harness import summarise

__all__ = ["run", "MIX", "RATE_PER_S"]

#: The request rate of issue 11 ("REST API p95 at 50 requests/s").
RATE_PER_S = 50.0
#: Each request's timeout; an answer later than this counts as an error.
REQUEST_TIMEOUT_S = 10.0
#: How long the server may take to answer /healthz after start (imports, migrations) on a loaded machine.
STARTUP_TIMEOUT_S = 60.0
#: (endpoint name, weight): the cyclic request mix. Reads dominate, as in a bank's polling integration.
MIX: tuple[tuple[str, int], ...] = (
    ("POST /v1/sessions", 2),
    ("GET /v1/sessions/{id}", 4),
    ("GET /v1/sessions/{id}/result", 1),
    ("GET /v1/sessions/{id}/evidence", 1),
    ("GET /v1/webhook-deliveries", 1),
    ("GET /healthz", 1),
)
BODY = {
    "reference": "bench",
    "purpose": "account_opening",
    "contact": {"email": "bench@example.org"},
    "claimed_identity": {"given_name": "Erika", "family_name": "Mustermann", "birthdate": "1983-08-12"},
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _provision(env: dict[str, str]) -> str:
    """Create the database and one tenant; return its API key (kept in memory only)."""
    from api.deps import open_bank
    from videoident.masking_policy import Profile
    from videoident.settings import Settings
    from videoident.tenants import provision_tenant

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        state = open_bank(Settings())
        with state.sessions() as db:
            tenant = provision_tenant(state.service, db, state.box, "bench", "Bench Bank", Profile.GWG_DE)
        state.engine.dispose()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return str(tenant.credentials.api_key)


def _schedule(total: int) -> list[str]:
    cycle = [name for name, weight in MIX for _ in range(weight)]
    return [cycle[i % len(cycle)] for i in range(total)]


async def _load(base: str, api_key: str, rate: float, seconds: float) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {api_key}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, headers=auth, timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
        ids: list[str] = []
        for i in range(5):  # sessions to read, and a warm server
            response = await client.post("/v1/sessions", json=BODY, headers={"Idempotency-Key": f"warm-{i}"})
            response.raise_for_status()
            ids.append(response.json()["id"])
        names = _schedule(int(rate * seconds))
        latency: dict[str, list[float]] = defaultdict(list)
        service: dict[str, list[float]] = defaultdict(list)
        statuses: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05

        async def one(i: int, name: str) -> None:
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - loop.time()))
            sid = ids[i % len(ids)]
            sent = loop.time()
            try:
                if name == "POST /v1/sessions":
                    response = await client.post("/v1/sessions", json=BODY, headers={"Idempotency-Key": f"load-{i}"})
                    if response.status_code == 201:
                        ids.append(response.json()["id"])
                else:
                    response = await client.get(name.split(" ", 1)[1].replace("{id}", sid))
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
                return
            done = loop.time()
            statuses[f"{name} {response.status_code}"] += 1
            latency[name].append(done - scheduled)
            service[name].append(done - sent)

        wall0 = time.perf_counter()
        tasks = [asyncio.create_task(one(i, name)) for i, name in enumerate(names)]
        _, pending = await asyncio.wait(tasks, timeout=seconds + REQUEST_TIMEOUT_S + 5)
        for task in pending:  # the hard deadline: whatever is still waiting is counted, not awaited
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        wall = time.perf_counter() - wall0
    every_latency = [x for values in latency.values() for x in values]
    every_service = [x for values in service.values() for x in values]
    ms = lambda values: summarise([1000 * v for v in values], 1)  # noqa: E731
    return {
        "requests": len(names),
        "answered": len(every_latency),
        "achieved_rate_per_s": round(len(every_latency) / wall, 1) if wall else None,
        "latency_ms": ms(every_latency),
        "service_ms": ms(every_service),
        "per_endpoint_latency_ms": {name: ms(values) for name, values in sorted(latency.items())},
        "status_codes": dict(sorted(statuses.items())),
        "errors": dict(errors),
        "unanswered_at_deadline": len(pending),
    }


def run(quick: bool = True, rate: float = RATE_PER_S, seconds: float | None = None) -> dict[str, Any]:
    """Quick: 8 s at ``rate`` (400 requests at 50/s); full: 30 s."""
    seconds = seconds if seconds is not None else (8.0 if quick else 30.0)
    with tempfile.TemporaryDirectory(prefix="videoident-bench-api-") as tmp:
        env = {
            "VIDEOIDENT_ENVIRONMENT": "test",
            "VIDEOIDENT_DATA_DIR": str(Path(tmp) / "data"),
            "VIDEOIDENT_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "VIDEOIDENT_RATE_LIMIT_PER_S": "100000",
            "VIDEOIDENT_RATE_LIMIT_BURST": "100000",
        }
        api_key = _provision(env)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
                   "--port", str(port), "--log-level", "warning", "--no-access-log"]
        log_path = Path(tmp) / "server.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(  # noqa: S603 - our own argv, no shell
                command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parents[2],
            )
        try:
            started = time.perf_counter()
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"the server exited: {log_path.read_text()[-2000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                if time.perf_counter() - started > STARTUP_TIMEOUT_S:
                    raise RuntimeError("the server did not answer /healthz in time")
                time.sleep(0.2)
            startup_s = time.perf_counter() - started
            result = asyncio.run(_load(base, api_key, rate, seconds))
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(5)
    return {
        "server": "uvicorn, separate process, SQLite, 1 worker",
        "rate_per_s": rate,
        "seconds": seconds,
        "server_startup_s": round(startup_s, 2),
        "mix": dict(MIX),
        **result,
    }
