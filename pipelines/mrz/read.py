"""Read an MRZ from an image: locate, cut into lines, OCR each line, clean up, parse.

Deterministic given the engine; the engine (``models.ocr.TesseractEngine``) is owned by the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.ocr import OcrText, PageSegMode, TesseractEngine
from pipelines.frame import DocumentKind
from pipelines.mrz.locate import Band, band_from_rectified, find_bands, split_lines
from pipelines.mrz.parse import MrzDocument, MrzShapeError, parse_mrz
from pipelines.mrz.repair import clean_read

__all__ = ["MrzRead", "read_lines", "read_band", "read_rectified", "read_image", "EXPECTED_LINES"]

#: MRZ lines per document kind (ICAO 9303: TD1 3 lines, TD3 2 lines).
EXPECTED_LINES = {DocumentKind.ID1: 3, DocumentKind.TD3: 2}


@dataclass(frozen=True)
class MrzRead:
    """One read attempt. ``raw_lines``: what tesseract gave; ``literal``: fitted to the format and
    class-mapped (O->0 in digit positions...); ``lines``: ``literal`` after the check-digit-guided repair
    (None when no format fitted); ``repairs``: characters the repair changed; ``confidences``:
    tesseract's per line, 0..1. ``document`` is parsed from ``lines``."""

    raw_lines: tuple[str, ...]
    confidences: tuple[float, ...]
    lines: tuple[str, ...] | None
    document: MrzDocument | None
    repairs: int
    source: str
    literal: tuple[str, ...] | None = None
    literal_holds: bool = False

    @property
    def valid(self) -> bool:
        return self.document is not None and self.document.valid

    def __repr__(self) -> str:
        # personal data: no text in repr()
        return f"MrzRead({self.source}, lines={len(self.raw_lines)}, repairs={self.repairs}, {self.document!r})"

    @property
    def check_digits_hold(self) -> bool:
        """After repair; see ``literal_holds`` for the text as read."""
        return self.document is not None and self.document.check_digits_hold

    @property
    def confidence(self) -> float:
        return min(self.confidences) if self.confidences else 0.0

    def quality(self) -> tuple[int, int, float]:
        """Sort key: check digits held, checks passed, confidence."""
        passed = sum(self.document.checks.values()) if self.document else -1
        return (int(self.check_digits_hold), passed, self.confidence)


def read_lines(raw: Sequence[OcrText], reference_date: dt.date, source: str = "lines") -> MrzRead:
    """Clean and parse OCR output lines."""
    texts = tuple(t.text for t in raw)
    confidences = tuple(t.confidence for t in raw)
    cleaned = clean_read(texts)
    if cleaned is None:
        return MrzRead(texts, confidences, None, None, 0, source)
    _, literal, lines, repairs = cleaned
    try:
        document = parse_mrz(lines, reference_date)
        literal_holds = (
            document.check_digits_hold if repairs == 0 else parse_mrz(literal, reference_date).check_digits_hold
        )
    except MrzShapeError:
        return MrzRead(texts, confidences, None, None, 0, source)
    return MrzRead(texts, confidences, lines, document, repairs, source, literal, literal_holds)


def read_band(
    engine: TesseractEngine, band: Band, reference_date: dt.date, expected_lines: int | None = None
) -> MrzRead | None:
    """OCR a straightened band line by line (``--psm 7``, MRZ whitelist). None when no lines were found."""
    lines = split_lines(band.image, expected_lines)
    if len(lines) < 2:
        return None
    raw = [engine.recognise(line, PageSegMode.SINGLE_LINE) for line in lines]
    raw = [r for r in raw if r.text]
    return read_lines(raw, reference_date, band.source)


def read_rectified(
    engine: TesseractEngine, rectified: np.ndarray, kind: DocumentKind, reference_date: dt.date
) -> MrzRead | None:
    """Read the MRZ of a rectified document (BGR uint8, the side holding the MRZ)."""
    return read_band(engine, band_from_rectified(rectified, kind), reference_date, EXPECTED_LINES[kind])


def read_image(
    engine: TesseractEngine, image: np.ndarray, reference_date: dt.date, max_bands: int = 3
) -> MrzRead | None:
    """Read the MRZ of a raw frame or still (BGR uint8): try the candidate bands, best first, and stop
    at the first whose check digits all hold. None when no band yielded MRZ-shaped text."""
    best: MrzRead | None = None
    for band in find_bands(image, max_bands):
        read = read_band(engine, band, reference_date)
        if read is None or read.document is None:
            continue
        if read.check_digits_hold:
            return read
        if best is None or read.quality() > best.quality():
            best = read
    return best
