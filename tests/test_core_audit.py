# ruff: noqa: F811 - pytest fixtures imported from tests/test_core_support.py are redefined as arguments
"""The audit trail is hash-chained: editing, deleting or truncating entries is detected, on SQLite and
PostgreSQL, also after concurrent writers; ``videoident audit verify`` reports it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, text, update

from api.cli import main
from tests.test_core_support import (  # noqa: F401 - fixtures
    clock,
    engine,
    keyring,
    new_session,
    notifier,
    postgres_url,
    service,
)
from videoident import audit
from videoident.db import make_engine, make_sessionmaker
from videoident.records import AuditEventRecord
from videoident.service import IdentService
from videoident.states import ActorType


def test_a_clean_chain_verifies_and_covers_every_step(service: IdentService) -> None:
    session_id, _ = new_session(service)
    report = service.verify_audit()
    assert report.ok and report.entries == 4  # tenant created, session created, waiting, in_call
    assert service.verify_audit(expected_head=report.head_hash).ok


def test_an_edited_entry_is_found(service: IdentService, engine: Engine) -> None:
    new_session(service)
    with engine.begin() as conn:
        conn.execute(update(AuditEventRecord).where(AuditEventRecord.seq == 3)
                     .values(actor_id="someone-else"))
    report = service.verify_audit()
    assert not report.ok and report.bad_seq == 3 and "edited" in (report.problem or "")


def test_an_edit_that_also_rewrites_its_hash_breaks_the_next_link(service: IdentService, engine: Engine) -> None:
    new_session(service)
    with make_sessionmaker(engine)() as db:
        row = db.get(AuditEventRecord, 2)
        assert row is not None
        row.action = "session.viewed"
        row.hash = audit.entry_hash(seq=row.seq, at=row.at, actor_type=row.actor_type, actor_id=row.actor_id,
                                    action=row.action, tenant_id=row.tenant_id, session_id=row.session_id,
                                    details=row.details, prev_hash=row.prev_hash)
        db.commit()
    report = service.verify_audit()
    assert not report.ok and report.bad_seq == 3 and "prev_hash" in (report.problem or "")


def test_deleted_and_truncated_entries_are_found(service: IdentService, engine: Engine) -> None:
    new_session(service)
    head = service.verify_audit().head_hash
    with engine.begin() as conn:
        conn.execute(delete(AuditEventRecord).where(AuditEventRecord.seq == 4))
    truncated = service.verify_audit(expected_head=head)
    assert not truncated.ok and "truncated" in (truncated.problem or "")
    with engine.begin() as conn:
        conn.execute(delete(AuditEventRecord).where(AuditEventRecord.seq == 2))
    report = service.verify_audit()
    assert not report.ok and report.bad_seq == 2 and "missing" in (report.problem or "")


def test_details_refuse_content(service: IdentService, engine: Engine) -> None:
    with make_sessionmaker(engine)() as db, pytest.raises(TypeError):
        audit.append(db, at=service.clock(), actor=audit.SYSTEM, action="x", details={"blob": b"bytes"})
    with make_sessionmaker(engine)() as db, pytest.raises(ValueError, match="too long"):
        audit.append(db, at=service.clock(), actor=audit.SYSTEM, action="x", details={"comment": "x" * 500})


def test_concurrent_writers_keep_one_unbroken_chain(service: IdentService) -> None:
    tenant = service.create_tenant("busy", "Busy Bank").id
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for _ in range(4):
                new_session(service, tenant)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    report = service.verify_audit()
    assert report.ok and report.entries == 1 + 3 * 4 * 3  # the tenant; created, waiting, in_call per session


def test_audit_verify_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VIDEOIDENT_DATA_DIR", str(tmp_path))
    from videoident.notify import MemoryNotifier
    from videoident.settings import Settings

    settings = Settings()
    cli_service = IdentService.from_settings(settings, notifier=MemoryNotifier())
    new_session(cli_service)
    assert main(["audit", "verify"]) == 0
    assert "audit trail OK: 4 entries" in capsys.readouterr().out
    engine = make_engine(settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor_type = :a WHERE seq = 4"), {"a": ActorType.BANK.value})
    engine.dispose()
    assert main(["audit", "verify"]) == 1
    assert "BROKEN at entry 4" in capsys.readouterr().out
