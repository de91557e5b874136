"""The printed visual zone (VIZ) against the MRZ: OCR the name, date of birth, expiry and document
number from their zones on the rectified document, and compare each with the MRZ.

Zones come from ``pipelines.layouts``. A ``DocumentView`` says the document kind but not the template,
so every layout of that kind is tried and a field matches when any of its candidate reads matches
(the Dutch and German cards share the name and birth-date zones and differ in the others).
The OCR engine here is a general one (``eng`` with :data:`models.ocr.VISUAL_WHITELIST`), never the MRZ
model. A field that could not be read is not compared; it is listed as unread.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import cv2
import numpy as np

from models.ocr import PageSegMode, TesseractEngine
from pipelines.frame import DocumentKind
from pipelines.layouts import LAYOUTS, ZoneName
from pipelines.mrz.crosscheck import parse_printed_date, transliterate
from pipelines.mrz.parse import MrzDocument

__all__ = ["NAME_OCR_SLIP_CHARS", "VISUAL_FIELDS", "read_visual_zone", "compare_to_visual"]

#: The printed fields compared with the MRZ, and the check each gives.
VISUAL_FIELDS: Mapping[ZoneName, str] = {
    ZoneName.SURNAME: "visual_surname",
    ZoneName.GIVEN_NAMES: "visual_given_names",
    ZoneName.BIRTHDATE: "visual_birth_date",
    ZoneName.EXPIRY: "visual_expiry_date",
    ZoneName.DOCUMENT_NUMBER: "visual_document_number",
}
#: Margin around a field zone, mm: 1 mm sideways (layouts are good to ~1 mm; pipelines/layouts.py), none
#: above or below, where the captions sit (a caption in the crop turned LUCAS into RUCMER on fixtures).
FIELD_MARGIN_X_MM, FIELD_MARGIN_Y_MM = 1.0, 0.0
#: Field crops are scaled to this height before OCR (printed text ~3 mm high fills ~60% of a 4-5 mm zone;
#: tesseract reads best with x-heights of 20-30 px).
FIELD_HEIGHT_PX = 64


def _crops(rectified: np.ndarray, kind: DocumentKind, zone: ZoneName) -> list[np.ndarray]:
    height, width = rectified.shape[:2]
    seen: set[tuple[int, int, int, int]] = set()
    crops = []
    for layout in LAYOUTS.values():
        if layout.kind is not kind or zone not in layout.zones:
            continue
        x0, y0, x1, y1 = layout.box_px(zone, (width, height))
        mx = round(FIELD_MARGIN_X_MM * width / layout.size_mm[0])
        my = round(FIELD_MARGIN_Y_MM * height / layout.size_mm[1])
        box = (max(0, x0 - mx), max(0, y0 - my), min(width, x1 + mx), min(height, y1 + my))
        if box in seen:
            continue
        seen.add(box)
        crop = rectified[box[1] : box[3], box[0] : box[2]]
        grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        # Otsu drops the pastel guilloche behind the print: 72 of 90 fixture fields exact vs 67 on grey.
        _, grey = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        scale = FIELD_HEIGHT_PX / max(1, grey.shape[0])
        crops.append(cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC))
    return crops


def read_visual_zone(engine: TesseractEngine, rectified: np.ndarray, kind: DocumentKind) -> dict[str, list[str]]:
    """Candidate reads per field (``ZoneName`` value -> texts), from the side holding the printed data
    (a card's front, a passport's data page). BGR uint8, rectified."""
    out: dict[str, list[str]] = {}
    for zone in VISUAL_FIELDS:
        texts = [engine.recognise(crop, PageSegMode.SINGLE_LINE).text for crop in _crops(rectified, kind, zone)]
        texts = [t for t in texts if t.strip()]
        if texts:
            out[zone.value] = texts
    return out


#: Glyphs a general OCR model confuses in printed numbers; both sides are folded to one form before a
#: document number is compared (a forger gains nothing from an O/0 swap; a different number still differs).
_LOOSE = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "J": "1", "L": "1", "Z": "2", "S": "5", "G": "6",
                        "T": "7", "B": "8"})  # fmt: skip


def _loose_number(text: str) -> str:
    """Folded, and without the thin glyphs (I, J, L, 1) that a general model drops or doubles between
    neighbours (``EH8OIJCDI`` read ``EH8OJCDI``); a changed character still differs unless it becomes thin."""
    return re.sub(r"[^A-Z0-9]", "", text.upper()).translate(_LOOSE).replace("1", "")


#: Look-alikes a general OCR model swaps in printed names (``PIETER JAN`` read ``PIETER IAN``): folded on
#: both sides. The thin J/I pair carries no identity a forger could exploit that the MRZ check digits and
#: the bank's claimed identity would not also see.
_NAME_LOOKALIKES = str.maketrans({"J": "I", "1": "I", "0": "O"})
#: A printed name that differs from the MRZ's by at most this many characters (after folding) is an OCR
#: slip, not evidence: the general ``eng`` model drops or doubles a thin glyph (``PIETER AN`` for
#: ``PIETER JAN``, measured on generated NL cards). It is reported as unconfirmed, neither pass nor fail.
#: Names only: dates and document numbers, what a forger changes in a re-printed MRZ, are compared strictly.
NAME_OCR_SLIP_CHARS = 1


def _loose_name(text: str) -> str:
    """Names folded so that printed ``SCHRÖDER`` (OCR: ``SCHRODER``) meets MRZ ``SCHROEDER``."""
    folded = transliterate(text).replace(" ", "").translate(_NAME_LOOKALIKES)
    for pair, single in (("AE", "A"), ("OE", "O"), ("UE", "U"), ("SS", "S")):
        folded = folded.replace(pair, single)
    return folded


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _names_agree(mrz_name: str, printed: str, truncated: bool) -> bool:
    mrz, seen = _loose_name(mrz_name), _loose_name(printed)
    return bool(mrz) and (mrz == seen or (truncated and seen.startswith(mrz)))


def _names_near(mrz_name: str, printed: str) -> bool:
    mrz, seen = _loose_name(mrz_name), _loose_name(printed)
    return bool(mrz) and bool(seen) and _edit_distance(mrz, seen) <= NAME_OCR_SLIP_CHARS


def compare_to_visual(document: MrzDocument, reads: Mapping[str, Iterable[str]]
                      ) -> tuple[dict[str, bool], list[str], list[str]]:
    """(checks, unread fields, unconfirmed fields). ``reads``: candidate texts per field, e.g. from several
    frames. A name whose best read is only an OCR slip away from the MRZ (:data:`NAME_OCR_SLIP_CHARS`) is
    unconfirmed: like an unread field it is not compared, and it is listed so the agent looks at it."""
    fields = document.fields
    checks: dict[str, bool] = {}
    unread: list[str] = []
    unconfirmed: list[str] = []
    names_full = not (document.lines[2] if len(document.lines) == 3 else document.lines[0]).endswith("<")
    for zone, check in VISUAL_FIELDS.items():
        texts = [t for t in reads.get(zone.value, []) if t.strip()]
        if not texts:
            unread.append(zone.value)
            continue
        if zone in (ZoneName.SURNAME, ZoneName.GIVEN_NAMES):
            name = str(fields["surname" if zone is ZoneName.SURNAME else "given_names"])
            ok = any(_names_agree(name, t, names_full) for t in texts)
            if not ok and any(_names_near(name, t) for t in texts):
                unconfirmed.append(zone.value)
                continue
        elif zone is ZoneName.BIRTHDATE:
            ok = any((d := parse_printed_date(t)) is not None and d.isoformat() == fields["birth_date"] for t in texts)
        elif zone is ZoneName.EXPIRY:
            ok = any((d := parse_printed_date(t)) is not None and d.isoformat() == fields["expiry_date"] for t in texts)
        else:
            ok = any(_loose_number(t) == _loose_number(str(fields["document_number"])) for t in texts)
        checks[check] = ok
    return checks, unread, unconfirmed
