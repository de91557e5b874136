"""The ID photo: find the portrait on the rectified document and judge how usable it is.

The rectified document (``DocumentView.rectified``, BGR uint8 (H, W, 3), warped flat at
``pipelines.layouts.RECTIFIED_PX_PER_MM``) is searched inside the portrait zone of the templates of its
kind (``pipelines/layouts.py``), widened by :data:`PORTRAIT_ZONE_MARGIN`. The rectified image is an
upsampled view: what limits the match is how many *camera* pixels the face had, so each candidate carries
``source_face_px``, the face width in the original frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.face import DetectedFace, FaceEngine
from pipelines.frame import DocumentKind, DocumentSide, DocumentView
from pipelines.layouts import LAYOUTS, ZoneName

__all__ = [
    "PORTRAIT_ZONE_MARGIN",
    "MAX_PORTRAIT_TILT_DEG",
    "MIN_PORTRAIT_SOURCE_FACE_PX",
    "PortraitCandidate",
    "portrait_search_box",
    "document_width_px",
    "find_portrait",
    "SIGNATURE_PX",
    "PORTRAIT_CHANGE_SIMILARITY",
    "portrait_signature",
    "signature_similarity",
]

#: Added on every side of the portrait zone, as a fraction of its size: the layouts are accurate to ~1 mm
#: and the rectification of a tilted card is off by a few mm more at 720p.
PORTRAIT_ZONE_MARGIN = 0.25
#: Only cards held within this tilt are searched: strongly tilted views foreshorten the face and the
#: customer holds the card flat most of the time anyway (the tilt check needs +-30 degrees, not the face).
MAX_PORTRAIT_TILT_DEG = 20.0
#: Below this face width in the camera frame the portrait decides nothing on its own: at 40 px the
#: calibration (docs/face.md) measured 21% FNMR at the pass threshold; the customer is asked to bring the
#: card closer instead.
MIN_PORTRAIT_SOURCE_FACE_PX = 40
#: HOG upsample on the portrait crop. The rectified document is always at 10 px/mm (pipelines/layouts.py),
#: so the ID photo's face is ~130-250 px wide there whatever the camera saw: upsample 0 (faces from ~80 px)
#: finds it at a quarter of upsample 1's cost.
PORTRAIT_UPSAMPLE = 0
#: Side (px) of the grey, eye-aligned face patch that tells one ID photo from another without an encoding
#: (:func:`portrait_signature`): ~0.1 ms, enough to notice that a different card is being shown.
SIGNATURE_PX = 48
#: Two portrait views whose signatures correlate below this show different ID photos. Measured on 24
#: generated genuine scenes (1000-1023, 3 s, every second frame, /tmp-only script, docs/face.md "card
#: shown later"): views of the same card within a session correlate >= 0.838 (the same photo on another
#: card >= 0.845); portraits of different people: median 0.27, 1.0% of 27,922 pairs above 0.75, max 0.94.
PORTRAIT_CHANGE_SIMILARITY = 0.75


@dataclass(frozen=True)
class PortraitCandidate:
    """A portrait found on one frame's document: the crop (BGR uint8), the face within the crop, and the
    face width in source-camera pixels (the resolution that limits matching)."""

    frame_index: int
    crop: np.ndarray
    face: DetectedFace
    source_face_px: float
    sharpness: float


def portrait_search_box(kind: DocumentKind, image_wh: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` pixels of the rectified image where the portrait can be: the union of the
    portrait zones of the templates of ``kind``, widened by :data:`PORTRAIT_ZONE_MARGIN`."""
    width, height = image_wh
    boxes = [layout.box_px(ZoneName.PORTRAIT, image_wh) for layout in LAYOUTS.values() if layout.kind is kind]
    if not boxes:
        return 0, 0, width, height
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    mx, my = round((x1 - x0) * PORTRAIT_ZONE_MARGIN), round((y1 - y0) * PORTRAIT_ZONE_MARGIN)
    return max(0, x0 - mx), max(0, y0 - my), min(width, x1 + mx), min(height, y1 + my)


def document_width_px(view: DocumentView) -> float:
    """The document's width in the camera frame, pixels: mean of its top and bottom edges."""
    c = view.corners_px.astype(np.float64)
    return float((np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2.0)


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian of a greyscale uint8 patch resampled to 128 px wide (a standard focus
    measure, Pech-Pacheco et al. 2000); resampling makes it comparable across face sizes."""
    scale = 128.0 / max(1, gray.shape[1])
    patch = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return float(cv2.Laplacian(patch, cv2.CV_64F).var())


def find_portrait(engine: FaceEngine, view: DocumentView, frame_index: int) -> PortraitCandidate | None:
    """The largest face in the portrait zone of a front-side view held roughly flat, or None."""
    if view.side is DocumentSide.BACK:
        return None
    for angle in (view.yaw_deg, view.pitch_deg):
        if angle is not None and abs(angle) > MAX_PORTRAIT_TILT_DEG:
            return None
    height, width = view.rectified.shape[:2]
    x0, y0, x1, y1 = portrait_search_box(view.kind, (width, height))
    crop = np.ascontiguousarray(view.rectified[y0:y1, x0:x1])
    if crop.size == 0:
        return None
    faces = engine.detect(crop, upsample=PORTRAIT_UPSAMPLE)
    if not faces:
        return None
    face = faces[0]
    source_face_px = face.box.width * document_width_px(view) / width
    b = face.box
    gray = cv2.cvtColor(crop[b.top : b.bottom, b.left : b.right], cv2.COLOR_BGR2GRAY)
    return PortraitCandidate(frame_index, crop, face, source_face_px, sharpness(gray))


def portrait_signature(candidate: PortraitCandidate) -> np.ndarray:
    """A float32 (SIGNATURE_PX * SIGNATURE_PX,) zero-mean unit-norm vector: the portrait in grey, rotated and
    scaled so the eye centres (landmarks 36-41, 42-47) are level and 0.4 * SIGNATURE_PX apart, lightly
    blurred. Two views of the same printed photo give nearly the same vector; compare with
    :func:`signature_similarity`."""
    lm = candidate.face.landmarks
    left, right = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    eye_px = float(np.linalg.norm(right - left))
    angle_deg = float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))
    mid = (left + right) / 2.0
    m = cv2.getRotationMatrix2D((float(mid[0]), float(mid[1])), angle_deg, 0.4 * SIGNATURE_PX / max(1.0, eye_px))
    m[0, 2] += SIGNATURE_PX * 0.5 - mid[0]
    m[1, 2] += SIGNATURE_PX * 0.38 - mid[1]
    gray = cv2.cvtColor(candidate.crop, cv2.COLOR_BGR2GRAY)
    patch = cv2.warpAffine(gray, m, (SIGNATURE_PX, SIGNATURE_PX), flags=cv2.INTER_AREA).astype(np.float32)
    patch = cv2.GaussianBlur(patch, (3, 3), 0).astype(np.float32)
    patch -= patch.mean()
    return (patch / (float(np.linalg.norm(patch)) + 1e-6)).ravel()


def signature_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation (-1..1) of two :func:`portrait_signature` vectors; 1 = the same picture."""
    return float(a @ b)
