"""Webhooks: signature and verifier (altered, late, replayed, rotation), SSRF policy, and delivery to a
real HTTP receiver on 127.0.0.1 with retries, backoff, dead-lettering and restart survival."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import fresh_postgres_database
from videoident.db import make_engine, make_sessionmaker
from videoident.migrations import migrate
from videoident.settings import Environment, Settings
from videoident.tenants import SecretBox, issue_webhook_secret, rotate_webhook_secret
from videoident.webhooks import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    CallbackUrlError,
    DeliveryPolicy,
    DeliveryStatus,
    SignatureError,
    WebhookDelivery,
    WebhookDispatcher,
    WebhookVerifier,
    check_callback_url,
    enqueue_event,
    sign,
)

SECRET = "whsec_test-secret"
BODY = json.dumps({"id": "evt_1", "type": "session.status_changed", "created_at": "x",
                   "data": {"status": "completed"}}).encode()


class Receiver:
    """A real HTTP server on 127.0.0.1 that records deliveries and answers with scripted status codes."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.requests.append(({k: v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- signature and verifier ------------------------------------------------------------------------


def test_a_signed_delivery_verifies_and_the_header_has_the_documented_form() -> None:
    header = sign(BODY, [SECRET], 1_700_000_000)
    t, v1 = header.split(",")
    assert t == "t=1700000000" and v1.startswith("v1=") and len(v1) == 3 + 64
    event = WebhookVerifier([SECRET], clock=lambda: 1_700_000_010).verify(BODY, header, "evt_1")
    assert event.event_id == "evt_1" and event.data == {"status": "completed"} and not event.duplicate


@pytest.mark.parametrize(
    "body",
    [BODY.replace(b"completed", b"approved!"), BODY + b" ", b""],
)
def test_an_altered_body_is_refused(body: bytes) -> None:
    header = sign(BODY, [SECRET], 1_700_000_000)
    with pytest.raises(SignatureError) as err:
        WebhookVerifier([SECRET], clock=lambda: 1_700_000_000).verify(body, header)
    assert err.value.code == "altered"


def test_another_secret_and_a_swapped_event_id_are_refused() -> None:
    header = sign(BODY, ["whsec_someone-else"], 1_700_000_000)
    with pytest.raises(SignatureError, match="altered"):
        WebhookVerifier([SECRET], clock=lambda: 1_700_000_000).verify(BODY, header)
    good = sign(BODY, [SECRET], 1_700_000_000)
    with pytest.raises(SignatureError, match="altered"):
        WebhookVerifier([SECRET], clock=lambda: 1_700_000_000).verify(BODY, good, "evt_other")


@pytest.mark.parametrize(
    "age_s, ok", [(0, True), (299, True), (300, True), (301, False), (-301, False), (86400, False)]
)
def test_the_replay_window_is_300_seconds_either_way(age_s: int, ok: bool) -> None:
    header = sign(BODY, [SECRET], 1_700_000_000)
    verifier = WebhookVerifier([SECRET], clock=lambda: 1_700_000_000 + age_s)
    if ok:
        verifier.verify(BODY, header)
    else:
        with pytest.raises(SignatureError) as err:
            verifier.verify(BODY, header)
        assert err.value.code == "late"


def test_a_verbatim_replay_is_refused_but_a_fresh_retry_is_a_duplicate() -> None:
    now = [1_700_000_000.0]
    verifier = WebhookVerifier([SECRET], clock=lambda: now[0])
    first = sign(BODY, [SECRET], 1_700_000_000)
    verifier.verify(BODY, first)
    now[0] += 5
    with pytest.raises(SignatureError) as err:
        verifier.verify(BODY, first)
    assert err.value.code == "replayed"
    retry = sign(BODY, [SECRET], 1_700_000_005)
    assert verifier.verify(BODY, retry).duplicate


@pytest.mark.parametrize("header", ["", "t=1", "v1=ab", "t=abc,v1=00", "garbage", "t=1700000000;v1=00"])
def test_malformed_headers_are_refused(header: str) -> None:
    with pytest.raises(SignatureError):
        WebhookVerifier([SECRET], clock=lambda: 1_700_000_000).verify(BODY, header)


