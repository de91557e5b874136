"""Helpers for the live-media tests: a synthetic camera track and a customer peer driven by aiortc.

The camera draws its frame number as a binary strip and a known brightness, so a test can check *which*
frames arrived where, not only how many.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from av import VideoFrame

from api.media.recorder import SegmentInfo
from pipelines.frame import Frame

BITS = 12
CELL = 16


def draw_index(image: np.ndarray, index: int) -> None:
    """Write ``index`` as BITS black/white cells along the top-left (BGR uint8 (H, W, 3))."""
    for bit in range(BITS):
        value = 255 if (index >> bit) & 1 else 0
        image[0:CELL, bit * CELL : (bit + 1) * CELL] = value


def read_index(image: np.ndarray) -> int:
    index = 0
    for bit in range(BITS):
        cell = image[2 : CELL - 2, bit * CELL + 2 : (bit + 1) * CELL - 2]
        if float(cell.mean()) > 127:
            index |= 1 << bit
    return index


class SyntheticCamera(VideoStreamTrack):
    """A camera at ``fps`` of size ``width`` x ``height`` whose grey level is ``level`` (0..255)."""

    def __init__(self, width: int = 640, height: int = 480, fps: int = 15, level: int = 160) -> None:
        super().__init__()
        self.width, self.height, self.fps, self.level = width, height, fps, level
        self.sent = 0
        self._start: float | None = None

    async def recv(self) -> VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        target = self._start + self.sent / self.fps
        await asyncio.sleep(max(0.0, target - time.monotonic()))
        image = np.full((self.height, self.width, 3), self.level, np.uint8)
        # A moving bar so the encoder has motion to code.
        x = (self.sent * 8) % (self.width - 40)
        image[self.height // 2 : self.height // 2 + 40, x : x + 40] = (0, 0, 255)
        draw_index(image, self.sent)
        frame = VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts = round(self.sent * 90_000 / self.fps)
        frame.time_base = fractions.Fraction(1, 90_000)
        self.sent += 1
        return frame


class LevelAnalyzer:
    """A minimal stand-in analyzer for transport tests: says ``more_light`` while frames are dark and
    remembers each frame's drawn index. (The real session analyzer is tested with the browser.)"""

    DARK = 80

    def __init__(self) -> None:
        self.indices: list[int] = []
        self.sizes: set[tuple[int, int]] = set()
        self._dark = False

    def observe(self, frame: Frame) -> None:
        self.indices.append(read_index(frame.image))
        self.sizes.add((frame.image.shape[1], frame.image.shape[0]))
        self._dark = float(frame.image[CELL * 2 :].mean()) < self.DARK

    def report(self) -> Mapping[str, Any]:
        return {"quality": {"verdict": "inconclusive", "frames": len(self.indices)}}

    def guidance(self) -> Sequence[str]:
        return ["more_light"] if self._dark else []


class MemorySink:
    """Collects recording segments in memory (the vault-backed sink is tested separately)."""

    def __init__(self) -> None:
        self.segments: list[tuple[SegmentInfo, bytes]] = []

    def store_segment(self, session_id: str, info: SegmentInfo, data: bytes) -> None:
        self.segments.append((info, data))


class Customer:
    """A customer's browser in aiortc: sends a camera (and silence), receives the agent, talks on the
    ``control`` data channel like the page does."""

    def __init__(self, camera: VideoStreamTrack, label: str = "HD Pro Webcam C920") -> None:
        self.pc = RTCPeerConnection()
        self.camera = camera
        self.pc.addTrack(camera)
        self.pc.addTrack(AudioStreamTrack())
        self.channel: RTCDataChannel = self.pc.createDataChannel("control")
        self.messages: list[dict[str, Any]] = []
        self.received_video: list[VideoFrame] = []
        self._label = label

        @self.channel.on("open")
        def on_open() -> None:
            settings = {"label": self._label, "width": 640, "height": 480, "frameRate": 15}
            self.channel.send(json.dumps({"type": "camera", "settings": settings}))

        @self.channel.on("message")
        def on_message(message: str) -> None:
            self.messages.append(json.loads(message))

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "video":
                asyncio.ensure_future(self._collect(track))

    async def _collect(self, track: Any) -> None:
        while True:
            try:
                self.received_video.append(await track.recv())
            except Exception:  # MediaStreamError at the end
                return

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer: RTCSessionDescription) -> None:
        await self.pc.setRemoteDescription(answer)

    def guidance(self) -> list[list[str]]:
        return [m["codes"] for m in self.messages if m.get("type") == "guidance"]


async def wait_until(predicate: Any, timeout_s: float = 15.0, step_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step_s)
    return bool(predicate())


# ---- an app with the customer router and a real core service -----------------------------------------
def make_customer_app(tmp_path: Any, analyzer_factory: Any = None, loopback: bool = True) -> tuple[Any, Any]:
    """A real app (create_app) on a fresh SQLite database and vault under ``tmp_path``, with the customer
    router and an IdentService; returns ``(app, service)``. ``analyzer_factory`` replaces the session
    analyzer (transport tests); the live hub uses loopback ICE."""
    from api.app import create_app
    from api.deps import open_bank
    from api.media.app_state import VaultSegmentSink
    from api.media.hub import LiveHub
    from api.media.ice import IceConfig
    from videoident.settings import Settings

    settings = Settings(environment="test", data_dir=tmp_path, master_key=_test_master_key())
    app = create_app(settings)
    app.state.bank = open_bank(settings)  # database, migrations, core service (memory notifier in test)
    service = app.state.bank.service
    if analyzer_factory is not None or loopback:
        from api.media.app_state import default_analyzer_factory

        factory = analyzer_factory or default_analyzer_factory(settings, service)
        app.state.live_hub = LiveHub(IceConfig(loopback_only=loopback), factory, VaultSegmentSink(service))
    return app, service


def _test_master_key() -> str:
    import base64
    import hashlib

    return base64.b64encode(hashlib.sha256(b"videoident live tests").digest()).decode()


def new_customer_session(service: Any, locale: str = "en") -> tuple[str, str]:
    """A tenant and a session with a claimed identity; returns ``(session_id, customer_token)``."""
    from datetime import date

    from videoident.service import ClaimedIdentity, Contact
    from videoident.states import Purpose

    tenant = service.create_tenant(f"bank-{time.monotonic_ns()}", "Example Bank")
    created = service.create_session(
        tenant.id,
        identity=ClaimedIdentity("Erika", "Mustermann", date(1983, 8, 12), "T22000129", "DEU"),
        purpose=Purpose.ACCOUNT_OPENING,
        reference="ref-1",
        locale=locale,
        contact=Contact(email="erika@example.org"),
    )
    return created.session.id, created.customer_token


def approve_with_tan(service: Any, session_id: str) -> str:
    """Drive a session in a call to ``tan_pending`` as an agent and a supervisor would (override, four-eyes
    confirmation), and return the TAN the memory notifier received."""
    import re

    from videoident.states import Decision, ReasonCode

    service.decide(
        session_id, "agent-1", Decision.APPROVED, ReasonCode.IDENTITY_VERIFIED, override_reason="test: checks stubbed"
    )
    service.review(session_id, "supervisor-1", confirm=True)
    message = service.notifier.last_to("erika@example.org")
    assert message is not None, "no TAN was sent"
    match = re.search(r"\b(\d{6})\b", message.body)
    assert match, "the TAN message holds no 6-digit code"
    return match.group(1)
