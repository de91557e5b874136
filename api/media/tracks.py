"""Session-long media tracks that survive reconnects, so the agent's relay never has to renegotiate.

The customer's (or agent's) browser may drop and reconnect with a new peer connection and new remote
tracks; the session keeps one :class:`SessionTrack` per direction and kind, fed from whichever remote track
is current. Frames are re-stamped on the session's own clock, so the receivers see one continuous,
monotonic timeline across reconnects. Each holds the newest frame only (no queue).
"""

from __future__ import annotations

import asyncio
import fractions
from typing import Literal

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

__all__ = ["SessionTrack", "VIDEO_CLOCK_HZ"]

#: RTP video clock rate (RFC 3551), used as the time base of re-stamped video frames.
VIDEO_CLOCK_HZ = 90_000


class SessionTrack(MediaStreamTrack):
    """A track whose ``recv`` returns the newest published frame; ``stop`` ends every reader."""

    def __init__(self, kind: Literal["audio", "video"]) -> None:
        super().__init__()
        self.kind = kind
        self._frame: AudioFrame | VideoFrame | None = None
        self._event = asyncio.Event()
        self._audio_samples = 0
        self.published = 0

    def publish(self, frame: AudioFrame | VideoFrame, session_t_s: float) -> None:
        """Publish a frame received at ``session_t_s`` seconds of session time (re-stamped in place)."""
        if isinstance(frame, VideoFrame):
            frame.pts = round(session_t_s * VIDEO_CLOCK_HZ)
            frame.time_base = fractions.Fraction(1, VIDEO_CLOCK_HZ)
        else:
            # Audio: a running sample count, jumping forward over a reconnect gap.
            rate = frame.sample_rate
            self._audio_samples = max(self._audio_samples, round(session_t_s * rate) - frame.samples)
            frame.pts = self._audio_samples
            frame.time_base = fractions.Fraction(1, rate)
            self._audio_samples += frame.samples
        self._frame = frame
        self.published += 1
        self._event.set()

    async def recv(self) -> AudioFrame | VideoFrame:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            await self._event.wait()
            self._event.clear()
            if self.readyState != "live":
                raise MediaStreamError
            if self._frame is not None:
                return self._frame

    def stop(self) -> None:
        super().stop()
        self._event.set()
