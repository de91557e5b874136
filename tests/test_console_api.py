"""The console's JSON API on the real app (create_app) with a real core service on SQLite: login, queue
without identities, random assignment, who may see and do what, masking, audit, the approval gate with
override and four-eyes review. (The live call — relayed video, captures, stills — is covered in real
browsers by tests/browser/test_console_e2e.py.)"""

from __future__ import annotations

from pathlib import Path

import aioice.ice
import httpx
import pyotp
import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import select

from api.media.ice import MediaSettings, loopback_host_addresses
from api.media.verification import agent_code
from api.routers.console import ConsoleState
from tests.test_live_support import LevelAnalyzer, make_customer_app, new_customer_session
from videoident.agents import AgentRole, AgentStore
from videoident.console_state import ConsoleMemory
from videoident.queue import DatabaseCallQueue
from videoident.records import AuditEventRecord

PASSWORD = "correct horse battery staple"
#: Real argon2id, light parameters (the production ones are tested in tests/test_agents.py).
LIGHT = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)


@pytest.fixture(autouse=True)
def _loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", loopback_host_addresses)


class Console:
    """An app with the console state built on a light hasher, and its accounts' TOTP secrets."""

    def __init__(self, tmp_path: Path) -> None:
        self.app, self.service = make_customer_app(tmp_path, analyzer_factory=lambda _sid: LevelAnalyzer())
        bank = self.app.state.bank
        self.agents = AgentStore(bank.sessions, self.app.state.settings.master_key_bytes, hasher=LIGHT)
        self.app.state.console = ConsoleState(self.service, self.agents, DatabaseCallQueue(self.service, bank.sessions),
                                          ConsoleMemory(bank.sessions))
        self.secrets: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    def add(self, name: str, role: AgentRole) -> None:
        created = self.agents.create(name, role, PASSWORD)
        self.secrets[name] = pyotp.parse_uri(created.provisioning_uri).secret
        self.ids[name] = created.agent.id

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://testserver")

    async def login(self, client: httpx.AsyncClient, name: str) -> None:
        # Each login needs a fresh TOTP step (replay protection): go back one step per extra login.
        totp = pyotp.TOTP(self.secrets[name])
        response = await client.post("/console/api/login", json={"name": name, "password": PASSWORD,
                                                                 "totp": totp.now()})
        assert response.status_code == 200, response.text

    def joined_session(self) -> tuple[str, str]:
        session_id, token = new_customer_session(self.service)
        self.service.customer_joined(session_id)
        return session_id, token

    def audit_actions(self) -> list[tuple[str, str | None, str | None]]:
        with self.app.state.bank.sessions() as db:
            return [(r.action, r.actor_id, r.session_id) for r in
                    db.execute(select(AuditEventRecord).order_by(AuditEventRecord.seq)).scalars()]


@pytest.fixture
def console(tmp_path: Path) -> Console:
    c = Console(tmp_path)
    for name, role in (("anna", AgentRole.AGENT), ("ben", AgentRole.AGENT), ("sue", AgentRole.SUPERVISOR)):
        c.add(name, role)
    return c


async def test_page_assets_and_login(console: Console) -> None:
    async with console.client() as client:
        page = await client.get("/console")
        assert page.status_code == 200 and "Take next call" in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert (await client.get("/console/assets/app.js")).status_code == 200
        assert (await client.get("/console/assets/index.html")).status_code == 404
        assert (await client.get("/console/api/queue")).status_code == 401
        assert (await client.post("/console/api/next")).status_code == 401
        wrong = await client.post("/console/api/login", json={"name": "anna", "password": "wrong password",
                                                               "totp": "123456"})
        assert wrong.status_code == 401 and "videoident_console" not in wrong.cookies
        await console.login(client, "anna")
        cookie = next(c for c in client.cookies.jar if c.name == "videoident_console")
        assert cookie.has_nonstandard_attr("HttpOnly") and cookie.path == "/console"
        me = (await client.get("/console/api/me")).json()
        assert me["agent"]["role"] == "agent" and "identity_verified" in me["reasons"]["approved"]
        assert (await client.post("/console/api/logout")).status_code == 204
        assert (await client.get("/console/api/me")).status_code == 401


