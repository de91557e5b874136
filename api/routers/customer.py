"""The customer's side of an ident: the page at ``/ident/{token}`` and its JSON endpoints.

The token in the link is the customer's only credential (256 random bits, only its hash is stored). Every
endpoint resolves it through :meth:`IdentService.session_by_token`; an unknown, used or expired link is a
404 with no detail. Nothing here returns PII: the page learns the bank's display name, the purpose, the
status, its place in the queue and the agent verification code.

- ``GET  /ident/{token}``                the page (plain HTML/CSS/JS from ``api/static/customer``)
- ``GET  /ident/assets/{name}``          its script, style sheet and translations
- ``GET  /ident/{token}/api/state``      status, queue position and estimated wait, live connection
- ``POST /ident/{token}/api/join``       consent given and camera checked: join the waiting room
- ``POST /ident/{token}/api/offer``      WebRTC signalling: the page's SDP offer -> the server's answer
- ``POST /ident/{token}/api/tan``        the TAN the customer received
- ``POST /ident/{token}/api/tan/resend`` a new TAN
- ``POST /ident/{token}/api/cancel``     the customer cancels before the agent's decision
- ``WS   /ident/{token}/api/events``     the state, pushed whenever it changes; when the link stops
  working, ``{"status": "completed"}`` (TAN confirmed), ``"cancelled"`` (by the customer) or ``"ended"``
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from api.media.app_state import live_hub, page_ice_servers
from api.media.cluster import LiveCluster
from api.media.hub import LiveHub
from api.media.verification import agent_code
from api.page_headers import page_headers
from videoident import audit
from videoident.errors import CoreError, TanError, TokenInvalid
from videoident.service import IdentService, SessionView
from videoident.states import CUSTOMER_CANCELLABLE, ActorType, IllegalTransition, SessionStatus

__all__ = ["router", "CONSENT_VERSION"]

STATIC = Path(__file__).resolve().parent.parent / "static" / "customer"
#: The files the page may load (nothing else under the folder is served).
ASSETS = {
    "app.js": "text/javascript",
    "i18n.js": "text/javascript",
    "style.css": "text/css",
}
#: The consent text's version (the ``consent_*`` texts of static/customer/i18n.js in every language), recorded
#: in the audit log (``customer.consented``) when the customer joins; bump it with the text
#: (tests/test_live_page.py fails when the text changes and the version does not).
#: 2026-11-2: "stop by closing this page" became the page's "Cancel identification" button.
CONSENT_VERSION = "2026-11-2"
#: Languages the page speaks (Persian is right-to-left).
LOCALES = ("en", "nl", "de", "fa")
#: Statuses in which the page keeps a live media connection.
LIVE_STATUSES = frozenset({SessionStatus.WAITING, SessionStatus.IN_CALL, SessionStatus.REVIEW})
#: How often the events WebSocket re-reads the session when nothing else wakes it.
EVENTS_POLL_S = 1.0
#: Security headers of the page: no framing, no referrer (the link holds the token), camera for us only.
PAGE_HEADERS = page_headers()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Build the live hub and load the analyzer's engines before serving: loading them at the first
    # customer's offer stalled the event loop for seconds (see api.media.analysis.Engines.load).
    service: IdentService | None = getattr(getattr(app.state, "bank", None), "service", None)
    if service is not None:
        await asyncio.to_thread(live_hub(app, service).warmup)
    yield
    hub: LiveHub | None = getattr(app.state, "live_hub", None)
    if hub is not None:
        await hub.close_all()


router = APIRouter(tags=["customer"], lifespan=_lifespan)


def get_service(request: Request) -> IdentService:
    bank = getattr(request.app.state, "bank", None)
    service: IdentService | None = getattr(bank, "service", None)
    if service is None:
        raise HTTPException(503, "the service is starting")
    return service


ServiceDep = Annotated[IdentService, Depends(get_service)]


def _session(service: IdentService, token: str) -> SessionView:
    try:
        return service.session_by_token(token)
    except TokenInvalid:
        raise HTTPException(404, "this link is not valid (any more)") from None


def _queue(service: IdentService, view: SessionView) -> dict[str, Any] | None:
    """Place in the waiting room (1 = next), how many wait, and an estimate of the wait in seconds."""
    if view.status is not SessionStatus.WAITING:
        return None
    place = service.queue_position(view.id)
    if place is None:  # an agent took the call since the session was read
        return None
    return {"position": place.position, "waiting": place.waiting, "estimated_wait_s": place.estimated_wait_s}


def _live_section(app: Any, view: SessionView) -> dict[str, Any] | None:
    """The page's ``live`` part: from the live session when this worker holds it; in the scaled mode, when
    another worker does, from the owner's newest published snapshot (blocking: a Redis read). None when the
    session has no live media (or Redis does not answer: the page then shows no guidance, nothing else)."""
    hub: LiveHub | None = getattr(app.state, "live_hub", None)
    live = hub.get(view.id) if hub else None
    if live is not None:
        return {"connection": live.connection_state, "agent_connected": live.stats()["agent_connected"],
                "checks": live.check_status(), "guidance": list(live.guidance)}
    cluster: LiveCluster | None = getattr(app.state, "live_cluster", None)
    if cluster is None or view.status not in LIVE_STATUSES:
        return None
    try:
        snapshot = cluster.latest(view.id)
    except RedisError:
        return None
    if snapshot is None or snapshot.closed:
        return None
    return {"connection": snapshot.connection, "agent_connected": bool(snapshot.stats.get("agent_connected")),
            "checks": snapshot.checks, "guidance": list(snapshot.guidance)}


def _state(app: Any, service: IdentService, view: SessionView) -> dict[str, Any]:
    tenant = service.get_tenant(view.tenant_id)
    settings = app.state.settings
    status = view.status
    return {
        "status": status.value,
        "bank": tenant.display_name,
        "purpose": view.purpose.value,
        "locale": view.locale if view.locale in LOCALES else "en",
        "retention_days": tenant.retention_days,
        "expires_at": view.expires_at.astimezone(UTC).isoformat(),
        "consent_version": CONSENT_VERSION,
        "may_cancel": status in CUSTOMER_CANCELLABLE,
        # For the page's RTCPeerConnection: the operator's STUN and TURN with short-lived credentials, while
        # the session has live media (a link of an ended session gets none); [] unless configured.
        "ice_servers": page_ice_servers(app, "customer") if status in LIVE_STATUSES else [],
        "queue": _queue(service, view),
        "agent_code": agent_code(settings.master_key_bytes, view.id) if status is SessionStatus.IN_CALL else None,
        "tan": {"attempts_left": max(0, 3 - view.tan_failed_attempts)}
        if status in (SessionStatus.APPROVED, SessionStatus.TAN_PENDING)
        else None,
        "live": _live_section(app, view),
    }


async def _end_live_if_over(app: Any, view: SessionView) -> None:
    """A session that left the live statuses (decided elsewhere, expired) ends its media here too."""
    hub: LiveHub | None = getattr(app.state, "live_hub", None)
    if hub is not None and view.status not in LIVE_STATUSES and hub.get(view.id) is not None:
        await hub.close(view.id)


@router.get("/ident/assets/{name}", include_in_schema=False)
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404)
    return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})


@router.get("/ident/{token}", response_class=HTMLResponse, include_in_schema=False)
def page(token: str) -> HTMLResponse:
    # The page itself holds no session data; it reads its state with the token from its own URL.
    return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"), headers=PAGE_HEADERS)


@router.get("/ident/{token}/api/state", summary="The customer's view of the session")
async def state(token: str, request: Request, service: ServiceDep) -> JSONResponse:
    view = await asyncio.to_thread(_session, service, token)
    await _end_live_if_over(request.app, view)
    body = await asyncio.to_thread(_state, request.app, service, view)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


class JoinRequest(BaseModel):
    consent: bool = Field(description="The customer agreed to the recording and processing described")
    consent_version: str
    locale: str = "en"
    camera_ok: bool = True


@router.post("/ident/{token}/api/join", summary="Consent given: join the waiting room")
async def join(token: str, body: JoinRequest, request: Request, service: ServiceDep) -> JSONResponse:
    view = await asyncio.to_thread(_session, service, token)
    if not body.consent or body.consent_version != CONSENT_VERSION:
        raise HTTPException(422, "consent to the current text is required")
    if view.status is SessionStatus.CREATED:
        await asyncio.to_thread(service.record_audit, audit.Actor(ActorType.CUSTOMER, view.id), "customer.consented",
                                session_id=view.id, consent_version=CONSENT_VERSION,
                                locale=body.locale if body.locale in LOCALES else "en")
        view = await asyncio.to_thread(service.customer_joined, view.id)
    return JSONResponse(await asyncio.to_thread(_state, request.app, service, view))


class SdpOffer(BaseModel):
    sdp: str = Field(max_length=20_000)
    type: str = "offer"


@router.post("/ident/{token}/api/offer", summary="WebRTC: the page's offer, the server's answer")
async def offer(token: str, body: SdpOffer, request: Request, service: ServiceDep) -> dict[str, str]:
    view = await asyncio.to_thread(_session, service, token)
    if view.status not in LIVE_STATUSES:
        raise HTTPException(409, "the video call is not open for this session")
    if body.type != "offer":
        raise HTTPException(422, "expected an SDP offer")
    hub = live_hub(request.app, service)
    try:
        answer = await hub.customer_offer(view.id, body.sdp)
    except ValueError as exc:  # aiortc rejects a malformed SDP with ValueError
        raise HTTPException(422, "the offer could not be used") from exc
    return {"sdp": answer.sdp, "type": answer.type}


class TanEntry(BaseModel):
    tan: str = Field(max_length=32)


@router.post("/ident/{token}/api/tan", summary="Confirm the identification with the TAN")
async def tan(token: str, body: TanEntry, request: Request, service: ServiceDep) -> dict[str, Any]:
    view = await asyncio.to_thread(_session, service, token)
    result = await asyncio.to_thread(service.verify_tan, view.id, body.tan)
    await _end_live_if_over(request.app, result.session)
    return {"outcome": result.outcome.value, "attempts_left": result.attempts_left, "status": result.session.status}


@router.post("/ident/{token}/api/tan/resend", summary="Send a new TAN")
async def tan_resend(token: str, service: ServiceDep) -> dict[str, Any]:
    view = await asyncio.to_thread(_session, service, token)
    try:
        await asyncio.to_thread(service.send_tan, view.id, audit.Actor(ActorType.CUSTOMER, view.id))
    except TanError as exc:
        raise HTTPException(429, str(exc)) from None
    return {"sent": True}


def _final_status(service: IdentService, session_id: str | None) -> str:
    """What the events socket says when the link stops working: ``completed`` when the session it watched
    was confirmed with the TAN (the page shows "done" even if this arrives before the TAN reply),
    ``cancelled`` when the customer cancelled it, else ``ended``. Only a socket that saw the link valid
    learns this; an unknown link always gets ``ended``."""
    if session_id is not None:
        try:
            status = service.get_session(session_id).status
        except CoreError:
            return "ended"
        if status in (SessionStatus.COMPLETED, SessionStatus.CANCELLED):
            return status.value
    return "ended"


@router.post("/ident/{token}/api/cancel", summary="The customer cancels the identification")
async def cancel(token: str, request: Request, service: ServiceDep) -> dict[str, str]:
    """Until the agent decides (``created``, ``waiting``, ``in_call``): the session ends as ``cancelled``, the
    bank hears it by webhook, the agent's console drops the call, the link stops working. 409 afterwards."""
    view = await asyncio.to_thread(_session, service, token)
    if view.status not in CUSTOMER_CANCELLABLE:
        raise HTTPException(409, "the identification can no longer be cancelled")
    hub: LiveHub | None = getattr(request.app.state, "live_hub", None)
    if hub is not None:  # end the media first: the recording's last segment is sealed before the session ends
        await hub.close(view.id)
    try:
        ended = await asyncio.to_thread(service.customer_cancelled, view.id)
    except IllegalTransition:  # the agent decided in the meantime
        raise HTTPException(409, "the identification can no longer be cancelled") from None
    return {"status": ended.status.value}


