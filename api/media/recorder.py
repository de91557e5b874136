"""The session recorder: the customer's video and audio, encoded in memory into self-contained Matroska
segments (H.264 + Opus) and handed to an encrypting sink — never a plaintext file, not even a temporary one.

Encoding runs in the recorder's own thread, fed through a bounded queue: when the encoder cannot keep up,
frames are dropped and counted (the event loop never waits for it). A segment is closed every
``SEGMENT_S`` seconds of session time, when the picture size changes, on :meth:`EncryptedRecorder.flush`
and at the end; each is playable on its own, so a crash loses at most the open segment.

The vault refuses evidence of a session that has ended (rejected, aborted, expired, ...), so whoever moves a
session out of its live states must get the open segment sealed *before* the move:
:meth:`EncryptedRecorder.flush` (through ``LiveSession.flush_recording``) does that and returns once the
sink has it; the recording then goes on in a new segment if the session stays live (an approval: TAN next).
"""

from __future__ import annotations

import fractions
import io
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import av
from av import AudioFrame, VideoFrame

from api.media.sampler import RATE_SLACK_S

__all__ = ["SegmentSink", "SegmentInfo", "EncryptedRecorder", "SEGMENT_S", "RECORD_MAX_FPS"]

log = logging.getLogger(__name__)

#: Seconds per segment: a crash loses at most this much; 10 s of 720p at ~1 Mbit/s is ~1.3 MB of RAM.
SEGMENT_S = 10.0
#: Recorded frames per second. x264 "ultrafast" took 22 ms per noisy 720p frame on one core of this
#: machine (measured while writing this module); 10 fps keeps recording near 20% of a core per session
#: and is enough to review who showed what (the analysed rate is 5 fps).
RECORD_MAX_FPS = 10.0
#: Queue of frames waiting for the encoder: ~2 s of video at 10 fps plus audio at 50 frames/s.
QUEUE_ITEMS = 128
#: x264 quality (constant rate factor): 26 keeps printed text of a card legible at 720p.
X264_CRF = "26"
AUDIO_RATE_HZ = 48_000
VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)


@dataclass(frozen=True)
class SegmentInfo:
    """One closed segment: its index in the session, session time span, size and what it holds."""

    index: int
    start_s: float
    end_s: float
    width: int
    height: int
    video_frames: int
    audio_frames: int

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "width": self.width,
            "height": self.height,
            "video_frames": self.video_frames,
            "audio_frames": self.audio_frames,
            "container": "matroska",
            "codecs": ["h264", "opus"],
        }


class SegmentSink(Protocol):
    """Where segments go. Implementations encrypt before anything touches a disk (the evidence vault)."""

    def store_segment(self, session_id: str, info: SegmentInfo, data: bytes) -> None: ...


class _Segment:
    def __init__(self, index: int, start_s: float, width: int, height: int) -> None:
        self.index, self.start_s, self.width, self.height = index, start_s, width, height
        self.buffer = io.BytesIO()
        self.container = av.open(self.buffer, mode="w", format="matroska")
        video = self.container.add_stream("libx264", rate=int(RECORD_MAX_FPS))
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": X264_CRF, "threads": "1"}
        video.codec_context.time_base = VIDEO_TIME_BASE
        audio = self.container.add_stream("libopus", rate=AUDIO_RATE_HZ)
        audio.layout = "stereo"
        self.video, self.audio = video, audio
        self.video_frames = self.audio_frames = 0
        self.last_video_pts = -1
        self.audio_samples = 0
        self.end_s = start_s

    def add_video(self, frame: VideoFrame, t_s: float) -> None:
        pts = max(round((t_s - self.start_s) * VIDEO_TIME_BASE.denominator), self.last_video_pts + 1)
        # A private copy: the received frame is shared with the analysis thread and the agent's encoder,
        # and stamping our pts on it would corrupt theirs.
        frame = VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"), format="yuv420p")
        frame.pts, frame.time_base = pts, VIDEO_TIME_BASE
        self.last_video_pts = pts
        for packet in self.video.encode(frame):
            self.container.mux(packet)
        self.video_frames += 1
        self.end_s = max(self.end_s, t_s)

    def add_audio(self, frame: AudioFrame, t_s: float) -> None:
        start = max(self.audio_samples, round((t_s - self.start_s) * AUDIO_RATE_HZ))
        frame.pts, frame.time_base = start, fractions.Fraction(1, AUDIO_RATE_HZ)
        self.audio_samples = start + frame.samples
        for packet in self.audio.encode(frame):
            self.container.mux(packet)
        self.audio_frames += 1

    def close(self) -> tuple[SegmentInfo, bytes]:
        for stream in (self.video, self.audio):
            for packet in stream.encode():
                self.container.mux(packet)
        self.container.close()
        info = SegmentInfo(
            self.index, self.start_s, self.end_s, self.width, self.height, self.video_frames, self.audio_frames
        )
        return info, self.buffer.getvalue()