async def test_queue_assignment_access_and_masking(console: Console) -> None:
    first, _ = console.joined_session()
    second, _ = console.joined_session()
    anna, ben, sue = console.client(), console.client(), console.client()
    async with anna, ben, sue:
        for client, name in ((anna, "anna"), (ben, "ben"), (sue, "sue")):
            await console.login(client, name)
        queue = (await anna.get("/console/api/queue")).json()
        assert len(queue["waiting"]) == 2 and queue["waiting"][0]["bank"] == "Example Bank"
        assert first not in str(queue) and second not in str(queue) and "Mustermann" not in str(queue)
        taken = (await anna.post("/console/api/next")).json()["session_id"]
        assert taken in (first, second)
        assert (await anna.post("/console/api/next")).json()["session_id"] == taken  # her open call again
        assert (await anna.get("/console/api/queue")).json()["current_call"] == taken

        mine = (await anna.get(f"/console/api/calls/{taken}")).json()
        assert mine["identity"]["family_name"] == "Mustermann" and not mine["identity"]["masked"]
        assert mine["session"]["may_act"]
        assert mine["agent_code"] == agent_code(console.app.state.settings.master_key_bytes, taken)
        assert mine["ice_servers"] == []  # no STUN/TURN configured (the default)
        # Another agent can neither see nor act on Anna's call; no endpoint opens a waiting customer by id.
        assert (await ben.get(f"/console/api/calls/{taken}")).status_code == 403
        other = first if taken == second else second
        assert (await ben.get(f"/console/api/calls/{other}")).status_code == 403
        assert (await ben.post(f"/console/api/calls/{taken}/capture", json={"kind": "face"})).status_code == 403
        # A supervisor may look in, masked, but not act while the agent has the call.
        looked = (await sue.get(f"/console/api/calls/{taken}")).json()
        assert looked["identity"]["masked"] and looked["identity"]["family_name"] == "M•••••••••"
        assert looked["identity"]["document_number"] == "••••••129" and not looked["session"]["may_act"]
        assert looked["agent_code"] is None
        # With the operator's TURN configured, the agent in the call gets short-lived credentials for the
        # console's peer; the supervisor looking in joins no video and gets none.
        console.app.state.media_settings = MediaSettings(turn_urls="turns:turn.bank.example:5349",
                                                         turn_secret="coturn static auth secret")
        servers = (await anna.get(f"/console/api/calls/{taken}")).json()["ice_servers"]
        assert [s["urls"] for s in servers] == [["turns:turn.bank.example:5349"]]
        assert servers[0]["username"].endswith(":agent") and servers[0]["credential"]
        assert (await sue.get(f"/console/api/calls/{taken}")).json()["ice_servers"] == []
        assert (await sue.post(f"/console/api/calls/{taken}/decision", json={
            "decision": "rejected", "reason_code": "fraud_suspected"})).status_code == 403
    actions = console.audit_actions()
    anna_id = console.ids["anna"]
    assert ("console.call_taken", anna_id, taken) in actions
    assert ("console.call_viewed", anna_id, taken) in actions
    assert ("identity.viewed", anna_id, taken) in actions
    assert ("console.call_viewed", console.ids["sue"], taken) in actions


