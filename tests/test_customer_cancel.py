"""The customer cancels on their page before the agent's decision: the session ends as ``cancelled`` (a
terminal status, not a decision), the bank reads it and gets a signed webhook, the agent's console drops the
call, the link dies, and nothing can cancel it twice or decide it afterwards. After the decision (four-eyes
review, TAN) the customer can no longer cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aioice.ice
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.deps import open_bank
from api.media.ice import loopback_host_addresses
from api.routers.customer import CONSENT_VERSION
from tests.test_api_bank import FAST, Bank, session_body
from tests.test_console_api import Console
from tests.test_webhooks import Receiver
from videoident.agents import AgentRole
from videoident.masking_policy import Profile
from videoident.records import AuditEventRecord
from videoident.states import IllegalTransition, ReasonCode, SessionStatus
from videoident.tenants import provision_tenant
from videoident.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, WebhookVerifier

JOIN = {"consent": True, "consent_version": CONSENT_VERSION, "locale": "de"}


@pytest.fixture(autouse=True)
def _loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", loopback_host_addresses)


@pytest.fixture
def bank(tmp_path: Path) -> Iterator[Bank]:
    """The bank API and the customer page on one app, without its lifespan (no live media engines to load:
    a cancel before the call needs none); webhooks are delivered by the dispatcher's ``run_once``."""
    from videoident.settings import Settings

    settings = Settings(data_dir=tmp_path, public_base_url="http://kyc.test:8000")
    app = create_app(settings)
    state = open_bank(settings, policy=FAST)
    app.state.bank = state
    with state.sessions() as db:
        a = provision_tenant(state.service, db, state.box, "bank-a", "Bank A", Profile.GWG_DE)
    yield Bank(TestClient(app), state, a, a)
    state.engine.dispose()


def test_cancel_while_waiting_reaches_the_bank_signed_and_is_final(bank: Bank) -> None:
    with Receiver() as receiver:
        created = bank.client.post("/v1/sessions", json=session_body(receiver.url), headers=bank.auth(bank.a)).json()
        sid, token = created["id"], created["customer_url"].rsplit("/", 1)[1]
        assert bank.client.get(f"/ident/{token}/api/state").json()["may_cancel"]
        joined = bank.client.post(f"/ident/{token}/api/join", json=JOIN).json()
        assert joined["status"] == "waiting" and joined["may_cancel"]

        cancelled = bank.client.post(f"/ident/{token}/api/cancel")
        assert cancelled.status_code == 200 and cancelled.json() == {"status": "cancelled"}
        # The link is dead: a second cancel, the state and the join all look like an unknown link.
        assert bank.client.post(f"/ident/{token}/api/cancel").status_code == 404
        assert bank.client.get(f"/ident/{token}/api/state").status_code == 404

        status = bank.client.get(f"/v1/sessions/{sid}", headers=bank.auth(bank.a)).json()
        assert status["status"] == "cancelled" and status["decision"] is None
        assert asyncio.run(bank.state.dispatcher.run_until_idle()) == 3  # created, waiting, cancelled

    verifier = WebhookVerifier([bank.a.credentials.webhook_secret])
    events = [verifier.verify(body, h[SIGNATURE_HEADER], h[EVENT_ID_HEADER]) for h, body in receiver.requests]
    changes = [e.data for e in events if e.type == "session.status_changed"]
    assert [c["status"] for c in changes] == ["waiting", "cancelled"]
    assert changes[-1]["previous_status"] == "waiting" and changes[-1]["reason_code"] == "customer_cancelled"
    assert changes[-1]["decision"] is None

    service = bank.state.service
    view = service.get_session(sid)
    assert view.status is SessionStatus.CANCELLED and view.reason_code is ReasonCode.CUSTOMER_CANCELLED
    assert view.ended_at is not None
    with pytest.raises(IllegalTransition):  # nothing follows a cancel: no second cancel, no call, no decision
        service.customer_cancelled(sid)
    with pytest.raises(IllegalTransition):
        service.start_call(sid, "agent-7")
    with bank.state.sessions() as db:
        entry = db.execute(select(AuditEventRecord).where(AuditEventRecord.session_id == sid,
                                                          AuditEventRecord.action == "session.status_changed")
                           .order_by(AuditEventRecord.seq.desc())).scalars().first()
    assert entry is not None and entry.actor_type == "customer"
    assert entry.details["status"] == "cancelled" and entry.details["reason_code"] == "customer_cancelled"
    assert service.verify_audit().ok


@pytest.fixture
def console(tmp_path: Path) -> Console:
    c = Console(tmp_path)
    c.add("anna", AgentRole.AGENT)
    c.add("sue", AgentRole.SUPERVISOR)
    return c


async def test_cancel_during_the_call_drops_it_from_the_console(console: Console) -> None:
    session_id, token = console.joined_session()
    async with console.client() as anna:
        await console.login(anna, "anna")
        assert (await anna.post("/console/api/next")).json()["session_id"] == session_id
        state = (await anna.get(f"/ident/{token}/api/state")).json()
        assert state["status"] == "in_call" and state["may_cancel"]

        cancelled = await anna.post(f"/ident/{token}/api/cancel")  # the customer's page, same app
        assert cancelled.status_code == 200 and cancelled.json() == {"status": "cancelled"}

        live = (await anna.get(f"/console/api/calls/{session_id}/live")).json()
        assert live["status"] == "cancelled" and not live["may_act"]  # the console drops the call on this
        decided = await anna.post(f"/console/api/calls/{session_id}/decision",
                                  json={"decision": "approved", "reason_code": "identity_verified"})
        assert decided.status_code == 403  # nobody may act on it any more
        assert (await anna.get("/console/api/queue")).json()["current_call"] is None
    view = console.service.get_session(session_id)
    assert view.status is SessionStatus.CANCELLED and view.decision is None
    outbox = [e.payload for e in console.service.pending_outbox() if e.session_id == session_id]
    assert outbox[-1]["status"] == "cancelled" and outbox[-1]["previous_status"] == "in_call"


async def test_no_cancel_after_the_agent_decided(console: Console) -> None:
    from tests.test_live_support import approve_with_tan
    from videoident.states import Decision

    session_id, token = console.joined_session()
    service = console.service
    service.start_call(session_id, "agent-1")
    service.decide(session_id, "agent-1", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED,
                   override_reason="checks stubbed in this test, reviewed by a supervisor")
    async with console.client() as customer:
        assert not (await customer.get(f"/ident/{token}/api/state")).json()["may_cancel"]
        refused = await customer.post(f"/ident/{token}/api/cancel")  # during four-eyes review
        assert refused.status_code == 409
        assert service.get_session(session_id).status is SessionStatus.REVIEW

    other_id, other_token = console.joined_session()
    service.start_call(other_id, "agent-1")
    approve_with_tan(service, other_id)  # approved, TAN sent
    async with console.client() as customer:
        assert (await customer.post(f"/ident/{other_token}/api/cancel")).status_code == 409
    assert service.get_session(other_id).status is SessionStatus.TAN_PENDING
