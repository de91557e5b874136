"""The agent review console: the page at ``/console`` and its JSON API under ``/console/api``.

Authentication: ``POST /console/api/login`` (name, password, TOTP) sets an HttpOnly, SameSite=Strict
cookie holding an opaque console token (:mod:`videoident.agents`); every other endpoint needs it.
Calls are assigned at random (``POST /console/api/next``, :mod:`videoident.queue`): there is no endpoint
that opens a waiting customer by id. An agent sees and acts on their own call only; a supervisor also on
sessions in four-eyes review. Data is masked unless the role may see it
(:func:`api.routers.console_base.may_see`). Every view and action goes into the core's audit chain (the
core audits identity views, captures, decisions; the console routers audit the console's own views and
confirmations).

This module holds the pages, login, the queue and the call's identity, and includes the other console
routers: :mod:`api.routers.console_live` (the live view), :mod:`api.routers.console_capture`
(confirmations, captures, stills) and :mod:`api.routers.console_review` (decisions, four-eyes review).
Shared state and access rules are in :mod:`api.routers.console_base`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.media.app_state import page_ice_servers
from api.media.verification import agent_code
from api.page_headers import page_headers
from api.routers import console_capture, console_live, console_review
from api.routers.console_base import (
    COOKIE,
    NO_STORE,
    AgentDep,
    ConsoleState,
    StateDep,
    audit,
    may_act,
    may_see,
    session_for,
)
from api.routers.console_review import CHECK_SECTIONS
from videoident.agents import AgentRole, AgentView, LoginFailed, mask
from videoident.records import IdentSessionRecord, TenantRecord
from videoident.service import SessionView
from videoident.states import REASONS_BY_DECISION, Decision, SessionStatus

__all__ = ["router", "COOKIE", "CHECK_SECTIONS", "ConsoleState"]

STATIC = Path(__file__).resolve().parent.parent / "static" / "console"
ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}
PAGE_HEADERS = page_headers(img_blob=True)

router = APIRouter(tags=["console"])


# ------------------------------------------------------------------------------------------ page
@router.get("/console", response_class=HTMLResponse, include_in_schema=False)
def page() -> HTMLResponse:
    return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"), headers=PAGE_HEADERS)


@router.get("/console/assets/{name}", include_in_schema=False)
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404)
    return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})


# ------------------------------------------------------------------------------------------ login
class LoginBody(BaseModel):
    name: str = Field(max_length=100)
    password: str = Field(max_length=1000)
    totp: str = Field(max_length=12)


def _agent_json(agent: AgentView) -> dict[str, str]:
    return {"id": agent.id, "name": agent.name, "role": agent.role.value}


@router.post("/console/api/login")
async def login(body: LoginBody, request: Request, state: StateDep) -> JSONResponse:
    try:
        result = await asyncio.to_thread(state.agents.login, body.name, body.password, body.totp)
    except LoginFailed as exc:
        detail = "the account is locked for a while; ask a supervisor" if exc.locked else "login failed"
        raise HTTPException(401, detail) from None
    response = JSONResponse({"agent": _agent_json(result.agent)}, headers=NO_STORE)
    secure = request.app.state.settings.public_base_url.startswith("https://")
    response.set_cookie(COOKIE, result.token, httponly=True, samesite="strict", secure=secure, path="/console")
    return response


@router.post("/console/api/logout")
def logout(request: Request, state: StateDep) -> Response:
    token = request.cookies.get(COOKIE)
    if token:
        state.agents.logout(token)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("/console/api/me")
def me(agent: AgentDep) -> dict[str, Any]:
    return {"agent": _agent_json(agent), "reasons": {d.value: sorted(r.value for r in REASONS_BY_DECISION[d])
                                                     for d in Decision}}


# ------------------------------------------------------------------------------------------ queue
@router.get("/console/api/queue")
async def queue(request: Request, agent: AgentDep, state: StateDep) -> JSONResponse:
    snapshot = await asyncio.to_thread(state.queue.snapshot)
    current = await asyncio.to_thread(state.queue.current_call, agent.id)
    reviews: list[dict[str, Any]] = []
    if agent.role is AgentRole.SUPERVISOR:
        reviews = await asyncio.to_thread(_reviews, request, agent)
    return JSONResponse({
        "waiting": [c.to_json() for c in snapshot.waiting], "in_call": snapshot.in_call,
        "in_review": snapshot.in_review, "longest_wait_s": round(snapshot.longest_wait_s),
        "current_call": current.id if current else None, "reviews": reviews,
    }, headers=NO_STORE)


def _reviews(request: Request, agent: AgentView) -> list[dict[str, Any]]:
    bank = request.app.state.bank
    with bank.sessions() as db:
        rows = db.execute(select(IdentSessionRecord.id, IdentSessionRecord.purpose, IdentSessionRecord.agent_id,
                                 IdentSessionRecord.updated_at, TenantRecord.display_name)
                          .join(TenantRecord, TenantRecord.id == IdentSessionRecord.tenant_id)
                          .where(IdentSessionRecord.status == SessionStatus.REVIEW.value)
                          .order_by(IdentSessionRecord.updated_at)).all()
    return [{"session_id": sid, "purpose": purpose, "bank": bank_name, "since": since.isoformat(),
             "own": agent_id == agent.id} for sid, purpose, agent_id, since, bank_name in rows]


@router.post("/console/api/next")
async def take_next(agent: AgentDep, state: StateDep) -> JSONResponse:
    view = await asyncio.to_thread(state.queue.take_next, agent.id)
    if view is None:
        return JSONResponse({"session_id": None}, headers=NO_STORE)
    await asyncio.to_thread(audit, state, agent, "console.call_taken", view)
    return JSONResponse({"session_id": view.id}, headers=NO_STORE)


# ------------------------------------------------------------------------------------------ the call
def _identity_json(state: ConsoleState, agent: AgentView, view: SessionView) -> dict[str, Any]:
    identity = state.service.claimed_identity(view.id, agent.actor)  # audited by the core
    unmasked = may_see(agent, view)
    values = {"given_name": identity.given_name, "family_name": identity.family_name,
              "birthdate": identity.birthdate.isoformat(), "document_number": identity.document_number,
              "nationality": identity.nationality}
    if not unmasked:
        values = {k: mask(v, 3 if k == "document_number" else 0) if k != "nationality" else v
                  for k, v in values.items()}
    return {**values, "masked": not unmasked}


@router.get("/console/api/calls/{session_id}")
async def call(session_id: str, request: Request, agent: AgentDep, state: StateDep) -> JSONResponse:
    view = await asyncio.to_thread(session_for, state, agent, session_id, act=False)
    identity = await asyncio.to_thread(_identity_json, state, agent, view)
    tenant = await asyncio.to_thread(state.service.get_tenant, view.tenant_id)
    await asyncio.to_thread(audit, state, agent, "console.call_viewed", view, masked=bool(identity["masked"]))
    notes = None
    if view.status is SessionStatus.REVIEW and may_act(agent, view):  # the reviewer reads why (audited)
        notes = await asyncio.to_thread(state.service.decision_notes, view.id, agent.actor)
    # The code the customer's page shows: the agent reads it out, so the customer knows the bank is calling.
    code = agent_code(request.app.state.settings.master_key_bytes, view.id) if may_act(agent, view) else None
    # The agent joins the video only in the call: STUN/TURN (short-lived TURN credentials) for the console's
    # peer then, none otherwise (empty unless the operator configured them).
    joins_video = view.status is SessionStatus.IN_CALL and may_act(agent, view)
    return JSONResponse({
        "notes": notes,
        "agent_code": code,
        "ice_servers": page_ice_servers(request.app, "agent") if joins_video else [],
        "session": {"id": view.id, "status": view.status.value, "bank": tenant.display_name,
                    "purpose": view.purpose.value, "reference": view.reference,
                    "created_at": view.created_at.isoformat(),
                    "may_act": may_act(agent, view), "override": view.override, "agent_id": view.agent_id},
        "identity": identity,
    }, headers=NO_STORE)


# The other console endpoints, in the order the OpenAPI document lists them.
router.include_router(console_live.router)
router.include_router(console_capture.router)
router.include_router(console_review.router)
