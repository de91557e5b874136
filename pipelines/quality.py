"""Image quality per frame, as guidance the customer page can show, and the session's quality check.

Per frame (:func:`assess_frame`): broken decode, exposure, blur, glare on the document, document missing /
too small / partly out of view, face not visible. Each problem is a :class:`Guidance` code; the customer
page turns a code into words in the customer's language. Over a session (:class:`QualityStage`) the check
passes when enough frames were usable, and reports how many frames had which problem.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

import cv2
import numpy as np

from pipelines.frame import DocumentView, FrameContext
from pipelines.results import CheckResult, Reason, Verdict

__all__ = [
    "Guidance",
    "FrameQuality",
    "assess_frame",
    "broken_frame_score",
    "QualityStage",
    "sharpness",
    "document_sharpness",
]


class Guidance(StrEnum):
    """What the customer is asked to do. Stable codes: the customer page and the console translate them."""

    CONNECTION_PROBLEM = "connection_problem"  # corrupted frames: the video does not arrive intact
    MORE_LIGHT = "more_light"
    LESS_LIGHT = "less_light"
    HOLD_STILL = "hold_still"  # blurred
    SHOW_DOCUMENT = "show_document"  # no document found
    MOVE_CLOSER = "move_closer"  # document too small
    CENTER_DOCUMENT = "center_document"  # document partly out of view
    AVOID_GLARE = "avoid_glare"  # specular reflection over the document
    SHOW_FACE = "show_face"
    SHOW_FRONT = "show_front"
    SHOW_BACK = "show_back"
    TILT_LEFT = "tilt_left"
    TILT_RIGHT = "tilt_right"
    TILT_TOWARDS_YOU = "tilt_towards_you"
    TILT_AWAY = "tilt_away"


# --- thresholds -------------------------------------------------------------------------------------
#: Broken decode: mean luma step across 16-px macroblock borders divided by that across the 8-px borders
#: between them. Measured on VP8 640x480 streams (libvpx realtime, 800 kbit/s) decoded with PyAV:
#: intact frames 0.95-1.08, JPEG q20-q40 re-encodes 1.03-1.11 (their 8-px blocks raise both equally),
#: fixture scenes 0.92-1.13, frames decoded after bit flips or lost packets 1.23-1.47.
BROKEN_MACROBLOCK_RATIO = 1.15
#: ... and the 16-px borders' mean step must exceed the 8-px ones' by this many grey levels: fixture
#: scenes (JPEG 4:2:0, q55-85) measured -0.4..0.9 at first, up to 1.75 in the benchmark's quick scenes
#: (passport seed 1, frame 58, ratio 1.17: a clean frame that 1.5 called broken); corrupted VP8 decodes
#: 2.5-6.6. 2.1 lies between the two.
BROKEN_MACROBLOCK_EXCESS = 2.1
#: Broken decode: rows filled with VP8's "no data" green (Y=U=V=0 -> BGR about (0, 135, 0)). A lost
#: packet leaves such bands at the bottom of the frame (measured: 16-39 % of rows); a real scene has none.
BROKEN_GREEN_ROW_FRACTION = 0.02
#: Exposure: mean luma (0..255) of the frame outside bright highlights. A webcam in a lit room gives
#: 90-170; below 55 the MRZ and the face lose contrast; above 210 the image is washed out.
DARK_MEAN_LUMA = 55.0
BRIGHT_MEAN_LUMA = 210.0
#: Blur: :func:`sharpness` of the rectified document at the resolution the camera saw it
#: (:func:`document_sharpness`). Measured on fixture scenes (de-id, seed 2, 4 s): at 720p cards moving
#: <= 14 px per frame gave 342-3200, smeared by 19-32 px 59-135; at 480p every frame gave >= 715.
MIN_DOCUMENT_SHARPNESS = 200.0
#: Glare: fraction of the document's pixels that are saturated (all channels >= 250). Above 3 % a
#: reflection hides whole fields (an MRZ line is 3 % of an ID-1 card's area).
MAX_GLARE_FRACTION = 0.03
SATURATED_LEVEL = 250
#: Too small: document width (longest side) under this fraction of the frame width. At 720p a 30 %-wide
#: card is 384 px, where the MRZ still reads (../shared/notes/mrz-baselines.md: 480 px card read 100 %).
MIN_DOCUMENT_WIDTH_FRACTION = 0.30
#: Partly out of view: a corner closer than this (px) to the frame border, or outside it.
BORDER_MARGIN_PX = 2.0
#: Session: the quality check fails when fewer than this fraction of frames was usable (no broken
#: decode, exposure in range), and is inconclusive with fewer than MIN_FRAMES frames.
MIN_USABLE_FRACTION = 0.5
MIN_FRAMES = 5


def _luma(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def broken_frame_score(image: np.ndarray) -> tuple[float, float]:
    """(macroblock ratio, green-row fraction) of a BGR uint8 frame; see the BROKEN_* thresholds."""
    grey = _luma(image)
    h, w = grey.shape
    if w - 1 < 32 or h - 1 < 32:
        return 1.0, 0.0

    def steps(first: int) -> float:
        """Mean |step| between columns k and k+1 and between rows k and k+1, for k = first, first + 16, ...
        (only those columns and rows are read, not the whole frame's differences)."""
        cols = np.arange(first, w - 1, 16)
        rows = np.arange(first, h - 1, 16)
        across = np.abs(grey[:, cols + 1].astype(np.int16) - grey[:, cols]).mean()
        down = np.abs(grey[rows + 1].astype(np.int16) - grey[rows]).mean()
        return float(across + down)

    at16 = steps(15)
    at8 = steps(7)
    # Both a ratio and an absolute excess: a smooth frame's tiny steps make the ratio alone noisy.
    ratio = at16 / at8 if at16 - at8 >= BROKEN_MACROBLOCK_EXCESS else 1.0
    # Pure green decoder rows: G > 100, B < 40, R < 40 (inRange bounds are inclusive).
    green = cv2.inRange(image, (0, 101, 0), (39, 255, 39))
    green_rows = float(np.mean(cv2.reduce(green, 1, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel() > 0.9 * 255))
    return ratio, green_rows


def sharpness(image: np.ndarray) -> float:
    """Variance of the second derivative of the grey image along its blurrier axis (higher = sharper).

    The Laplacian's variance sums both axes, so a card smeared sideways by motion keeps a high score from
    its horizontal text lines; taking the weaker of d2/dx2 and d2/dy2 catches blur in either direction."""
    grey = _luma(image)
    along_x = cv2.Sobel(grey, cv2.CV_32F, 2, 0, ksize=3).var()
    along_y = cv2.Sobel(grey, cv2.CV_32F, 0, 2, ksize=3).var()
    return float(min(along_x, along_y))


def document_sharpness(rectified: np.ndarray, width_px: float) -> float:
    """Sharpness of a rectified document measured at the resolution the camera saw it: the rectified
    image is first resized to ``width_px`` (the document's projected width), so a small, upscaled card
    is not judged blurred for being upscaled, nor a large one sharp for being downscaled."""
    height, width = rectified.shape[:2]
    target = int(np.clip(width_px, 32, width))
    if target < width:
        size = (target, max(8, round(height * target / width)))
        rectified = cv2.resize(rectified, size, interpolation=cv2.INTER_AREA)
    return sharpness(rectified)


@dataclass(frozen=True)
class FrameQuality:
    """One frame's quality: the problems found (most urgent first) and the numbers behind them."""

    issues: tuple[Guidance, ...]
    broken: bool
    mean_luma: float
    document_sharpness: float | None = None
    glare_fraction: float | None = None
    document_width_fraction: float | None = None
    measurements: dict[str, float] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        """Worth analysing: decoded intact and exposed well enough."""
        return not self.broken and Guidance.MORE_LIGHT not in self.issues and Guidance.LESS_LIGHT not in self.issues

    @property
    def document_usable(self) -> bool:
        """A located document sharp, unglared and large enough for a still or the MRZ."""
        bad = {Guidance.HOLD_STILL, Guidance.AVOID_GLARE, Guidance.MOVE_CLOSER, Guidance.CENTER_DOCUMENT}
        return self.usable and self.document_sharpness is not None and not bad.intersection(self.issues)


def assess_frame(
    image: np.ndarray,
    document: DocumentView | None,
    face_visible: bool | None = None,
    probe: FrameQuality | None = None,
) -> FrameQuality:
    """Judge one BGR uint8 (H, W, 3) frame and the document found in it (if any).

    ``face_visible``: whether a face detector saw a face (None = not checked this frame). ``probe``: this
    frame's assessment without the document (``assess_frame(image, None)``, taken before the document
    was searched for); its broken-decode and exposure measurements are reused, not computed again."""
    if probe is None:
        ratio, green_rows = broken_frame_score(image)
        broken = ratio >= BROKEN_MACROBLOCK_RATIO or green_rows >= BROKEN_GREEN_ROW_FRACTION
        mean_luma = float(_luma(image).mean())
        measurements = {"macroblock_ratio": round(ratio, 3), "green_rows": round(green_rows, 3)}
    else:
        broken, mean_luma, measurements = probe.broken, probe.mean_luma, dict(probe.measurements)
    issues: list[Guidance] = []
    if broken:
        issues.append(Guidance.CONNECTION_PROBLEM)
    if mean_luma < DARK_MEAN_LUMA:
        issues.append(Guidance.MORE_LIGHT)
    elif mean_luma > BRIGHT_MEAN_LUMA:
        issues.append(Guidance.LESS_LIGHT)
    doc_sharp = glare = width_fraction = None
    if document is None:
        issues.append(Guidance.SHOW_DOCUMENT)
    else:
        h, w = image.shape[:2]
        corners = document.corners_px
        outside = (
            (corners[:, 0] < BORDER_MARGIN_PX).any()
            or (corners[:, 1] < BORDER_MARGIN_PX).any()
            or (corners[:, 0] > w - 1 - BORDER_MARGIN_PX).any()
            or (corners[:, 1] > h - 1 - BORDER_MARGIN_PX).any()
        )
        extent = max(float(np.linalg.norm(corners[1] - corners[0])), float(np.linalg.norm(corners[2] - corners[3])))
        width_fraction = extent / w
        if outside:
            issues.append(Guidance.CENTER_DOCUMENT)
        if width_fraction < MIN_DOCUMENT_WIDTH_FRACTION:
            issues.append(Guidance.MOVE_CLOSER)
        rect = document.rectified
        doc_sharp = document_sharpness(rect, extent)
        if doc_sharp < MIN_DOCUMENT_SHARPNESS:
            issues.append(Guidance.HOLD_STILL)
        saturated = cv2.inRange(rect, (SATURATED_LEVEL,) * 3, (255, 255, 255))  # every channel >= the level
        glare = cv2.countNonZero(saturated) / float(saturated.size)
        if glare > MAX_GLARE_FRACTION:
            issues.append(Guidance.AVOID_GLARE)
    if face_visible is False:
        issues.append(Guidance.SHOW_FACE)
    return FrameQuality(tuple(issues), broken, mean_luma, doc_sharp, glare, width_fraction, measurements)


@dataclass
class QualityStage:
    """Counts the per-frame problems of a session. The analyzer feeds it :class:`FrameQuality` objects
    through :meth:`add`; :meth:`observe` exists for the Stage protocol and does nothing by itself."""

    name: str = "quality"
    version: str = "quality-1"
    frames: int = 0
    usable: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    last: FrameQuality | None = None

    def observe(self, context: FrameContext) -> None:  # the analyzer calls add() with its assessment
        return None

    def add(self, quality: FrameQuality) -> None:
        self.frames += 1
        self.usable += int(quality.usable)
        self.counts.update(issue.value for issue in quality.issues)
        self.last = quality

    def result(self) -> CheckResult:
        measurements = {
            "frames": self.frames,
            "usable_frames": self.usable,
            "broken_frames": self.counts.get(Guidance.CONNECTION_PROBLEM.value, 0),
            "issues": dict(sorted(self.counts.items())),
        }
        if self.frames < MIN_FRAMES:
            return CheckResult.inconclusive(
                "quality", "too_few_frames", f"only {self.frames} frames seen (need {MIN_FRAMES})", **measurements
            )
        fraction = self.usable / self.frames
        if fraction < MIN_USABLE_FRACTION:
            worst = self.counts.most_common(1)[0][0] if self.counts else "unknown"
            reason = Reason("poor_video", f"only {fraction:.0%} of frames usable; most frequent problem: {worst}")
            return CheckResult("quality", Verdict.FAIL, reason, round(fraction, 3), measurements)
        reason = Reason("usable_video", f"{fraction:.0%} of frames usable")
        return CheckResult("quality", Verdict.PASS, reason, round(fraction, 3), measurements)
