"""What every console endpoint shares: the console's state, the cookie authentication, the access rules
(who may see and act on a session) and the lookups of the live session and the audit helper.

The endpoints live in :mod:`api.routers.console` (pages, login, queue, the call's identity),
:mod:`api.routers.console_live` (the live view: checks report and the agent's WebRTC offer),
:mod:`api.routers.console_capture` (confirmations, captures, zoom, stored stills) and
:mod:`api.routers.console_review` (decisions, release, four-eyes review).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from api.media.hub import LiveHub
from api.media.session import LiveSession
from videoident.agents import AgentRole, AgentStore, AgentView
from videoident.console_state import ConsoleMemory
from videoident.errors import CoreError
from videoident.queue import CallQueue, DatabaseCallQueue
from videoident.service import IdentService, SessionView
from videoident.states import SessionStatus

__all__ = [
    "FEATURE_PREFIX",
    "COOKIE", "NO_STORE", "AgentDep", "ConsoleState", "StateDep", "audit", "console_state", "current_agent",
    "hub", "live_session", "may_act", "may_see", "session_for",
]

COOKIE = "videoident_console"
NO_STORE = {"Cache-Control": "no-store"}
#: The agent's confirmation that a drawn security feature was inspected is the item ``feature:<code>``.
FEATURE_PREFIX = "feature:"


@dataclass
class ConsoleState:
    """The console's per-app state: the core, the agent accounts, the call queue, and the per-call memory
    (features drawn, confirmations, first checks views) in the database, shared by every worker."""

    service: IdentService
    agents: AgentStore
    queue: CallQueue
    memory: ConsoleMemory


def console_state(request: Request) -> ConsoleState:
    state: ConsoleState | None = getattr(request.app.state, "console", None)
    if state is None:
        bank = getattr(request.app.state, "bank", None)
        if bank is None:
            raise HTTPException(503, "the service is starting")
        # The whole master-key ring: agents log in during and after a master-key rotation.
        state = ConsoleState(bank.service, AgentStore.from_settings(bank.sessions, request.app.state.settings),
                             DatabaseCallQueue(bank.service, bank.sessions), ConsoleMemory(bank.sessions))
        request.app.state.console = state
    return state


StateDep = Annotated[ConsoleState, Depends(console_state)]


def current_agent(request: Request, state: StateDep) -> AgentView:
    agent = state.agents.authenticate(request.cookies.get(COOKIE, ""))
    if agent is None:
        raise HTTPException(401, "log in to the console")
    return agent


AgentDep = Annotated[AgentView, Depends(current_agent)]


def audit(state: ConsoleState, agent: AgentView, action: str, session: SessionView | None = None,
          **details: str | int | bool | list[str] | None) -> None:
    extra: dict[str, Any] = dict(details)
    state.service.record_audit(agent.actor, action, session_id=session.id if session else None, **extra)


def hub(request: Request) -> LiveHub | None:
    """This process's live hub (None before the media stack is up)."""
    return getattr(request.app.state, "live_hub", None)


def live_session(request: Request, session_id: str) -> LiveSession | None:
    """The open live session of ``session_id`` in this process, or None."""
    live_hub = hub(request)
    live = live_hub.get(session_id) if live_hub else None
    return None if live is None or live.closed else live


# ------------------------------------------------------------------------------------------ access rules
def may_act(agent: AgentView, view: SessionView) -> bool:
    """The assigned agent during the call; a supervisor (not the overriding agent) during review."""
    if view.status is SessionStatus.IN_CALL:
        return view.agent_id == agent.id
    return (view.status is SessionStatus.REVIEW and agent.role is AgentRole.SUPERVISOR
            and view.agent_id != agent.id)


def may_see(agent: AgentView, view: SessionView) -> bool:
    """Unmasked personal data: only whoever may act on the session now."""
    return may_act(agent, view)


def session_for(state: ConsoleState, agent: AgentView, session_id: str, *, act: bool = True) -> SessionView:
    """The session if ``agent`` may act on it (``act``) or at least look at it; 404/403 otherwise."""
    try:
        view = state.service.get_session(session_id)
    except CoreError:
        raise HTTPException(404, "no such session") from None
    allowed = may_act(agent, view) or (not act and (view.agent_id == agent.id or agent.role is AgentRole.SUPERVISOR))
    if not allowed:
        raise HTTPException(403, "this session is not assigned to you")
    return view
