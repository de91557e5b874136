"""Page load to first analysed frame, in the real Debian Chromium with a fake camera (a generated scene).

Serves the real app (uvicorn, a temporary SQLite database and vault), opens the customer link, goes through
consent and the camera check, and measures: navigation -> the server's first received frame, -> the first
analysed frame, and the picture size that actually arrived (1280x720 shows that the answer's bitrate
parameters work). Run: ``.venv/bin/python -m api.benchmarks.live_browser [--size 1280x720]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["run"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "
    "--disable-component-update --disable-sync --use-fake-device-for-media-stream --use-fake-ui-for-media-stream "
    "--autoplay-policy=no-user-gesture-required --allow-loopback-in-peer-connection "
    "--disable-features=WebRtcHideLocalIpsWithMdns"
).split()


def _wait(predicate: Any, timeout_s: float) -> float | None:
    """Seconds until ``predicate()`` held, or None on timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.02)
    return None


def run(quick: bool = True, size: tuple[int, int] | None = None, seconds: float = 4.0) -> dict[str, Any]:
    import uvicorn
    from playwright.sync_api import sync_playwright
    from pydantic import SecretStr

    from api.app import create_app
    from api.deps import open_bank
    from fixtures.scenes import SceneSpec, generate_scene
    from fixtures.y4m import write_y4m
    from videoident.service import ClaimedIdentity
    from videoident.settings import Environment, Settings
    from videoident.states import Purpose

    width, height = size or ((640, 480) if quick else (1280, 720))
    os.environ["VIDEOIDENT_WEBRTC_LOOPBACK_ONLY"] = "true"
    with tempfile.TemporaryDirectory(prefix="videoident-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        scene = generate_scene(SceneSpec(size=(width, height), fps=15, seconds=seconds, seed=5))
        y4m = folder / "scene.y4m"
        write_y4m(y4m, (frame.image for frame, _ in scene.frames()), 15)
        scene_s = time.perf_counter() - started

        key = base64.b64encode(secrets.token_bytes(32)).decode()
        settings = Settings(environment=Environment.TEST, data_dir=folder / "data", master_key=SecretStr(key))
        app = create_app(settings)
        app.state.bank = open_bank(settings)
        service = app.state.bank.service
        tenant = service.create_tenant("bench", "Benchmark Bank")
        created = service.create_session(
            tenant.id,
            identity=ClaimedIdentity("Erika", "Mustermann", date(1983, 8, 12)),
            purpose=Purpose.ACCOUNT_OPENING,
            reference="bench",
        )
        session_id, token = created.session.id, created.customer_token
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]

        def live() -> Any:
            hub = getattr(app.state, "live_hub", None)
            return hub.get(session_id) if hub else None

        result: dict[str, Any] = {
            "benchmark": "live_browser",
            "size": f"{width}x{height}",
            "scene_s": round(scene_s, 1),
        }
        try:
            with sync_playwright() as pw:
                args = [*CHROMIUM_FLAGS, f"--use-file-for-fake-video-capture={y4m}"]
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
                try:
                    page = browser.new_page()
                    t0 = time.monotonic()
                    page.goto(f"http://127.0.0.1:{port}/ident/{token}")
                    page.check("#consent-box")
                    page.click("#consent-next")
                    page.wait_for_selector("#camera-status.ok")
                    page.click("#check-next")
                    clicked = time.monotonic() - t0
                    received = _wait(lambda: live() is not None and live().frames_received > 0, 60)
                    analysed = _wait(lambda: live() is not None and live().sampler.stats().analysed > 0, 60)
                    time.sleep(3)  # let the bitrate settle, then see what arrives
                    state = live()
                    result.update(
                        {
                            "consent_and_camera_check_s": round(clicked, 2),
                            "load_to_first_received_frame_s": round(clicked + received, 2) if received else None,
                            "load_to_first_analysed_frame_s": round(clicked + analysed, 2) if analysed else None,
                            "received_sizes": dict(state.injection.sizes) if state else None,
                            "codec": state.codecs.get("video") if state else None,
                            "analysed_fps": round(state.sampler.stats().analysed / max(0.1, state.session_time_s()), 2)
                            if state
                            else None,
                            "load_average_1min": round(os.getloadavg()[0], 2),
                        }
                    )
                finally:
                    browser.close()
        finally:
            hub = getattr(app.state, "live_hub", None)
            if hub is not None:
                asyncio.run_coroutine_threadsafe(hub.close_all(), loop).result(30)
            server.should_exit = True
            thread.join(30)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1280x720", help="camera size WxH (default 1280x720)")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    print(json.dumps(run(quick=False, size=(w, h)), indent=2))


if __name__ == "__main__":
    main()
