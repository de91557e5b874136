"""The customer's endpoints against a real core service (SQLite + vault in a temp folder): the page and
its headers, state without PII, consent into the waiting room with a queue position, WebRTC signalling into
a live session whose recording is sealed in the vault, and the end of the live media with the session."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import aioice.ice
import av
import httpx
import pytest
from sqlalchemy import select

from api.media.ice import loopback_host_addresses
from api.media.verification import agent_code
from api.routers.customer import CONSENT_VERSION
from tests.test_live_support import (
    Customer,
    LevelAnalyzer,
    SyntheticCamera,
    make_customer_app,
    new_customer_session,
    wait_until,
)
from videoident import audit
from videoident.records import AuditEventRecord
from videoident.states import ActorType
from videoident.vault import EvidenceKind


@pytest.fixture(autouse=True)
def _loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", loopback_host_addresses)


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")  # type: ignore[arg-type]


async def test_page_state_and_consent(tmp_path: Path) -> None:
    app, service = make_customer_app(tmp_path, analyzer_factory=lambda _sid: LevelAnalyzer())
    session_id, token = new_customer_session(service, locale="de")
    async with _client(app) as client:
        page = await client.get(f"/ident/{token}")
        assert page.status_code == 200 and "<html" in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        for asset in ("app.js", "i18n.js", "style.css"):
            assert (await client.get(f"/ident/assets/{asset}")).status_code == 200
        assert (await client.get("/ident/assets/index.html")).status_code == 404

        assert (await client.get("/ident/not-a-token/api/state")).status_code == 404
        state = (await client.get(f"/ident/{token}/api/state")).json()
        assert state["status"] == "created" and state["bank"] == "Example Bank" and state["locale"] == "de"
        assert state["queue"] is None and state["agent_code"] is None
        assert "Mustermann" not in str(state) and "T22000129" not in str(state)

        refused = await client.post(
            f"/ident/{token}/api/join", json={"consent": False, "consent_version": CONSENT_VERSION}
        )
        assert refused.status_code == 422
        # Consent to the previous text (before the page had a cancel button) is not consent to this one.
        outdated = await client.post(f"/ident/{token}/api/join", json={"consent": True, "consent_version": "2026-11-1"})
        assert outdated.status_code == 422
        assert (await client.get(f"/ident/{token}/api/state")).json()["status"] == "created"
        joined = await client.post(
            f"/ident/{token}/api/join", json={"consent": True, "consent_version": CONSENT_VERSION, "locale": "de"}
        )
        assert joined.status_code == 200
        with app.state.bank.sessions() as db:
            consented = db.execute(select(AuditEventRecord).where(AuditEventRecord.session_id == session_id,
                                                                  AuditEventRecord.action == "customer.consented")
                                   ).scalars().all()
        assert [e.details for e in consented] == [{"consent_version": CONSENT_VERSION, "locale": "de"}]
        assert joined.json()["status"] == "waiting" and joined.json()["queue"]["position"] == 1

        # A second customer joins later and queues behind the first.
        _other_id, other_token = new_customer_session(service)
        await client.post(f"/ident/{other_token}/api/join", json={"consent": True, "consent_version": CONSENT_VERSION})
        other = (await client.get(f"/ident/{other_token}/api/state")).json()
        assert other["queue"]["position"] == 2 and other["queue"]["estimated_wait_s"] > 0

        # The agent picks the first up: the code both sides compare appears.
        service.start_call(session_id, "agent-1")
        state = (await client.get(f"/ident/{token}/api/state")).json()
        assert state["status"] == "in_call"
        assert state["agent_code"] == agent_code(app.state.settings.master_key_bytes, session_id)
        # The TAN is not expected before a decision.
        tan = await client.post(f"/ident/{token}/api/tan", json={"tan": "123456"})
        assert tan.json()["outcome"] == "not_pending"


async def test_signalling_records_into_the_vault_and_ends_with_the_session(tmp_path: Path) -> None:
    app, service = make_customer_app(tmp_path, analyzer_factory=lambda _sid: LevelAnalyzer())
    session_id, token = new_customer_session(service)
    customer = Customer(SyntheticCamera())
    try:
        async with _client(app) as client:
            early = await client.post(f"/ident/{token}/api/offer", json={"sdp": await customer.offer()})
            assert early.status_code == 409  # no media before consent
            await customer.pc.close()
            await client.post(f"/ident/{token}/api/join", json={"consent": True, "consent_version": CONSENT_VERSION})
            customer = Customer(SyntheticCamera())
            answer = await client.post(f"/ident/{token}/api/offer", json={"sdp": await customer.offer()})
            assert answer.status_code == 200
            await customer.accept(type("Answer", (), answer.json())())  # duck-typed RTCSessionDescription
            hub = app.state.live_hub
            live = hub.get(session_id)
            assert live is not None
            assert await wait_until(lambda: live.frames_received >= 30)
            state = (await client.get(f"/ident/{token}/api/state")).json()
            assert state["live"]["connection"] in {"connecting", "connected"}
            assert "injection" in state["live"]["checks"]
            # The agent ends the call: the live media closes first (flushing the recording), then decides.
            service.start_call(session_id, "agent-1")
            await hub.close(session_id)
            assert hub.get(session_id) is None
            from videoident.states import Decision, ReasonCode

            service.decide(session_id, "agent-1", Decision.ABORTED, ReasonCode.CUSTOMER_CANCELLED)
            assert (await client.get(f"/ident/{token}/api/state")).status_code == 404
            # A page that reconnects now is refused.
            late = Customer(SyntheticCamera())
            refused = await client.post(f"/ident/{token}/api/offer", json={"sdp": await late.offer()})
            await late.pc.close()
            assert refused.status_code == 404 and hub.get(session_id) is None
    finally:
        await customer.pc.close()
        await app.state.live_hub.close_all()
    await asyncio.sleep(0)
    evidence = service.list_evidence(session_id)
    assert [e.kind for e in evidence] == [EvidenceKind.RECORDING_SEGMENT.value]
    # Sealed: no Matroska header (1A 45 DF A3) on disk, and the vault opens it into a real recording.
    blobs = list(service.vault.iter_blobs())
    assert blobs and all(b"\x1a\x45\xdf\xa3" not in blob.read_bytes() for blob in blobs)
    auditor = audit.Actor(ActorType.SUPERVISOR, "auditor")
    _view, data = service.read_evidence(session_id, evidence[0].id, auditor, export=False)
    with av.open(io.BytesIO(data)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) >= 10 and (frames[0].width, frames[0].height) == (640, 480)


def test_events_websocket_pushes_each_change(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    app, service = make_customer_app(tmp_path, analyzer_factory=lambda _sid: LevelAnalyzer())
    session_id, token = new_customer_session(service)
    client = TestClient(app)
    with client.websocket_connect(f"/ident/{token}/api/events") as socket:
        assert socket.receive_json()["status"] == "created"
        service.customer_joined(session_id)
        pushed = socket.receive_json()
        assert pushed["status"] == "waiting" and pushed["queue"]["position"] == 1
    with client.websocket_connect("/ident/unknown/api/events") as socket:
        assert socket.receive_json() == {"status": "ended"}


def test_events_websocket_says_completed_when_the_tan_confirms_and_ended_otherwise(tmp_path: Path) -> None:
    """The page shows "done" whatever arrives first, the TAN reply or the socket's last word."""
    from starlette.testclient import TestClient

    from tests.test_live_support import approve_with_tan
    from videoident.service_tan import TanOutcome
    from videoident.states import Decision, ReasonCode

    app, service = make_customer_app(tmp_path, analyzer_factory=lambda _sid: LevelAnalyzer())
    client = TestClient(app)
    confirmed, confirmed_token = new_customer_session(service)
    aborted, aborted_token = new_customer_session(service)
    for session_id in (confirmed, aborted):
        service.customer_joined(session_id)
        service.start_call(session_id, "agent-1")
    tan = approve_with_tan(service, confirmed)
    with client.websocket_connect(f"/ident/{confirmed_token}/api/events") as socket:
        assert socket.receive_json()["status"] == "tan_pending"
        assert service.verify_tan(confirmed, tan).outcome is TanOutcome.COMPLETED
        assert socket.receive_json() == {"status": "completed"}
    with client.websocket_connect(f"/ident/{aborted_token}/api/events") as socket:
        assert socket.receive_json()["status"] == "in_call"
        service.decide(aborted, "agent-1", Decision.ABORTED, ReasonCode.CONNECTION_LOST)
        assert socket.receive_json() == {"status": "ended"}
    # A link that is no longer valid tells a new socket nothing about how its session ended.
    with client.websocket_connect(f"/ident/{confirmed_token}/api/events") as socket:
        assert socket.receive_json() == {"status": "ended"}


