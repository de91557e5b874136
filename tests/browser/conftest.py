"""Browser tests: the Debian Chromium driven by Playwright (never a downloaded browser), with a fake camera
fed from a .y4m file generated at test time, against the real app served by uvicorn on 127.0.0.1.

Flags and loopback ICE as measured in ../shared/notes/webrtc-browser-tests.md.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import aioice.ice
import cv2
import numpy as np
import pytest

from api.media.ice import loopback_host_addresses

CHROMIUM = "/usr/bin/chromium"


def chromium_args(y4m: Path) -> list[str]:
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m.resolve()}",
        "--autoplay-policy=no-user-gesture-required",
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
    ]


def write_y4m(path: Path, frames: list[np.ndarray], fps: int) -> Path:
    """YUV4MPEG2 (C420jpeg) from BGR uint8 frames: the fake-camera format Chromium plays and loops."""
    height, width = frames[0].shape[:2]
    with path.open("wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            handle.write(b"FRAME\n")
            handle.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("needs the Debian chromium package (scripts/bootstrap.sh --test installs it)")
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The app under uvicorn in a thread; ``call(coro)`` runs a coroutine on the server's event loop."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.app = app
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, name="uvicorn-test", daemon=True)

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())
        self.loop.close()

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def call(self, coro: Any, timeout_s: float = 20.0) -> Any:
        assert self.loop is not None
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout_s)

    def stop(self) -> None:
        hub = getattr(self.app.state, "live_hub", None)
        if hub is not None and self.loop is not None and self.thread.is_alive():
            self.call(hub.close_all())
        self.server.should_exit = True
        self.thread.join(20)


@pytest.fixture
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", loopback_host_addresses)


@pytest.fixture
def serve(loopback_ice: None) -> Iterator[Any]:
    """``serve(app) -> LiveServer``; every server started is stopped after the test."""
    servers: list[LiveServer] = []

    def start(app: Any) -> LiveServer:
        server = LiveServer(app).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def wait_for(predicate: Any, timeout_s: float = 20.0, step_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return bool(predicate())


def js_wait(page: Any, expression: str, timeout_s: float = 20.0) -> bool:
    """Poll a JavaScript expression until it is truthy. (Playwright's wait_for_function evaluates strings
    with eval, which the page's Content-Security-Policy forbids, as it should; evaluate() is not affected.)"""
    return wait_for(lambda: bool(page.evaluate(expression)), timeout_s, 0.1)
