"""Passive liveness signals from the frames themselves: screen replay cues (moire, bezel, refresh banding),
frozen or looping video, implausible frame timing.

Every function is pure over BGR uint8 (H, W, 3) frames (or their greyscale/thumbnail derivatives) and
returns a raw score; the thresholds that turn scores into signals are named constants below, with where
their values came from (``videoident bench liveness`` / ``tests/test_liveness_passive.py`` reproduce them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "moire_score",
    "banding_score",
    "bezel_score",
    "thumbnail",
    "repeat_distance",
    "TimingStats",
    "timing_stats",
    "MOIRE_PATCH_PX",
    "MOIRE_THRESHOLD",
    "BANDING_THRESHOLD",
    "BEZEL_THRESHOLD",
    "REPEAT_MAX_DIFF",
    "THUMB_WH",
    "FPS_RANGE",
    "MAX_GAP_S",
]

#: Side of the square patch (frame pixels, around the face) whose spectrum is searched for moire peaks.
MOIRE_PATCH_PX = 256
#: Moire: the strongest isolated spectral peak in the mid/high band, in natural-log units above the local
#: spectral level. Reported, not decisive: on the fixture scenes (4 seeds each, 2 s, 720p) the per-scene
#: median over the document was 2.2-3.1 for genuine and looped scenes and 2.6-2.9 for screen replays
#: (the guilloche print is periodic too). This level is where a scene's median starts to be unusual.
MOIRE_THRESHOLD = 3.2
#: Refresh banding: the strongest periodic component of the row-mean profile (detrended), as a multiple
#: of the profile's median spectral level. Reported, not decisive: genuine fixture scenes measured 36-146
#: (shelves, text lines and the card's print are periodic too) and the phone's rolling bands did not
#: stand out from that; only a periodicity stronger than any genuine scene showed is noteworthy.
BANDING_THRESHOLD = 200.0
#: Bezel: :func:`surround_darkness` (black band around the document that ends). Fixture scenes, 6 seeds x
#: 5 frames each (1 s, 720p): genuine cards held in a hand 0.00-0.09, cards shown on a phone 0.69-0.92;
#: the threshold sits midway.
BEZEL_THRESHOLD = 0.4
#: Thumbnail (width, height) for repeat detection: INTER_AREA averages 5x5 pixel blocks of a 720p frame.
#: Webcam sensor noise (sigma 3 per channel, as the fixtures' NOISE_SIGMA; ~2 in grey) leaves a p99
#: difference of ~1.5 between two real frames of a perfectly still scene (measured in
#: tests/test_liveness_passive.py); a re-sent frame differs by 0.
THUMB_WH = (256, 144)
#: Two thumbnails whose 99th-percentile absolute difference is at most this are the same picture: 2.4x
#: below a sigma-3 camera's still-scene difference, still above a sigma-1.5 (bright-light) camera's ~0.7.
REPEAT_MAX_DIFF = 0.6
#: Webcams deliver 5-60 frames per second (WebRTC adapts down to ~5 on a poor link); anything outside is
#: not a camera.
FPS_RANGE = (4.0, 65.0)
#: A gap longer than this between frames is a stall, not a camera rhythm.
MAX_GAP_S = 1.0

#: Grey level (0-255) below which a pixel counts as black (a phone bezel in room light measures 10-35).
SURROUND_DARK_LEVEL = 45

# JPEG / video-codec blocking puts spectral peaks at multiples of 1/8 cycle per pixel; ignore those.
_BLOCK_PERIOD_PX = 8


def _gray(image_bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)


def moire_score(image_bgr: np.ndarray, center_xy: tuple[float, float] | None = None) -> float:
    """The strongest isolated peak of the log spectrum of a ``MOIRE_PATCH_PX`` patch (around
    ``center_xy``, default the frame centre), in the band 1/16..1/2.5 cycles per pixel, above the median
    of its ring; codec block harmonics and the axes are left out. Higher = more screen-like."""
    gray = _gray(image_bgr).astype(np.float32)
    h, w = gray.shape
    n = min(MOIRE_PATCH_PX, h, w)
    cx, cy = center_xy if center_xy is not None else (w / 2.0, h / 2.0)
    x0 = int(np.clip(cx - n / 2, 0, w - n))
    y0 = int(np.clip(cy - n / 2, 0, h - n))
    patch = gray[y0 : y0 + n, x0 : x0 + n]
    patch = patch - patch.mean()
    window = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
    spectrum = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(patch * window))))
    fy, fx = np.meshgrid(np.fft.fftshift(np.fft.fftfreq(n)), np.fft.fftshift(np.fft.fftfreq(n)), indexing="ij")
    radius = np.hypot(fx, fy)
    band = (radius >= 1 / 16) & (radius <= 1 / 2.5)
    axis = (np.abs(fx) < 2.5 / n) | (np.abs(fy) < 2.5 / n)
    block = np.zeros_like(band)
    for k in range(1, _BLOCK_PERIOD_PX // 2 + 1):
        f = k / _BLOCK_PERIOD_PX
        block |= (np.abs(np.abs(fx) - f) < 1.5 / n) | (np.abs(np.abs(fy) - f) < 1.5 / n)
    usable = band & ~axis & ~block
    if not usable.any():
        return 0.0
    # Level of the spectrum at each radius: median over a ring of width 2 bins.
    ring = np.round(radius * n).astype(int)
    levels = np.zeros(ring.max() + 1)
    for r in np.unique(ring[usable]):
        levels[r] = np.median(spectrum[(ring == r) & usable])
    excess = spectrum - levels[ring]
    return float(excess[usable].max())


def banding_score(image_bgr: np.ndarray) -> float:
    """Periodic horizontal bands: the row-mean profile minus its 31-row moving average, its strongest
    spectral component (periods 6..H/3 rows) over the median component. Higher = more banded."""
    rows = _gray(image_bgr).astype(np.float32).mean(axis=1)
    if rows.size < 64:
        return 0.0
    trend = cv2.blur(rows.reshape(-1, 1), (1, 31)).ravel()
    detail = rows - trend
    power = np.abs(np.fft.rfft(detail * np.hanning(detail.size))) ** 2
    freqs = np.fft.rfftfreq(detail.size)
    band = (freqs >= 3.0 / detail.size) & (freqs <= 1 / 6)
    for k in range(1, _BLOCK_PERIOD_PX // 2 + 1):
        band &= np.abs(freqs - k / _BLOCK_PERIOD_PX) > 1.5 / detail.size
    if not band.any():
        return 0.0
    median = float(np.median(power[band]))
    return float(power[band].max() / median) if median > 0 else 0.0


def bezel_score(image_bgr: np.ndarray, face_box: tuple[int, int, int, int]) -> float:
    """How much the face is framed by a dark, straight-edged rectangle (a phone or tablet held up):
    for each side of the face box, the strongest straight edge between the face and the frame border
    whose outer side is dark; the share of the four sides that have one. ``face_box`` is
    ``(top, right, bottom, left)``."""
    gray = _gray(image_bgr)
    h, w = gray.shape
    top, right, bottom, left = face_box
    fw, fh = right - left, bottom - top
    found = 0
    # Each side: a strip from the face outwards; project gradients along the strip's long axis.
    strips = (
        ("left", gray[max(0, top - fh) : min(h, bottom + fh), 0:left], 1),
        ("right", gray[max(0, top - fh) : min(h, bottom + fh), right:w], 1),
        ("top", gray[0:top, max(0, left - fw) : min(w, right + fw)], 0),
        ("bottom", gray[bottom:h, max(0, left - fw) : min(w, right + fw)], 0),
    )
    for name, strip, axis in strips:
        if strip.size == 0 or min(strip.shape) < 8:
            continue
        s = strip.astype(np.float32)
        profile = s.mean(axis=0) if axis == 1 else s.mean(axis=1)  # mean across the long axis
        grad = np.diff(profile)
        # Outer side dark: for "left"/"top" the outside is at lower index -> brightness rises inwards.
        inward = grad if name in ("left", "top") else -grad
        idx = int(np.argmax(inward))
        strength = float(inward[idx])
        # Straightness: the edge must hold along the strip (most lines along the long axis agree).
        col = np.diff(s, axis=1)[:, idx] if axis == 1 else np.diff(s, axis=0)[idx, :]
        col = col if name in ("left", "top") else -col
        straight = float(np.mean(col > 0.5 * max(strength, 1e-3)))
        # Just outside the edge (the bezel band, not the room beyond it) must be dark.
        win = max(4, fw // 10)
        if name in ("left", "top"):
            outer = profile[max(0, idx - win + 1) : idx + 1]
        else:
            outer = profile[idx + 1 : idx + 1 + win]
        dark = outer.size > 0 and float(np.median(outer)) < SURROUND_DARK_LEVEL
        if strength >= 25.0 and straight >= 0.7 and dark:
            found += 1
    return found / 4.0


def thumbnail(image_bgr: np.ndarray) -> np.ndarray:
    """Greyscale float32 (144, 256) thumbnail for repeat detection (see :data:`THUMB_WH`)."""
    # Float before resizing: rounding the block means to integers would hide the sensor noise.
    return cv2.resize(_gray(image_bgr).astype(np.float32), THUMB_WH, interpolation=cv2.INTER_AREA)


def repeat_distance(a: np.ndarray, b: np.ndarray) -> float:
    """99th percentile of the absolute difference of two thumbnails (0 = the same picture)."""
    return float(np.percentile(np.abs(a - b), 99))


@dataclass(frozen=True)
class TimingStats:
    frames: int
    fps: float | None
    non_monotonic: int
    duplicates: int
    max_gap_s: float
    problems: tuple[str, ...]


def timing_stats(times_s: Sequence[float]) -> TimingStats:
    """Frame timestamps (seconds, capture order) judged as a camera: monotonic, plausible rate, no stalls.
    Problems: ``non_monotonic``, ``duplicate_timestamps``, ``implausible_fps``, ``stall``."""
    t = np.asarray(times_s, dtype=np.float64)
    if t.size < 3:
        return TimingStats(int(t.size), None, 0, 0, 0.0, ())
    dt = np.diff(t)
    non_monotonic = int(np.sum(dt < 0))
    duplicates = int(np.sum(dt == 0))
    positive = dt[dt > 0]
    fps = float(1.0 / np.median(positive)) if positive.size else None
    max_gap = float(dt.max())
    problems: list[str] = []
    if non_monotonic:
        problems.append("non_monotonic")
    if duplicates > 0.05 * dt.size:
        problems.append("duplicate_timestamps")
    if fps is None or not FPS_RANGE[0] <= fps <= FPS_RANGE[1]:
        problems.append("implausible_fps")
    if max_gap > MAX_GAP_S:
        problems.append("stall")
    return TimingStats(int(t.size), fps, non_monotonic, duplicates, max_gap, tuple(problems))


def _band_darkness(gray: np.ndarray, corners: np.ndarray, grow_a: float, grow_b: float) -> float | None:
    """Share of near-black pixels between the outline scaled by ``grow_a`` and by ``grow_b`` about its centre."""
    center = corners.mean(axis=0)
    mask = np.zeros(gray.shape, np.uint8)
    cv2.fillConvexPoly(mask, ((corners - center) * grow_b + center).astype(np.int32), 255)
    cv2.fillConvexPoly(mask, ((corners - center) * grow_a + center).astype(np.int32), 0)
    values = gray[mask > 0]
    return None if values.size < 100 else float(np.mean(values < SURROUND_DARK_LEVEL))


def surround_darkness(image_bgr: np.ndarray, corners_px: np.ndarray) -> float:
    """How much a quadrilateral (``corners_px`` (4, 2) TL, TR, BR, BL) is framed by a black band that ends:
    the bezel and unlit screen border of a phone or tablet showing the object. 0..1: the share of
    near-black pixels in a band 16% of the object's size wide, minus the share in the band beyond it (a
    dark sweater or a dark room behind a real card is dark there too; a phone is held in a lit room).
    Both the band just outside and just inside the outline are tried (a detector may have found either
    the shown picture or the device)."""
    gray = _gray(image_bgr)
    c = corners_px.astype(np.float32)
    best = 0.0
    for near, beyond in (((1.0, 1.16), (1.3, 1.6)), ((0.84, 1.0), (1.0, 1.16))):
        near_dark = _band_darkness(gray, c, *near)
        beyond_dark = _band_darkness(gray, c, *beyond)
        if near_dark is None:
            continue
        best = max(best, near_dark - (beyond_dark or 0.0))
    return max(0.0, best)
