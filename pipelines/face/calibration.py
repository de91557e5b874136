"""Error rates of a distance threshold over labelled pairs, and the "document photo" degradation.

Pure functions: the command ``videoident face-calibrate`` (api/commands/face_calibrate.py) reads the
photos, encodes them with the face engine and feeds the distances in here.

A distance at or below the threshold is a *match*. FMR (false match rate) is the share of
different-person pairs that match; FNMR (false non-match rate) the share of same-person pairs that do not
(ISO/IEC 19795-1). A pair where a face was not found counts as a non-match for same-person pairs (it is
reported separately as the failure-to-acquire rate) and as a non-match for different-person pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "DOCUMENT_PHOTO_FACE_PX",
    "DOCUMENT_PHOTO_JPEG_QUALITY",
    "ErrorRates",
    "error_rates",
    "roc_curve",
    "equal_error_rate",
    "threshold_for_fmr",
    "degrade_to_document_photo",
]

#: Face width (px) of an ID-1 portrait as a 720p webcam sees it when the card fills about half the frame
#: width: the portrait zone is 25 mm of 85.6 mm, the face about 60% of it (../shared/notes/faces.md uses 64).
DOCUMENT_PHOTO_FACE_PX = 64
#: JPEG quality standing in for print + webcam + video codec losses (faces.md measured at 60).
DOCUMENT_PHOTO_JPEG_QUALITY = 60


@dataclass(frozen=True)
class ErrorRates:
    threshold: float
    fmr: float
    fnmr: float
    false_matches: int
    false_non_matches: int
    genuine: int
    impostor: int


def _arrays(genuine: Sequence[float | None], impostor: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    g = np.array([np.inf if d is None else d for d in genuine], dtype=np.float64)
    i = np.array([np.inf if d is None else d for d in impostor], dtype=np.float64)
    if g.size == 0 or i.size == 0:
        raise ValueError("need at least one genuine and one impostor pair")
    return g, i


def error_rates(genuine: Sequence[float | None], impostor: Sequence[float | None], threshold: float) -> ErrorRates:
    """FMR and FNMR at ``threshold``; ``None`` distances (no face found) never match."""
    g, i = _arrays(genuine, impostor)
    fm = int(np.sum(i <= threshold))
    fnm = int(np.sum(g > threshold))
    return ErrorRates(threshold, fm / i.size, fnm / g.size, fm, fnm, int(g.size), int(i.size))


def roc_curve(
    genuine: Sequence[float | None], impostor: Sequence[float | None], steps: int = 401
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(thresholds, fmr, fnmr)`` over thresholds 0..1.2 (face_recognition distances live in 0..~1.1)."""
    g, i = _arrays(genuine, impostor)
    thresholds = np.linspace(0.0, 1.2, steps)
    fmr = np.array([np.mean(i <= t) for t in thresholds])
    fnmr = np.array([np.mean(g > t) for t in thresholds])
    return thresholds, fmr, fnmr


def equal_error_rate(genuine: Sequence[float | None], impostor: Sequence[float | None]) -> tuple[float, float]:
    """``(eer, threshold)``: where FMR and FNMR cross, searched over every observed distance."""
    g, i = _arrays(genuine, impostor)
    candidates = np.unique(np.concatenate([g[np.isfinite(g)], i[np.isfinite(i)]]))
    best = (1.0, 0.0, 0.0)  # (gap, eer, threshold)
    for t in candidates:
        fmr = float(np.mean(i <= t))
        fnmr = float(np.mean(g > t))
        gap = abs(fmr - fnmr)
        if gap < best[0]:
            best = (gap, (fmr + fnmr) / 2.0, float(t))
    return best[1], best[2]


def threshold_for_fmr(impostor: Sequence[float | None], target_fmr: float) -> float:
    """The largest threshold (a value halfway between observed distances) whose FMR is <= target."""
    i = np.sort(np.array([d for d in impostor if d is not None], dtype=np.float64))
    n_total = len(impostor)
    allowed = int(np.floor(target_fmr * n_total))
    if i.size <= allowed:
        return float(i[-1]) if i.size else 1.2
    # Allow `allowed` false matches: the threshold sits just below the (allowed+1)-th smallest distance.
    upper = i[allowed]
    lower = i[allowed - 1] if allowed > 0 else upper - 0.02
    return float((lower + upper) / 2.0)


def degrade_to_document_photo(
    image_bgr: np.ndarray,
    face_width_px: int,
    target_face_px: int = DOCUMENT_PHOTO_FACE_PX,
    jpeg_quality: int = DOCUMENT_PHOTO_JPEG_QUALITY,
) -> np.ndarray:
    """The image shrunk so its face is ``target_face_px`` wide and JPEG-compressed: how an ID photo looks
    after print, webcam and codec. BGR uint8 (H, W, 3) in and out. Deterministic."""
    if face_width_px <= 0 or target_face_px <= 0:
        raise ValueError("face widths must be positive")
    factor = min(1.0, target_face_px / face_width_px)
    small = cv2.resize(image_bgr, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    assert decoded is not None
    return decoded
