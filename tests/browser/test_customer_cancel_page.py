"""The customer cancels in the real Debian Chromium: from the waiting room (live media up), with the
confirmation asked first; the page ends on "cancelled", the live media ends, the session is ``cancelled``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser.conftest import chromium_args, js_wait, wait_for, write_y4m
from tests.test_live_support import LevelAnalyzer, make_customer_app, new_customer_session
from videoident.states import SessionStatus

pytestmark = pytest.mark.browser


def test_cancel_from_the_waiting_room_after_confirming(tmp_path: Path, chromium: str, serve: Any) -> None:
    from playwright.sync_api import sync_playwright

    app, service = make_customer_app(tmp_path, analyzer_factory=lambda _sid: LevelAnalyzer())
    session_id, token = new_customer_session(service)
    server = serve(app)
    y4m = write_y4m(tmp_path / "camera.y4m", [np.full((480, 640, 3), 90, np.uint8)] * 15, fps=15)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=chromium_args(y4m))
        try:
            page = browser.new_context(locale="en-GB").new_page()
            page.goto(f"{server.url}/ident/{token}")
            page.wait_for_selector("#step-consent:not([hidden])")
            assert page.is_visible("#cancel-open")  # offered from the first step on
            page.check("#consent-box")
            page.click("#consent-next")
            page.wait_for_selector("#camera-status.ok")
            page.click("#check-next")
            page.wait_for_selector("#step-live:not([hidden])")
            assert wait_for(lambda: app.state.live_hub.get(session_id) is not None)

            # Asked first: "No" keeps everything as it was.
            page.click("#cancel-open")
            assert page.is_visible("#cancel-confirm") and "told" in page.inner_text("#cancel-confirm")
            page.click("#cancel-no")
            assert not page.is_visible("#cancel-confirm")
            assert service.get_session(session_id).status is SessionStatus.WAITING

            page.click("#cancel-open")
            page.click("#cancel-yes")
            page.wait_for_selector("#step-cancelled:not([hidden])")
            assert "cancelled" in page.inner_text("#step-cancelled")
            page.wait_for_timeout(1500)  # the events socket's last word must not replace it
            assert page.is_visible("#step-cancelled") and not page.is_visible("#step-ended")
            assert not page.is_visible("#cancel-area")
            assert js_wait(page, "document.getElementById('self-video').srcObject === null"
                                 " || !document.getElementById('self-video').srcObject.active")
        finally:
            browser.close()
    assert service.get_session(session_id).status is SessionStatus.CANCELLED
    assert app.state.live_hub.get(session_id) is None
