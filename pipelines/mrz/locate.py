"""Find the MRZ in an image and cut it into straight, upscaled text lines ready for OCR.

Two entry points:

- :func:`band_from_rectified` — the MRZ zone of a rectified document (``DocumentView.rectified``),
  cut where ``pipelines.layouts`` puts it, with a margin for the detector's ~1 mm error;
- :func:`find_bands` — MRZ candidates on a raw frame or still (no document corners known): the
  black-hat / horizontal-gradient / closing method (Boone's, as in passporteye) in OpenCV, each
  candidate straightened with its rotated rectangle.

:func:`split_lines` then finds the text lines of a band by horizontal projection, deskews the band by
the slope of the lines, and returns each line cut out and scaled to :data:`LINE_HEIGHT_PX`.

Images are BGR uint8 ``(H, W, 3)`` or grey uint8 ``(H, W)``; outputs are grey uint8.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipelines.frame import DocumentKind
from pipelines.layouts import LAYOUTS, ZoneName

__all__ = [
    "LINE_HEIGHT_PX",
    "Band",
    "band_from_rectified",
    "find_bands",
    "split_lines",
    "sharpness",
]

#: Height each cut-out line is scaled to before OCR. Tesseract normalises LSTM lines to 36 px itself; on 32
#: located synthetic 720p reads (flat, 20 degrees, blur 1.5, far) 48 px read 30/32 exactly, 36 px 29/32 and
#: 32 px 29/32, at the same CPU time (~0.18 s per read), Nov 2026.
LINE_HEIGHT_PX = 48
#: Margin added around the layout's MRZ zone, mm: the layouts are good to ~1 mm and the corner detector
#: adds its own error (pipelines/layouts.py).
ZONE_MARGIN_MM = 2.5
#: A text line must hold ink over at least this share of its row band's width (an MRZ line is a full row).
MIN_LINE_WIDTH_SHARE = 0.45
#: A row belongs to a text line when its ink is above this share of the band width and above this share
#: of the fullest rows (guilloche lines cross the gaps between MRZ lines; tuned on the synthetic frames).
ROW_MIN_INK_SHARE, ROW_CUT_OF_PEAK = 0.02, 0.2
#: Blank wider than this many line heights ends a line's print (OCR-B pitch is ~1 character height and
#: glyphs fill most of it, so even a run of fillers never leaves such a gap; ICAO 9303 part 3).
MAX_CHAR_GAP_HEIGHTS = 1.0
#: Residual skew searched in a band: rectified documents and minAreaRect-straightened bands are within a
#: few degrees; 6 covers the corner detector's error on a 20-degree tilt (synthetic frames).
DESKEW_RANGE_DEG = 6.0
#: Raw-frame search works on the frame scaled to this width (speed; MRZ lines stay >= 4 px high).
SEARCH_WIDTH_PX = 960
#: A row of print is an MRZ line candidate when it spans this share of the (scaled) frame width (a card
#: 480 px wide in 1280 gives MRZ rows of ~0.33) and is this elongated (an MRZ line is ~12-18x its height).
MIN_ROW_WIDTH_SHARE, MIN_ROW_ASPECT = 0.2, 6.0
#: Rows group into one MRZ when parallel within this angle, as long within this share, and stacked within
#: this many row heights (TD3 line pitch is ~2.5 character heights; ICAO 9303 part 4).
LINE_ANGLE_TOL_DEG, LINE_LENGTH_TOL, LINE_STACK_HEIGHTS = 4.0, 0.25, 4.0
#: A band narrower than this aspect is no MRZ (TD1 3x30 is ~5.5 wide per height; ICAO 9303 part 5).
MIN_BAND_ASPECT = 3.0


@dataclass(frozen=True)
class Band:
    """A straightened grey crop expected to hold the MRZ, and where it came from (for logs, not for OCR)."""

    image: np.ndarray
    source: str


def _grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image (higher = sharper)."""
    return float(cv2.Laplacian(_grey(image), cv2.CV_64F).var())


def band_from_rectified(rectified: np.ndarray, kind: DocumentKind) -> Band:
    """The MRZ zone of a rectified document of ``kind`` (any layout of that kind: they share the MRZ
    zone), with :data:`ZONE_MARGIN_MM` around it."""
    layout = next(layout for layout in LAYOUTS.values() if layout.kind is kind)
    height, width = rectified.shape[:2]
    sx, sy = width / layout.size_mm[0], height / layout.size_mm[1]
    x0, y0, x1, y1 = layout.box_px(ZoneName.MRZ, (width, height))
    mx, my = round(ZONE_MARGIN_MM * sx), round(ZONE_MARGIN_MM * sy)
    crop = rectified[max(0, y0 - my) : min(height, y1 + my), max(0, x0 - mx) : min(width, x1 + mx)]
    return Band(_grey(crop), "rectified")


