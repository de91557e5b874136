"""Core benchmark: how long the service's own bookkeeping takes, on SQLite and PostgreSQL.

``run(quick)`` returns a JSON-able dict. Run it with::

    .venv/bin/python -c "from api.benchmarks.core import run; import json; print(json.dumps(run(True), indent=1))"

What it measures (everything durable: SQLite with synchronous=FULL, vault writes fsynced):

- ``session``: one whole session (create, join, call, 3 captures with masking, 7 check results in one
  transaction, approve, TAN sent to an in-memory notifier, TAN verified), ms p50 / p90, per database;
- ``vault``: sealed write (with fsync) and read of a 2 MiB blob, MiB/s;
- ``masking``: storing one document still (decode, mask stored + export variants, encode, seal, write), ms;
- ``audit_verify``: entries verified per second.
PostgreSQL is measured on a throw-away database on 127.0.0.1:5432 (skipped when it is not there).
"""

from __future__ import annotations

import os
import re
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipelines.layouts import Template
from pipelines.results import CheckResult, Reason, Verdict
from videoident.crypto import KeyRing, new_data_key
from videoident.db import make_engine, make_sessionmaker
from videoident.migrations import migrate
from videoident.notify import MemoryNotifier
from videoident.service import IdentService
from videoident.service_tan import REQUIRED_CHECKS
from videoident.states import Decision, Purpose, ReasonCode
from videoident.vault import EvidenceKind, EvidenceVault
from videoident.views import ClaimedIdentity, Contact

__all__ = ["run"]

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 1), "n": len(ordered)}


def _png(width: int, height: int) -> bytes:
    rng = np.random.default_rng(1)
    ok, data = cv2.imencode(".png", rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    assert ok
    return data.tobytes()


def _one_session(service: IdentService, tenant_id: str, front: bytes, face: bytes,
                 notifier: MemoryNotifier) -> None:
    email = f"{secrets.token_hex(4)}@example.org"
    created = service.create_session(tenant_id, identity=ClaimedIdentity("Erika", "Mustermann", date(1964, 8, 12)),
                                     purpose=Purpose.ACCOUNT_OPENING, reference="bench", contact=Contact(email=email))
    sid = created.session.id
    service.customer_joined(sid)
    service.start_call(sid, "agent-1")
    service.store_evidence(sid, EvidenceKind.FRONT, front, "image/png", template=Template.DE_ID)
    service.store_evidence(sid, EvidenceKind.BACK, front, "image/png", template=Template.DE_ID)
    service.store_evidence(sid, EvidenceKind.FACE, face, "image/png")
    service.record_checks(sid, [CheckResult(n, Verdict.PASS, Reason("ok", "ok"), 0.9) for n in REQUIRED_CHECKS])
    service.decide(sid, "agent-1", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED)
    message = notifier.last_to(email)
    assert message is not None
    found = re.search(r"\b(\d{6})\b", message.body)
    assert found
    service.verify_tan(sid, found.group(1))


def _measure_database(url: str, root: Path, sessions: int) -> dict[str, Any]:
    engine = make_engine(url)
    migrate(engine)
    notifier = MemoryNotifier()
    service = IdentService(make_sessionmaker(engine), KeyRing("k1", os.urandom(32)), EvidenceVault(root / "vault"),
                           notifier)
    tenant = service.create_tenant(f"bench-{secrets.token_hex(3)}", "Bench Bank").id
    front, face = _png(856, 540), _png(640, 480)
    times: list[float] = []
    for _ in range(sessions):
        start = time.perf_counter()
        _one_session(service, tenant, front, face, notifier)
        times.append(time.perf_counter() - start)
    masking: list[float] = []
    sid = service.create_session(tenant, identity=ClaimedIdentity("A", "B", date(1990, 1, 1)),
                                 purpose=Purpose.ACCOUNT_OPENING, reference="m").session.id
    for _ in range(sessions):
        start = time.perf_counter()
        service.store_evidence(sid, EvidenceKind.FRONT, front, "image/png", template=Template.DE_ID)
        masking.append(time.perf_counter() - start)
    start = time.perf_counter()
    report = service.verify_audit()
    verify_s = time.perf_counter() - start
    engine.dispose()
    return {"session": _percentiles(times), "masking_store": _percentiles(masking),
            "audit_verify": {"entries": report.entries, "ok": report.ok,
                             "entries_per_s": round(report.entries / verify_s)}}


def _measure_vault(root: Path, blobs: int) -> dict[str, Any]:
    vault = EvidenceVault(root)
    key = new_data_key()
    blob = os.urandom(2 * 1024 * 1024)
    write: list[float] = []
    read: list[float] = []
    for i in range(blobs):
        start = time.perf_counter()
        vault.write("bench", f"item-{i}", key, blob)
        write.append(time.perf_counter() - start)
        start = time.perf_counter()
        vault.read("bench", f"item-{i}", key)
        read.append(time.perf_counter() - start)
    return {"blob_mib": 2, "write_mib_per_s": round(2 / statistics.median(write), 1),
            "read_mib_per_s": round(2 / statistics.median(read), 1), "write": _percentiles(write)}


def _with_postgres(work: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        return {"skipped": f"PostgreSQL not reachable: {type(exc).__name__}"}
    name = f"videoident_bench_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            return work(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(quick: bool = True) -> dict[str, Any]:
    sessions = 5 if quick else 30
    with tempfile.TemporaryDirectory(prefix="videoident-bench-core-") as tmp:
        root = Path(tmp)
        result: dict[str, Any] = {
            "sqlite": _measure_database(f"sqlite:///{root / 'bench.db'}", root / "sqlite", sessions),
            "postgres": _with_postgres(lambda url: _measure_database(url, root / "pg", sessions)),
            "vault": _measure_vault(root / "vault-bench", 5 if quick else 20),
            "cpu_count": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 1),
        }
    return result
