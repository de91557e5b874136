"""The console's live view of a call: the checks report (live during the call, the recorded results during
four-eyes review), the drawn security features, approval gaps and stored stills
(``GET /console/api/calls/{id}/live``), and the agent's WebRTC offer that joins the customer's video
(``POST /console/api/calls/{id}/offer``).

With several workers these requests are forwarded to the worker holding the live session
(:mod:`api.media.cluster_proxy`); when the call's media is not in this process anyway (its owner just died
and the customer has not reconnected yet), the live view shows the newest report snapshot the owner
published to Redis (:meth:`api.media.cluster.LiveCluster.latest`), with its worker and age."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from api.media.cluster import LiveCluster
from api.media.hub import NoLiveSession
from api.routers.console_base import (
    FEATURE_PREFIX,
    NO_STORE,
    AgentDep,
    ConsoleState,
    StateDep,
    audit,
    hub,
    live_session,
    may_act,
    may_see,
    session_for,
)
from pipelines.results import combine_verdicts
from videoident.agents import AgentView, masked_report
from videoident.security_features import draw_features, template_from_report
from videoident.service import SessionView
from videoident.states import SessionStatus
from videoident.vault import EvidenceKind

__all__ = ["router"]

router = APIRouter()


def _stored_report(state: ConsoleState, view: SessionView) -> dict[str, Any]:
    """The check results recorded at the decision, shaped like the live report."""
    results = state.service.check_results(view.id)
    report: dict[str, Any] = {r.name: r.to_json() for r in results}
    if results:
        report["verdict"] = combine_verdicts([r.verdict for r in results]).value
    return report


def _features(state: ConsoleState, agent: AgentView, view: SessionView, report: dict[str, Any]) -> list[dict[str, str]]:
    """The security features the agent must check, drawn once per session on whichever worker asks first
    (blocking: database)."""
    template = template_from_report(report)
    known = state.memory.drawn(view.id)
    # Redrawn for the template once the MRZ reveals it, but only during the call and before the agent ticked
    # any feature: the agent is never asked to start over, and a four-eyes reviewer sees the features the
    # agent checked (even when only the report recorded at the decision knows the template).
    if known is not None and known.template is None and template is not None and view.status is SessionStatus.IN_CALL:
        ticked = any(item.startswith(FEATURE_PREFIX) for item in state.memory.confirmed(view.id))
        upgrade = not ticked
    else:
        upgrade = False
    if known is None or upgrade:
        known, won = state.memory.draw_once(view.id, template, draw_features(template))
        if won:  # of two workers drawing at once only the winner audits its draw
            audit(state, agent, "console.features_drawn", view, template=template.value if template else None,
                  features=[f.code for f in known.features])
    return [f.to_json() for f in known.features]


def _remote_live(request: Request, session_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(report, stats) of a live session held by another worker, from its newest published snapshot; None
    without the scaled mode, without a snapshot, or when Redis does not answer (blocking: a Redis read)."""
    cluster: LiveCluster | None = getattr(request.app.state, "live_cluster", None)
    if cluster is None:
        return None
    try:
        snapshot = cluster.latest(session_id)
    except RedisError:
        return None
    if snapshot is None or snapshot.closed:
        return None
    stats = {**snapshot.stats, "owner": {"worker": snapshot.worker_id, "age_s": round(snapshot.age_s(), 1)}}
    return snapshot.report, stats


def _live_json(request: Request, state: ConsoleState, agent: AgentView, session_id: str) -> dict[str, Any]:
    view = session_for(state, agent, session_id, act=False)
    # Live checks during the call; afterwards (four-eyes review) what was recorded at the decision.
    live = live_session(request, view.id) if view.status is SessionStatus.IN_CALL else None
    remote = _remote_live(request, view.id) if live is None and view.status is SessionStatus.IN_CALL else None
    if live is not None:
        report, stats = live.report(), live.stats()
    elif remote is not None:
        report, stats = remote
    else:
        report, stats = _stored_report(state, view), None
    if state.memory.first_view(agent.id, view.id):  # once per agent and session, on any worker
        audit(state, agent, "console.checks_viewed", view)
    evidence = [{"id": e.id, "kind": e.kind, "variant": e.variant, "masked_fields": e.masked_fields,
                 "created_at": e.created_at.isoformat()} for e in state.service.list_evidence(view.id)
                if e.kind != EvidenceKind.RECORDING_SEGMENT.value and e.variant == "stored"]
    return {
        "status": view.status.value,
        "may_act": may_act(agent, view),
        "report": report if may_see(agent, view) else masked_report(report),
        "live": stats,
        "features": _features(state, agent, view, report),
        "gaps": state.service.approval_gaps(view.id) if view.status is SessionStatus.IN_CALL else [],
        "evidence": evidence,
        "confirmed": sorted(state.memory.confirmed(view.id)),
    }


@router.get("/console/api/calls/{session_id}/live")
async def call_live(session_id: str, request: Request, agent: AgentDep, state: StateDep) -> JSONResponse:
    return JSONResponse(await asyncio.to_thread(_live_json, request, state, agent, session_id), headers=NO_STORE)


class SdpOffer(BaseModel):
    sdp: str = Field(max_length=20_000)
    type: str = "offer"


@router.post("/console/api/calls/{session_id}/offer")
async def offer(session_id: str, body: SdpOffer, request: Request, agent: AgentDep, state: StateDep) -> dict[str, str]:
    view = await asyncio.to_thread(session_for, state, agent, session_id)
    live_hub = hub(request)
    if live_hub is None or body.type != "offer":
        raise HTTPException(409, "the customer is not connected")
    try:
        answer = await live_hub.agent_offer(view.id, body.sdp)
    except NoLiveSession:
        raise HTTPException(409, "the customer is not connected") from None
    except ValueError as exc:
        raise HTTPException(422, "the offer could not be used") from exc
    await asyncio.to_thread(audit, state, agent, "console.video_joined", view)
    return {"sdp": answer.sdp, "type": answer.type}