def test_during_a_rotation_old_and_new_secrets_both_verify() -> None:
    header = sign(BODY, ["whsec_new", "whsec_old"], 1_700_000_000)
    assert header.count("v1=") == 2
    for receiver_secret in ("whsec_new", "whsec_old"):
        WebhookVerifier([receiver_secret], clock=lambda: 1_700_000_000).verify(BODY, header)


def test_the_ten_line_verifier_in_the_docs_agrees() -> None:
    """docs/api.md shows a standalone verifier; run that exact code against our signer."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text()
    code = doc.split("```python verifier\n", 1)[1].split("```", 1)[0]
    assert len([line for line in code.splitlines() if line.strip()]) <= 12
    namespace: dict[str, object] = {}
    exec(compile(code, "docs/api.md", "exec"), namespace)
    verify = namespace["verify"]
    import time as _time

    now = int(_time.time())
    header = sign(BODY, [SECRET], now)
    assert verify(BODY, header, SECRET) is True  # type: ignore[operator]
    assert verify(BODY + b"x", header, SECRET) is False  # type: ignore[operator]
    assert verify(BODY, sign(BODY, [SECRET], now - 301), SECRET) is False  # type: ignore[operator]


# --- callback URL policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://bank.example/hook",  # plain http
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data",  # cloud metadata
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://intranet/hook",
        "https://db.internal/hook",
        "https://user:pw@bank.example/hook",
        "ftp://bank.example/hook",
        "https:///nohost",
        "https://bank.example:99999/hook",
    ],
)
def test_production_refuses_unsafe_callback_urls(url: str) -> None:
    with pytest.raises(CallbackUrlError):
        check_callback_url(url, Environment.PRODUCTION)


def test_production_accepts_a_public_https_url_and_development_a_local_one() -> None:
    assert check_callback_url("https://bank.example/hook?x=1", Environment.PRODUCTION)
    assert check_callback_url("https://93.184.215.14/hook", Environment.PRODUCTION)
    assert check_callback_url("http://127.0.0.1:9/hook", Environment.DEVELOPMENT)
    assert check_callback_url("https://127.0.0.1:9/hook", Environment.TEST)
    with pytest.raises(CallbackUrlError, match="https"):
        check_callback_url("http://127.0.0.1:9/hook", Environment.TEST)


# --- delivery --------------------------------------------------------------------------------------

@contextmanager
def database_url(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield Settings(data_dir=tmp_path).resolved_database_url
    else:
        with fresh_postgres_database("videoident_bank") as url:
            yield url


DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=DATABASES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[sessionmaker[Session], SecretBox]]:
    with database_url(request.param, tmp_path) as url:
        engine = make_engine(url)
        migrate(engine)
        yield make_sessionmaker(engine), SecretBox(Settings(data_dir=tmp_path))
        engine.dispose()


FAST = DeliveryPolicy(max_attempts=4, backoff_base_s=0.05, backoff_max_s=0.2, timeout_s=5, lease_s=30)


def _issue_secret(sessions: sessionmaker[Session], box: SecretBox) -> str:
    """Tenant t1's webhook secret (deliveries without one fail)."""
    with sessions() as db:
        secret = issue_webhook_secret(db, box, "t1")
        db.commit()
    return secret


def _enqueue(sessions: sessionmaker[Session], url: str, source: str = "src-1") -> str:
    with sessions() as db:
        row = enqueue_event(db, source_id=source, tenant_id="t1", url=url, event_type="session.status_changed",
                            data={"session_id": "s1", "status": "waiting"}, session_id="s1")
        db.commit()
        return row.event_id


async def _drain(dispatcher: WebhookDispatcher, until: int, sessions: sessionmaker[Session], event_id: str) -> None:
    for _ in range(200):
        await dispatcher.run_once()
        with sessions() as db:
            row = db.get(WebhookDelivery, event_id)
            assert row is not None
            if row.attempts >= until or row.status != DeliveryStatus.PENDING.value:
                return
        await asyncio.sleep(0.03)


