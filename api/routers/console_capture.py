"""The agent's inspection during a call: confirmations of what was asked and which drawn security features
were inspected, captures of front/back/face into the vault, the rectified document for zooming (memory
only), and reading back a stored still."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator

import cv2
import numpy as np
from av import VideoFrame
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.media.session import LiveSession
from api.routers.console_base import (
    FEATURE_PREFIX,
    NO_STORE,
    AgentDep,
    StateDep,
    audit,
    live_session,
    may_act,
    session_for,
)
from pipelines.document import DocumentLocator
from pipelines.frame import DocumentSide
from videoident.errors import CoreError
from videoident.security_features import template_from_report
from videoident.vault import EvidenceKind

__all__ = ["router", "CAPTURE_WAIT_S", "CAPTURE_MAX_FRAMES", "CONFIRMATIONS"]

#: How long a capture looks for a frame in which the document is found (the customer holds it still); a
#: congested stream can pause for a few seconds while it waits for a keyframe (seen under load here).
CAPTURE_WAIT_S = 8.0
#: Frames tried within that time (each costs a document search of ~20-40 ms).
CAPTURE_MAX_FRAMES = 12
#: The things the agent asks aloud and confirms (BaFin RS 3/2017 III.3: purpose; III.4: document number).
CONFIRMATIONS = ("document_number_read", "purpose_stated")

router = APIRouter()


class ConfirmBody(BaseModel):
    item: str


@router.post("/console/api/calls/{session_id}/confirm")
async def confirm(session_id: str, body: ConfirmBody, agent: AgentDep, state: StateDep) -> dict[str, list[str]]:
    view = await asyncio.to_thread(session_for, state, agent, session_id)
    # The asked questions, and each drawn security feature the agent inspected ("feature:<code>"); the draw
    # and the confirmations are in the database, so any worker answers the same.
    drawn = await asyncio.to_thread(state.memory.drawn, view.id)
    features = drawn.features if drawn is not None else ()
    if body.item not in CONFIRMATIONS + tuple(f"{FEATURE_PREFIX}{f.code}" for f in features):
        raise HTTPException(422, f"item must be one of {', '.join(CONFIRMATIONS)} or feature:<a drawn feature>")
    confirmed, _new = await asyncio.to_thread(state.memory.confirm, view.id, body.item, agent.id)
    await asyncio.to_thread(audit, state, agent, "console.confirmed", view, item=body.item)
    return {"confirmed": sorted(confirmed)}


# ------------------------------------------------------------------------------------------ frames
async def _frames(live: LiveSession, count: int) -> AsyncIterator[np.ndarray]:
    """The newest published frame of the customer's camera, then up to ``count - 1`` following ones, within
    :data:`CAPTURE_WAIT_S` (a congested stream may pause for a keyframe: no error, just fewer frames).
    Each is BGR uint8 (H, W, 3)."""
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


# ------------------------------------------------------------------------------------------ captures
class CaptureBody(BaseModel):
    kind: EvidenceKind


@router.post("/console/api/calls/{session_id}/capture")
async def capture(session_id: str, body: CaptureBody, request: Request, agent: AgentDep,
                  state: StateDep) -> JSONResponse:
    """Store a still of the newest frame: front/back as the rectified document (masked by the tenant's
    policy when the template is known), face as the whole frame. Returns a thumbnail for the agent."""
    if body.kind not in (EvidenceKind.FRONT, EvidenceKind.BACK, EvidenceKind.FACE):
        raise HTTPException(422, "capture front, back or face")
    view = await asyncio.to_thread(session_for, state, agent, session_id)
    live = live_session(request, view.id)
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
    view = await asyncio.to_thread(session_for, state, agent, session_id)
    live = live_session(request, view.id)
    if live is None:
        raise HTTPException(409, "the customer is not connected")
    try:
        still = await _document_still(live)
    except TimeoutError:
        raise HTTPException(409, "no video from the customer") from None
    if still is None:
        raise HTTPException(404, "no document in view")
    await asyncio.to_thread(audit, state, agent, "console.document_zoomed", view)
    return Response(_jpeg(still, 92), media_type="image/jpeg", headers=NO_STORE)


@router.get("/console/api/calls/{session_id}/evidence/{item_id}")
async def evidence(session_id: str, item_id: str, agent: AgentDep, state: StateDep) -> Response:
    """A captured still (the stored variant, masked by the tenant's storage policy) for the agent who took
    the call and the four-eyes reviewer; each read is audited by the core (``evidence.viewed``)."""
    view = await asyncio.to_thread(session_for, state, agent, session_id, act=False)
    if not (may_act(agent, view) or view.agent_id == agent.id):
        raise HTTPException(403, "this session is not assigned to you")
    try:
        item, data = await asyncio.to_thread(state.service.read_evidence, view.id, item_id, agent.actor,
                                             export=False)
    except CoreError:
        raise HTTPException(404, "no such evidence item") from None
    if item.kind not in (EvidenceKind.FRONT.value, EvidenceKind.BACK.value, EvidenceKind.FACE.value):
        raise HTTPException(404, "no such evidence item")
    return Response(data, media_type=item.media_type, headers=NO_STORE)
