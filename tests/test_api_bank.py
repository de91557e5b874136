"""The bank API end to end: the real app (TestClient, real lifespan with webhook delivery), the real core
on SQLite, and a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import BankState, open_bank
from pipelines.layouts import Template
from pipelines.results import CheckResult, Reason, Verdict
from tests.test_webhooks import DATABASES, Receiver, database_url
from videoident.masking_policy import Profile
from videoident.ratelimit import TokenBucketLimiter
from videoident.service_tan import REQUIRED_CHECKS
from videoident.states import Decision, ReasonCode
from videoident.tenants import NewTenant, provision_tenant, revoke_api_key
from videoident.vault import EvidenceKind
from videoident.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, DeliveryPolicy, WebhookVerifier

FAST = DeliveryPolicy(max_attempts=3, backoff_base_s=0.05, backoff_max_s=0.2, timeout_s=5, idle_poll_s=0.05)
EMAIL = "erika@example.org"
MRZ_FIELDS = {"document_type": "TD1", "issuing_state": "D", "document_number": "T22000129",
              "expiry_date": "2031-08-01", "nationality": "D", "surname": "MUSTERMANN", "given_names": "ERIKA",
              "birth_date": "1983-08-12"}


def session_body(callback_url: str | None = None, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reference": "order-4711",
        "purpose": "account_opening",
        "claimed_identity": {"given_name": "Erika", "family_name": "Mustermann", "birthdate": "1983-08-12",
                             "nationality": "DEU"},
        "contact": {"email": EMAIL},
        "locale": "de",
    }
    if callback_url:
        body["callback_url"] = callback_url
    body.update(over)
    return body


@dataclass
class Bank:
    client: TestClient
    state: BankState
    a: NewTenant
    b: NewTenant

    def auth(self, tenant: NewTenant) -> dict[str, str]:
        return {"Authorization": f"Bearer {tenant.credentials.api_key}"}


def make_bank(tmp_path: Path, limiter: TokenBucketLimiter | None = None, url: str | None = None) -> Iterator[Bank]:
    from videoident.settings import Settings

    settings = Settings(data_dir=tmp_path, public_base_url="http://kyc.test:8000", database_url=url)
    app = create_app(settings)
    state = open_bank(settings, policy=FAST, limiter=limiter)
    app.state.bank = state
    with state.sessions() as db:
        a = provision_tenant(state.service, db, state.box, "bank-a", "Bank A", Profile.GWG_DE)
    with state.sessions() as db:
        b = provision_tenant(state.service, db, state.box, "bank-b", "Bank B", Profile.GWG_DE)
    with TestClient(app) as client:
        yield Bank(client, state, a, b)
    state.engine.dispose()


@pytest.fixture
def bank(tmp_path: Path) -> Iterator[Bank]:
    yield from make_bank(tmp_path)


@pytest.fixture(params=DATABASES)
def bank_on_each_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bank]:
    """The whole app on SQLite, and on a fresh PostgreSQL database."""
    with database_url(request.param, tmp_path) as url:
        yield from make_bank(tmp_path, url=url)


def _png(seed: int) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (540, 856, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def drive_to_completed(state: BankState, session_id: str, document_number: str = "T22000129") -> None:
    """The customer and agent side, through the core: join, call, checks, captures, approval, TAN."""
    service = state.service
    service.customer_joined(session_id)
    service.start_call(session_id, "agent-7")
    for name in REQUIRED_CHECKS:
        measurements = {"fields": {**MRZ_FIELDS, "document_number": document_number}} if name == "mrz" else {}
        service.record_check(session_id, CheckResult(name, Verdict.PASS, Reason(f"{name}_ok", "fine"), 0.9,
                                                     measurements))
    service.store_evidence(session_id, EvidenceKind.FRONT, _png(1), "image/png", template=Template.DE_ID)
    service.store_evidence(session_id, EvidenceKind.BACK, _png(2), "image/png", template=Template.DE_ID)
    service.store_evidence(session_id, EvidenceKind.FACE, _png(3), "image/png")
    outcome = service.decide(session_id, "agent-7", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED)
    assert outcome.tan_sent, outcome.tan_problem
    message = service.notifier.last_to(EMAIL)
    code = re.search(r"\b(\d{6})\b", message.body)
    assert code is not None
    assert service.verify_tan(session_id, code.group(1)).outcome.value == "completed"


def wait_for(predicate: Any, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_whole_flow_from_create_to_result_with_signed_webhooks(bank_on_each_db: Bank) -> None:
    bank = bank_on_each_db
    with Receiver() as receiver:
        created = bank.client.post("/v1/sessions", json=session_body(receiver.url), headers=bank.auth(bank.a))
        assert created.status_code == 201, created.text
        session = created.json()
        assert session["status"] == "created" and session["purpose"] == "account_opening"
        assert re.fullmatch(r"http://kyc\.test:8000/ident/[0-9a-f]{64}", session["customer_url"])
        sid = session["id"]

        early = bank.client.get(f"/v1/sessions/{sid}/result", headers=bank.auth(bank.a))
        assert early.status_code == 409 and early.json()["code"] == "not_decided"
        assert early.headers["content-type"] == "application/problem+json"

        drive_to_completed(bank.state, sid)
        status = bank.client.get(f"/v1/sessions/{sid}", headers=bank.auth(bank.a)).json()
        assert status["status"] == "completed" and status["decision"] == "approved"
        assert {c["name"] for c in status["checks"]} == set(REQUIRED_CHECKS)

        result = bank.client.get(f"/v1/sessions/{sid}/result", headers=bank.auth(bank.a))
        assert result.status_code == 200, result.text
        r = result.json()
        assert r["decision"] == "approved" and r["reason_codes"] == ["identity_verified"]
        assert r["agent_id"] == "agent-7" and r["completed_at"] and r["decided_at"]
        assert {c["name"]: c["score"] for c in r["checks"]} == {n: 0.9 for n in REQUIRED_CHECKS}
        vc = r["verified_claims"]
        assert vc["verification"]["trust_framework"] == "de_aml"
        assert vc["verification"]["verification_process"] == sid
        evidence = vc["verification"]["evidence"][0]
        assert evidence["type"] == "document" and evidence["method"] == "sripp"
        assert evidence["document_details"] == {"type": "idcard", "document_number": "T22000129",
                                                "issuer": {"country_code": "DEU"}, "date_of_expiry": "2031-08-01"}
        assert vc["claims"] == {"given_name": "Erika", "family_name": "Mustermann", "birthdate": "1983-08-12",
                                "nationalities": ["DEU"]}
        assert r["reactivation"] is None

        items = bank.client.get(f"/v1/sessions/{sid}/evidence", headers=bank.auth(bank.a)).json()["items"]
        assert sorted(i["kind"] for i in items) == ["back", "face", "front"]
        front = next(i for i in items if i["kind"] == "front")
        assert front["masked_fields"], "the German ID's CAN is masked in what a bank downloads"
        image = bank.client.get(front["href"], headers=bank.auth(bank.a))
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
        assert image.headers["cache-control"] == "no-store"

        erased = bank.client.delete(f"/v1/sessions/{sid}", headers=bank.auth(bank.a))
        assert erased.status_code == 204
        after = bank.client.get(f"/v1/sessions/{sid}", headers=bank.auth(bank.a)).json()
        assert after["erased_at"] is not None and after["checks"] == []
        for path in (f"/v1/sessions/{sid}/result", f"/v1/sessions/{sid}/evidence", front["href"]):
            gone = bank.client.get(path, headers=bank.auth(bank.a))
            assert gone.status_code == 410 and gone.json()["code"] == "erased", path
        assert bank.client.delete(f"/v1/sessions/{sid}", headers=bank.auth(bank.a)).status_code == 204
        report = bank.state.service.verify_audit()
        assert report.ok

        wait_for(lambda: any(b'"session.erased"' in body for _, body in receiver.requests))
    verifier = WebhookVerifier([bank.a.credentials.webhook_secret])
    events = [verifier.verify(body, h[SIGNATURE_HEADER], h[EVENT_ID_HEADER]) for h, body in receiver.requests]
    statuses = [e.data["status"] for e in events if e.type == "session.status_changed"]
    assert statuses == ["waiting", "in_call", "approved", "tan_pending", "completed"]
    assert events[0].type == "session.created" and events[-1].type == "session.erased"
    assert all(e.data["session_id"] == sid for e in events)
    assert not any(b"Erika" in body or b"Mustermann" in body for _, body in receiver.requests), "no names in webhooks"


def test_a_tenant_never_sees_another_tenants_session(bank: Bank) -> None:
    sid = bank.client.post("/v1/sessions", json=session_body(), headers=bank.auth(bank.a)).json()["id"]
    drive_to_completed(bank.state, sid)
    item = bank.client.get(f"/v1/sessions/{sid}/evidence", headers=bank.auth(bank.a)).json()["items"][0]["id"]
    missing = bank.client.get("/v1/sessions/does-not-exist", headers=bank.auth(bank.b))
    for method, path in [("GET", f"/v1/sessions/{sid}"), ("GET", f"/v1/sessions/{sid}/result"),
                         ("GET", f"/v1/sessions/{sid}/evidence"), ("GET", f"/v1/sessions/{sid}/evidence/{item}"),
                         ("DELETE", f"/v1/sessions/{sid}")]:
        response = bank.client.request(method, path, headers=bank.auth(bank.b))
        assert response.status_code == 404, (method, path)
        assert response.json()["detail"] == missing.json()["detail"], "indistinguishable from a missing session"
    assert bank.client.get(f"/v1/sessions/{sid}/result", headers=bank.auth(bank.a)).status_code == 200
    stolen_ref = session_body(purpose="reactivation", reference_session_id=sid)
    refused = bank.client.post("/v1/sessions", json=stolen_ref, headers=bank.auth(bank.b))
    unknown = bank.client.post("/v1/sessions", json=session_body(purpose="reactivation",
                               reference_session_id="nope"), headers=bank.auth(bank.b))
    assert refused.status_code == unknown.status_code == 422
    assert refused.json()["detail"] == unknown.json()["detail"]


def test_unauthenticated_wrong_and_revoked_keys_get_401(bank: Bank) -> None:
    none = bank.client.get("/v1/sessions/x")
    assert none.status_code == 401 and none.headers["www-authenticate"].startswith("Bearer")
    assert none.json()["code"] == "unauthenticated"
    wrong = bank.client.get("/v1/sessions/x", headers={"Authorization": "Bearer vik_0000000000000000_nope"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_api_key"
    basic = bank.client.get("/v1/sessions/x", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert basic.status_code == 401
    with bank.state.sessions() as db:
        assert revoke_api_key(db, bank.a.credentials.key_id)
        db.commit()
    assert bank.client.get("/v1/sessions/x", headers=bank.auth(bank.a)).status_code == 401
    assert bank.client.get("/v1/sessions/x", headers=bank.auth(bank.b)).status_code == 404


def test_the_idempotency_key_replays_the_same_response_and_refuses_another_body(bank: Bank) -> None:
    headers = {**bank.auth(bank.a), "Idempotency-Key": "create-4711"}
    first = bank.client.post("/v1/sessions", json=session_body(), headers=headers)
    # The same request, keys in another order and other spacing: the same request.
    again = bank.client.post("/v1/sessions", content=json.dumps(session_body(), indent=3, sort_keys=True),
                             headers={**headers, "Content-Type": "application/json"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json(), "the same session and the same customer link"
    assert again.headers["idempotent-replayed"] == "true"
    other = bank.client.post("/v1/sessions", json=session_body(reference="order-4712"), headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    b_same_key = bank.client.post("/v1/sessions", json=session_body(),
                                  headers={**bank.auth(bank.b), "Idempotency-Key": "create-4711"})
    assert b_same_key.status_code == 201 and b_same_key.json()["id"] != first.json()["id"], "keys are per tenant"
    bad = bank.client.post("/v1/sessions", json=session_body(), headers={**bank.auth(bank.a), "Idempotency-Key": " "})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == "header.idempotency-key"
    # A refused request does not use the key up.
    refused = bank.client.post("/v1/sessions", json=session_body("ftp://x"),
                               headers={**bank.auth(bank.a), "Idempotency-Key": "k2"})
    assert refused.status_code == 422
    fixed = bank.client.post("/v1/sessions", json=session_body(),
                             headers={**bank.auth(bank.a), "Idempotency-Key": "k2"})
    assert fixed.status_code == 201


@pytest.mark.parametrize(
    "body, loc",
    [
        ({"reference": "x"}, "body.claimed_identity"),
        (session_body(claimed_identity={"given_name": "E", "family_name": "M", "birthdate": "2999-01-01"}),
         "body.claimed_identity"),
        (session_body(purpose="reactivation"), "body"),
        (session_body(purpose="something"), "body.purpose"),
        (session_body(surprise=1), "body.surprise"),
        (session_body(locale="german"), "body.locale"),
        (session_body(contact={}), "body.contact"),
        (session_body(reference=""), "body.reference"),
        (session_body(claimed_identity={"given_name": "E\x00", "family_name": "M", "birthdate": "1980-01-01"}),
         "body.claimed_identity.given_name"),
    ],
)
def test_malformed_requests_get_422_with_the_field_and_a_reason(bank: Bank, body: dict[str, Any], loc: str) -> None:
    response = bank.client.post("/v1/sessions", json=body, headers=bank.auth(bank.a))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "invalid_request" and problem["status"] == 422
    assert any(e["loc"].startswith(loc) and e["reason"] for e in problem["errors"]), problem["errors"]
    assert "Mustermann" not in response.text, "submitted values are not echoed"


def test_a_body_that_is_not_json_gets_422(bank: Bank) -> None:
    response = bank.client.post("/v1/sessions", content=b"{not json", headers={
        **bank.auth(bank.a), "Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["errors"]


def test_a_callback_url_is_checked(bank: Bank) -> None:
    response = bank.client.post("/v1/sessions", json=session_body("https://user:pw@bank.example/hook"),
                                headers=bank.auth(bank.a))
    assert response.status_code == 422 and response.json()["code"] == "invalid_callback_url"


def test_rate_limits_answer_429_with_retry_after(tmp_path: Path) -> None:
    for bank in make_bank(tmp_path, TokenBucketLimiter(rate_per_s=0.01, burst=3)):
        codes = [bank.client.get("/v1/sessions/x", headers=bank.auth(bank.a)).status_code for _ in range(4)]
        assert codes == [404, 404, 404, 429]
        limited = bank.client.get("/v1/sessions/x", headers=bank.auth(bank.a))
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.json()["code"] == "rate_limited"
        assert bank.client.get("/v1/sessions/x", headers=bank.auth(bank.b)).status_code == 404, "per tenant"


def test_reactivation_compares_with_the_reference_session(bank: Bank) -> None:
    first = bank.client.post("/v1/sessions", json=session_body(), headers=bank.auth(bank.a)).json()["id"]
    pending = bank.client.post("/v1/sessions", json=session_body(), headers=bank.auth(bank.a)).json()["id"]
    not_done = bank.client.post("/v1/sessions", json=session_body(purpose="reactivation",
                                reference_session_id=pending), headers=bank.auth(bank.a))
    assert not_done.status_code == 422 and not_done.json()["code"] == "invalid_reference_session"
    drive_to_completed(bank.state, first)
    results = {}
    for number in ("T22000129", "L01X00T47"):
        again = bank.client.post("/v1/sessions", json=session_body(purpose="reactivation",
                                 reference_session_id=first), headers=bank.auth(bank.a))
        assert again.status_code == 201, again.text
        drive_to_completed(bank.state, again.json()["id"], document_number=number)
        results[number] = bank.client.get(f"/v1/sessions/{again.json()['id']}/result",
                                          headers=bank.auth(bank.a)).json()["reactivation"]
    same, other = results["T22000129"], results["L01X00T47"]
    assert same["reference_session_id"] == first
    assert same["document_number"]["verdict"] == "pass" and other["document_number"]["verdict"] == "fail"
    assert same["face"]["verdict"] == "inconclusive", "no face comparison was recorded: never a silent pass"


def test_the_openapi_schema_documents_the_bank_api_with_examples(bank: Bank) -> None:
    schema = bank.client.get("/openapi.json").json()
    for path in ("/v1/sessions", "/v1/sessions/{session_id}", "/v1/sessions/{session_id}/result",
                 "/v1/sessions/{session_id}/evidence", "/v1/sessions/{session_id}/evidence/{item_id}"):
        assert path in schema["paths"], path
    assert schema["components"]["schemas"]["SessionCreate"]["examples"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_a_wrong_method_gets_405_naming_every_allowed_method(bank: Bank) -> None:
    response = bank.client.request("PUT", "/v1/sessions/x", headers=bank.auth(bank.a))
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"
    assert {m.strip() for m in response.headers["allow"].split(",")} >= {"GET", "DELETE"}


def test_dead_letters_are_listed_and_can_be_redelivered(bank: Bank) -> None:
    with Receiver(statuses=[500] * FAST.max_attempts) as receiver:
        sid = bank.client.post("/v1/sessions", json=session_body(receiver.url), headers=bank.auth(bank.a)).json()["id"]

        def dead() -> list[dict[str, Any]]:
            response = bank.client.get("/v1/webhook-deliveries", params={"status": "dead"}, headers=bank.auth(bank.a))
            assert response.status_code == 200
            items: list[dict[str, Any]] = response.json()["items"]
            return items

        wait_for(lambda: len(dead()) == 1)
        (letter,) = dead()
        assert letter["session_id"] == sid and letter["attempts"] == FAST.max_attempts
        assert letter["last_error"] == "HTTP 500" and letter["type"] == "session.created"
        assert bank.client.get("/v1/webhook-deliveries", headers=bank.auth(bank.b)).json()["items"] == []
        other = bank.client.post(f"/v1/webhook-deliveries/{letter['event_id']}/redeliver", headers=bank.auth(bank.b))
        assert other.status_code == 404, "another tenant cannot touch it"
        again = bank.client.post(f"/v1/webhook-deliveries/{letter['event_id']}/redeliver", headers=bank.auth(bank.a))
        assert again.status_code == 202 and again.json()["status"] == "pending"
        wait_for(lambda: len(receiver.requests) == FAST.max_attempts + 1)
        wait_for(lambda: bank.client.get("/v1/webhook-deliveries", params={"status": "delivered"},
                                         headers=bank.auth(bank.a)).json()["items"] != [])
    ids = {h[EVENT_ID_HEADER] for h, _ in receiver.requests}
    assert ids == {letter["event_id"]}, "the redelivery keeps the event id"


def test_an_oversized_body_is_refused_before_it_is_read(bank: Bank) -> None:
    huge = json.dumps(session_body(reference="x" * 100_000))
    response = bank.client.post("/v1/sessions", content=huge, headers={
        **bank.auth(bank.a), "Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(100):
            yield b" " * 1024

    streamed = bank.client.post("/v1/sessions", content=chunks(), headers={
        **bank.auth(bank.a), "Content-Type": "application/json"})
    assert streamed.status_code in (400, 413)


def test_the_result_of_a_session_that_ended_undecided_says_so(bank: Bank) -> None:
    from datetime import timedelta

    from videoident.clock import utcnow

    def create() -> str:
        created = bank.client.post("/v1/sessions", json=session_body(), headers=bank.auth(bank.a))
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    cancelled, expired, waiting = create(), create(), create()
    bank.state.service.customer_joined(cancelled)
    bank.state.service.customer_cancelled(cancelled)
    bank.state.service.customer_joined(waiting)
    # The expiry sweep, run past the sessions' deadline: the unopened link and the waiting room expire.
    bank.state.service.clock = lambda: utcnow() + timedelta(days=30)
    try:
        assert bank.state.service.expire_due() == 2
    finally:
        bank.state.service.clock = utcnow
    open_ = create()
    for sid, status in ((cancelled, "cancelled"), (expired, "expired"), (waiting, "expired")):
        ended = bank.client.get(f"/v1/sessions/{sid}/result", headers=bank.auth(bank.a))
        assert ended.status_code == 409 and ended.headers["content-type"] == "application/problem+json"
        problem = ended.json()
        assert problem["code"] == "ended_without_decision"
        assert problem["type"] == "urn:videoident:problem:ended_without_decision"
        assert problem["detail"] == f"the session ended without a decision (status {status})"
    # A session still under way keeps the old answer: its result may still come.
    early = bank.client.get(f"/v1/sessions/{open_}/result", headers=bank.auth(bank.a))
    assert early.status_code == 409 and early.json()["code"] == "not_decided"
    assert "not decided yet" in early.json()["detail"]


def test_an_approval_the_customer_never_confirmed_is_no_result(bank: Bank) -> None:
    """Approved by the agent, then the TAN window ran out: the bank must not read "approved" as identified."""
    from datetime import timedelta

    from videoident.clock import utcnow

    sid = bank.client.post("/v1/sessions", json=session_body(), headers=bank.auth(bank.a)).json()["id"]
    service = bank.state.service
    service.customer_joined(sid)
    service.start_call(sid, "agent-7")
    for name in REQUIRED_CHECKS:
        service.record_check(sid, CheckResult(name, Verdict.PASS, Reason(f"{name}_ok", "fine"), 0.9, {}))
    for kind, seed in ((EvidenceKind.FRONT, 1), (EvidenceKind.BACK, 2), (EvidenceKind.FACE, 3)):
        service.store_evidence(sid, kind, _png(seed), "image/png", template=Template.DE_ID if seed < 3 else None)
    assert service.decide(sid, "agent-7", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED).tan_sent
    pending = bank.client.get(f"/v1/sessions/{sid}/result", headers=bank.auth(bank.a))
    assert pending.status_code == 409 and pending.json()["code"] == "not_confirmed"
    service.clock = lambda: utcnow() + timedelta(days=30)
    try:
        service.expire_due()
    finally:
        service.clock = utcnow
    assert bank.client.get(f"/v1/sessions/{sid}", headers=bank.auth(bank.a)).json()["status"] == "expired"
    ended = bank.client.get(f"/v1/sessions/{sid}/result", headers=bank.auth(bank.a))
    assert ended.status_code == 409 and ended.json()["code"] == "ended_without_confirmation"
    assert "never confirmed with the TAN" in ended.json()["detail"]
