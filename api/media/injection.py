"""Injection signals measured at the transport: what the browser says the camera is, and whether the
stream that arrives behaves like that camera.

- Camera label: virtual-camera drivers (OBS, ManyCam, XSplit, Snap Camera, "Virtual ...") and Chromium's
  own fake device feed a video file or a screen into ``getUserMedia``; their names are public and stable.
- Resolution consistency: the decoded frames must have the aspect ratio of the capture settings the
  browser reported (either orientation: phones rotate), and keep it; a changed aspect mid-session means
  the source was switched.
- Frame-rate consistency: a camera cannot deliver more frames than its reported frame rate; a stream that
  does comes from somewhere else. Fewer is normal (low light, encoder under load).
- Frame timing: the capture timestamps' interval statistics are reported to the agent (mean, jitter);
  they are not a verdict on their own (real cameras are regular too).

The result is the ``injection`` section of the session report. It passes only when a label was reported,
enough frames arrived, and nothing is inconsistent; with too little evidence it is ``inconclusive``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from pipelines.results import CheckResult, Reason, Verdict

__all__ = ["CaptureSettings", "InjectionMonitor", "is_virtual_camera"]

#: Names of virtual-camera drivers and injection tools as they appear in ``MediaDeviceInfo.label``
#: (public product names; "fake_device" is Chromium's --use-fake-device-for-media-stream camera; a file
#: path is what Chromium reports when a video file plays as the camera).
VIRTUAL_CAMERA_PATTERNS = (
    r"\bobs\b",
    r"manycam",
    r"virtual",
    r"xsplit",
    r"snap camera",
    r"splitcam",
    r"e2esoft",
    r"vcam",
    r"camtwist",
    r"\bvmix\b",
    r"\bndi\b",
    r"youcam",
    r"webcamoid",
    r"v4l2 ?loopback",
    r"droidcam",
    r"epoccam",
    r"fake[_ ]?device",
    # A video file played as the camera: Chromium's --use-file-for-fake-video-capture reports its path.
    r"\.(y4m|mjpe?g|mp4|webm|mkv|avi|mov)\b",
    r"^(/|[a-z]:\\)",
)
_VIRTUAL = re.compile("|".join(VIRTUAL_CAMERA_PATTERNS), re.IGNORECASE)

#: Fewer frames than this (about 3 s at 10 fps) are too little to judge timing and consistency.
MIN_FRAMES = 30
#: Aspect ratios differing by more than 2% are different sources: encoders scale both sides together and
#: round to even pixels (640x360 from 1280x720 is exact; 2% covers rounding down to 16-pixel blocks).
ASPECT_TOLERANCE = 0.02
#: A stream more than 1.5x faster than the camera's reported rate is not that camera (a 30 fps camera
#: reported as 30 can jitter to ~33 fps over short windows; 1.5x is far beyond jitter).
MAX_FPS_RATIO = 1.5


def is_virtual_camera(label: str) -> bool:
    return bool(_VIRTUAL.search(label))


@dataclass(frozen=True)
class CaptureSettings:
    """What the browser reported for its video track: ``MediaTrackSettings`` width, height, frameRate,
    and the device label."""

    label: str
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaptureSettings:
        def number(key: str) -> float | None:
            value = data.get(key)
            return float(value) if isinstance(value, int | float) and value > 0 else None

        width, height = number("width"), number("height")
        return cls(
            label=str(data.get("label") or "")[:200],
            width=int(width) if width else None,
            height=int(height) if height else None,
            frame_rate=number("frameRate"),
        )


def _aspect(width: int, height: int) -> float:
    """Orientation-free aspect ratio (long side / short side)."""
    return max(width, height) / min(width, height)


@dataclass
class InjectionMonitor:
    """Fed on the event loop with each received frame's size and capture time; cheap (no pixel access)."""

    settings: CaptureSettings | None = None
    frames: int = 0
    reconnects: int = 0
    sizes: dict[str, int] = field(default_factory=dict)
    _aspects: list[float] = field(default_factory=list)
    _last_capture_s: float | None = None
    _intervals_s: list[float] = field(default_factory=list)

    #: Intervals kept for the timing statistics (a ring: about a minute at 30 fps).
    MAX_INTERVALS = 2000

    def report_settings(self, settings: CaptureSettings) -> None:
        self.settings = settings

    def note_reconnect(self) -> None:
        self.reconnects += 1
        self._last_capture_s = None

    def record(self, width: int, height: int, capture_s: float) -> None:
        """One received frame: its decoded size and capture time (seconds, from the RTP timestamps)."""
        self.frames += 1
        key = f"{width}x{height}"
        if key not in self.sizes:
            self.sizes[key] = 0
            aspect = _aspect(width, height)
            if not self._aspects or abs(aspect / self._aspects[-1] - 1) > ASPECT_TOLERANCE:
                self._aspects.append(aspect)
        self.sizes[key] += 1
        if self._last_capture_s is not None:
            interval = capture_s - self._last_capture_s
            if 0 < interval < 1.0:
                self._intervals_s.append(interval)
                if len(self._intervals_s) > self.MAX_INTERVALS:
                    del self._intervals_s[: len(self._intervals_s) - self.MAX_INTERVALS]
        self._last_capture_s = capture_s

    def timing(self) -> dict[str, float | None]:
        if len(self._intervals_s) < 2:
            return {"fps": None, "interval_ms_mean": None, "interval_ms_std": None}
        mean = sum(self._intervals_s) / len(self._intervals_s)
        var = sum((x - mean) ** 2 for x in self._intervals_s) / len(self._intervals_s)
        return {
            "fps": round(1.0 / mean, 2),
            "interval_ms_mean": round(mean * 1000, 2),
            "interval_ms_std": round(math.sqrt(var) * 1000, 2),
        }

    def result(self) -> CheckResult:
        timing = self.timing()
        settings = self.settings
        measurements: dict[str, Any] = {
            "camera_label": settings.label if settings else None,
            "reported": (
                {"width": settings.width, "height": settings.height, "frame_rate": settings.frame_rate}
                if settings
                else None
            ),
            "frames": self.frames,
            "sizes": dict(self.sizes),
            "aspect_changes": max(0, len(self._aspects) - 1),
            "reconnects": self.reconnects,
            "timing": timing,
        }

        def verdict(v: Verdict, code: str, text: str) -> CheckResult:
            return CheckResult("injection", v, Reason(code, text), None, measurements)

        if settings and is_virtual_camera(settings.label):
            return verdict(
                Verdict.FAIL, "virtual_camera", f"the browser's camera is a virtual camera ({settings.label!r})"
            )
        if len(self._aspects) > 1:
            return verdict(Verdict.FAIL, "source_switched", "the picture's aspect ratio changed during the session")
        if settings and settings.width and settings.height and self._aspects:
            reported = _aspect(settings.width, settings.height)
            if abs(self._aspects[0] / reported - 1) > ASPECT_TOLERANCE:
                return verdict(
                    Verdict.FAIL, "resolution_mismatch", "the received picture does not have the camera's aspect ratio"
                )
        fps = timing["fps"]
        if settings and settings.frame_rate and fps and fps > settings.frame_rate * MAX_FPS_RATIO:
            return verdict(
                Verdict.FAIL, "frame_rate_mismatch", "more frames arrive than the camera's reported frame rate"
            )
        if settings is None or not settings.label:
            return verdict(Verdict.INCONCLUSIVE, "camera_not_reported", "the browser did not report its camera")
        if self.frames < MIN_FRAMES:
            return verdict(Verdict.INCONCLUSIVE, "too_few_frames", f"fewer than {MIN_FRAMES} frames received")
        return verdict(Verdict.PASS, "consistent_camera", "a physical camera; size and frame rate consistent")