async def test_delivery_retries_with_backoff_until_the_receiver_accepts(
    store: tuple[sessionmaker[Session], SecretBox],
) -> None:
    sessions, box = store
    _issue_secret(sessions, box)
    with Receiver(statuses=[500, 503]) as receiver:
        event_id = _enqueue(sessions, receiver.url)
        dispatcher = WebhookDispatcher(sessions, box, FAST, rng=random.Random(1))
        await _drain(dispatcher, 3, sessions, event_id)
    assert len(receiver.requests) == 3
    with sessions() as db:
        row = db.get(WebhookDelivery, event_id)
        assert row is not None and row.status == "delivered" and row.attempts == 3 and row.last_status_code == 200
    with sessions() as db:
        from videoident.tenants import active_webhook_secrets

        secret = active_webhook_secrets(db, box, "t1")[0]
    headers = [h for h, _ in receiver.requests]
    assert {h[EVENT_ID_HEADER] for h in headers} == {event_id}, "every attempt carries the same event id"
    verifier = WebhookVerifier([secret])
    for h, body in receiver.requests:
        verifier.verify(body, h[SIGNATURE_HEADER], h[EVENT_ID_HEADER])


def test_backoff_grows_exponentially_and_is_capped() -> None:
    policy = DeliveryPolicy(backoff_base_s=10, backoff_max_s=3600)
    rng = random.Random(7)
    delays = [policy.backoff_s(n, rng) for n in range(1, 12)]
    for n, delay in enumerate(delays, start=1):
        raw = min(3600, 10 * 2 ** (n - 1))
        assert raw * 0.5 <= delay <= raw
    assert max(delays) <= 3600


async def test_a_delivery_is_dead_lettered_after_max_attempts(store: tuple[sessionmaker[Session], SecretBox]) -> None:
    sessions, box = store
    _issue_secret(sessions, box)
    with Receiver(statuses=[500] * 10) as receiver:
        event_id = _enqueue(sessions, receiver.url)
        await _drain(WebhookDispatcher(sessions, box, FAST), 99, sessions, event_id)
    assert len(receiver.requests) == FAST.max_attempts
    with sessions() as db:
        row = db.get(WebhookDelivery, event_id)
        assert row is not None and row.status == "dead" and row.last_error == "HTTP 500"


async def test_an_unreachable_receiver_is_retried_not_fatal(store: tuple[sessionmaker[Session], SecretBox]) -> None:
    sessions, box = store
    _issue_secret(sessions, box)
    with Receiver() as closed:
        url = closed.url
    event_id = _enqueue(sessions, url)  # the port is closed now
    assert await WebhookDispatcher(sessions, box, FAST).run_once() == 1
    with sessions() as db:
        row = db.get(WebhookDelivery, event_id)
        assert row is not None and row.status == "pending" and row.attempts == 1
        assert "ConnectError" in (row.last_error or "")


async def test_pending_deliveries_survive_a_restart(tmp_path: Path) -> None:
    """A claim left by a worker that died is taken over once its lease expires; nothing is lost."""
    settings = Settings(data_dir=tmp_path)
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    sessions, box = make_sessionmaker(engine), SecretBox(settings)
    _issue_secret(sessions, box)
    with Receiver() as receiver:
        event_id = _enqueue(sessions, receiver.url)
        dying = WebhookDispatcher(sessions, box, DeliveryPolicy(lease_s=0.2))
        assert len(dying._claim()) == 1  # claimed, then the process "dies" before delivering
        engine.dispose()
        # A new process: new engine and dispatcher on the same database file.
        engine2 = make_engine(settings.resolved_database_url)
        sessions2 = make_sessionmaker(engine2)
        fresh = WebhookDispatcher(sessions2, SecretBox(settings), FAST)
        assert await fresh.run_once() == 0, "the lease still holds"
        await asyncio.sleep(0.3)
        assert await fresh.run_once() == 1
        engine2.dispose()
    assert len(receiver.requests) == 1 and receiver.requests[0][0][EVENT_ID_HEADER] == event_id


def test_enqueueing_the_same_source_twice_is_one_delivery(store: tuple[sessionmaker[Session], SecretBox]) -> None:
    sessions, _box = store
    first = _enqueue(sessions, "http://127.0.0.1:9/hook", "same")
    assert _enqueue(sessions, "http://127.0.0.1:9/hook", "same") == first