def _row_segments(profile: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    on = profile > threshold
    segments, start = [], None
    for i, value in enumerate(on):
        if value and start is None:
            start = i
        elif not value and start is not None:
            segments.append((start, i))
            start = None
    if start is not None:
        segments.append((start, len(on)))
    return segments


def _profile_sharpness(ink: np.ndarray, angle_deg: float) -> float:
    h, w = ink.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle_deg, 1.0)
    rotated = cv2.warpAffine(ink, matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    profile = rotated.sum(axis=1).astype(np.float64)
    return float(np.square(np.diff(profile)).sum())


def _deskew(grey: np.ndarray, ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotate the band so its text rows are horizontal: the angle (within +-DESKEW_RANGE_DEG) at which
    the row profile of the ink is sharpest, searched coarse then fine on a half-size copy."""
    small = cv2.resize(ink, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_NEAREST)
    if small.sum() < 50:
        return grey, ink
    coarse = np.arange(-DESKEW_RANGE_DEG, DESKEW_RANGE_DEG + 0.01, 1.0)
    best = max(coarse, key=lambda a: _profile_sharpness(small, float(a)))
    fine = np.arange(best - 0.75, best + 0.76, 0.25)
    angle_deg = float(max(fine, key=lambda a: _profile_sharpness(small, float(a))))
    if abs(angle_deg) < 0.2:
        return grey, ink
    h, w = grey.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle_deg, 1.0)
    border = int(np.median(grey))
    grey = cv2.warpAffine(grey, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=border)
    ink = cv2.warpAffine(ink, matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    return grey, ink


def _ink(grey: np.ndarray) -> np.ndarray:
    """Dark print on a lighter ground as a 0/1 mask: black-hat (removes the background pattern), Otsu."""
    char_px = max(3, grey.shape[0] // 6)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (char_px | 1, char_px | 1))
    blackhat = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, kernel)
    _, mask = cv2.threshold(blackhat, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return mask


def _text_extent(row_ink: np.ndarray, height: int) -> tuple[int, int] | None:
    """(left, right) of the longest run of print in a row band, where print separated by more than
    :data:`MAX_CHAR_GAP_HEIGHTS` line heights of blank starts a new run (a card edge, a stray mark)."""
    cols = np.nonzero(row_ink.any(axis=0))[0]
    if len(cols) == 0:
        return None
    breaks = np.nonzero(np.diff(cols) > MAX_CHAR_GAP_HEIGHTS * height)[0]
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(cols) - 1]])
    best = int(np.argmax(cols[ends] - cols[starts]))
    return int(cols[starts[best]]), int(cols[ends[best]]) + 1


def split_lines(band: np.ndarray, expected_lines: int | None = None) -> list[np.ndarray]:
    """The text lines of an MRZ band, top to bottom, each grey uint8 scaled to LINE_HEIGHT_PX high.

    ``expected_lines``: 2 or 3 when the format is known; otherwise the rows that look like MRZ lines
    (full-width rows of similar height), at most 3.
    """
    grey = _grey(band)
    if grey.shape[0] < 8 or grey.shape[1] < 40:
        return []
    ink = _ink(grey)
    grey, ink = _deskew(grey, ink)
    width_profile = ink.sum(axis=1).astype(np.float32)
    # Rows of print vs gaps: the gaps still hold background lines, so the cut is relative to the rows.
    threshold = max(ROW_MIN_INK_SHARE * grey.shape[1], ROW_CUT_OF_PEAK * float(np.percentile(width_profile, 95)))
    rows = _row_segments(width_profile, threshold)
    rows = [r for r in rows if r[1] - r[0] >= 4]
    candidates = []
    for top, bottom in rows:
        extent = _text_extent(ink[top:bottom], bottom - top)
        if extent is None:
            continue
        left, right = extent
        if right - left < MIN_LINE_WIDTH_SHARE * grey.shape[1]:
            continue
        candidates.append((top, bottom, left, right))
    if not candidates:
        return []
    heights = np.array([b - t for t, b, _, _ in candidates], np.float32)
    typical = float(np.median(heights))
    candidates = [c for c in candidates if 0.5 * typical <= c[1] - c[0] <= 1.8 * typical]
    want = expected_lines or min(3, len(candidates))
    if len(candidates) > want:
        # keep the widest rows: the MRZ lines are the longest rows of print in the band
        candidates = sorted(sorted(candidates, key=lambda c: c[3] - c[2], reverse=True)[:want])
    lines = []
    for top, bottom, left, right in candidates:
        pad_y = max(2, round((bottom - top) * 0.25))
        pad_x = max(4, round((bottom - top) * 0.6))
        y0, y1 = max(0, top - pad_y), min(grey.shape[0], bottom + pad_y)
        x0, x1 = max(0, left - pad_x), min(grey.shape[1], right + pad_x)
        crop = grey[y0:y1, x0:x1]
        scale = LINE_HEIGHT_PX / crop.shape[0]
        interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
        lines.append(cv2.resize(crop, None, fx=scale, fy=scale, interpolation=interpolation))
    return lines


_Rect = tuple[tuple[float, float], tuple[float, float], float]


def _upright(rect: tuple) -> _Rect:
    """minAreaRect with width the long side and the angle of that side in (-90, 90]."""
    (cx, cy), (w, h), angle = rect
    if w < h:
        w, h, angle = h, w, angle + 90
    while angle > 90:
        angle -= 180
    while angle <= -90:
        angle += 180
    return (float(cx), float(cy)), (float(w), float(h)), float(angle)


def _same_block(a: _Rect, b: _Rect) -> bool:
    """Two text-line boxes that belong to one MRZ: parallel, about as long, stacked closely."""
    (ax, ay), (aw, ah), aa = a
    (bx, by), (bw, bh), ba = b
    if abs(aa - ba) > LINE_ANGLE_TOL_DEG or abs(aw - bw) > LINE_LENGTH_TOL * max(aw, bw):
        return False
    theta = np.radians(aa)
    along = abs((bx - ax) * np.cos(theta) + (by - ay) * np.sin(theta))
    across = abs(-(bx - ax) * np.sin(theta) + (by - ay) * np.cos(theta))
    return along < LINE_LENGTH_TOL * max(aw, bw) and across < LINE_STACK_HEIGHTS * max(ah, bh) + 2


def find_bands(image: np.ndarray, max_bands: int = 3) -> list[Band]:
    """MRZ candidates on a raw frame or still, best first, each straightened (grey, full resolution).

    Rows of dense small print are found by black-hat, horizontal gradient and a horizontal closing
    (Boone's method); long thin rows are grouped into blocks of parallel, equally long, closely stacked
    rows; blocks of 2-3 rows come first (an MRZ), ranked by their area.
    """
    grey = _grey(image)
    scale = min(1.0, SEARCH_WIDTH_PX / grey.shape[1])
    small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
    unit = max(3, round(small.shape[1] / 120))  # ~ one MRZ character width on a document filling the frame
    rect = cv2.getStructuringElement(cv2.MORPH_RECT, (unit * 3 | 1, unit | 1))
    blackhat = cv2.morphologyEx(cv2.GaussianBlur(small, (3, 3), 0), cv2.MORPH_BLACKHAT, rect)
    grad = np.absolute(cv2.Sobel(blackhat, cv2.CV_32F, 1, 0, ksize=-1))
    grad = (grad * (255.0 / max(float(grad.max()), 1e-6))).astype(np.uint8)
    closed = cv2.morphologyEx(grad, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (unit * 4, 1)))
    _, mask = cv2.threshold(closed, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (unit, 3)))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    rows: list[tuple[_Rect, np.ndarray]] = []
    for contour in contours:
        box = _upright(cv2.minAreaRect(contour))
        (_, _), (w, h), _ = box
        if h >= 2 and w >= MIN_ROW_WIDTH_SHARE * small.shape[1] and w / h >= MIN_ROW_ASPECT:
            rows.append((box, contour))
    groups: list[list[int]] = []
    for i in range(len(rows)):
        for group in groups:
            if any(_same_block(rows[i][0], rows[j][0]) for j in group):
                group.append(i)
                break
        else:
            groups.append([i])
    scored = []
    for group in groups:
        points = np.concatenate([rows[i][1] for i in group])
        (cx, cy), (w, h), angle = _upright(cv2.minAreaRect(points))
        if w / max(h, 1.0) < MIN_BAND_ASPECT:
            continue
        scored.append((min(len(group), 3) >= 2, w * h, (cx, cy), (w, h), angle))
    bands = []
    for _, _, (cx, cy), (w, h), angle in sorted(scored, key=lambda s: (s[0], s[1]), reverse=True)[:max_bands]:
        bands.append(Band(_straighten(grey, (cx / scale, cy / scale), (w / scale, h / scale), angle), "frame"))
    return bands


def _straighten(
    grey: np.ndarray, centre: tuple[float, float], size: tuple[float, float], angle_deg: float
) -> np.ndarray:
    """Cut the rotated rectangle out of ``grey`` upright, with a margin of 10 % of its height + 4 px."""
    w, h = size
    margin = 0.35 * h + 4
    out_w, out_h = int(w + 2 * margin), int(h + 2 * margin)
    matrix = cv2.getRotationMatrix2D(centre, angle_deg, 1.0)
    matrix[0, 2] += out_w / 2 - centre[0]
    matrix[1, 2] += out_h / 2 - centre[1]
    return cv2.warpAffine(grey, matrix, (out_w, out_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
