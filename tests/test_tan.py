# ruff: noqa: F811 - pytest fixtures imported from tests/test_core_support.py are redefined as arguments
"""The TAN rules: keyed hash only, 5 minutes, single use, bound to session and purpose, 3 wrong entries
fail the session, re-sending never resets the counter, the message names bank and purpose, no TAN in logs."""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from tests.test_core_support import (  # noqa: F401 - fixtures
    CANARY_EMAIL,
    FakeClock,
    claimed,
    clock,
    complete_captures,
    keyring,
    migrated_sqlite,
    new_session,
    notifier,
    service,
    tan_from,
)
from videoident.db import make_sessionmaker
from videoident.errors import TanError
from videoident.notify import MemoryNotifier
from videoident.records import TanChallengeRecord
from videoident.service import IdentService
from videoident.service_tan import TanOutcome
from videoident.states import Decision, Purpose, ReasonCode, SessionStatus
from videoident.tan import (
    TAN_MAX_SENDS,
    TAN_RESEND_COOLDOWN_S,
    code_hmac,
    generate_code,
    normalise_entry,
    render_message,
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """SQLite only: this module's subject is not storage (test_core_service covers both databases)."""
    eng = migrated_sqlite(tmp_path)
    yield eng
    eng.dispose()



def approved_session(service: IdentService) -> str:
    session_id, _ = new_session(service)
    complete_captures(service, session_id)
    outcome = service.decide(session_id, "agent-1", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED)
    assert outcome.tan_sent
    return session_id


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_codes_are_six_digits_and_spread_over_all_digits() -> None:
    codes = [generate_code() for _ in range(2000)]
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    digits = Counter("".join(codes))
    # 12000 digits, 1200 expected each; a fixed or biased generator fails this by far.
    assert set(digits) == set("0123456789") and all(900 < n < 1500 for n in digits.values())
    assert len(set(codes)) > 1990


def test_entries_are_normalised_and_junk_refused() -> None:
    assert normalise_entry(" 123 456 ") == "123456" and normalise_entry("123-456") == "123456"
    assert normalise_entry("12345") is None and normalise_entry("12345a") is None
    assert normalise_entry("١٢٣٤٥٦") is None  # Arabic-Indic digits are digits to Python, not to us


def test_only_a_keyed_hash_is_stored(service: IdentService, engine: Engine, notifier: MemoryNotifier) -> None:
    session_id = approved_session(service)
    code = tan_from(notifier)
    with make_sessionmaker(engine)() as db:
        row = db.execute(select(TanChallengeRecord).where(TanChallengeRecord.session_id == session_id)).scalar_one()
    assert code not in row.code_hmac and len(row.code_hmac) == 64
    # Without the key the hash cannot be brute-forced offline: the 10^6 codes under another key never match.
    other_key = secrets.token_bytes(32)
    assert row.code_hmac != code_hmac(other_key, challenge_id=row.id, session_id=session_id,
                                      purpose=Purpose.ACCOUNT_OPENING, code=code)


def test_right_code_completes_once(service: IdentService, notifier: MemoryNotifier) -> None:
    session_id = approved_session(service)
    code = tan_from(notifier)
    assert service.verify_tan(session_id, code).outcome is TanOutcome.COMPLETED
    again = service.verify_tan(session_id, code)
    assert again.outcome is TanOutcome.NOT_PENDING and again.session.status is SessionStatus.COMPLETED


def test_three_wrong_entries_fail_the_session(service: IdentService, notifier: MemoryNotifier) -> None:
    session_id = approved_session(service)
    code = tan_from(notifier)
    first = service.verify_tan(session_id, wrong(code))
    assert (first.outcome, first.attempts_left) == (TanOutcome.WRONG, 2)
    assert service.verify_tan(session_id, "12a").outcome is TanOutcome.MALFORMED  # a typo costs no attempt
    assert service.verify_tan(session_id, wrong(code)).attempts_left == 1
    third = service.verify_tan(session_id, wrong(code))
    assert third.outcome is TanOutcome.FAILED and third.session.status is SessionStatus.FAILED
    assert third.session.reason_code is ReasonCode.TAN_ATTEMPTS_EXHAUSTED
    assert service.verify_tan(session_id, code).outcome is TanOutcome.NOT_PENDING  # too late for the right one


def test_resending_never_resets_the_counter_and_kills_the_old_code(service: IdentService, clock: FakeClock,
                                                                   notifier: MemoryNotifier) -> None:
    session_id = approved_session(service)
    old = tan_from(notifier)
    service.verify_tan(session_id, wrong(old))
    service.verify_tan(session_id, wrong(old))
    clock.advance(seconds=TAN_RESEND_COOLDOWN_S)
    service.send_tan(session_id)
    new = tan_from(notifier)
    if new != old:  # the superseded code no longer works (and costs the last attempt)
        assert service.verify_tan(session_id, old).outcome is TanOutcome.FAILED
    else:  # 1 in 10^6: the same code drawn twice
        assert service.verify_tan(session_id, new).outcome is TanOutcome.COMPLETED


def test_a_code_expires_after_five_minutes(service: IdentService, clock: FakeClock,
                                           notifier: MemoryNotifier) -> None:
    session_id = approved_session(service)
    code = tan_from(notifier)
    clock.advance(seconds=299)
    assert service.verify_tan(session_id, wrong(code)).outcome is TanOutcome.WRONG
    clock.advance(seconds=1)
    late = service.verify_tan(session_id, code)
    assert late.outcome is TanOutcome.EXPIRED and late.attempts_left == 2  # expiry costs no attempt
    service.send_tan(session_id)
    assert service.verify_tan(session_id, tan_from(notifier)).outcome is TanOutcome.COMPLETED


def test_a_code_is_bound_to_its_session(service: IdentService, notifier: MemoryNotifier, clock: FakeClock) -> None:
    first = approved_session(service)
    code_first = tan_from(notifier)
    clock.advance(seconds=1)
    second = approved_session(service)
    code_second = tan_from(notifier)
    if code_first != code_second:
        assert service.verify_tan(second, code_first).outcome is TanOutcome.WRONG
    assert service.verify_tan(first, code_first).outcome is TanOutcome.COMPLETED


def test_sends_are_capped(service: IdentService, clock: FakeClock, notifier: MemoryNotifier) -> None:
    session_id = approved_session(service)
    for _ in range(TAN_MAX_SENDS - 1):
        clock.advance(seconds=TAN_RESEND_COOLDOWN_S)
        service.send_tan(session_id)
    clock.advance(seconds=TAN_RESEND_COOLDOWN_S)
    with pytest.raises(TanError, match="maximum"):
        service.send_tan(session_id)
    assert len(notifier.messages) == TAN_MAX_SENDS


def test_no_contact_means_approved_without_tan_until_one_is_given(service: IdentService,
                                                                  notifier: MemoryNotifier) -> None:
    from videoident.audit import Actor
    from videoident.states import ActorType
    from videoident.views import Contact

    tenant = service.create_tenant("nocontact", "Nocontact Bank")
    created = service.create_session(tenant.id, identity=claimed(), purpose=Purpose.ACCOUNT_OPENING, reference="r")
    session_id = created.session.id
    service.customer_joined(session_id)
    service.start_call(session_id, "agent-1")
    complete_captures(service, session_id)
    outcome = service.decide(session_id, "agent-1", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED)
    assert not outcome.tan_sent and outcome.tan_problem and outcome.session.status is SessionStatus.APPROVED
    service.set_contact(session_id, Contact(email="late@example.org"), Actor(ActorType.CUSTOMER, session_id))
    service.send_tan(session_id)
    assert service.verify_tan(session_id, tan_from(notifier, "late@example.org")).outcome is TanOutcome.COMPLETED


def test_message_names_bank_and_purpose_in_the_customers_language() -> None:
    en = render_message(code="123456", bank="Musterbank AG", purpose=Purpose.ACCOUNT_OPENING, locale="en-GB")
    assert "to open your account at Musterbank AG" in en.body and "123456" in en.sms
    assert "Musterbank AG" in en.subject and "will never ask" in en.body
    de = render_message(code="123456", bank="Musterbank AG", purpose=Purpose.REACTIVATION, locale="de")
    assert "Reaktivierung Ihres Kontos bei Musterbank AG" in de.body
    nl = render_message(code="123456", bank="Bank NL", purpose=Purpose.ACCOUNT_OPENING, locale="nl_NL")
    assert "rekening bij Bank NL" in nl.body
    assert len(en.sms) <= 160


def test_the_tan_never_reaches_a_log(service: IdentService, notifier: MemoryNotifier,
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    session_id = approved_session(service)
    code = tan_from(notifier)
    service.verify_tan(session_id, wrong(code))
    service.verify_tan(session_id, code)
    assert caplog.records, "the service logs its steps (ids only)"
    assert code not in caplog.text and CANARY_EMAIL not in caplog.text
    assert code not in repr(notifier.messages)
