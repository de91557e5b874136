"""Speed of the bank API, as a benchmark you run (not a timed test):

    .venv/bin/python -m tests.test_api_benchmark [--sessions 200] [--events 300]

Prints JSON: latency percentiles of POST /v1/sessions (new, and replayed by Idempotency-Key) and of
GET /v1/sessions/{id}, through the real app on SQLite in a temporary folder; and webhook delivery
throughput to a real receiver on 127.0.0.1. The one test here only checks the benchmark runs and counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import open_bank
from tests.test_webhooks import Receiver
from videoident.masking_policy import Profile
from videoident.ratelimit import TokenBucketLimiter
from videoident.settings import Settings
from videoident.tenants import provision_tenant
from videoident.webhooks import DeliveryPolicy, WebhookDelivery, enqueue_event

BODY = {"reference": "bench", "purpose": "account_opening", "contact": {"email": "bench@example.org"},
        "claimed_identity": {"given_name": "Erika", "family_name": "Mustermann", "birthdate": "1983-08-12"}}


def _percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_s)
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 2),
            "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 2), "max_ms": round(ms[-1], 2)}


def run(data_dir: Path, sessions: int = 200, events: int = 300) -> dict[str, Any]:
    settings = Settings(data_dir=data_dir)
    app = create_app(settings)
    state = open_bank(settings, limiter=TokenBucketLimiter(1e6, 1_000_000),
                      policy=DeliveryPolicy(idle_poll_s=3600))  # the loop idles; deliveries are timed below
    app.state.bank = state
    with state.sessions() as db:
        tenant = provision_tenant(state.service, db, state.box, "bench", "Bench Bank", Profile.GWG_DE)
    auth = {"Authorization": f"Bearer {tenant.credentials.api_key}"}
    create, replay, status = [], [], []
    with TestClient(app) as client:
        for i in range(sessions):
            headers = {**auth, "Idempotency-Key": f"bench-{i}"}
            t0 = time.perf_counter()
            response = client.post("/v1/sessions", json=BODY, headers=headers)
            create.append(time.perf_counter() - t0)
            assert response.status_code == 201, response.text
            t0 = time.perf_counter()
            assert client.post("/v1/sessions", json=BODY, headers=headers).status_code == 201
            replay.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            assert client.get(f"/v1/sessions/{response.json()['id']}", headers=auth).status_code == 200
            status.append(time.perf_counter() - t0)
    with Receiver() as receiver:
        with state.sessions() as db:
            for i in range(events):
                enqueue_event(db, source_id=f"bench-{i}", tenant_id=tenant.tenant_id, url=receiver.url,
                              event_type="session.status_changed", data={"session_id": f"s{i}", "status": "waiting"},
                              session_id=f"s{i % 50}")
            db.commit()
        dispatcher = state.dispatcher
        t0 = time.perf_counter()
        while len({h["Videoident-Event-Id"] for h, _ in receiver.requests}) < events:
            if time.perf_counter() - t0 > 300:
                break
            if not asyncio.run(dispatcher.run_once()):
                time.sleep(0.2)  # a failed attempt waits for its backoff
        elapsed = time.perf_counter() - t0
    with state.sessions() as db:
        rows = db.query(WebhookDelivery).filter(WebhookDelivery.source_id.like("bench-%")).all()
        delivered = sum(row.status == "delivered" for row in rows)
        retried = sum(row.attempts > 1 for row in rows)
    state.engine.dispose()
    return {
        "post_sessions": _percentiles(create),
        "post_sessions_idempotent_replay": _percentiles(replay),
        "get_session": _percentiles(status),
        "webhooks": {"events": events, "delivered": delivered, "needed_a_retry": retried, "seconds": round(elapsed, 2),
                     "events_per_s": round(delivered / elapsed, 1) if elapsed else None},
        "database": "sqlite",
    }


def test_the_benchmark_runs_and_counts(tmp_path: Path) -> None:
    result = run(tmp_path, sessions=3, events=5)
    assert result["post_sessions"]["n"] == 3 and result["webhooks"]["delivered"] == 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--events", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="videoident-bench-") as tmp:
        print(json.dumps(run(Path(tmp), args.sessions, args.events), indent=2))


if __name__ == "__main__":
    main()