async def test_gate_override_and_four_eyes_then_tan(console: Console) -> None:
    session_id, _ = console.joined_session()
    anna, sue, ben = console.client(), console.client(), console.client()
    async with anna, sue, ben:
        for client, name in ((anna, "anna"), (sue, "sue"), (ben, "ben")):
            await console.login(client, name)
        assert (await anna.post("/console/api/next")).json()["session_id"] == session_id
        live = (await anna.get(f"/console/api/calls/{session_id}/live")).json()
        assert len(live["features"]) == 3 and len({f["code"] for f in live["features"]}) == 3
        again = (await anna.get(f"/console/api/calls/{session_id}/live")).json()
        assert again["features"] == live["features"]  # drawn once per session, not per poll
        assert "capture:front" in live["gaps"] and "check:mrz:missing" in live["gaps"]
        for item in ("document_number_read", "purpose_stated"):
            assert (await anna.post(f"/console/api/calls/{session_id}/confirm", json={"item": item})).status_code == 200
        assert (await anna.post(f"/console/api/calls/{session_id}/confirm", json={"item": "x"})).status_code == 422
        feature = live["features"][0]["code"]
        assert (await anna.post(f"/console/api/calls/{session_id}/confirm",
                                json={"item": f"feature:{feature}"})).status_code == 200
        undrawn = next(code for code in ("ovd_hologram", "guilloche", "mrz_ocrb", "portrait_integration")
                       if code not in {f["code"] for f in live["features"]})
        assert (await anna.post(f"/console/api/calls/{session_id}/confirm",
                                json={"item": f"feature:{undrawn}"})).status_code == 422

        mismatch = await anna.post(f"/console/api/calls/{session_id}/decision", json={
            "decision": "approved", "reason_code": "fraud_suspected"})
        assert mismatch.status_code == 422
        blocked = await anna.post(f"/console/api/calls/{session_id}/decision", json={
            "decision": "approved", "reason_code": "identity_verified"})
        assert blocked.status_code == 409 and "capture:face" in blocked.json()["gaps"]
        too_short = await anna.post(f"/console/api/calls/{session_id}/decision", json={
            "decision": "approved", "reason_code": "identity_verified", "override_reason": "looks fine"})
        assert too_short.status_code == 409
        review = await anna.post(f"/console/api/calls/{session_id}/decision", json={
            "decision": "approved", "reason_code": "identity_verified", "comment": "calm customer",
            "override_reason": "document and face checked by eye, MRZ unreadable due to glare"})
        assert review.status_code == 200 and review.json()["review"] and not review.json()["tan_sent"]
        assert console.service.get_session(session_id).bank_status.value == "in_call"  # the bank hears nothing yet

        queue = (await sue.get("/console/api/queue")).json()
        assert [r["session_id"] for r in queue["reviews"]] == [session_id]
        assert (await ben.post(f"/console/api/reviews/{session_id}", json={"confirm": True})).status_code == 403
        opened = (await sue.get(f"/console/api/calls/{session_id}")).json()
        assert opened["session"]["may_act"] and not opened["identity"]["masked"]
        assert opened["notes"]["override_reason"].startswith("document and face checked by eye")
        confirmed = await sue.post(f"/console/api/reviews/{session_id}", json={"confirm": True, "comment": "ok"})
        assert confirmed.status_code == 200 and confirmed.json()["tan_sent"]
        assert confirmed.json()["status"] == "tan_pending"
    sent = console.service.notifier.messages  # type: ignore[attr-defined]
    assert len(sent) == 1 and sent[0].to == "erika@example.org"
    actions = [a for a, _, sid in console.audit_actions() if sid == session_id]
    assert actions.count("console.confirmed") == 3 and "console.features_drawn" in actions


async def test_reject_ends_the_call(console: Console) -> None:
    session_id, _ = console.joined_session()
    async with console.client() as anna:
        await console.login(anna, "anna")
        await anna.post("/console/api/next")
        done = await anna.post(f"/console/api/calls/{session_id}/decision", json={
            "decision": "rejected", "reason_code": "face_mismatch", "comment": "not the person on the card"})
        assert done.status_code == 200 and done.json()["status"] == "rejected"
        assert (await anna.get("/console/api/queue")).json()["current_call"] is None
        assert (await anna.post(f"/console/api/calls/{session_id}/decision", json={
            "decision": "aborted", "reason_code": "technical_error"})).status_code == 403
