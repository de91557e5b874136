"""The whole ident in real browsers: a customer (Chromium with a fake camera playing a generated webcam
scene of a person holding a German ID card) joins; an agent logs into the console with password and TOTP,
takes the call (assigned at random), sees the customer's video and the automatic checks arrive, captures
front and face stills into the vault, and approves. The automatic checks do not all pass on a synthetic
scene, so the approval is an override: a supervisor confirms it in four-eyes review, the TAN goes out by
e-mail to a real aiosmtpd SMTP server, and the customer completes with the TAN from that e-mail.

With ``VIDEOIDENT_CONSOLE_SCREENSHOTS=docs/img`` the test also saves the console screenshots of the docs.
"""

from __future__ import annotations

import contextlib
import email
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import pyotp
import pytest
from argon2 import PasswordHasher, Type

from tests.browser.conftest import _free_port, chromium_args, js_wait, wait_for
from tests.test_live_support import make_customer_app, new_customer_session

pytestmark = [pytest.mark.browser, pytest.mark.shared_data]

PASSWORD = "correct horse battery staple"
#: Real argon2id with light parameters (the production ones are tested in tests/test_agents.py).
LIGHT = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)
OVERRIDE = "checks inconclusive on this camera; document, hologram and face inspected by eye"


class Inbox:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.Message] = []
        self._lock = threading.Lock()
        inbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                with inbox._lock:
                    inbox.messages.append(email.message_from_bytes(envelope.content))
                return "250 OK"

        self.port = _free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def tan_for(self, recipient: str) -> str | None:
        with self._lock:
            for message in reversed(self.messages):  # the newest TAN is the valid one
                if message["To"] == recipient:
                    body = message.get_payload(decode=True)
                    assert isinstance(body, bytes)
                    found = re.search(r"\b(\d{6})\b", body.decode())
                    return found.group(1) if found else None
        return None


def _login(page: Any, url: str, name: str, secret: str) -> None:
    page.goto(f"{url}/console")
    page.wait_for_selector("#view-login:not([hidden])")
    page.fill("#login-name", name)
    page.fill("#login-password", PASSWORD)
    page.fill("#login-totp", pyotp.TOTP(secret).now())
    page.click("#login-submit")
    page.wait_for_selector("#view-queue:not([hidden])")


