"""The live face: find it in webcam frames (shared between the face and liveness stages) and rate how
good a frame is for matching (frontal, sharp, well lit, large enough).

Frames are BGR uint8 (H, W, 3). Faces whose centre lies on the held-up document (its ``corners_px``
polygon) are the ID photo seen by the camera, not the customer, and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.face import DetectedFace, FaceEngine
from pipelines.face.geometry import FacePose, face_pose
from pipelines.face.portrait import sharpness
from pipelines.face.still import several_faces
from pipelines.frame import FrameContext

__all__ = [
    "DETECT_MAX_WIDTH_PX",
    "MIN_LIVE_FACE_PX",
    "MAX_FRONTAL_YAW_DEG",
    "MAX_FRONTAL_ROLL_DEG",
    "MAX_FALLBACK_YAW_DEG",
    "BRIGHTNESS_RANGE",
    "SHARPNESS_GOOD",
    "LiveFaces",
    "FaceTracker",
    "FrameQuality",
    "rate_face",
]

#: Live frames are detected on a copy at most this wide: at 640 px HOG upsample 0 takes ~0.03-0.04 s
#: (../shared/notes/faces.md) and still finds faces of 160 px in a 1280 px frame.
DETECT_MAX_WIDTH_PX = 640
#: Tracking between full detections: search a box this much (fraction of the face width) larger on each
#: side than the last face, at most this old (s); a full-frame detection at least this often (s).
TRACK_MARGIN = 0.6
TRACK_MAX_AGE_S = 0.5
FULL_DETECT_INTERVAL_S = 1.0
#: Face width (px) the tracking crop is scaled to: HOG upsample 0 needs ~80 px; 100 leaves margin.
TRACK_FACE_PX = 100
#: The smallest live face (box width, frame pixels) we rate usable: twice the document-photo condition the
#: threshold was calibrated on (64 px), so the live side is never the weaker one.
MIN_LIVE_FACE_PX = 120
#: Frontal enough to encode: within this yaw/roll (degrees) dlib's 5-point alignment is reliable; the
#: ResNet encoder was trained on mostly frontal faces (LFW-style). Yaw was 20 until 4 of 23 generated
#: genuine sessions (live photos looking slightly aside, estimated 22-24 degrees; our cylinder estimate
#: reads high: a rendered 38 degree turn measured 40-55) never got a usable frame; the real-pair
#: calibration (docs/face.md) is not pose-filtered either. Frontal faces still rank first (``rate_face``).
MAX_FRONTAL_YAW_DEG = 30.0
MAX_FRONTAL_ROLL_DEG = 15.0
#: A session with no frontal frame at all is matched on its least-turned frames up to this yaw (our
#: estimate) rather than on none (``FrameQuality.fallback_score``, the face stage's pose fallback): 3 of
#: 100 generated genuine sessions (issue 6) only ever showed a photo estimated at 31-35 degrees, which
#: dlib encodes fine (0.50-0.55 from the ID photo). On the 82 indexed real photos (docs/face.md, "pose
#: fallback"), pairs with a side estimated at 20-46 degrees: 19 same-person, median 0.38, max 0.52; 499
#: different-person, min 0.62 (none below the 0.60 threshold); a turn raises distances, it does not
#: make strangers alike. 45 keeps out a deliberate head turn (a rendered 38 degree turn reads 40-55).
MAX_FALLBACK_YAW_DEG = 45.0
#: Acceptable mean grey level (0-255) of the face box: outside it the face is under- or over-exposed
#: (ISO/IEC 19794-5 asks for a face without shadows or saturation; these bounds are our reading of it).
BRIGHTNESS_RANGE = (60.0, 200.0)
#: Laplacian variance (on a 128 px wide face) at which a face counts as fully sharp. Measured on 25
#: ../shared/data/faces/deepface photos scaled to a 200 px face: p5 187, median 363; the same with a
#: 15 px motion blur: median 61, p95 148.
SHARPNESS_GOOD = 150.0


@dataclass(frozen=True)
class LiveFaces:
    """The customer-side faces of one frame (document portrait excluded), largest first."""

    frame_index: int
    t_s: float
    faces: tuple[DetectedFace, ...]

    @property
    def several(self) -> bool:
        return several_faces(self.faces)


def _on_document(face: DetectedFace, context: FrameContext) -> bool:
    if context.document is None:
        return False
    polygon = context.document.corners_px.astype(np.float32).reshape(-1, 1, 2)
    return cv2.pointPolygonTest(polygon, face.box.center, False) >= 0


class FaceTracker:
    """Detects the live faces of a frame once, however many stages ask (cached by frame index).

    Between full-frame detections (at least every :data:`FULL_DETECT_INTERVAL_S`, so a second person
    is noticed) it searches only around the last face, scaled so the face is :data:`TRACK_FACE_PX` wide:
    ~5 ms instead of ~40 ms, which is what makes per-frame landmarks for blink detection affordable."""

    def __init__(self, engine: FaceEngine) -> None:
        self.engine = engine
        self._last: LiveFaces | None = None
        self._last_full_t = -1e9
        self.detections = 0
        self.tracked = 0

    def faces(self, context: FrameContext) -> LiveFaces:
        frame = context.frame
        last = self._last
        if last is not None and last.frame_index == frame.index:
            return last
        found: list[DetectedFace] | None = None
        if (
            last is not None
            and len(last.faces) == 1
            and frame.t_s - last.t_s <= TRACK_MAX_AGE_S
            and frame.t_s - self._last_full_t < FULL_DETECT_INTERVAL_S
        ):
            found = self._track(frame.image, last.faces[0])
        if not found:
            width = frame.image.shape[1]
            found = self.engine.detect(frame.image, scale=min(1.0, DETECT_MAX_WIDTH_PX / width))
            self._last_full_t = frame.t_s
            self.detections += 1
        live = LiveFaces(frame.index, frame.t_s, tuple(f for f in found if not _on_document(f, context)))
        self._last = live
        return live

    def _track(self, image: np.ndarray, previous: DetectedFace) -> list[DetectedFace]:
        b = previous.box
        margin = round(b.width * TRACK_MARGIN)
        top, left = max(0, b.top - margin), max(0, b.left - margin)
        bottom, right = min(image.shape[0], b.bottom + margin), min(image.shape[1], b.right + margin)
        crop = np.ascontiguousarray(image[top:bottom, left:right])
        if crop.shape[0] < 40 or crop.shape[1] < 40:
            return []
        self.tracked += 1
        found = self.engine.detect(crop, scale=min(1.0, TRACK_FACE_PX / b.width))
        return [f.shifted(left, top) for f in found[:1]]


@dataclass(frozen=True)
class FrameQuality:
    """How good one face in one frame is for matching. ``score`` 0..1 (0 = unusable); ``problems`` lists
    why it is not 1 (codes: ``too_small``, ``not_frontal``, ``blurred``, ``too_dark``, ``too_bright``).
    ``fallback_score``: the same rating with the yaw limit at :data:`MAX_FALLBACK_YAW_DEG` instead of
    :data:`MAX_FRONTAL_YAW_DEG` (equal to ``score`` for a frontal face; > 0 with ``score`` 0 for a face
    only turned a little too far, usable when a session has nothing better)."""

    score: float
    pose: FacePose
    width_px: int
    sharpness: float
    brightness: float
    problems: tuple[str, ...]
    fallback_score: float = 0.0

    @property
    def usable(self) -> bool:
        return self.score > 0.0

    @property
    def turned(self) -> bool:
        """Not frontal enough to be preferred, but usable as the pose fallback."""
        return self.score == 0.0 and self.fallback_score > 0.0


def rate_face(image_bgr: np.ndarray, face: DetectedFace) -> FrameQuality:
    """Rate one face: hard limits (size, pose, exposure) give 0; within them, sharper, larger and more
    frontal is better."""
    pose = face_pose(face.landmarks)
    b = face.box
    gray = cv2.cvtColor(image_bgr[b.top : b.bottom, b.left : b.right], cv2.COLOR_BGR2GRAY)
    sharp = sharpness(gray) if gray.size else 0.0
    bright = float(gray.mean()) if gray.size else 0.0
    problems: list[str] = []
    if b.width < MIN_LIVE_FACE_PX:
        problems.append("too_small")
    turned = abs(pose.yaw_deg) > MAX_FRONTAL_YAW_DEG
    if turned or abs(pose.roll_deg) > MAX_FRONTAL_ROLL_DEG:
        problems.append("not_frontal")
    if bright < BRIGHTNESS_RANGE[0]:
        problems.append("too_dark")
    if bright > BRIGHTNESS_RANGE[1]:
        problems.append("too_bright")
    hard_fail = bool(problems)
    # Only the yaw keeps this face out, and not by much: it can still serve as the pose fallback.
    fallback_ok = problems == ["not_frontal"] and turned and abs(pose.roll_deg) <= MAX_FRONTAL_ROLL_DEG
    fallback_ok = fallback_ok and abs(pose.yaw_deg) <= MAX_FALLBACK_YAW_DEG
    sharp_term = min(1.0, sharp / SHARPNESS_GOOD)
    if sharp_term < 0.3:
        problems.append("blurred")
    frontal_term = 1.0 - min(1.0, abs(pose.yaw_deg) / (2 * MAX_FRONTAL_YAW_DEG))
    size_term = min(1.0, b.width / (2 * MIN_LIVE_FACE_PX))
    rating = round(sharp_term * (0.5 + 0.5 * frontal_term) * (0.5 + 0.5 * size_term), 4)
    score = 0.0 if hard_fail else rating
    fallback = score if not hard_fail else (rating if fallback_ok else 0.0)
    return FrameQuality(score, pose, b.width, round(sharp, 1), round(bright, 1), tuple(problems), fallback)
