"""The agent's decision on a call (approve / reject / abort with a reason code, the approval gate and the
override), handing a call back to the queue, and the supervisor's four-eyes review of an override."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.routers.console_base import AgentDep, ConsoleState, StateDep, hub, live_session, session_for
from pipelines.results import CheckResult, Reason, Verdict
from videoident.agents import AgentRole, AgentView
from videoident.errors import ApprovalBlocked, FourEyesViolation, NotAssigned
from videoident.service import SessionView
from videoident.states import REASONS_BY_DECISION, Decision, ReasonCode, SessionStatus

__all__ = ["router", "CHECK_SECTIONS"]

#: The live report sections recorded into the core as check results (the approval gate reads them).
CHECK_SECTIONS = ("quality", "document", "tilt", "hologram", "mrz", "face", "liveness", "injection")

router = APIRouter()


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
    view = await asyncio.to_thread(session_for, state, agent, session_id)
    if view.status is not SessionStatus.IN_CALL:
        raise HTTPException(409, "only an open call can be decided here")
    if body.reason_code not in REASONS_BY_DECISION[body.decision]:
        raise HTTPException(422, f"reason {body.reason_code.value} does not fit {body.decision.value}")
    live = live_session(request, view.id)
    if live is not None:
        await asyncio.to_thread(_record_checks, state, view, live.report(), agent)
    if body.decision is Decision.APPROVED and not body.override_reason:
        gaps = await asyncio.to_thread(state.service.approval_gaps, view.id)
        if gaps:
            return JSONResponse({"blocked": True, "gaps": gaps}, status_code=409)
    live_hub = hub(request)
    if live_hub is not None:  # end the media first: the recording's last segment is sealed before the decision
        await live_hub.close(view.id)
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
    view = await asyncio.to_thread(session_for, state, agent, session_id)
    result = await asyncio.to_thread(state.service.call_dropped, view.id, agent.actor)
    return {"status": result.status.value}


class ReviewBody(BaseModel):
    confirm: bool
    comment: str | None = Field(default=None, max_length=2000)


@router.post("/console/api/reviews/{session_id}")
async def review(session_id: str, body: ReviewBody, agent: AgentDep, state: StateDep) -> JSONResponse:
    if agent.role is not AgentRole.SUPERVISOR:
        raise HTTPException(403, "four-eyes review is for supervisors")
    view = await asyncio.to_thread(session_for, state, agent, session_id)
    try:
        outcome = await asyncio.to_thread(state.service.review, view.id, agent.id, confirm=body.confirm,
                                          comment=body.comment)
    except FourEyesViolation as exc:
        raise HTTPException(403, str(exc)) from None
    return JSONResponse({"status": outcome.session.status.value, "tan_sent": outcome.tan_sent,
                         "tan_problem": outcome.tan_problem})
