# ruff: noqa: F811 - pytest fixtures imported from tests/test_core_support.py are redefined as arguments
"""IdentService end to end on SQLite and PostgreSQL: lifecycle, approval gate, four-eyes, outbox, expiry,
tenant isolation, erasure, retention and master-key rotation."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from pipelines.results import Verdict
from tests.test_core_support import (  # noqa: F401 - fixtures
    CANARY_FAMILY,
    FakeClock,
    claimed,
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
from videoident.crypto import KeyRing
from videoident.db import make_sessionmaker
from videoident.errors import ApprovalBlocked, Erased, FourEyesViolation, NotFound, TokenInvalid
from videoident.notify import MemoryNotifier
from videoident.records import DataKeyRecord, IdentSessionRecord, OutboxEventRecord
from videoident.service import IdentService
from videoident.states import TERMINAL, ActorType, Decision, IllegalTransition, Purpose, ReasonCode, SessionStatus
from videoident.tan import TAN_RESEND_COOLDOWN_S
from videoident.vault import EvidenceVault, Variant

BANK = audit.Actor(ActorType.BANK, "bank")


def test_customer_link_is_a_hash_at_rest_and_dies_with_the_session(service: IdentService, engine: Engine) -> None:
    session_id, token = new_session(service)
    assert service.session_by_token(token).id == session_id
    with make_sessionmaker(engine)() as db:
        row = db.get(IdentSessionRecord, session_id)
        assert row is not None and token not in row.customer_token_hash and len(token) >= 43
    with pytest.raises(TokenInvalid):
        service.session_by_token(token[:-1] + ("0" if token[-1] != "0" else "1"))
    service.decide(session_id, "agent-1", Decision.ABORTED, ReasonCode.CONNECTION_LOST)
    with pytest.raises(TokenInvalid):
        service.session_by_token(token)


def test_approval_without_captures_and_checks_is_blocked(service: IdentService) -> None:
    session_id, _ = new_session(service)
    with pytest.raises(ApprovalBlocked) as blocked:
        service.decide(session_id, "agent-1", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED)
    assert "capture:front" in blocked.value.gaps and "check:mrz:missing" in blocked.value.gaps
    assert service.get_session(session_id).status is SessionStatus.IN_CALL
    with pytest.raises(ApprovalBlocked):  # an override needs a reason a reviewer can judge
        service.decide(session_id, "agent-1", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED, override_reason="ok")


def test_a_failed_check_also_blocks_approval(service: IdentService) -> None:
    session_id, _ = new_session(service)
    complete_captures(service, session_id, verdict=Verdict.INCONCLUSIVE)
    assert service.approval_gaps(session_id) == [f"check:{n}:inconclusive" for n in
                                                 ("quality", "document", "tilt", "hologram", "mrz", "face", "liveness")]
    with pytest.raises(ApprovalBlocked):
        service.decide(session_id, "agent-1", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED)


def test_full_session_to_completed(service: IdentService, notifier: MemoryNotifier) -> None:
    session_id, _ = new_session(service)
    complete_captures(service, session_id)
    assert service.approval_gaps(session_id) == []
    outcome = service.decide(session_id, "agent-1", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED,
                             comment="all fine")
    assert outcome.tan_sent and outcome.session.status is SessionStatus.TAN_PENDING
    result = service.verify_tan(session_id, tan_from(notifier))
    assert result.session.status is SessionStatus.COMPLETED
    view = service.get_session(session_id)
    assert view.decision is Decision.APPROVED and view.reason_code is ReasonCode.IDENTITY_VERIFIED
    assert view.decided_by == "agent-1" and view.ended_at is not None
    statuses = [e.payload["status"] for e in service.pending_outbox() if e.session_id == session_id]
    assert statuses == ["created", "waiting", "in_call", "approved", "tan_pending", "completed"]
    assert service.verify_audit().ok


def test_override_goes_to_four_eyes_and_the_bank_hears_only_the_outcome(service: IdentService,
                                                                          notifier: MemoryNotifier) -> None:
    session_id, _ = new_session(service)
    outcome = service.decide(session_id, "agent-1", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED,
                             override_reason="Hologram check inconclusive under strong light; verified by tilting")
    assert outcome.session.status is SessionStatus.REVIEW and not outcome.tan_sent
    assert outcome.session.bank_status is SessionStatus.IN_CALL
    assert notifier.messages == []
    with pytest.raises(FourEyesViolation):
        service.review(session_id, "agent-1", confirm=True)
    confirmed = service.review(session_id, "supervisor-7", confirm=True)
    assert confirmed.session.status is SessionStatus.TAN_PENDING and confirmed.tan_sent
    view = service.get_session(session_id)
    assert view.override and view.reviewed_by == "supervisor-7" and view.reason_code is ReasonCode.OVERRIDE_CONFIRMED
    statuses = [e.payload["status"] for e in service.pending_outbox() if e.session_id == session_id]
    assert "review" not in statuses and statuses[-2:] == ["approved", "tan_pending"]


def test_supervisor_can_reject_an_override(service: IdentService) -> None:
    session_id, _ = new_session(service)
    service.decide(session_id, "agent-1", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED,
                   override_reason="Face check failed but the customer looks like the photo to me")
    outcome = service.review(session_id, "supervisor-7", confirm=False)
    assert outcome.session.status is SessionStatus.REJECTED
    assert outcome.session.reason_code is ReasonCode.OVERRIDE_REJECTED


def test_reason_must_fit_the_decision_and_illegal_moves_raise(service: IdentService) -> None:
    session_id, _ = new_session(service)
    with pytest.raises(ValueError, match="does not fit"):
        service.decide(session_id, "agent-1", Decision.REJECTED, ReasonCode.CONNECTION_LOST)
    service.decide(session_id, "agent-1", Decision.REJECTED, ReasonCode.FACE_MISMATCH)
    with pytest.raises(IllegalTransition):
        service.start_call(session_id, "agent-2")
    with pytest.raises(IllegalTransition):
        service.decide(session_id, "agent-1", Decision.ABORTED, ReasonCode.CONNECTION_LOST)


def test_status_change_and_outbox_event_commit_together(service: IdentService, engine: Engine) -> None:
    session_id, _ = new_session(service)
    with make_sessionmaker(engine)() as db:
        events = db.execute(select(OutboxEventRecord).where(OutboxEventRecord.session_id == session_id)).scalars()
        before = len(list(events))
    with pytest.raises(ApprovalBlocked):  # fails inside the transaction: nothing of it may remain
        service.decide(session_id, "agent-1", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED, comment="x")
    with make_sessionmaker(engine)() as db:
        events = db.execute(select(OutboxEventRecord).where(OutboxEventRecord.session_id == session_id)).scalars()
        assert len(list(events)) == before
        row = db.get(IdentSessionRecord, session_id)
        assert row is not None and row.decision_comment_enc is None
    first = service.pending_outbox()[0]
    service.mark_outbox_dispatched(first.event_id)
    assert first.event_id not in {e.event_id for e in service.pending_outbox()}


def test_call_drop_returns_to_the_queue(service: IdentService) -> None:
    session_id, _ = new_session(service)
    assert service.call_dropped(session_id).status is SessionStatus.WAITING
    assert service.start_call(session_id, "agent-2").agent_id == "agent-2"


def test_tenants_are_isolated(service: IdentService) -> None:
    a = service.create_tenant("bank-a", "Bank A").id
    b = service.create_tenant("bank-b", "Bank B").id
    session_id, _ = new_session(service, a)
    assert service.get_session(session_id, a).id == session_id
    with pytest.raises(NotFound):
        service.get_session(session_id, b)
    with pytest.raises(NotFound):
        service.list_evidence(session_id, tenant_id=b)
    with pytest.raises(NotFound):
        service.erase(session_id, BANK, tenant_id=b)
    with pytest.raises(NotFound):  # a reactivation may only refer to the tenant's own sessions
        service.create_session(b, identity=claimed(), purpose=Purpose.REACTIVATION, reference="r",
                               reference_session_id=session_id)


def test_expiry_of_unfinished_sessions(service: IdentService, clock: FakeClock) -> None:
    created = service.create_session(service.create_tenant("t", "T").id, identity=claimed(),
                                     purpose=Purpose.ACCOUNT_OPENING, reference="r")
    in_call, _ = new_session(service)
    clock.advance(hours=49)
    assert service.expire_due() == 1
    assert service.get_session(created.session.id).status is SessionStatus.EXPIRED
    assert service.get_session(in_call).status is SessionStatus.IN_CALL  # never under an agent's feet
    with pytest.raises(TokenInvalid):
        service.session_by_token(created.customer_token)


def test_erasure_shreds_pii_and_evidence_but_keeps_the_audit_record(service: IdentService, engine: Engine,
                                                                     tmp_path: Path) -> None:
    session_id, _ = new_session(service)
    complete_captures(service, session_id)
    assert service.claimed_identity(session_id, BANK).family_name == CANARY_FAMILY
    assert list((tmp_path / "vault").rglob("*.sealed"))
    service.erase(session_id, BANK, why="bank_request")
    view = service.get_session(session_id)
    assert view.status is SessionStatus.ABORTED and view.erased_at is not None
    with pytest.raises(Erased):
        service.claimed_identity(session_id, BANK)
    with pytest.raises(Erased):
        service.check_results(session_id)
    assert not list((tmp_path / "vault").rglob("*.sealed"))
    with make_sessionmaker(engine)() as db:
        key = db.get(DataKeyRecord, session_id)
        assert key is not None and key.wrapped_key is None and key.destroyed_at is not None
    report = service.verify_audit()
    assert report.ok
    service.erase(session_id, BANK)  # idempotent


def test_retention_shreds_ended_sessions_past_their_period(service: IdentService, clock: FakeClock) -> None:
    tenant = service.create_tenant("gwg", "GwG Bank", retention_days=5 * 366)
    done, _ = new_session(service, tenant.id)
    service.decide(done, "agent-1", Decision.REJECTED, ReasonCode.FACE_MISMATCH)
    clock.advance(days=89)
    assert service.shred_past_retention() == 0
    clock.advance(days=2)  # unsuccessful sessions: 90 days
    assert service.shred_past_retention() == 1
    assert service.get_session(done).erased_at is not None


def test_master_key_rotation_rewraps_without_downtime(engine: Engine, tmp_path: Path, clock: FakeClock) -> None:
    old = KeyRing("k1", secrets.token_bytes(32))
    notifier = MemoryNotifier()
    sessions = make_sessionmaker(engine)
    before = IdentService(sessions, old, EvidenceVault(tmp_path / "v"), notifier, clock=clock)
    session_id, _ = new_session(before)
    complete_captures(before, session_id)
    item = before.list_evidence(session_id, variant=Variant.EXPORT)[0]
    new = KeyRing("k2", secrets.token_bytes(32), {"k1": old.current})
    during = IdentService(sessions, new, EvidenceVault(tmp_path / "v"), notifier, clock=clock)
    # During the rotation a worker with the new ring reads old-wrapped keys, and a worker with the old ring
    # still reads them too (nothing is re-wrapped yet).
    assert during.claimed_identity(session_id, BANK).family_name == CANARY_FAMILY
    assert before.read_evidence(session_id, item.id, BANK)[1]
    assert during.rotate_master_key() == 1
    with sessions() as db:
        row = db.get(DataKeyRecord, session_id)
        assert row is not None and row.master_key_id == "k2"
    after = IdentService(sessions, KeyRing("k2", new.current), EvidenceVault(tmp_path / "v"), notifier, clock=clock)
    assert after.read_evidence(session_id, item.id, BANK)[1]
    assert after.rotate_master_key() == 0


def test_tan_resend_respects_the_cooldown(service: IdentService, clock: FakeClock, notifier: MemoryNotifier) -> None:
    from videoident.errors import TanError

    session_id, _ = new_session(service)
    complete_captures(service, session_id)
    service.decide(session_id, "agent-1", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED)
    with pytest.raises(TanError, match="wait"):
        service.send_tan(session_id)
    clock.advance(seconds=TAN_RESEND_COOLDOWN_S)
    service.send_tan(session_id)
    assert len(notifier.messages) == 2


def test_parallel_wrong_tans_never_count_past_the_limit(service: IdentService, notifier: MemoryNotifier) -> None:
    """Six wrong entries at once from six threads (a scripted guesser): the optimistic lock on the session
    serialises them, exactly three count, the session fails, and the right code is then refused."""
    import threading

    from videoident.service_tan import TanOutcome

    session_id, _ = new_session(service)
    complete_captures(service, session_id)
    service.decide(session_id, "agent-1", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED)
    code = tan_from(notifier)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    outcomes: list[TanOutcome] = []
    barrier = threading.Barrier(6)

    def guess() -> None:
        barrier.wait()
        outcomes.append(service.verify_tan(session_id, wrong).outcome)

    threads = [threading.Thread(target=guess) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == sorted([TanOutcome.WRONG] * 2 + [TanOutcome.FAILED] + [TanOutcome.NOT_PENDING] * 3)
    view = service.get_session(session_id)
    assert view.status is SessionStatus.FAILED and view.tan_failed_attempts == 3
    assert service.verify_tan(session_id, code).outcome is TanOutcome.NOT_PENDING


def test_housekeeping_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from api.cli import main
    from videoident.settings import Settings

    monkeypatch.setenv("VIDEOIDENT_DATA_DIR", str(tmp_path))
    cli = IdentService.from_settings(Settings(), notifier=MemoryNotifier())
    cli.create_session(cli.create_tenant("t", "T").id, identity=claimed(), purpose=Purpose.ACCOUNT_OPENING,
                       reference="r")
    assert main(["housekeeping", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"expired": 0, "shredded": 0, "removed_temp_files": 0, "removed_orphans": 0}


def test_reviewer_reads_the_override_reason_and_queues_list_oldest_first(service: IdentService,
                                                                        clock: FakeClock) -> None:
    first, _ = new_session(service)
    clock.advance(minutes=1)
    second, _ = new_session(service)
    reason = "Hologram inconclusive in this light; I verified the kinegram by tilting it myself"
    service.decide(first, "agent-1", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED, comment="calm customer",
                   override_reason=reason)
    queue = service.list_sessions(statuses=[SessionStatus.REVIEW])
    assert [s.id for s in queue] == [first]
    supervisor = audit.Actor(ActorType.SUPERVISOR, "supervisor-7")
    assert service.decision_notes(first, supervisor) == {"comment": "calm customer", "override_reason": reason,
                                                         "review_comment": None}
    service.review(first, "supervisor-7", confirm=False, comment="kinegram colours are wrong for this card")
    notes = service.decision_notes(first, supervisor)
    assert notes["comment"] == "calm customer" and notes["review_comment"] == "kinegram colours are wrong for this card"
    assert [s.id for s in service.list_sessions(statuses=[SessionStatus.IN_CALL])] == [second]


def test_only_the_agent_with_the_call_decides_and_outside_actions_are_audited(service: IdentService) -> None:
    from videoident.errors import NotAssigned

    session_id, _ = new_session(service)
    with pytest.raises(NotAssigned):
        service.decide(session_id, "agent-2", Decision.REJECTED, ReasonCode.FACE_MISMATCH)
    agent = audit.Actor(ActorType.AGENT, "agent-2")
    service.record_audit(agent, "console.stream_viewed", session_id=session_id, seconds=12)
    with pytest.raises(TypeError):
        service.record_audit(agent, "console.note", session_id=session_id, note={"free": "text"})
    with pytest.raises(NotFound):
        service.record_audit(agent, "console.stream_viewed", session_id="no-such-session")
    report = service.verify_audit()
    assert report.ok and report.entries == 5


def test_the_calls_last_recording_segment_is_kept_shortly_after_the_decision(service: IdentService,
                                                                              clock: FakeClock) -> None:
    """The live media seals its open segment only once it sees the decision: that segment must not be lost,
    but nothing else is accepted for an ended session, and nothing at all after the grace or an erasure."""
    from videoident.service_evidence import RECORDING_GRACE
    from videoident.vault import EvidenceKind

    session_id, _ = new_session(service)
    service.decide(session_id, "agent-1", Decision.REJECTED, ReasonCode.FACE_MISMATCH)
    assert service.get_session(session_id).status in TERMINAL
    clock.advance(seconds=5)
    [segment] = service.store_evidence(session_id, EvidenceKind.RECORDING_SEGMENT, b"last webm", "video/webm")
    assert segment.kind == EvidenceKind.RECORDING_SEGMENT.value
    with pytest.raises(ValueError, match="ended"):  # a still is not a late recording
        service.store_evidence(session_id, EvidenceKind.FACE, b"png", "image/png")
    clock.advance(seconds=RECORDING_GRACE.total_seconds())
    with pytest.raises(ValueError, match="ended"):
        service.store_evidence(session_id, EvidenceKind.RECORDING_SEGMENT, b"too late", "video/webm")
