"""The agent review console: the page at ``/console`` and its JSON API under ``/console/api``.

Authentication: ``POST /console/api/login`` (name, password, TOTP) sets an HttpOnly, SameSite=Strict
cookie holding an opaque console token (:mod:`videoident.agents`); every other endpoint needs it.
Calls are assigned at random (``POST /console/api/next``, :mod:`videoident.queue`): there is no endpoint
that opens a waiting customer by id. An agent sees and acts on their own call only; a supervisor also on
sessions in four-eyes review. Data is masked unless the role may see it (:func:`_may_see`). Every view and
action goes into the core's audit chain (the core audits identity views, captures, decisions; this router
audits the console's own views and confirmations).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import cv2
import numpy as np
from av import VideoFrame
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.media.hub import LiveHub, NoLiveSession
from api.media.session import LiveSession
from api.media.verification import agent_code
from api.page_headers import page_headers
from pipelines.document import DocumentLocator
from pipelines.frame import DocumentSide
from pipelines.results import CheckResult, Reason, Verdict, combine_verdicts
from videoident.agents import (
    AgentRole,
    AgentStore,
    AgentView,
    LoginFailed,
    mask,
    masked_report,
)
from videoident.errors import ApprovalBlocked, CoreError, FourEyesViolation, NotAssigned
from videoident.queue import CallQueue, DatabaseCallQueue
from videoident.records import IdentSessionRecord, TenantRecord
from videoident.security_features import SecurityFeature, draw_features, template_from_report
from videoident.service import IdentService, SessionView
from videoident.states import REASONS_BY_DECISION, Decision, ReasonCode, SessionStatus
from videoident.vault import EvidenceKind

__all__ = ["router", "COOKIE", "CHECK_SECTIONS"]

STATIC = Path(__file__).resolve().parent.parent / "static" / "console"
ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}
COOKIE = "videoident_console"
#: The live report sections recorded into the core as check results (the approval gate reads them).
CHECK_SECTIONS = ("quality", "document", "tilt", "hologram", "mrz", "face", "liveness", "injection")
#: How long a capture looks for a frame in which the document is found (the customer holds it still); a
#: congested stream can pause for a few seconds while it waits for a keyframe (seen under load here).
CAPTURE_WAIT_S = 8.0
#: Frames tried within that time (each costs a document search of ~20-40 ms).
CAPTURE_MAX_FRAMES = 12
#: The things the agent asks aloud and confirms (BaFin RS 3/2017 III.3: purpose; III.4: document number).
CONFIRMATIONS = ("document_number_read", "purpose_stated")
PAGE_HEADERS = page_headers(img_blob=True)
NO_STORE = {"Cache-Control": "no-store"}

router = APIRouter(tags=["console"])


@dataclass
class ConsoleState:
    service: IdentService
    agents: AgentStore
    queue: CallQueue
    features: dict[str, tuple[str | None, tuple[SecurityFeature, ...]]] = field(default_factory=dict)
    confirmed: dict[str, set[str]] = field(default_factory=dict)
    live_viewed: set[tuple[str, str]] = field(default_factory=set)


def console_state(request: Request) -> ConsoleState:
    state: ConsoleState | None = getattr(request.app.state, "console", None)
    if state is None:
        bank = getattr(request.app.state, "bank", None)
        if bank is None:
            raise HTTPException(503, "the service is starting")
        state = ConsoleState(bank.service, AgentStore(bank.sessions, request.app.state.settings.master_key_bytes),
                             DatabaseCallQueue(bank.service, bank.sessions))
        request.app.state.console = state
    return state


StateDep = Annotated[ConsoleState, Depends(console_state)]


def current_agent(request: Request, state: StateDep) -> AgentView:
    agent = state.agents.authenticate(request.cookies.get(COOKIE, ""))
    if agent is None:
        raise HTTPException(401, "log in to the console")
    return agent


AgentDep = Annotated[AgentView, Depends(current_agent)]


def _audit(state: ConsoleState, agent: AgentView, action: str, session: SessionView | None = None,
           **details: str | int | bool | list[str] | None) -> None:
    extra: dict[str, Any] = dict(details)
    state.service.record_audit(agent.actor, action, session_id=session.id if session else None, **extra)


def _hub(request: Request) -> LiveHub | None:
    return getattr(request.app.state, "live_hub", None)


def _live(request: Request, session_id: str) -> LiveSession | None:
    hub = _hub(request)
    live = hub.get(session_id) if hub else None
    return None if live is None or live.closed else live


# ------------------------------------------------------------------------------------------ access rules
def _may_act(agent: AgentView, view: SessionView) -> bool:
    """The assigned agent during the call; a supervisor (not the overriding agent) during review."""
    if view.status is SessionStatus.IN_CALL:
        return view.agent_id == agent.id
    return (view.status is SessionStatus.REVIEW and agent.role is AgentRole.SUPERVISOR
            and view.agent_id != agent.id)


def _may_see(agent: AgentView, view: SessionView) -> bool:
    """Unmasked personal data: only whoever may act on the session now."""
    return _may_act(agent, view)


def _session_for(state: ConsoleState, agent: AgentView, session_id: str, *, act: bool = True) -> SessionView:
    try:
        view = state.service.get_session(session_id)
    except CoreError:
        raise HTTPException(404, "no such session") from None
    allowed = _may_act(agent, view) or (not act and (view.agent_id == agent.id or agent.role is AgentRole.SUPERVISOR))
    if not allowed:
        raise HTTPException(403, "this session is not assigned to you")
    return view


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
    await asyncio.to_thread(_audit, state, agent, "console.call_taken", view)
    return JSONResponse({"session_id": view.id}, headers=NO_STORE)


# ------------------------------------------------------------------------------------------ the call
def _identity_json(state: ConsoleState, agent: AgentView, view: SessionView) -> dict[str, Any]:
    identity = state.service.claimed_identity(view.id, agent.actor)  # audited by the core
    unmasked = _may_see(agent, view)
    values = {"given_name": identity.given_name, "family_name": identity.family_name,
              "birthdate": identity.birthdate.isoformat(), "document_number": identity.document_number,
              "nationality": identity.nationality}
    if not unmasked:
        values = {k: mask(v, 3 if k == "document_number" else 0) if k != "nationality" else v
                  for k, v in values.items()}
    return {**values, "masked": not unmasked}


@router.get("/console/api/calls/{session_id}")
async def call(session_id: str, request: Request, agent: AgentDep, state: StateDep) -> JSONResponse:
    view = await asyncio.to_thread(_session_for, state, agent, session_id, act=False)
    identity = await asyncio.to_thread(_identity_json, state, agent, view)
    tenant = await asyncio.to_thread(state.service.get_tenant, view.tenant_id)
    await asyncio.to_thread(_audit, state, agent, "console.call_viewed", view, masked=bool(identity["masked"]))
    notes = None
    if view.status is SessionStatus.REVIEW and _may_act(agent, view):  # the reviewer reads why (audited)
        notes = await asyncio.to_thread(state.service.decision_notes, view.id, agent.actor)
    # The code the customer's page shows: the agent reads it out, so the customer knows the bank is calling.
    code = agent_code(request.app.state.settings.master_key_bytes, view.id) if _may_act(agent, view) else None
    return JSONResponse({
        "notes": notes,
        "agent_code": code,
        "session": {"id": view.id, "status": view.status.value, "bank": tenant.display_name,
                    "purpose": view.purpose.value, "reference": view.reference,
                    "created_at": view.created_at.isoformat(),
                    "may_act": _may_act(agent, view), "override": view.override, "agent_id": view.agent_id},
        "identity": identity,
    }, headers=NO_STORE)


def _stored_report(state: ConsoleState, view: SessionView) -> dict[str, Any]:
    """The check results recorded at the decision, shaped like the live report."""
    results = state.service.check_results(view.id)
    report: dict[str, Any] = {r.name: r.to_json() for r in results}
    if results:
        report["verdict"] = combine_verdicts([r.verdict for r in results]).value
    return report


def _features(state: ConsoleState, agent: AgentView, view: SessionView, report: dict[str, Any]) -> list[dict[str, str]]:
    template = template_from_report(report)
    known = state.features.get(view.id)
    if known is None or (known[0] is None and template is not None):
        chosen = draw_features(template)
        state.features[view.id] = (template.value if template else None, chosen)
        _audit(state, agent, "console.features_drawn", view, template=template.value if template else None,
               features=[f.code for f in chosen])
    return [f.to_json() for f in state.features[view.id][1]]


def _live_json(request: Request, state: ConsoleState, agent: AgentView, session_id: str) -> dict[str, Any]:
    view = _session_for(state, agent, session_id, act=False)
    # Live checks during the call; afterwards (four-eyes review) what was recorded at the decision.
    live = _live(request, view.id) if view.status is SessionStatus.IN_CALL else None
    report = live.report() if live is not None else _stored_report(state, view)
    if (agent.id, view.id) not in state.live_viewed:
        state.live_viewed.add((agent.id, view.id))
        _audit(state, agent, "console.checks_viewed", view)
    evidence = [{"id": e.id, "kind": e.kind, "variant": e.variant, "masked_fields": e.masked_fields,
                 "created_at": e.created_at.isoformat()} for e in state.service.list_evidence(view.id)
                if e.kind != EvidenceKind.RECORDING_SEGMENT.value and e.variant == "stored"]
    return {
        "status": view.status.value,
        "may_act": _may_act(agent, view),
        "report": report if _may_see(agent, view) else masked_report(report),
        "live": live.stats() if live is not None else None,
        "features": _features(state, agent, view, report),
        "gaps": state.service.approval_gaps(view.id) if view.status is SessionStatus.IN_CALL else [],
        "evidence": evidence,
        "confirmed": sorted(state.confirmed.get(view.id, set())),
    }


@router.get("/console/api/calls/{session_id}/live")
async def call_live(session_id: str, request: Request, agent: AgentDep, state: StateDep) -> JSONResponse:
    return JSONResponse(await asyncio.to_thread(_live_json, request, state, agent, session_id), headers=NO_STORE)


class SdpOffer(BaseModel):
    sdp: str = Field(max_length=20_000)
    type: str = "offer"


@router.post("/console/api/calls/{session_id}/offer")
async def offer(session_id: str, body: SdpOffer, request: Request, agent: AgentDep, state: StateDep) -> dict[str, str]:
    view = await asyncio.to_thread(_session_for, state, agent, session_id)
    hub = _hub(request)
    if hub is None or body.type != "offer":
        raise HTTPException(409, "the customer is not connected")
    try:
        answer = await hub.agent_offer(view.id, body.sdp)
    except NoLiveSession:
        raise HTTPException(409, "the customer is not connected") from None
    except ValueError as exc:
        raise HTTPException(422, "the offer could not be used") from exc
    await asyncio.to_thread(_audit, state, agent, "console.video_joined", view)
    return {"sdp": answer.sdp, "type": answer.type}


class ConfirmBody(BaseModel):
    item: str


@router.post("/console/api/calls/{session_id}/confirm")
async def confirm(session_id: str, body: ConfirmBody, agent: AgentDep, state: StateDep) -> dict[str, list[str]]:
    view = await asyncio.to_thread(_session_for, state, agent, session_id)
    # The asked questions, and each drawn security feature the agent inspected ("feature:<code>").
    drawn = state.features.get(view.id, (None, ()))[1]
    if body.item not in CONFIRMATIONS + tuple(f"feature:{f.code}" for f in drawn):
        raise HTTPException(422, f"item must be one of {', '.join(CONFIRMATIONS)} or feature:<a drawn feature>")
    state.confirmed.setdefault(view.id, set()).add(body.item)
    await asyncio.to_thread(_audit, state, agent, "console.confirmed", view, item=body.item)
    return {"confirmed": sorted(state.confirmed[view.id])}


# ------------------------------------------------------------------------------------------ captures
async def _frames(live: LiveSession, count: int) -> AsyncIterator[np.ndarray]:
    """The newest published frame of the customer's camera, then up to ``count - 1`` following ones, within
    :data:`CAPTURE_WAIT_S` (a congested stream may pause for a keyframe: no error, just fewer frames)."""
    track = live.customer_video
    newest = track._frame  # noqa: SLF001 - the frame on screen now is what "capture" means
    deadline = time.monotonic() + CAPTURE_WAIT_S
    sent = 0
    while sent < count:
        if isinstance(newest, VideoFrame):
            yield await asyncio.to_thread(_bgr, newest)
            sent += 1
        remaining = deadline - time.monotonic()
        if remaining <= 0 or sent >= count:
            return
        try:
            newest = await asyncio.wait_for(track.recv(), remaining)
        except TimeoutError:
            return


def _bgr(frame: VideoFrame) -> np.ndarray:
    image: np.ndarray = frame.to_ndarray(format="bgr24")
    return image


async def _newest_frame(live: LiveSession) -> np.ndarray:
    async for image in _frames(live, 1):
        return image
    raise TimeoutError


async def _document_still(live: LiveSession, side: DocumentSide | None = None) -> np.ndarray | None:
    """The rectified document from the newest frames, preferring ``side``; None if none shows a document.
    Raises TimeoutError when no frame arrives at all."""
    locator = DocumentLocator()
    fallback: np.ndarray | None = None
    seen = 0
    async for image in _frames(live, CAPTURE_MAX_FRAMES):
        seen += 1
        found = await asyncio.to_thread(locator.locate, image)
        if found is None:
            continue
        if found.side is side or (side is None and found.side is not DocumentSide.UNKNOWN):
            return found.rectified
        if found.side is DocumentSide.UNKNOWN and fallback is None:
            fallback = found.rectified
    if not seen:
        raise TimeoutError
    return fallback


def _jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - a valid uint8 image always encodes
        raise HTTPException(500, "could not encode the image")
    return data.tobytes()


class CaptureBody(BaseModel):
    kind: EvidenceKind


@router.post("/console/api/calls/{session_id}/capture")
async def capture(session_id: str, body: CaptureBody, request: Request, agent: AgentDep,
                  state: StateDep) -> JSONResponse:
    """Store a still of the newest frame: front/back as the rectified document (masked by the tenant's
    policy when the template is known), face as the whole frame. Returns a thumbnail for the agent."""
    if body.kind not in (EvidenceKind.FRONT, EvidenceKind.BACK, EvidenceKind.FACE):
        raise HTTPException(422, "capture front, back or face")
    view = await asyncio.to_thread(_session_for, state, agent, session_id)
    live = _live(request, view.id)
    if live is None:
        raise HTTPException(409, "the customer is not connected")
    try:
        if body.kind is EvidenceKind.FACE:
            image = await _newest_frame(live)
        else:
            side = DocumentSide.FRONT if body.kind is EvidenceKind.FRONT else DocumentSide.BACK
            still = await _document_still(live, side)
            if still is None:
                raise HTTPException(422, f"no document ({side.value}) in view: ask the customer to hold it "
                                         "flat and still")
            image = still
    except TimeoutError:
        raise HTTPException(409, "no video from the customer") from None
    template = template_from_report(live.report()) if body.kind is not EvidenceKind.FACE else None
    ok, png = cv2.imencode(".png", image)
    assert ok
    try:
        stored = await asyncio.to_thread(state.service.store_evidence, view.id, body.kind, png.tobytes(),
                                         "image/png", template=template, actor=agent.actor)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    thumb = cv2.resize(image, (320, round(320 * image.shape[0] / image.shape[1])), interpolation=cv2.INTER_AREA)
    return JSONResponse({
        "kind": body.kind.value, "items": [e.id for e in stored], "masked_fields": stored[0].masked_fields,
        "template": template.value if template else None,
        "thumbnail": "data:image/jpeg;base64," + base64.b64encode(_jpeg(thumb, 80)).decode(),
    }, headers=NO_STORE)


@router.get("/console/api/calls/{session_id}/document.jpg")
async def document_zoom(session_id: str, request: Request, agent: AgentDep, state: StateDep) -> Response:
    """The document in the newest frame, rectified (flat, full resolution) for zooming. Kept in memory only."""
    view = await asyncio.to_thread(_session_for, state, agent, session_id)
    live = _live(request, view.id)
    if live is None:
        raise HTTPException(409, "the customer is not connected")
    try:
        still = await _document_still(live)
    except TimeoutError:
        raise HTTPException(409, "no video from the customer") from None
    if still is None:
        raise HTTPException(404, "no document in view")
    await asyncio.to_thread(_audit, state, agent, "console.document_zoomed", view)
    return Response(_jpeg(still, 92), media_type="image/jpeg", headers=NO_STORE)


@router.get("/console/api/calls/{session_id}/evidence/{item_id}")
async def evidence(session_id: str, item_id: str, agent: AgentDep, state: StateDep) -> Response:
    """A captured still (the stored variant, masked by the tenant's storage policy) for the agent who took
    the call and the four-eyes reviewer; each read is audited by the core (``evidence.viewed``)."""
    view = await asyncio.to_thread(_session_for, state, agent, session_id, act=False)
    if not (_may_act(agent, view) or view.agent_id == agent.id):
        raise HTTPException(403, "this session is not assigned to you")
    try:
        item, data = await asyncio.to_thread(state.service.read_evidence, view.id, item_id, agent.actor,
                                             export=False)
    except CoreError:
        raise HTTPException(404, "no such evidence item") from None
    if item.kind not in (EvidenceKind.FRONT.value, EvidenceKind.BACK.value, EvidenceKind.FACE.value):
        raise HTTPException(404, "no such evidence item")
    return Response(data, media_type=item.media_type, headers=NO_STORE)


# ------------------------------------------------------------------------------------------ decisions
class DecisionBody(BaseModel):
    decision: Decision
    reason_code: ReasonCode
    comment: str | None = Field(default=None, max_length=2000)
    override_reason: str | None = Field(default=None, max_length=2000)


def _record_checks(state: ConsoleState, view: SessionView, report: dict[str, Any], agent: AgentView) -> None:
    for name in CHECK_SECTIONS:
        section = report.get(name)
        if not isinstance(section, dict) or "verdict" not in section:
            continue
        reason = section.get("reason") or {}
        measurements = {k: v for k, v in section.items() if k not in ("verdict", "score", "reason")}
        state.service.record_check(view.id, CheckResult(
            name, Verdict(section["verdict"]), Reason(str(reason.get("code", "unknown")), str(reason.get("text", ""))),
            section.get("score"), measurements))


@router.post("/console/api/calls/{session_id}/decision")
async def decide(session_id: str, body: DecisionBody, request: Request, agent: AgentDep,
                 state: StateDep) -> JSONResponse:
    view = await asyncio.to_thread(_session_for, state, agent, session_id)
    if view.status is not SessionStatus.IN_CALL:
        raise HTTPException(409, "only an open call can be decided here")
    if body.reason_code not in REASONS_BY_DECISION[body.decision]:
        raise HTTPException(422, f"reason {body.reason_code.value} does not fit {body.decision.value}")
    live = _live(request, view.id)
    if live is not None:
        await asyncio.to_thread(_record_checks, state, view, live.report(), agent)
    if body.decision is Decision.APPROVED and not body.override_reason:
        gaps = await asyncio.to_thread(state.service.approval_gaps, view.id)
        if gaps:
            return JSONResponse({"blocked": True, "gaps": gaps}, status_code=409)
    hub = _hub(request)
    if hub is not None:  # end the media first: the recording's last segment is sealed before the decision
        await hub.close(view.id)
    try:
        outcome = await asyncio.to_thread(state.service.decide, view.id, agent.id, body.decision, body.reason_code,
                                          comment=body.comment, override_reason=body.override_reason)
    except ApprovalBlocked as exc:
        return JSONResponse({"blocked": True, "gaps": exc.gaps}, status_code=409)
    except NotAssigned:
        raise HTTPException(403, "this session is not assigned to you") from None
    return JSONResponse({"status": outcome.session.status.value, "tan_sent": outcome.tan_sent,
                         "tan_problem": outcome.tan_problem, "review": outcome.session.status is SessionStatus.REVIEW})


@router.post("/console/api/calls/{session_id}/release")
async def release(session_id: str, request: Request, agent: AgentDep, state: StateDep) -> dict[str, str]:
    """Hand the call back to the queue (e.g. the agent must leave); another agent gets it at random."""
    view = await asyncio.to_thread(_session_for, state, agent, session_id)
    result = await asyncio.to_thread(state.service.call_dropped, view.id, agent.actor)
    return {"status": result.status.value}


class ReviewBody(BaseModel):
    confirm: bool
    comment: str | None = Field(default=None, max_length=2000)


@router.post("/console/api/reviews/{session_id}")
async def review(session_id: str, body: ReviewBody, agent: AgentDep, state: StateDep) -> JSONResponse:
    if agent.role is not AgentRole.SUPERVISOR:
        raise HTTPException(403, "four-eyes review is for supervisors")
    view = await asyncio.to_thread(_session_for, state, agent, session_id)
    try:
        outcome = await asyncio.to_thread(state.service.review, view.id, agent.id, confirm=body.confirm,
                                          comment=body.comment)
    except FourEyesViolation as exc:
        raise HTTPException(403, str(exc)) from None
    return JSONResponse({"status": outcome.session.status.value, "tan_sent": outcome.tan_sent,
                         "tan_problem": outcome.tan_problem})
