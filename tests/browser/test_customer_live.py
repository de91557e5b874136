"""The customer's page in the real Debian Chromium with a fake camera: consent, camera check, waiting room,
live guidance over the data channel, the agent's code, a dropped connection that reconnects into the same
session, and the Persian right-to-left layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api.media.verification import agent_code
from tests.browser.conftest import chromium_args, js_wait, wait_for, write_y4m
from tests.test_live_support import (
    LevelAnalyzer,
    approve_with_tan,
    draw_index,
    make_customer_app,
    new_customer_session,
)

pytestmark = pytest.mark.browser

#: The page fits a phone's width: nothing makes it scroll sideways.
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


def _dark_scene(width: int = 640, height: int = 480, frames: int = 30) -> list[np.ndarray]:
    """A dim room (the analyzer asks for more light) with the frame number drawn in the corner."""
    out = []
    for i in range(frames):
        image = np.full((height, width, 3), 40, np.uint8)
        image[200:280, (i * 12) % (width - 80) :][:, :80] = (30, 30, 120)
        draw_index(image, i)
        out.append(image)
    return out


def test_consent_waiting_guidance_reconnect_and_rtl(tmp_path: Path, chromium: str, serve: Any) -> None:
    from playwright.sync_api import sync_playwright

    analyzers: dict[str, LevelAnalyzer] = {}

    def factory(session_id: str) -> LevelAnalyzer:
        analyzers[session_id] = LevelAnalyzer()
        return analyzers[session_id]

    app, service = make_customer_app(tmp_path, analyzer_factory=factory)
    session_id, token = new_customer_session(service)
    server = serve(app)
    y4m = write_y4m(tmp_path / "camera.y4m", _dark_scene(), fps=15)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=chromium_args(y4m))
        try:
            # A phone: small portrait viewport, touch, high pixel density.
            context = browser.new_context(
                locale="en-GB",
                viewport={"width": 390, "height": 844},
                is_mobile=True,
                has_touch=True,
                device_scale_factor=3,
            )
            page = context.new_page()
            page.goto(f"{server.url}/ident/{token}")
            # Consent: says who, what, why, how long and that nothing goes to third parties.
            page.wait_for_selector("#step-consent:not([hidden])")
            assert page.evaluate(NO_SIDEWAYS_SCROLL)
            consent = page.inner_text("#step-consent")
            assert "Example Bank" in consent and "third parties" in consent and "years" in consent
            assert page.is_disabled("#consent-next")
            page.check("#consent-box")
            page.click("#consent-next")
            # Camera check: the fake camera's picture and label; then into the waiting room.
            page.wait_for_selector("#camera-status.ok")
            page.click("#check-next")
            page.wait_for_selector("#step-live:not([hidden])")
            assert page.evaluate(NO_SIDEWAYS_SCROLL)
            assert js_wait(page, "document.querySelector('#queue-line').textContent.length > 0")
            assert "queue" in page.inner_text("#queue-line") or "next" in page.inner_text("#queue-line")

            # Frames reach the server and the analyzer, in order; guidance comes back on the data channel.
            assert wait_for(lambda: session_id in analyzers and len(analyzers[session_id].indices) >= 5)
            live = app.state.live_hub.get(session_id)
            assert live.codecs["video"] in {"VP8", "H264"}
            assert js_wait(page, "window.videoident.guidanceSeen.includes('more_light')")
            assert page.inner_text("#guidance") == "More light, please"
            indices = analyzers[session_id].indices
            assert all(0 <= i < 30 for i in indices)  # real frames of the .y4m (it loops every 30)
            assert analyzers[session_id].sizes <= {(640, 480), (320, 240), (480, 360)}
            # The browser reported its camera: Chromium's fake device is a virtual camera, and says so.
            assert wait_for(lambda: live.injection.settings is not None)
            assert live.report()["injection"]["reason"]["code"] == "virtual_camera", live.report()["injection"]

            # The network drops: the page reconnects into the same live session by itself.
            before = live.frames_received
            server.call(live.drop_customer())
            assert js_wait(page, "window.videoident.reconnects >= 1")
            assert wait_for(lambda: live.connects == 2 and live.frames_received > before + 15, timeout_s=30)
            assert app.state.live_hub.get(session_id) is live
            assert js_wait(page, "window.videoident.connection === 'connected'")

            # The agent picks the call up: the page shows the code the bank's app shows too.
            service.start_call(session_id, "agent-1")
            expected = agent_code(app.state.settings.master_key_bytes, session_id)
            assert js_wait(page, f"document.querySelector('#agent-code').textContent === '{expected}'")
            assert page.is_visible("#agent-code-box")

            # Persian: right-to-left, translated.
            page.select_option("#lang", "fa")
            assert page.evaluate("document.documentElement.dir") == "rtl"
            assert page.inner_text("#agent-code-box span") == "کد کارشناس شما"
            page.select_option("#lang", "en")

            # Approved (the agent ends the call first, then decides): the page asks for the TAN.
            server.call(app.state.live_hub.close(session_id))
            tan = approve_with_tan(service, session_id)
            page.wait_for_selector("#step-tan:not([hidden])", timeout=20_000)
            wrong = "000000" if tan != "000000" else "111111"
            page.fill("#tan-input", wrong)
            page.click("#tan-form button")
            assert js_wait(page, "document.querySelector('#tan-message').textContent.includes('2 attempt')")
            page.fill("#tan-input", tan[:3] + " " + tan[3:])
            page.click("#tan-form button")
            page.wait_for_selector("#step-done:not([hidden])")
            assert "Example Bank" in page.inner_text("#step-done")
            assert service.get_session(session_id).status.value == "completed"
        finally:
            browser.close()