@router.websocket("/ident/{token}/api/events")
async def events(websocket: WebSocket, token: str) -> None:
    """The page's state, sent at connect and whenever it changes (status, queue, live checks)."""
    await websocket.accept()
    service: IdentService | None = getattr(getattr(websocket.app.state, "bank", None), "service", None)
    if service is None:
        await websocket.close(1013)
        return
    last = None
    session_id: str | None = None  # known once the token was valid on this socket
    remote_version = -1  # the newest snapshot of another worker's live session seen on this socket
    try:
        while True:
            try:
                view = await asyncio.to_thread(service.session_by_token, token)
            except (TokenInvalid, CoreError):
                final = await asyncio.to_thread(_final_status, service, session_id)
                await websocket.send_text(json.dumps({"status": final}))
                await websocket.close(1000)
                return
            session_id = view.id
            request = Request({"type": "http", "app": websocket.app, "headers": []})
            await _end_live_if_over(request.app, view)
            body = await asyncio.to_thread(_state, request.app, service, view)
            text = json.dumps(body, default=str)
            if text != last:
                await websocket.send_text(text)
                last = text
            hub: LiveHub | None = getattr(websocket.app.state, "live_hub", None)
            live = hub.get(view.id) if hub else None
            cluster: LiveCluster | None = getattr(websocket.app.state, "live_cluster", None)
            if live is not None:
                await live.wait_changed(live.version, EVENTS_POLL_S)
            elif cluster is not None and view.status in LIVE_STATUSES:
                # Another worker holds the media: wake on its next published snapshot (pub/sub), so the
                # customer's guidance is as fresh here as on the owner.
                try:
                    snapshot = await cluster.wait_update(view.id, remote_version, EVENTS_POLL_S)
                except RedisError:
                    await asyncio.sleep(EVENTS_POLL_S)
                else:
                    remote_version = snapshot.version if snapshot is not None else remote_version
            else:
                await asyncio.sleep(EVENTS_POLL_S)
    except WebSocketDisconnect:
        return