async def test_rotation_signs_with_both_secrets_until_the_overlap_ends(
    store: tuple[sessionmaker[Session], SecretBox],
) -> None:
    sessions, box = store
    with sessions() as db:
        old = issue_webhook_secret(db, box, "t1")
        new = rotate_webhook_secret(db, box, "t1", overlap=timedelta(hours=1))
        db.commit()
    with Receiver() as receiver:
        _enqueue(sessions, receiver.url, "a")
        await WebhookDispatcher(sessions, box, FAST).run_once()
        with sessions() as db:
            new2 = rotate_webhook_secret(db, box, "t1", overlap=timedelta(seconds=-1))  # ends the overlap at once
            db.commit()
        _enqueue(sessions, receiver.url, "b")
        await WebhookDispatcher(sessions, box, FAST).run_once()
    (h1, b1), (h2, b2) = receiver.requests
    for secret in (old, new):
        WebhookVerifier([secret]).verify(b1, h1[SIGNATURE_HEADER])
    assert h2[SIGNATURE_HEADER].count("v1=") == 1
    WebhookVerifier([new2]).verify(b2, h2[SIGNATURE_HEADER])
    with pytest.raises(SignatureError):
        WebhookVerifier([old, new]).verify(b2, h2[SIGNATURE_HEADER])


def _enqueue_session_events(sessions: sessionmaker[Session], url: str, session_id: str, count: int) -> list[str]:
    """``count`` events of one session as the core's outbox numbers them (sequence 1..count)."""
    ids = []
    with sessions() as db:
        for n in range(1, count + 1):
            row = enqueue_event(db, source_id=f"{session_id}-{n}", tenant_id="t1", url=url,
                                event_type="session.status_changed", data={"n": n}, session_id=session_id,
                                sequence=n)
            ids.append(row.event_id)
        db.commit()
    return ids


async def _deliver_all(dispatcher: WebhookDispatcher, sessions: sessionmaker[Session], ids: list[str]) -> None:
    for _ in range(300):
        await dispatcher.run_once()
        with sessions() as db:
            if all(db.get(WebhookDelivery, i).status != DeliveryStatus.PENDING.value for i in ids):  # type: ignore[union-attr]
                return
        await asyncio.sleep(0.02)
    raise AssertionError("deliveries still pending")


async def test_a_retried_event_holds_back_the_later_events_of_its_session(
    store: tuple[sessionmaker[Session], SecretBox],
) -> None:
    """The documented contract: one session's events reach the bank in order, also when the first is retried."""
    sessions, box = store
    _issue_secret(sessions, box)
    with Receiver(statuses=[500, 500]) as receiver:  # the first two attempts fail, whatever they carry
        first, second, third = _enqueue_session_events(sessions, receiver.url, "s1", 3)
        other = _enqueue_session_events(sessions, receiver.url, "s2", 1)
        await _deliver_all(WebhookDispatcher(sessions, box, FAST, rng=random.Random(3)), sessions,
                           [first, second, third, *other])
    order = [h[EVENT_ID_HEADER] for h, _ in receiver.requests if h[EVENT_ID_HEADER] != other[0]]
    assert order[-3:] == [first, second, third] and set(order[:-3]) <= {first}, order


async def test_a_dead_lettered_event_no_longer_holds_back_its_session(
    store: tuple[sessionmaker[Session], SecretBox],
) -> None:
    sessions, box = store
    _issue_secret(sessions, box)
    with Receiver(statuses=[500] * FAST.max_attempts) as receiver:
        first, second = _enqueue_session_events(sessions, receiver.url, "s1", 2)
        await _deliver_all(WebhookDispatcher(sessions, box, FAST), sessions, [first, second])
    order = [h[EVENT_ID_HEADER] for h, _ in receiver.requests]
    assert order == [first] * FAST.max_attempts + [second]
    with sessions() as db:
        statuses = [db.get(WebhookDelivery, i).status for i in (first, second)]  # type: ignore[union-attr]
    assert statuses == ["dead", "delivered"]