class _Flush:
    """A request in the recorder's queue: seal the open segment now and say when the sink has it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.info: SegmentInfo | None = None


class EncryptedRecorder:
    """Offer frames from the event loop (never blocks); segments go to ``sink`` from the recorder thread."""

    def __init__(self, session_id: str, sink: SegmentSink, max_fps: float = RECORD_MAX_FPS) -> None:
        self.session_id = session_id
        self._sink = sink
        self._interval_s = 1.0 / max_fps
        self._queue: queue.Queue[tuple[str, AudioFrame | VideoFrame, float] | _Flush | None] = queue.Queue(
            QUEUE_ITEMS
        )
        self._last_video_t_s: float | None = None
        self._lock = threading.Lock()
        self.dropped = 0
        self.segments: list[SegmentInfo] = []
        self.errors = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"recorder-{session_id[:8]}", daemon=True)
        self._thread.start()

    def offer_video(self, frame: VideoFrame, t_s: float) -> None:
        last = self._last_video_t_s
        if last is not None and 0.0 <= t_s - last < self._interval_s - RATE_SLACK_S:
            return
        self._last_video_t_s = t_s
        self._put(("video", frame, t_s))

    def offer_audio(self, frame: AudioFrame, t_s: float) -> None:
        # A private copy: the same frame object is re-stamped for the agent's relay on the event loop.
        copy = AudioFrame.from_ndarray(frame.to_ndarray(), format=frame.format.name, layout=frame.layout.name)
        copy.sample_rate = frame.sample_rate
        self._put(("audio", copy, t_s))

    def _put(self, item: tuple[str, AudioFrame | VideoFrame, float]) -> None:
        if self._closed:
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            with self._lock:
                self.dropped += 1

    def flush(self, timeout_s: float = 30.0) -> SegmentInfo | None:
        """Seal the open segment now (blocking): returns once the sink stored it (None when no segment was
        open, the recorder is closed, or the encoder did not finish within ``timeout_s``). Frames offered
        before the call are in it; later ones start a new segment."""
        if self._closed:
            return None
        request = _Flush()
        try:
            self._queue.put(request, timeout=timeout_s)  # never dropped, unlike a frame
        except queue.Full:
            return None
        request.done.wait(timeout_s)
        return request.info

    def close(self, timeout_s: float = 30.0) -> list[SegmentInfo]:
        """Flush the open segment to the sink and stop; returns every segment stored."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join(timeout_s)
        return list(self.segments)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "segments": len(self.segments),
                "dropped": self.dropped,
                "errors": self.errors,
                "seconds": round(sum(s.end_s - s.start_s for s in self.segments), 2),
            }

    def _run(self) -> None:
        segment: _Segment | None = None
        index = 0
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    if segment is not None:
                        self._store(segment)
                    return
                if isinstance(item, _Flush):
                    try:
                        if segment is not None:
                            item.info = self._store(segment)
                    finally:
                        segment = None
                        item.done.set()
                    continue
                kind, frame, t_s = item
                if isinstance(frame, VideoFrame):
                    if segment is not None and (
                        (frame.width, frame.height) != (segment.width, segment.height)
                        or t_s - segment.start_s >= SEGMENT_S
                    ):
                        self._store(segment)
                        segment = None
                    if segment is None:
                        segment = _Segment(index, t_s, frame.width, frame.height)
                        index += 1
                    segment.add_video(frame, t_s)
                elif segment is not None and kind == "audio":
                    segment.add_audio(frame, t_s)
            except Exception as exc:  # noqa: BLE001 - a broken frame must not end the recording
                with self._lock:
                    self.errors += 1
                log.warning("recorder error: %s", type(exc).__name__)

    def _store(self, segment: _Segment) -> SegmentInfo:
        info, data = segment.close()
        self._sink.store_segment(self.session_id, info, data)
        with self._lock:
            self.segments.append(info)
        return info