def test_agent_takes_the_call_captures_approves_and_the_customer_confirms_with_the_tan(
        tmp_path: Path, chromium: str, serve: Any, shared_data: Path) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    from api.routers.console import ConsoleState
    from fixtures.scenes import SceneSpec, generate_scene
    from fixtures.y4m import write_y4m
    from pipelines.layouts import Template
    from videoident.agents import AgentRole, AgentStore
    from videoident.console_state import ConsoleMemory
    from videoident.notify import SmtpNotifier
    from videoident.queue import DatabaseCallQueue
    from videoident.vault import EvidenceKind

    t0 = time.monotonic()
    marks: dict[str, float] = {}

    def mark(name: str) -> None:
        marks[name] = round(time.monotonic() - t0, 1)

    scene = generate_scene(SceneSpec(Template.DE_ID, size=(640, 480), fps=15, seconds=4, seed=3))
    y4m = tmp_path / "scene.y4m"
    write_y4m(y4m, (frame.image for frame, _truth in scene.frames()), 15)

    mark("scene_written")
    app, service = make_customer_app(tmp_path)  # the real session analyzer
    inbox = Inbox()
    inbox.controller.start()
    service.notifier = SmtpNotifier("127.0.0.1", inbox.port, "ident@bank.example", starttls=False)
    bank = app.state.bank
    agents = AgentStore(bank.sessions, app.state.settings.master_key_bytes, hasher=LIGHT)
    app.state.console = ConsoleState(service, agents, DatabaseCallQueue(service, bank.sessions),
                                     ConsoleMemory(bank.sessions))
    anna = pyotp.parse_uri(agents.create("anna", AgentRole.AGENT, PASSWORD).provisioning_uri).secret
    sue = pyotp.parse_uri(agents.create("sue", AgentRole.SUPERVISOR, PASSWORD).provisioning_uri).secret
    session_id, token = new_customer_session(service)
    shots = Path(os.environ.get("VIDEOIDENT_CONSOLE_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    server = serve(app)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True, args=chromium_args(y4m))
            try:
                customer = browser.new_context().new_page()
                customer.goto(f"{server.url}/ident/{token}")
                customer.wait_for_selector("#step-consent:not([hidden])")
                customer.check("#consent-box")
                customer.click("#consent-next")
                customer.wait_for_selector("#camera-status.ok")
                customer.click("#check-next")
                customer.wait_for_selector("#step-live:not([hidden])")
                assert wait_for(lambda: app.state.live_hub.get(session_id) is not None)
                mark("customer_live")

                agent = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
                _login(agent, server.url, "anna", anna)
                assert js_wait(agent, "document.getElementById('q-waiting').textContent === '1'")
                agent.screenshot(path=str(shots / "console-queue.png"))
                agent.click("#take-next")
                agent.wait_for_selector("#view-call:not([hidden])")
                # The customer's video arrives through the relay, and the checks fill in.
                assert js_wait(agent, "document.getElementById('remote-video').videoWidth === 640", 30)
                assert js_wait(agent, "document.querySelector('[data-check=tilt] .verdict')"
                                      ".dataset.verdict !== 'pending'", 40)
                assert js_wait(agent, "document.querySelectorAll('#features li').length === 3")
                mark("agent_sees_video_and_checks")
                assert agent.inner_text("#compare").count("Mustermann") == 1  # the bank's claim, unmasked

                # The customer keeps turning the card; like an agent, ask again until the front is in view.
                for kind in ("front", "face"):
                    for _attempt in range(6):
                        agent.click(f"[data-capture={kind}]")
                        js_wait(agent, f"!document.querySelector('[data-capture={kind}]').disabled", 30)
                        if agent.is_visible(f"#cap-{kind}"):
                            break
                    assert agent.is_visible(f"#cap-{kind}"), agent.inner_text("#capture-message")
                agent.click("#zoom-refresh")
                js_wait(agent, "!document.getElementById('zoom-box').hidden", 15)
                mark("captured")
                agent.check("[data-confirm=document_number_read]")
                agent.check("[data-confirm=purpose_stated]")
                # Tick each drawn feature (the list is redrawn once when the MRZ reveals the template).
                for _ in range(20):
                    unticked = agent.locator("#features input:not(:checked)")
                    if unticked.count() == 0:
                        break
                    with contextlib.suppress(PlaywrightError):
                        unticked.first.check(timeout=3000)
                agent.screenshot(path=str(shots / "console-call.png"), full_page=True)

                # Approve: blocked by what did not pass, so the agent explains an override.
                agent.check("input[name=decision][value=approved]")
                agent.select_option("#reason", "identity_verified")
                agent.click("#decide")
                agent.wait_for_selector("#gaps-box:not([hidden])")
                agent.fill("#override", OVERRIDE)
                agent.click("#decide")
                assert js_wait(agent, "document.getElementById('decision-message').textContent"
                                      ".includes('four-eyes')", 20)
                assert service.get_session(session_id).status.value == "review"
                assert inbox.tan_for("erika@example.org") is None  # nothing goes out before the review

                mark("sent_to_review")
                supervisor = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
                _login(supervisor, server.url, "sue", sue)
                supervisor.wait_for_selector("#r-list button")
                supervisor.click("#r-list button")
                supervisor.wait_for_selector("#review-card:not([hidden])")
                assert js_wait(supervisor, "document.querySelectorAll('#checks li').length === 8")
                # The reviewer sees the checks recorded at the decision and the stills from the vault.
                assert js_wait(supervisor, "document.querySelectorAll('[data-evidence] img').length >= 2", 20)
                assert supervisor.inner_text("#note-override") == OVERRIDE
                assert js_wait(supervisor, "document.querySelectorAll('#features input:checked').length === 3")
                supervisor.screenshot(path=str(shots / "console-review.png"), full_page=True)
                supervisor.click("#review-confirm")
                assert js_wait(supervisor, "document.getElementById('review-message').textContent"
                                           ".includes('TAN sent')", 20)

                assert wait_for(lambda: inbox.tan_for("erika@example.org") is not None, 20)
                tan = inbox.tan_for("erika@example.org")
                mark("tan_received_by_smtp")
                customer.wait_for_selector("#step-tan:not([hidden])", timeout=30_000)
                customer.fill("#tan-input", str(tan))
                customer.press("#tan-input", "Enter")
                # The page shows "done", never "ended", whichever comes first: the TAN reply or the events
                # socket's "completed" (it once showed "ended" when the socket won that race).
                assert js_wait(customer, "!document.getElementById('step-done').hidden"
                                         " || !document.getElementById('step-ended').hidden", 30), (
                    customer.inner_text("#tan-message"), len(inbox.messages), service.get_session(session_id).status)
                customer.wait_for_timeout(1500)  # a late socket message must not replace "done"
                assert customer.is_visible("#step-done") and not customer.is_visible("#step-ended"), (
                    customer.evaluate("window.videoident.step"), service.get_session(session_id).status)
                mark("customer_completed")
                login_page = browser.new_context(viewport={"width": 1000, "height": 640}).new_page()
                login_page.goto(f"{server.url}/console")
                login_page.wait_for_selector("#view-login:not([hidden])")
                login_page.screenshot(path=str(shots / "console-login.png"))
            finally:
                browser.close()
    finally:
        inbox.controller.stop()

    print("console e2e timeline (s since start):", marks)
    view = service.get_session(session_id)
    assert view.status.value == "completed" and view.override and view.reviewed_by is not None
    kinds = {e.kind for e in service.list_evidence(session_id)}
    assert {EvidenceKind.FRONT.value, EvidenceKind.FACE.value} <= kinds
    front = [e for e in service.list_evidence(session_id) if e.kind == EvidenceKind.FRONT.value]
    # With the template known (MRZ read), the stored still has the card access number masked; without it the
    # still is kept sealed and never exported (it could not be masked).
    assert (front[0].template == Template.DE_ID.value and "can" in (front[0].masked_fields or ())) or (
        front[0].template is None and front[0].masked_fields is None)
    assert all((shots / f"console-{name}.png").is_file() for name in ("login", "queue", "call", "review"))
