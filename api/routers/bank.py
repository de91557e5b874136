"""The bank REST API ``/v1``: create ident sessions, read status, result and masked evidence, erase.

Thin: validation is in :mod:`api.schemas`, the work in :class:`videoident.service.IdentService`, auth and
rate limits in :mod:`api.deps`. Another tenant's session answers 404 exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response

from api.deps import BankState, BankStateDep, TenantDep
from api.errors import ApiProblem, FieldError, problem_responses
from api.schemas.evidence import EvidenceItemPublic, EvidenceList
from api.schemas.sessions import (
    CheckPublic,
    CheckSummary,
    ReactivationPublic,
    SessionCreate,
    SessionCreated,
    SessionPublic,
    SessionResult,
)
from api.schemas.webhooks import WebhookDeliveryList, WebhookDeliveryPublic, WebhookSecretRotated
from pipelines.results import CheckResult
from videoident import audit
from videoident.claims import (
    VerifiedPerson,
    compare_document_numbers,
    document_from_mrz,
    icao_country,
    trust_framework_for,
    verified_claims,
)
from videoident.errors import Erased, NotFound
from videoident.idempotency import IdempotencyInProgress, IdempotencyMismatch, StoredResponse, fingerprint, valid_key
from videoident.service import ClaimedIdentity, Contact, SessionView
from videoident.states import TERMINAL, ActorType, Decision, Purpose, SessionStatus
from videoident.tenants import WEBHOOK_SECRET_OVERLAP, rotate_webhook_secret
from videoident.vault import Variant
from videoident.webhooks import (
    CallbackUrlError,
    DeliveryStatus,
    WebhookDelivery,
    check_callback_url,
    list_deliveries,
    redeliver,
)

router = APIRouter(prefix="/v1", tags=["bank"], responses=problem_responses(400, 401, 422, 429))

SessionPath = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="The session id")]
ItemPath = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="The evidence item id")]
#: The check a reactivation's live face against the reference face is recorded under (pipelines/face).
REACTIVATION_FACE_CHECK = "reactivation_face"


@contextmanager
def _core_errors() -> Iterator[None]:
    try:
        yield
    except NotFound as exc:
        raise ApiProblem(404, str(exc) or "no such session", "not_found") from exc
    except Erased as exc:
        raise ApiProblem(410, "the session was erased; its data and evidence are gone", "erased") from exc


def _bank(tenant_id: str) -> audit.Actor:
    return audit.Actor(ActorType.BANK, tenant_id)


def _created_body(state: BankState, view: SessionView, token: str) -> SessionCreated:
    base = state.settings.public_base_url.rstrip("/")
    return SessionCreated(id=view.id, status=view.bank_status.value, purpose=view.purpose.value,  # type: ignore[arg-type]
                          reference=view.reference, customer_url=f"{base}/ident/{token}",
                          created_at=view.created_at, expires_at=view.expires_at)


def _check_reference_session(state: BankState, tenant_id: str, reference_session_id: str) -> None:
    try:
        reference = state.service.get_session(reference_session_id, tenant_id)
    except NotFound:
        reference = None
    if reference is None or reference.status is not SessionStatus.COMPLETED or reference.erased_at is not None:
        raise ApiProblem(422, "reference_session_id must name a completed session of yours",
                         "invalid_reference_session",
                         errors=[FieldError(loc="body.reference_session_id", type="reference_session",
                                            reason="not a completed, unerased session of this tenant")])


def _create(state: BankState, tenant_id: str, body: SessionCreate) -> StoredResponse:
    if body.callback_url is not None:
        try:
            check_callback_url(body.callback_url, state.settings.environment)
        except CallbackUrlError as exc:
            raise ApiProblem(422, str(exc), "invalid_callback_url",
                             errors=[FieldError(loc="body.callback_url", reason=str(exc), type="callback_url")]
                             ) from exc
    if body.reference_session_id is not None:
        _check_reference_session(state, tenant_id, body.reference_session_id)
    claimed = body.claimed_identity
    identity = ClaimedIdentity(given_name=claimed.given_name, family_name=claimed.family_name,
                               birthdate=claimed.birthdate, document_number=claimed.document_number,
                               nationality=claimed.nationality)
    contact = Contact(email=body.contact.email, phone=body.contact.phone) if body.contact else None
    with _core_errors():
        created = state.service.create_session(
            tenant_id, identity=identity, purpose=Purpose(body.purpose.value), reference=body.reference,
            callback_url=body.callback_url, locale=body.locale, contact=contact,
            reference_session_id=body.reference_session_id, actor=_bank(tenant_id))
    state.dispatcher.wake()
    payload = _created_body(state, created.session, created.customer_token)
    return StoredResponse(201, payload.model_dump_json().encode())


@router.post(
    "/sessions",
    status_code=201,
    response_model=SessionCreated,
    summary="Create an ident session and get the customer's link",
    responses=problem_responses(409),
)
def create_session(
    body: SessionCreate,
    tenant: TenantDep,
    state: BankStateDep,
    idempotency_key: Annotated[str | None, Header(
        pattern=r"^[!-~]{1,255}$", description="Retry-safe creation: the same key and body return the same response "
        "for 24 h; the same key with another body is refused (422).")] = None,
) -> Response:
    if idempotency_key is None:
        stored = _create(state, tenant.tenant_id, body)
        return Response(stored.body, stored.status_code, media_type="application/json")
    if not valid_key(idempotency_key):
        raise ApiProblem(422, "Idempotency-Key must be 1-255 printable ASCII characters", "invalid_idempotency_key",
                         errors=[FieldError(loc="header.idempotency-key", reason="1-255 printable ASCII",
                                            type="idempotency_key")])
    request_hash = fingerprint("POST", "/v1/sessions", body.model_dump_json().encode())
    try:
        replay = state.idempotency.begin(tenant.tenant_id, idempotency_key, request_hash)
    except IdempotencyMismatch as exc:
        raise ApiProblem(422, "this Idempotency-Key was used with a different request",
                         "idempotency_key_reused") from exc
    except IdempotencyInProgress as exc:
        raise ApiProblem(409, "a request with this Idempotency-Key is still in progress; retry shortly",
                         "idempotency_in_progress", headers={"Retry-After": "1"}) from exc
    if replay is not None:
        return Response(replay.body, replay.status_code, media_type="application/json",
                        headers={"Idempotent-Replayed": "true"})
    try:
        stored = _create(state, tenant.tenant_id, body)
    except BaseException:  # refused or failed: the key is not used up, a corrected retry may use it
        state.idempotency.abandon(tenant.tenant_id, idempotency_key)
        raise
    state.idempotency.complete(tenant.tenant_id, idempotency_key, stored)
    return Response(stored.body, stored.status_code, media_type="application/json")


def _view(state: BankState, tenant_id: str, session_id: str) -> SessionView:
    with _core_errors():
        view: SessionView = state.service.get_session(session_id, tenant_id)
    return view


def _checks(state: BankState, tenant_id: str, view: SessionView) -> list[CheckResult]:
    if view.erased_at is not None:
        return []
    with _core_errors():
        results: list[CheckResult] = state.service.check_results(view.id, tenant_id)
    return results


@router.get("/sessions/{session_id}", response_model=SessionPublic, summary="Status and a summary of the checks",
            responses=problem_responses(404))
def get_session(session_id: SessionPath, tenant: TenantDep, state: BankStateDep) -> SessionPublic:
    view = _view(state, tenant.tenant_id, session_id)
    checks = [CheckSummary(name=c.name, verdict=c.verdict.value, score=c.score)
              for c in _checks(state, tenant.tenant_id, view)]
    return SessionPublic(id=view.id, status=view.bank_status.value, purpose=view.purpose.value,  # type: ignore[arg-type]
                         reference=view.reference, created_at=view.created_at, updated_at=view.updated_at,
                         expires_at=view.expires_at, decision=_decision(view), checks=checks,
                         erased_at=view.erased_at)


def _decision(view: SessionView) -> str | None:
    if view.bank_status is SessionStatus.IN_CALL or view.decision is None:
        return None  # four-eyes review is internal: the bank hears of the decision after it
    return view.decision.value


def _public_check(check: CheckResult, recorded_at: datetime | None = None) -> CheckPublic:
    return CheckPublic(name=check.name, verdict=check.verdict.value, score=check.score,
                       reason_code=check.reason.code, reason=check.reason.text, recorded_at=recorded_at)


def _mrz_fields(checks: list[CheckResult]) -> dict[str, Any]:
    for check in checks:
        if check.name == "mrz":
            fields = check.measurements.get("fields")
            return dict(fields) if isinstance(fields, dict) else {}
    return {}


def _reactivation(state: BankState, tenant_id: str, view: SessionView, checks: list[CheckResult]) -> ReactivationPublic:
    assert view.reference_session_id is not None
    try:
        reference_checks = state.service.check_results(view.reference_session_id, tenant_id)
    except (NotFound, Erased):
        reference_checks = []
    reference_number = _mrz_fields(reference_checks).get("document_number")
    live_number = _mrz_fields(checks).get("document_number")
    number = compare_document_numbers(reference_number, live_number)
    face = next((c for c in checks if c.name == REACTIVATION_FACE_CHECK), None) or CheckResult.inconclusive(
        REACTIVATION_FACE_CHECK, "not_run", "the live face was not compared with the reference session's template")
    return ReactivationPublic(reference_session_id=view.reference_session_id, face=_public_check(face),
                              document_number=_public_check(number))


def _claims(state: BankState, tenant_id: str, view: SessionView, checks: list[CheckResult]) -> dict[str, Any] | None:
    """verified_claims once the customer confirmed with the TAN (status completed), else None."""
    if view.status is not SessionStatus.COMPLETED or view.decided_at is None:
        return None
    document = document_from_mrz(_mrz_fields(checks))
    if document is None:
        return None
    with _core_errors():
        claimed = state.service.claimed_identity(view.id, _bank(tenant_id), tenant_id)
        tenant = state.service.get_tenant(tenant_id)
    nationality = _mrz_fields(checks).get("nationality")
    try:
        icao_country(str(nationality or ""))
    except ValueError:
        nationality = None  # verified_claims carry what the document showed; a bank's claim is not evidence
    person = VerifiedPerson(given_name=claimed.given_name, family_name=claimed.family_name,
                            birthdate=claimed.birthdate, nationality=nationality or None)
    organization = state.settings.public_base_url.split("//", 1)[-1].split("/", 1)[0]
    return verified_claims(trust_framework=trust_framework_for(tenant.masking_profile), verified_at=view.decided_at,
                           session_id=view.id, organization=organization, person=person, document=document,
                           agent_id=view.agent_id)


@router.get("/sessions/{session_id}/result", response_model=SessionResult,
            summary="Decision, reason codes, every check and the verified identity (verified_claims)",
            responses=problem_responses(404, 409, 410))
def get_result(session_id: SessionPath, tenant: TenantDep, state: BankStateDep) -> SessionResult:
    view = _view(state, tenant.tenant_id, session_id)
    decision = _decision(view)
    if decision is None and view.status in TERMINAL:  # cancelled by the customer, expired: no result will come
        raise ApiProblem(409, f"the session ended without a decision (status {view.bank_status.value})",
                         "ended_without_decision")
    if decision is None:
        raise ApiProblem(409, f"the session is not decided yet (status {view.bank_status.value})", "not_decided")
    if decision == Decision.APPROVED.value and view.status is not SessionStatus.COMPLETED:
        # An approval is an identification only once the customer confirmed it with the TAN: a bank that read
        # "approved" from a session whose TAN expired or failed would onboard an unconfirmed identity.
        if view.status in TERMINAL:
            raise ApiProblem(409, f"the agent approved, but the customer never confirmed with the TAN (status "
                                  f"{view.bank_status.value}): this is not an identification",
                             "ended_without_confirmation")
        raise ApiProblem(409, f"approved by the agent; waiting for the customer to confirm with the TAN (status "
                              f"{view.bank_status.value})", "not_confirmed")
    if view.erased_at is not None:
        raise ApiProblem(410, "the session was erased; its result is gone", "erased")
    checks = _checks(state, tenant.tenant_id, view)
    reasons = [view.reason_code.value] if view.reason_code else []
    return SessionResult(
        id=view.id, status=view.bank_status.value, purpose=view.purpose.value,  # type: ignore[arg-type]
        reference=view.reference, decision=decision, reason_codes=reasons,
        checks=[_public_check(c) for c in checks], agent_id=view.agent_id, reviewed_by=view.reviewed_by,
        created_at=view.created_at, decided_at=view.decided_at,
        completed_at=view.ended_at if view.status is SessionStatus.COMPLETED else None,
        verified_claims=_claims(state, tenant.tenant_id, view, checks),
        reactivation=_reactivation(state, tenant.tenant_id, view, checks) if view.reference_session_id else None,
    )


@router.get("/sessions/{session_id}/evidence", response_model=EvidenceList,
            summary="The stored stills, masked per your policy", responses=problem_responses(404, 410))
def list_evidence(session_id: SessionPath, tenant: TenantDep, state: BankStateDep) -> EvidenceList:
    view = _view(state, tenant.tenant_id, session_id)
    if view.erased_at is not None:
        raise ApiProblem(410, "the session was erased; its evidence is gone", "erased")
    with _core_errors():
        items = state.service.list_evidence(session_id, tenant_id=tenant.tenant_id, variant=Variant.EXPORT)
    return EvidenceList(items=[EvidenceItemPublic.of(item, session_id) for item in items])


@router.get("/sessions/{session_id}/evidence/{item_id}", summary="One masked still (decrypted from the vault)",
            response_class=Response, responses={**problem_responses(404, 410),
                                                200: {"content": {"image/png": {}, "image/jpeg": {}},
                                                      "description": "The masked image"}})
def get_evidence(session_id: SessionPath, item_id: ItemPath, tenant: TenantDep, state: BankStateDep) -> Response:
    view = _view(state, tenant.tenant_id, session_id)
    if view.erased_at is not None:
        raise ApiProblem(410, "the session was erased; its evidence is gone", "erased")
    with _core_errors():
        item, data = state.service.read_evidence(session_id, item_id, _bank(tenant.tenant_id),
                                                 tenant_id=tenant.tenant_id, export=True)
    return Response(data, media_type=item.media_type, headers={
        "Cache-Control": "no-store", "Content-Disposition": f'attachment; filename="{item.id}"'})


@router.delete("/sessions/{session_id}", status_code=204, response_class=Response,
               summary="Erase a session (crypto-shred); the audit record of the erasure remains",
               responses=problem_responses(404))
def delete_session(session_id: SessionPath, tenant: TenantDep, state: BankStateDep) -> Response:
    with _core_errors():
        state.service.erase(session_id, _bank(tenant.tenant_id), tenant_id=tenant.tenant_id, why="bank_request")
    state.dispatcher.wake()
    return Response(status_code=204)


@router.post("/webhook-secret/rotate", response_model=WebhookSecretRotated,
             summary="Issue a new webhook signing secret; the old one keeps signing for 24 h")
def rotate_secret(tenant: TenantDep, state: BankStateDep) -> WebhookSecretRotated:
    with state.sessions() as db:
        secret = rotate_webhook_secret(db, state.box, tenant.tenant_id)
        db.commit()
    return WebhookSecretRotated(webhook_secret=secret,
                                previous_valid_until=datetime.now(UTC) + WEBHOOK_SECRET_OVERLAP)


DeliveryStatusQuery = Annotated[DeliveryStatus | None, Query(description="Only deliveries in this status.")]


def _delivery(row: WebhookDelivery) -> WebhookDeliveryPublic:
    return WebhookDeliveryPublic(
        event_id=row.event_id, type=row.event_type, session_id=row.session_id, status=row.status,
        attempts=row.attempts, last_status_code=row.last_status_code, last_error=row.last_error,
        created_at=row.created_at, delivered_at=row.delivered_at,
        next_attempt_at=row.next_attempt_at if row.status == DeliveryStatus.PENDING.value else None)


@router.get("/webhook-deliveries", response_model=WebhookDeliveryList,
            summary="Your webhook deliveries, newest first (find dead letters)")
def get_deliveries(
    tenant: TenantDep, state: BankStateDep, status: DeliveryStatusQuery = None,
    session_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> WebhookDeliveryList:
    with state.sessions() as db:
        rows = list_deliveries(db, tenant.tenant_id, status, session_id, limit)
        return WebhookDeliveryList(items=[_delivery(row) for row in rows])


@router.post("/webhook-deliveries/{event_id}/redeliver", status_code=202, response_model=WebhookDeliveryPublic,
             summary="Send an event again (e.g. a dead letter after your receiver is fixed)",
             responses=problem_responses(404))
def post_redeliver(event_id: Annotated[str, Path(max_length=64)], tenant: TenantDep,
                   state: BankStateDep) -> WebhookDeliveryPublic:
    with state.sessions() as db:
        row = redeliver(db, tenant.tenant_id, event_id)
        if row is None:
            raise ApiProblem(404, "no such webhook delivery", "not_found")
        db.commit()
        public = _delivery(row)
    state.dispatcher.wake()
    return public
