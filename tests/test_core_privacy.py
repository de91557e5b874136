# ruff: noqa: F811 - pytest fixtures imported from tests/test_core_support.py are redefined as arguments
"""Privacy by construction: after full sessions with planted canary names, MRZ lines, document numbers,
contacts and TANs, a byte scan of the database, the vault and the logs finds none of them in plaintext;
after erasure not even the wrapped data key survives in the SQLite files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import Engine, column, inspect, select, table

from pipelines.results import CheckResult, Reason, Verdict
from tests.test_core_support import (  # noqa: F401 - fixtures
    CANARY_DOCNO,
    CANARY_EMAIL,
    CANARY_FAMILY,
    CANARY_GIVEN,
    clock,
    complete_captures,
    engine,
    keyring,
    new_session,
    notifier,
    postgres_url,
    service,
    tan_from,
)
from videoident import audit
from videoident.db import make_sessionmaker
from videoident.notify import MemoryNotifier
from videoident.records import DataKeyRecord
from videoident.service import IdentService
from videoident.states import ActorType, Decision, ReasonCode
from videoident.vault import EvidenceKind
from videoident.views import Contact

CANARY_MRZ = f"IDD<<{CANARY_DOCNO}<<<<<<<<<<<<<<<"
CANARY_PHONE = "+4915199887766"


def canaries(tan: str) -> list[bytes]:
    words = [CANARY_GIVEN, CANARY_FAMILY, CANARY_FAMILY.upper(), CANARY_DOCNO, CANARY_MRZ, CANARY_EMAIL,
             CANARY_PHONE, "1964-08-12", "640812", f"TAN {tan}"]
    return [w.encode() for w in words] + [w.encode("utf-16-le") for w in words[:3]]


def run_full_sessions(service: IdentService, notifier: MemoryNotifier) -> str:
    """One completed session with every kind of PII planted, one rejected, one erased; returns the TAN."""
    session_id, _ = new_session(service, contact=Contact(email=CANARY_EMAIL, phone=CANARY_PHONE))
    complete_captures(service, session_id)
    service.record_check(session_id, CheckResult("mrz", Verdict.PASS, Reason("ok", f"read {CANARY_FAMILY}"), 1.0,
                                                 {"lines": [CANARY_MRZ, "6408125F3103095D<<<<<<<<<<<<<6",
                                                            f"{CANARY_FAMILY.upper()}<<{CANARY_GIVEN.upper()}"],
                                                  "fields": {"document_number": CANARY_DOCNO}}))
    service.store_evidence(session_id, EvidenceKind.EXTRACTED_DATA,
                           json.dumps({"surname": CANARY_FAMILY, "mrz": CANARY_MRZ}).encode(), "application/json")
    service.decide(session_id, "agent-1", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED,
                   comment=f"{CANARY_GIVEN} {CANARY_FAMILY} showed card {CANARY_DOCNO}")
    tan = tan_from(notifier, CANARY_PHONE)  # a phone number wins: the TAN goes by SMS
    service.verify_tan(session_id, tan)
    rejected, _ = new_session(service)
    service.decide(rejected, "agent-1", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED,
                   override_reason=f"Customer {CANARY_FAMILY} explained the MRZ {CANARY_MRZ} mismatch")
    service.review(rejected, "supervisor-1", confirm=False, comment=f"{CANARY_GIVEN} is not on the photo")
    erased, _ = new_session(service)
    complete_captures(service, erased)
    service.erase(erased, audit.Actor(ActorType.BANK, "bank"))
    service.claimed_identity(session_id, audit.Actor(ActorType.BANK, "bank"))
    return tan


def database_bytes(engine: Engine, tmp_path: Path) -> bytes:
    if engine.dialect.name == "sqlite":
        return b"".join(p.read_bytes() for p in tmp_path.glob("core.db*"))
    chunks: list[bytes] = []
    with engine.connect() as conn:
        for name in inspect(engine).get_table_names():
            columns = [column(c["name"]) for c in inspect(engine).get_columns(name)]
            for row in conn.execute(select(table(name, *columns))):
                for value in row:
                    chunks.append(value if isinstance(value, bytes | memoryview) and not isinstance(value, str)
                                  else str(value).encode())
    return b"\n".join(bytes(c) for c in chunks)


def test_no_plaintext_pii_in_database_vault_or_logs(service: IdentService, notifier: MemoryNotifier,
                                                    engine: Engine, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tan = run_full_sessions(service, notifier)
    haystacks = {
        "database": database_bytes(engine, tmp_path),
        "vault": b"".join(p.read_bytes() for p in (tmp_path / "vault").rglob("*") if p.is_file()),
        "logs": caplog.text.encode(),
    }
    assert len(haystacks["database"]) > 10_000 and len(haystacks["vault"]) > 10_000  # the scan sees real data
    for where, data in haystacks.items():
        for canary in canaries(tan):
            assert canary not in data, f"{canary!r} found in plaintext in the {where}"
    # The scan can find things: the reference of the bank (not PII by contract) is there in plaintext.
    assert b"order-4711" in haystacks["database"]


def test_erasure_leaves_no_copy_of_the_wrapped_key_in_the_sqlite_files(service: IdentService, engine: Engine,
                                                                       tmp_path: Path) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps dead row versions until VACUUM; there rotation retires the wrapping key")
    session_id, _ = new_session(service)
    with make_sessionmaker(engine)() as db:
        row = db.get(DataKeyRecord, session_id)
        assert row is not None and row.wrapped_key is not None
        wrapped = bytes(row.wrapped_key)
    files = lambda: b"".join(p.read_bytes() for p in tmp_path.glob("core.db*"))  # noqa: E731
    assert wrapped in files(), "the scan finds the key while it exists"
    service.erase(session_id, audit.Actor(ActorType.BANK, "bank"))
    assert wrapped not in files(), "while the server runs (connections open)"
    engine.dispose()
    assert wrapped not in files(), "after it stopped"
