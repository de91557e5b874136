"""Driving whole sessions against the running service: the bank over ``/v1``, the customer over ``/ident``,
and the agent and supervisor through the core (``IdentService``) on the same database and vault, with a
:class:`MemoryNotifier` so the test reads the TAN it sent (the real server never sees it in plaintext)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from api.routers.customer import CONSENT_VERSION
from tests.hardening.harness import Server
from videoident.db import make_engine
from videoident.notify import MemoryNotifier
from videoident.service import IdentService
from videoident.settings import Settings
from videoident.states import Decision, ReasonCode, SessionStatus

__all__ = ["Agent", "Created", "agent_for", "create_session", "join", "session_body"]

#: 20+ characters, as the core requires for an override (four-eyes review).
OVERRIDE_REASON = "hardening suite: approval without captures, confirmed by a second person"


@dataclass(frozen=True)
class Created:
    id: str
    token: str
    email: str


def session_body(*, given: str = "Erika", family: str = "Mustermann", email: str | None = None,
                 callback_url: str | None = None, reference: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reference": reference or f"hard-{secrets.token_hex(4)}",
        "purpose": "account_opening",
        "claimed_identity": {"given_name": given, "family_name": family, "birthdate": "1983-08-12",
                             "nationality": "DEU"},
        "contact": {"email": email or f"c{secrets.token_hex(4)}@example.org"},
        "locale": "en",
    }
    if callback_url:
        body["callback_url"] = callback_url
    return body


def create_session(bank: httpx.Client, body: dict[str, Any] | None = None) -> Created:
    body = body or session_body()
    response = bank.post("/v1/sessions", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    token = re.sub(r"^.*/ident/", "", data["customer_url"])
    return Created(data["id"], token, body["contact"]["email"])


def join(http: httpx.Client, token: str) -> httpx.Response:
    return http.post(f"/ident/{token}/api/join", json={"consent": True, "consent_version": CONSENT_VERSION})


class Agent:
    """An agent and a supervisor acting through the core in the test process."""

    def __init__(self, server: Server) -> None:
        settings = Settings(data_dir=server.data_dir, database_url=server.database_url,
                            master_key=server.master_key)  # type: ignore[arg-type]
        self.notifier = MemoryNotifier()
        self.engine = make_engine(settings.resolved_database_url)
        self.core = IdentService.from_settings(settings, self.engine, notifier=self.notifier)

    def close(self) -> None:
        self.engine.dispose()

    def approve(self, session_id: str, agent_id: str = "agent-hard-1", supervisor_id: str = "sup-hard-1") -> None:
        """Call taken, approved by override and confirmed by the supervisor: the core sends the TAN."""
        if self.core.get_session_view(session_id).status is not SessionStatus.IN_CALL:
            self.core.start_call(session_id, agent_id)
        self.core.decide(session_id, agent_id, Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED,
                         override_reason=OVERRIDE_REASON)
        outcome = self.core.review(session_id, supervisor_id, confirm=True)
        assert outcome.tan_sent, outcome

    def tan_for(self, recipient: str) -> str:
        message = self.notifier.last_to(recipient)
        assert message is not None, "no TAN message"
        codes = re.findall(r"\b\d{6}\b", message.body)
        assert codes, "no six-digit code in the message"
        return str(codes[0])


@contextmanager
def agent_for(server: Server) -> Iterator[Agent]:
    agent = Agent(server)
    try:
        yield agent
    finally:
        agent.close()
