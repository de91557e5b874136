"""Which side of a document a frame shows, from its content: the TD1 MRZ band on an ID-1 card's back.

Used by :mod:`pipelines.document`. Input: a BGR uint8 frame and the document's corners (4, 2) float32,
TL, TR, BR, BL; output: a :class:`pipelines.frame.DocumentSide` and the corners turned the right way up
when the card is upside down.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipelines.frame import DocumentKind, DocumentSide
from pipelines.layouts import DOCUMENT_SIZE_MM, ZoneName, layout_for

__all__ = ["MRZ_COVERAGE_BACK", "MRZ_COVERAGE_FRONT", "mrz_coverage", "classify_side"]


#: Side classification of ID-1 cards: the TD1 MRZ (3 full-width lines of OCR-B) sits in the bottom third
#: of the back; on the front that band holds short fields, the portrait's foot and the hologram. The
#: score is the fraction of the MRZ zone's columns that carry dark strokes, averaged over the 3 lines.
#: Measured on fixture renders: backs 0.80-0.98, fronts 0.25-0.55.
MRZ_COVERAGE_BACK = 0.72
MRZ_COVERAGE_FRONT = 0.6
#: Upside down: only when the bottom band is nearly empty and the top band is full of text lines.
MRZ_COVERAGE_UPRIGHT_EMPTY = 0.45
MRZ_COVERAGE_FLIPPED = 0.85


def mrz_coverage(band_bgr: np.ndarray, kind: DocumentKind) -> float:
    """Fraction (0..1) of the MRZ band's columns with text strokes, per MRZ line, averaged.

    ``band_bgr``: the MRZ zone of :mod:`pipelines.layouts` cut from a rectified document (any scale)."""
    band = cv2.cvtColor(band_bgr, cv2.COLOR_BGR2GRAY)
    if band.size == 0:
        return 0.0
    layout = layout_for("passport" if kind is DocumentKind.TD3 else "nl-id")
    width = band.shape[1] / layout.zones[ZoneName.MRZ].w_mm * DOCUMENT_SIZE_MM[kind][0]  # whole card, px
    stroke = max(3, int(round(width / DOCUMENT_SIZE_MM[kind][0] * 1.2)))  # ~1.2 mm: wider than a stroke
    blackhat = cv2.morphologyEx(band, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (stroke, stroke)))
    _, ink = cv2.threshold(blackhat, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    if float(blackhat.max()) < 25:  # no contrast at all: no text
        return 0.0
    lines = layout.mrz_shape[0]
    gap = max(1, int(round(width / DOCUMENT_SIZE_MM[kind][0] * 2.54)))  # one character pitch
    closed = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (gap, 1)))
    coverages = []
    for k in range(lines):
        rows = closed[k * closed.shape[0] // lines : (k + 1) * closed.shape[0] // lines]
        coverages.append(float(np.mean(rows.max(axis=0) > 0)))
    return float(np.mean(coverages))


def classify_side(image: np.ndarray, corners_px: np.ndarray, kind: DocumentKind) -> tuple[DocumentSide, np.ndarray]:
    """The side shown, and the corners re-ordered if the document is upside down (its MRZ at the top).

    A TD3 data page is always the front. An ID-1 card is the back when its MRZ band is covered with text,
    the front when clearly not, else unknown."""
    if kind is DocumentKind.TD3:
        return DocumentSide.FRONT, corners_px
    coverage = mrz_coverage(_mrz_band(image, corners_px, kind), kind)
    if coverage >= MRZ_COVERAGE_BACK:
        return DocumentSide.BACK, corners_px
    flipped = np.roll(corners_px, 2, axis=0)
    if coverage <= MRZ_COVERAGE_UPRIGHT_EMPTY and mrz_coverage(_mrz_band(image, flipped, kind), kind) >= (
        MRZ_COVERAGE_FLIPPED
    ):
        return DocumentSide.BACK, flipped
    if coverage <= MRZ_COVERAGE_FRONT:
        return DocumentSide.FRONT, corners_px
    return DocumentSide.UNKNOWN, corners_px


def _mrz_band(image: np.ndarray, corners_px: np.ndarray, kind: DocumentKind) -> np.ndarray:
    """The MRZ zone (TD1 back / TD3 front layout) warped flat at 5 px/mm: BGR uint8."""
    layout = layout_for("passport" if kind is DocumentKind.TD3 else "nl-id")
    zone = layout.zones[ZoneName.MRZ]
    scale = 5.0  # px per mm: an MRZ character ~12 px high, enough to see strokes
    doc_w, doc_h = DOCUMENT_SIZE_MM[kind]
    src = np.asarray(corners_px, dtype=np.float32)
    dst = np.array([[0, 0], [doc_w, 0], [doc_w, doc_h], [0, doc_h]], dtype=np.float32) * scale
    dst -= np.array([zone.x_mm, zone.y_mm], dtype=np.float32) * scale
    matrix = cv2.getPerspectiveTransform(src, dst)
    size = (int(round(zone.w_mm * scale)), int(round(zone.h_mm * scale)))
    return cv2.warpPerspective(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
