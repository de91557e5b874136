"""Mask fields of a rectified document image: the pixels are replaced, not covered.

Input: a rectified document side (BGR uint8 (H, W, 3), the document warped flat, any size with the
template's aspect), its template and side, and the field names (:class:`pipelines.layouts.ZoneName`) to
mask. Every masked zone, and the MRZ character cells that repeat a masked field (e.g. the Dutch BSN in
the TD1 optional data, a passport's personal number), are overwritten with a flat fill, so no value,
edge or colour of the original survives in them (there is no layer to remove: the array itself changes).

Character cells follow ICAO 9303: OCR-B at 2.54 mm pitch, lines centred in the MRZ zone; each masked run
is widened by :data:`MRZ_CELL_MARGIN_CHARS` on both sides to absorb rectification error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from pipelines.frame import DocumentKind, DocumentSide
from pipelines.layouts import MRZ_CHAR_PITCH_MM, Template, ZoneName, layout_for

__all__ = ["MaskedRegion", "MaskResult", "MRZ_FIELD_SPANS", "mask_document", "FILL_BGR"]

#: The fill: mid grey, distinct from both paper and ink, so a masked area is obvious to a reader.
FILL_BGR = (128, 128, 128)
#: Widen each masked MRZ run by this many characters per side: the layout is accurate to ~1 mm
#: (pipelines/layouts.py) and rectification adds a few pixels; half a 2.54 mm cell covers both.
MRZ_CELL_MARGIN_CHARS = 0.5
#: Grow a masked field zone by this many mm on each side, for the same ~1 mm layout tolerance.
ZONE_MARGIN_MM = 1.0

# (line, first char, end char exclusive) of each field in the MRZ (ICAO 9303 Part 5 TD1, Part 4 TD3),
# including the field's own check digit.
MRZ_FIELD_SPANS: Mapping[DocumentKind, Mapping[ZoneName, tuple[tuple[int, int, int], ...]]] = MappingProxyType({
    DocumentKind.ID1: MappingProxyType({
        ZoneName.DOCUMENT_NUMBER: ((0, 5, 15),),
        ZoneName.BSN: ((0, 15, 30),),  # the Dutch card carries the BSN in the line-1 optional data
        ZoneName.PERSONAL_NUMBER: ((0, 15, 30),),
        ZoneName.BIRTHDATE: ((1, 0, 7),),
        ZoneName.SEX: ((1, 7, 8),),
        ZoneName.EXPIRY: ((1, 8, 15),),
        ZoneName.NATIONALITY: ((1, 15, 18),),
        ZoneName.SURNAME: ((2, 0, 30),),
        ZoneName.GIVEN_NAMES: ((2, 0, 30),),
    }),
    DocumentKind.TD3: MappingProxyType({
        ZoneName.SURNAME: ((0, 5, 44),),
        ZoneName.GIVEN_NAMES: ((0, 5, 44),),
        ZoneName.DOCUMENT_NUMBER: ((1, 0, 10),),
        ZoneName.NATIONALITY: ((1, 10, 13),),
        ZoneName.BIRTHDATE: ((1, 13, 20),),
        ZoneName.SEX: ((1, 20, 21),),
        ZoneName.EXPIRY: ((1, 21, 28),),
        ZoneName.PERSONAL_NUMBER: ((1, 28, 43),),
    }),
})


@dataclass(frozen=True)
class MaskedRegion:
    """One overwritten rectangle: ``box_px`` = (x0, y0, x1, y1), ends exclusive; ``mrz`` if it is MRZ cells."""

    field: ZoneName
    box_px: tuple[int, int, int, int]
    mrz: bool


@dataclass(frozen=True)
class MaskResult:
    image: np.ndarray
    regions: tuple[MaskedRegion, ...]

    @property
    def fields(self) -> frozenset[ZoneName]:
        return frozenset(r.field for r in self.regions)


def _mrz_boxes(kind: DocumentKind, template: Template, field: ZoneName,
               image_wh: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    layout = layout_for(template)
    spans = MRZ_FIELD_SPANS[kind].get(field, ())
    if not spans:
        return []
    zone = layout.zones[ZoneName.MRZ]
    lines, chars = layout.mrz_shape
    sx, sy = image_wh[0] / layout.size_mm[0], image_wh[1] / layout.size_mm[1]
    text_w_mm = chars * MRZ_CHAR_PITCH_MM
    x_start_mm = zone.x_mm + max(0.0, (zone.w_mm - text_w_mm) / 2)
    line_h_mm = zone.h_mm / lines
    boxes = []
    for line, first, end in spans:
        x0 = x_start_mm + (first - MRZ_CELL_MARGIN_CHARS) * MRZ_CHAR_PITCH_MM
        x1 = x_start_mm + (end + MRZ_CELL_MARGIN_CHARS) * MRZ_CHAR_PITCH_MM
        y0, y1 = zone.y_mm + line * line_h_mm, zone.y_mm + (line + 1) * line_h_mm
        boxes.append((int(np.floor(x0 * sx)), int(np.floor(y0 * sy)), int(np.ceil(x1 * sx)), int(np.ceil(y1 * sy))))
    return boxes


def mask_document(image: np.ndarray, template: Template | str, side: DocumentSide,
                  fields: Iterable[ZoneName]) -> MaskResult:
    """A copy of ``image`` with ``fields`` (and their MRZ characters) on ``side`` replaced by :data:`FILL_BGR`.

    Fields the template does not print on ``side`` are skipped; the result lists exactly what was masked.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected BGR uint8 (H, W, 3), got {image.dtype} {image.shape}")
    if side is DocumentSide.UNKNOWN:
        raise ValueError("masking needs to know which side of the document the image shows")
    layout = layout_for(template)
    height, width = image.shape[:2]
    sx, sy = width / layout.size_mm[0], height / layout.size_mm[1]
    out = image.copy()
    regions: list[MaskedRegion] = []
    mrz_here = layout.zones[ZoneName.MRZ].side is side

    def fill(field: ZoneName, box: tuple[int, int, int, int], mrz: bool) -> None:
        x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3])
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = FILL_BGR
            regions.append(MaskedRegion(field, (x0, y0, x1, y1), mrz))

    for field in sorted(set(fields)):
        zone = layout.zones.get(field)
        if zone is not None and zone.side is side:
            m = ZONE_MARGIN_MM
            box = (int(np.floor((zone.x_mm - m) * sx)), int(np.floor((zone.y_mm - m) * sy)),
                   int(np.ceil((zone.x1_mm + m) * sx)), int(np.ceil((zone.y1_mm + m) * sy)))
            fill(field, box, False)
        if mrz_here and zone is not None:
            for box in _mrz_boxes(layout.kind, layout.template, field, (width, height)):
                fill(field, box, True)
    return MaskResult(out, tuple(regions))
