# ruff: noqa: F811 - pytest fixtures imported from tests/test_core_support.py are redefined as arguments
"""The two real transports: SMTP against a real aiosmtpd server, and an SMS gateway over HTTP against a
small local gateway, both started by the test on 127.0.0.1; and a whole TAN delivered through each."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import Engine

from tests.test_core_support import (  # noqa: F401 - fixtures
    FakeClock,
    clock,
    complete_captures,
    keyring,
    migrated_sqlite,
    new_session,
)
from videoident.crypto import KeyRing
from videoident.db import make_sessionmaker
from videoident.notify import Channel, HttpSmsNotifier, Message, NotificationError, NotifySettings, SmtpNotifier
from videoident.notify.config import build_notifier
from videoident.service import IdentService
from videoident.service_tan import TanOutcome
from videoident.settings import Environment
from videoident.states import Decision, ReasonCode
from videoident.vault import EvidenceVault
from videoident.views import Contact


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """SQLite only: this module's subject is not storage (test_core_service covers both databases)."""
    eng = migrated_sqlite(tmp_path)
    yield eng
    eng.dispose()



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        self.mails.append((list(envelope.rcpt_tos), message_from_bytes(content)))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


class Gateway:
    """A minimal SMS gateway: accepts POST /send with a bearer token, answers 202, keeps what it got."""

    def __init__(self, token: str, fail_with: int | None = None) -> None:
        self.token, self.fail_with = token, fail_with
        self.received: list[dict[str, Any]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Authorization") != f"Bearer {gateway.token}":
                    self.send_response(401)
                elif gateway.fail_with:
                    self.send_response(gateway.fail_with)
                else:
                    gateway.received.append(json.loads(body))
                    self.send_response(202)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Gateway:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def test_smtp_delivers_to_a_real_server(smtp_server: tuple[int, Inbox]) -> None:
    port, inbox = smtp_server
    notifier = SmtpNotifier("127.0.0.1", port, "kyc@bank.example", starttls=False)
    notifier.send(Message(Channel.EMAIL, "erika@example.org", "Your code", "Your code is 123456."))
    [(recipients, mail)] = inbox.mails
    assert recipients == ["erika@example.org"]
    assert mail["Subject"] == "Your code" and mail["From"] == "kyc@bank.example"
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes) and b"123456" in payload


def test_smtp_failure_is_reported_without_the_body() -> None:
    notifier = SmtpNotifier("127.0.0.1", free_port(), "kyc@bank.example", timeout_s=2)
    with pytest.raises(NotificationError) as failed:
        notifier.send(Message(Channel.EMAIL, "erika@example.org", "Your code", "Your code is 654321."))
    assert "654321" not in str(failed.value)


def test_sms_gateway_gets_number_text_and_token() -> None:
    with Gateway("gw-secret") as gateway:
        HttpSmsNotifier(gateway.url, token="gw-secret", sender="Musterbank").send(
            Message(Channel.SMS, "+4915112345678", "", "123456 is your code"))
        assert gateway.received == [{"to": "+4915112345678", "text": "123456 is your code", "sender": "Musterbank"}]


def test_sms_gateway_errors_and_bad_numbers_raise() -> None:
    with Gateway("gw-secret") as gateway:
        with pytest.raises(NotificationError, match="401"):
            HttpSmsNotifier(gateway.url, token="wrong").send(Message(Channel.SMS, "+4915112345678", "", "x"))
        with pytest.raises(NotificationError, match="E.164"):
            HttpSmsNotifier(gateway.url, token="gw-secret").send(Message(Channel.SMS, "0151 123", "", "x"))
    with Gateway("t", fail_with=503) as gateway, pytest.raises(NotificationError, match="503"):
        HttpSmsNotifier(gateway.url, token="t").send(Message(Channel.SMS, "+31612345678", "", "x"))


def test_production_refuses_to_run_without_a_transport() -> None:
    with pytest.raises(NotificationError, match="production"):
        build_notifier(Environment.PRODUCTION, NotifySettings())
    built = build_notifier(Environment.PRODUCTION, NotifySettings(smtp_host="127.0.0.1", sms_gateway_url="http://x"))
    assert built.channels == {Channel.EMAIL, Channel.SMS}


def test_a_whole_tan_over_smtp_and_over_sms(engine: Engine, tmp_path: Path, clock: FakeClock,  # noqa: F811
                                            keyring: KeyRing, smtp_server: tuple[int, Inbox]) -> None:  # noqa: F811
    port, inbox = smtp_server
    with Gateway("gw") as gateway:
        notifier = build_notifier(Environment.TEST, NotifySettings(
            smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False, smtp_sender="kyc@bank.example",
            sms_gateway_url=gateway.url, sms_gateway_token="gw"))  # type: ignore[arg-type]
        service = IdentService(make_sessionmaker(engine), keyring, EvidenceVault(tmp_path / "v"), notifier,
                               clock=clock)
        by_mail, _ = new_session(service, contact=Contact(email="erika@example.org"))
        by_sms, _ = new_session(service, contact=Contact(phone="+4915112345678", email="e@example.org"))
        for session_id in (by_mail, by_sms):
            complete_captures(service, session_id)
            assert service.decide(session_id, "agent-1", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED).tan_sent
        payload = inbox.mails[0][1].get_payload(decode=True)
        assert isinstance(payload, bytes)
        mail_text = payload.decode()
        assert "to open your account at Musterbank AG" in mail_text
        mail_code = next(word for word in mail_text.replace(".", " ").split() if word.isdigit() and len(word) == 6)
        [sms] = gateway.received
        assert "Musterbank AG" in sms["text"]
        sms_code = sms["text"].split()[0]
        assert service.verify_tan(by_mail, mail_code).outcome is TanOutcome.COMPLETED
        assert service.verify_tan(by_sms, sms_code).outcome is TanOutcome.COMPLETED