async def test_the_page_gets_the_operators_ice_servers_only_while_live(tmp_path: Path) -> None:
    import time

    from api.media.ice import MediaSettings

    app, service = make_customer_app(tmp_path, analyzer_factory=lambda _sid: LevelAnalyzer())
    _session_id, token = new_customer_session(service)
    join = {"consent": True, "consent_version": CONSENT_VERSION}
    async with _client(app) as client:
        # Nothing configured (the default): no ICE server reaches the page.
        assert (await client.get(f"/ident/{token}/api/state")).json()["ice_servers"] == []
        app.state.media_settings = MediaSettings(ice_servers="stun:stun.bank.example:3478",
                                                 turn_urls="turn:turn.bank.example:3478?transport=udp",
                                                 turn_secret="coturn static auth secret")
        # Before consent the page opens no peer and gets no TURN credentials; in the waiting room it does.
        assert (await client.get(f"/ident/{token}/api/state")).json()["ice_servers"] == []
        servers = (await client.post(f"/ident/{token}/api/join", json=join)).json()["ice_servers"]
        assert servers[0] == {"urls": ["stun:stun.bank.example:3478"]}
        turn = servers[1]
        assert turn["urls"] == ["turn:turn.bank.example:3478?transport=udp"] and turn["credential"]
        expiry_s, label = turn["username"].split(":")
        assert label == "customer" and 0 < int(expiry_s) - time.time() <= 3600
        assert "coturn static auth secret" not in str(servers)
