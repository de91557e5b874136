"""One live ident session's media: the customer's peer (replaced on reconnect), the agent's peer, the
session-long tracks relayed between them, the sampler feeding the analyzer, the recorder, the injection
monitor and the customer's data channel for guidance and check status.

Everything here runs on the event loop except ``_analyse`` (the sampler's worker thread) and the
recorder's encoder thread; they hand results back with ``call_soon_threadsafe``. With the analysis pool
(the default of ``videoident serve``) the sampler's thread only converts the frame to BGR and waits while a
pool process analyses it (:mod:`api.media.pool`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, Protocol

from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

from api.media.ice import IceConfig
from api.media.injection import CaptureSettings, InjectionMonitor
from api.media.recorder import EncryptedRecorder, SegmentInfo, SegmentSink
from api.media.sampler import DEFAULT_ANALYSED_FPS, NewestFrameSampler
from api.media.sdp import BITRATE_720P, allow_bitrate, negotiated_codecs, validate_offer
from api.media.tracks import SessionTrack
from pipelines.frame import Frame
from pipelines.results import Verdict, combine_verdicts

__all__ = ["LiveAnalyzer", "LiveSession", "PeerRole"]

log = logging.getLogger(__name__)

#: The analyzer's full report is rebuilt at most this often (it may serialise several checks).
REPORT_INTERVAL_S = 1.0
#: Unchanged guidance is repeated this often so a page that reconnected gets it again.
GUIDANCE_REPEAT_S = 3.0
_VERDICTS = frozenset(v.value for v in Verdict)
#: Check status goes to the customer's page this often.
CHECKS_INTERVAL_S = 2.0


class LiveAnalyzer(Protocol):
    """The session analyzer as the live session uses it (``pipelines`` composes the real one).

    ``observe`` is called from one worker thread, in frame order; ``report`` returns the JSON session
    report (a section per check, each with ``verdict``); ``guidance`` the current guidance codes for the
    customer, most important first (e.g. ``come_closer``, ``more_light``, ``tilt_left``). An analyzer may
    also have ``close()`` (called once when the live session ends) and ``stats()`` (a JSON dict shown in
    the live statistics, e.g. the pool process and its restarts)."""

    def observe(self, frame: Frame) -> None: ...

    def report(self) -> Mapping[str, Any]: ...

    def guidance(self) -> Sequence[str]: ...


class PeerRole(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"


class LiveSession:
    """The live media of one ident session, created on the customer's first offer."""

    def __init__(
        self,
        session_id: str,
        analyzer: LiveAnalyzer,
        sink: SegmentSink,
        ice: IceConfig,
        analysed_fps: float = DEFAULT_ANALYSED_FPS,
    ) -> None:
        self.session_id = session_id
        self._loop = asyncio.get_running_loop()
        self._analyzer = analyzer
        self._ice = ice
        self._t0 = time.monotonic()
        self.customer_video = SessionTrack("video")
        self.customer_audio = SessionTrack("audio")
        self.agent_video = SessionTrack("video")
        self.agent_audio = SessionTrack("audio")
        self._relay = MediaRelay()
        self._peers: dict[PeerRole, RTCPeerConnection] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.injection = InjectionMonitor()
        self.sampler: NewestFrameSampler[tuple[VideoFrame, float, int]] = NewestFrameSampler(
            self._analyse, analysed_fps, session_id[:8]
        )
        self.recorder = EncryptedRecorder(session_id, sink)
        self._channel: RTCDataChannel | None = None
        self._report: Mapping[str, Any] = {}
        self._report_at = 0.0
        self._guidance: tuple[str, ...] = ()
        self._guidance_sent_at = 0.0
        self._checks_sent_at = 0.0
        self.frames_received = 0
        self.audio_frames_received = 0
        self.connects = 0
        self.codecs: dict[str, str] = {}
        self.connection_state = "new"
        #: Monotonic time since when the customer has had no connected peer (None while connected).
        self.disconnected_since: float | None = time.monotonic()
        self.version = 0
        self._changed = asyncio.Condition()
        self.closed = False

    # ---- signalling -------------------------------------------------------------------------------
    async def accept_offer(self, role: PeerRole, sdp: str, kind: str = "offer") -> RTCSessionDescription:
        """Answer a browser's offer (non-trickle: the offer carries its candidates). A new customer offer
        replaces the customer's previous peer: the session, its analysis and its recording continue."""
        if self.closed:
            raise RuntimeError("live session closed")
        if kind != "offer":
            raise ValueError("expected an SDP offer")
        validate_offer(sdp)  # before the working peer is replaced
        old = self._peers.pop(role, None)
        if old is not None:
            await old.close()
        pc = RTCPeerConnection(self._ice.rtc_configuration())
        self._peers[role] = pc
        if role == PeerRole.CUSTOMER:
            if self.connects:
                self.injection.note_reconnect()
            self.connects += 1

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._spawn(self._consume(role, track))

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            if role == PeerRole.CUSTOMER:
                self._attach_channel(channel)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if role == PeerRole.CUSTOMER and self._peers.get(role) is pc:
                self.connection_state = pc.connectionState
                if pc.connectionState == "connected":
                    self.disconnected_since = None
                elif self.disconnected_since is None:
                    self.disconnected_since = time.monotonic()
                await self._bump()
            if pc.connectionState == "failed":
                await pc.close()

        await pc.setRemoteDescription(RTCSessionDescription(self._ice.prepare_offer(sdp), "offer"))
        # What this peer sends back: the other side's session-long tracks, through the relay.
        if role == PeerRole.CUSTOMER:
            sources = (self.agent_video, self.agent_audio)
        else:
            sources = (self.customer_video, self.customer_audio)
        kinds = {t.kind for t in pc.getTransceivers()}
        for source in sources:
            if source.kind in kinds:
                pc.addTrack(self._relay.subscribe(source, buffered=False))
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        local = pc.localDescription
        if role == PeerRole.CUSTOMER:
            self.codecs = negotiated_codecs(local.sdp)
        return RTCSessionDescription(allow_bitrate(local.sdp, BITRATE_720P), local.type)

    async def drop_customer(self) -> None:
        """Close the customer's peer as a network loss would (the page reconnects into this session)."""
        pc = self._peers.pop(PeerRole.CUSTOMER, None)
        if pc is not None:
            await pc.close()
        self.connection_state = "closed"
        self.disconnected_since = time.monotonic()
        await self._bump()

    # ---- media ------------------------------------------------------------------------------------
    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def session_time_s(self) -> float:
        return time.monotonic() - self._t0

    async def _consume(self, role: PeerRole, track: MediaStreamTrack) -> None:
        customer = role == PeerRole.CUSTOMER
        target = {
            ("video", True): self.customer_video,
            ("audio", True): self.customer_audio,
            ("video", False): self.agent_video,
            ("audio", False): self.agent_audio,
        }[(track.kind, customer)]
        while not self.closed:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            t_s = self.session_time_s()
            if isinstance(frame, VideoFrame):
                if customer:
                    capture_s = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else t_s
                    self.injection.record(frame.width, frame.height, capture_s)
                    index = self.frames_received
                    self.frames_received += 1
                    target.publish(frame, t_s)
                    self.sampler.offer((frame, t_s, index), t_s)
                    self.recorder.offer_video(frame, t_s)
                else:
                    target.publish(frame, t_s)
            elif isinstance(frame, AudioFrame):
                if customer:
                    self.audio_frames_received += 1
                    self.recorder.offer_audio(frame, t_s)
                target.publish(frame, t_s)

    def _analyse(self, item: tuple[VideoFrame, float, int]) -> None:
        """Worker thread: decode to BGR, observe, and hand guidance and the report back to the loop."""
        video_frame, t_s, index = item
        image = video_frame.to_ndarray(format="bgr24")
        self._analyzer.observe(Frame(image=image, index=index, t_s=t_s))
        guidance = tuple(self._analyzer.guidance())
        now = time.monotonic()
        report = None
        if now - self._report_at >= REPORT_INTERVAL_S:
            self._report_at = now
            report = dict(self._analyzer.report())
        if not self.closed:
            self._loop.call_soon_threadsafe(self._on_analysed, guidance, report)

    def _on_analysed(self, guidance: tuple[str, ...], report: Mapping[str, Any] | None) -> None:
        now = time.monotonic()
        if report is not None:
            self._report = report
        if guidance != self._guidance or now - self._guidance_sent_at >= GUIDANCE_REPEAT_S:
            self._guidance = guidance
            self._guidance_sent_at = now
            self._send({"type": "guidance", "codes": list(guidance)})
        if now - self._checks_sent_at >= CHECKS_INTERVAL_S:
            self._checks_sent_at = now
            self._send(
                {"type": "checks", "checks": self.check_status(), "frames_analysed": self.sampler.stats().analysed}
            )
        self._spawn(self._bump())

    # ---- data channel -----------------------------------------------------------------------------
    def _attach_channel(self, channel: RTCDataChannel) -> None:
        self._channel = channel

        @channel.on("message")
        def on_message(message: str | bytes) -> None:
            self._on_message(message)

        @channel.on("open")
        def on_open() -> None:
            self._guidance_sent_at = self._checks_sent_at = 0.0

    def _on_message(self, message: str | bytes) -> None:
        try:
            data = json.loads(message)
        except (ValueError, TypeError):
            return
        if not isinstance(data, dict):
            return
        if data.get("type") == "camera" and isinstance(data.get("settings"), dict):
            self.injection.report_settings(CaptureSettings.from_json(data["settings"]))
        elif data.get("type") == "ping":
            self._send({"type": "pong", "t": data.get("t")})

    def _send(self, message: Mapping[str, Any]) -> None:
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            channel.send(json.dumps(message))

    def send_status(self, status: str, **extra: Any) -> None:
        """Tell the customer's page about a session status change (e.g. the agent joined)."""
        self._send({"type": "status", "status": status, **extra})

    # ---- what the agent and the page read ---------------------------------------------------------
    def check_status(self) -> dict[str, str]:
        """Per check of the report, its verdict (what the customer's page shows as progress)."""
        checks = {
            name: str(section.get("verdict"))
            for name, section in self._report.items()
            if isinstance(section, Mapping) and "verdict" in section
        }
        checks["injection"] = self.injection.result().verdict.value
        return checks

    def report(self) -> dict[str, Any]:
        """The analyzer's latest report with the transport's ``injection`` section and live statistics."""
        report = dict(self._report)
        report["injection"] = self.injection.result().to_json()
        # The top-level verdict summarises every section, the transport's injection check included.
        verdicts = [
            Verdict(section["verdict"])
            for section in report.values()
            if isinstance(section, Mapping) and section.get("verdict") in _VERDICTS
        ]
        report["verdict"] = combine_verdicts(verdicts).value
        report["live"] = self.stats()
        return report

    @property
    def guidance(self) -> tuple[str, ...]:
        return self._guidance

    def stats(self) -> dict[str, Any]:
        return {
            "connection_state": self.connection_state,
            "connects": self.connects,
            "frames_received": self.frames_received,
            "audio_frames_received": self.audio_frames_received,
            "codecs": dict(self.codecs),
            "sampler": self.sampler.stats().to_json(),
            "recording": self.recorder.stats(),
            "analysis": self._analyzer_stats(),
            "agent_connected": PeerRole.AGENT in self._peers,
        }

    def _analyzer_stats(self) -> dict[str, Any]:
        stats = getattr(self._analyzer, "stats", None)
        return dict(stats()) if callable(stats) else {"mode": "thread"}

    async def _bump(self) -> None:
        async with self._changed:
            self.version += 1
            self._changed.notify_all()

    async def wait_changed(self, version: int, timeout_s: float) -> int:
        """Wait until ``self.version`` differs from ``version`` (or the timeout); returns the version."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.version != version), timeout_s)
            except TimeoutError:
                pass
            return self.version

    async def flush_recording(self) -> SegmentInfo | None:
        """Seal the recording's open segment into the vault now; call it *before* the ident session leaves
        its live states (a decision, an abort, the end of the link), because the vault takes no evidence of
        an ended session. Returns once the sink stored it (None if no segment was open); recording goes on
        in a new segment while the live session stays open."""
        if self.closed:
            return None
        return await asyncio.to_thread(self.recorder.flush)

    async def close(self) -> None:
        """End the live media: close the peers, stop the tracks, flush the recording, stop analysis."""
        if self.closed:
            return
        self.closed = True
        for pc in list(self._peers.values()):
            await pc.close()
        self._peers.clear()
        for track in (self.customer_video, self.customer_audio, self.agent_video, self.agent_audio):
            track.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.to_thread(self.sampler.close)
        close_analyzer = getattr(self._analyzer, "close", None)
        if callable(close_analyzer):  # a pooled analyzer frees its state in the pool process
            await asyncio.to_thread(close_analyzer)
        await asyncio.to_thread(self.recorder.close)
        await self._bump()
