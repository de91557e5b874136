"""The console's per-call memory is in the database: two apps (two workers) on one PostgreSQL database show
the agent the same drawn security features and confirmations for a call, audit the draw and the first checks
view once, and a race of workers drawing for one session has exactly one winner whose draw everyone reads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import select

from api.routers.console import ConsoleState
from pipelines.layouts import Template
from tests.conftest import fresh_postgres_database
from tests.test_live_support import _test_master_key, new_customer_session
from videoident.agents import AgentRole, AgentStore
from videoident.console_state import ConsoleMemory, DrawnFeatures
from videoident.queue import DatabaseCallQueue
from videoident.records import AuditEventRecord
from videoident.security_features import draw_features

PASSWORD = "correct horse battery staple"
#: Real argon2id, light parameters (the production ones are tested in tests/test_agents.py).
LIGHT = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)


@dataclass
class Worker:
    app: Any
    memory: ConsoleMemory

    def client(self, cookies: httpx.Cookies | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://testserver",
                                 cookies=cookies)


def _worker(url: str, data_dir: Path) -> Worker:
    from api.app import create_app
    from api.deps import open_bank
    from videoident.settings import Settings

    settings = Settings(environment="test", data_dir=data_dir, database_url=url, master_key=_test_master_key())
    app = create_app(settings)
    bank = app.state.bank = open_bank(settings)
    memory = ConsoleMemory(bank.sessions)
    agents = AgentStore(bank.sessions, settings.master_key_bytes, hasher=LIGHT)
    app.state.console = ConsoleState(bank.service, agents, DatabaseCallQueue(bank.service, bank.sessions), memory)
    return Worker(app, memory)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[Worker, Worker]]:
    with fresh_postgres_database("videoident_console") as url:
        pair = (_worker(url, tmp_path), _worker(url, tmp_path))
        try:
            yield pair
        finally:
            for worker in pair:
                worker.app.state.bank.engine.dispose()


async def test_two_workers_show_the_same_features_and_confirmations(workers: tuple[Worker, Worker]) -> None:
    a, b = workers
    state_a: ConsoleState = a.app.state.console
    created = state_a.agents.create("anna", AgentRole.AGENT, PASSWORD)
    secret = pyotp.parse_uri(created.provisioning_uri).secret
    session_id, _ = new_customer_session(state_a.service)
    state_a.service.customer_joined(session_id)

    async with a.client() as on_a:
        login = await on_a.post("/console/api/login", json={"name": "anna", "password": PASSWORD,
                                                             "totp": pyotp.TOTP(secret).now()})
        assert login.status_code == 200, login.text
        assert (await on_a.post("/console/api/next")).json()["session_id"] == session_id
        async with b.client(on_a.cookies) as on_b:  # the agent's requests land on either worker
            # The console's first two polls at the same moment on both workers: one draw, both show it.
            live_a, live_b = await asyncio.gather(on_a.get(f"/console/api/calls/{session_id}/live"),
                                                  on_b.get(f"/console/api/calls/{session_id}/live"))
            first, seen_b = live_a.json(), live_b.json()
            assert seen_b["features"] == first["features"] and len(first["features"]) == 3
            feature = f"feature:{first['features'][1]['code']}"
            for item in ("purpose_stated", feature):
                assert (await on_b.post(f"/console/api/calls/{session_id}/confirm",
                                        json={"item": item})).status_code == 200
        again_a = (await on_a.get(f"/console/api/calls/{session_id}/live")).json()
        assert again_a["features"] == first["features"]
        assert again_a["confirmed"] == sorted(["purpose_stated", feature])
        confirmed = await on_a.post(f"/console/api/calls/{session_id}/confirm", json={"item": "document_number_read"})
        assert confirmed.json()["confirmed"] == sorted(["document_number_read", "purpose_stated", feature])

    with a.app.state.bank.sessions() as db:
        actions = [r.action for r in db.execute(select(AuditEventRecord)
                                                .where(AuditEventRecord.session_id == session_id)).scalars()]
    # Three live views over two workers (two of them at once): one draw, one first checks view audited.
    assert actions.count("console.features_drawn") == 1
    assert actions.count("console.checks_viewed") == 1
    assert actions.count("console.confirmed") == 3


def test_racing_draws_have_one_winner_read_by_all(workers: tuple[Worker, Worker]) -> None:
    memories = [w.memory for w in workers]
    racers = 8

    def race(session_id: str, template: Template | None, barrier: threading.Barrier,
             index: int) -> tuple[DrawnFeatures, bool]:
        barrier.wait()
        return memories[index % 2].draw_once(session_id, template, draw_features(template))

    for round_ in range(3):
        session_id = f"00000000-0000-4000-8000-00000000000{round_}"
        for template in (None, Template.DE_ID):  # the first draw, then the one upgrade to the read template
            barrier = threading.Barrier(racers)
            with ThreadPoolExecutor(racers) as pool:
                results = list(pool.map(lambda i, s=session_id, t=template, b=barrier: race(s, t, b, i),
                                        range(racers)))
            assert sum(won for _, won in results) == 1
            winner = next(drawn for drawn, won in results if won)
            assert all(drawn == winner for drawn, _ in results)
            assert winner.template is template
            assert memories[0].drawn(session_id) == memories[1].drawn(session_id) == winner
        # A known template is never redrawn.
        assert memories[1].draw_once(session_id, Template.PASSPORT, draw_features(Template.PASSPORT))[1] is False


def test_confirmations_and_first_views_are_recorded_once(workers: tuple[Worker, Worker]) -> None:
    a, b = (w.memory for w in workers)
    session_id = "00000000-0000-4000-8000-000000000010"
    assert a.confirm(session_id, "purpose_stated", "agent-1") == (frozenset({"purpose_stated"}), True)
    assert b.confirm(session_id, "purpose_stated", "agent-1") == (frozenset({"purpose_stated"}), False)
    assert b.confirmed(session_id) == frozenset({"purpose_stated"}) and a.confirmed("other") == frozenset()
    assert a.first_view("agent-1", session_id) and not b.first_view("agent-1", session_id)
    assert b.first_view("agent-2", session_id)
    with pytest.raises(ValueError):
        a.confirm(session_id, "x" * 81, "agent-1")


def test_erasing_a_session_drops_its_console_memory(tmp_path: Path) -> None:
    from api.deps import open_bank
    from videoident import audit
    from videoident.settings import Settings

    settings = Settings(environment="test", data_dir=tmp_path, master_key=_test_master_key())
    bank = open_bank(settings)
    try:
        memory = ConsoleMemory(bank.sessions)
        erased, kept = new_customer_session(bank.service)[0], new_customer_session(bank.service)[0]
        for sid in (erased, kept):
            memory.draw_once(sid, Template.DE_ID, draw_features(Template.DE_ID))
            memory.confirm(sid, "hologram", "agent-1")
            memory.first_view("agent-1", sid)
        bank.service.erase(erased, audit.SYSTEM)
        assert memory.drawn(erased) is None and memory.confirmed(erased) == frozenset()
        assert memory.first_view("agent-1", erased), "the view record went with the session"
        assert memory.drawn(kept) is not None and memory.confirmed(kept) == {"hologram"}
    finally:
        bank.engine.dispose()


def test_the_reviewer_sees_the_features_the_agent_checked(tmp_path: Path) -> None:
    """Drawn while the document was unknown, checked by the agent; at the four-eyes review the report recorded
    at the decision knows the template, but the features are not redrawn (the agent's ticks would be lost)."""
    from api.deps import open_bank
    from api.routers.console_live import _features
    from videoident.agents import AgentView
    from videoident.settings import Settings
    from videoident.states import Decision, ReasonCode, SessionStatus

    settings = Settings(environment="test", data_dir=tmp_path, master_key=_test_master_key())
    bank = open_bank(settings)
    try:
        memory = ConsoleMemory(bank.sessions)
        state = ConsoleState(bank.service, AgentStore(bank.sessions, settings.master_key_bytes, hasher=LIGHT),
                             DatabaseCallQueue(bank.service, bank.sessions), memory)
        agent, supervisor = AgentView("a-1", "anna", AgentRole.AGENT), AgentView("s-1", "sue", AgentRole.SUPERVISOR)
        sid = new_customer_session(bank.service)[0]
        bank.service.customer_joined(sid)
        view = bank.service.start_call(sid, agent.id)
        unknown: dict[str, Any] = {}
        known = {"mrz": {"fields": {"document_type": "TD1", "issuing_state": "NLD"}}}
        first = _features(state, agent, view, unknown)
        for feature in first:
            memory.confirm(sid, "feature:" + feature["code"], agent.id)
        bank.service.decide(sid, agent.id, Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED,
                            override_reason="the hologram check was inconclusive; I saw it move myself")
        review = bank.service.get_session(sid)
        assert review.status is SessionStatus.REVIEW
        assert _features(state, supervisor, review, known) == first
        assert {"feature:" + f["code"] for f in first} <= memory.confirmed(sid)
        # During a call the template revealed by the MRZ still redraws once (the catalogue of that card).
        other = new_customer_session(bank.service)[0]
        bank.service.customer_joined(other)
        in_call = bank.service.start_call(other, "a-2")
        _features(state, agent, in_call, unknown)
        assert memory.drawn(other) is not None and memory.drawn(other).template is None  # type: ignore[union-attr]
        _features(state, agent, in_call, known)
        assert memory.drawn(other).template is Template.NL_ID  # type: ignore[union-attr]
        # ... unless the agent already ticked one of the features drawn before: they are never asked again.
        ticked = new_customer_session(bank.service)[0]
        bank.service.customer_joined(ticked)
        ticked_call = bank.service.start_call(ticked, "a-3")
        generic = _features(state, agent, ticked_call, unknown)
        memory.confirm(ticked, "feature:" + generic[0]["code"], "a-3")
        assert _features(state, agent, ticked_call, known) == generic
    finally:
        bank.engine.dispose()
