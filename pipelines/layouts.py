"""Document templates as pure data: where each field, the portrait, the MRZ and the hologram sit.

Used by ``fixtures`` to render synthetic documents and by the pipelines at run time to crop the MRZ band
and the portrait, to look at the optically variable element, to mask the Dutch BSN and the German CAN,
and to read the printed visual zone.

Coordinates are millimetres in the document's own frame: origin at the top-left corner of the side being
looked at, x to the right, y downwards (the side as a reader holds it upright). A zone's pixel box in a
rectified image (the document warped flat, see :data:`RECTIFIED_PX_PER_MM`) is
:meth:`DocumentLayout.box_px`, given as ``(x0, y0, x1, y1)`` with exclusive ends, ready for
``image[y0:y1, x0:x1]``.

Field zones hold the printed *value*; the caption (e.g. "Surname / Nom") is printed just above the
zone, outside it. Positions follow the real cards' arrangement (ICAO 9303 Part 4/5 for the MRZ and the
document sizes; the public specimens of the Dutch 2021 identity card, the German 2021 Personalausweis and
the ICAO TD3 specimen page for the rest), rounded to 0.5 mm: a detector must not rely on them to better
than about 1 mm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from pipelines.frame import DocumentKind, DocumentSide

__all__ = [
    "Template",
    "ZoneName",
    "Zone",
    "DocumentLayout",
    "LAYOUTS",
    "RECTIFIED_PX_PER_MM",
    "DOCUMENT_SIZE_MM",
    "MRZ_SHAPE",
    "MRZ_CHAR_PITCH_MM",
    "layout_for",
    "rectified_size_px",
]

# Rectified (flattened) document images use this scale: an ID-1 card becomes 856 x 540 px, a TD3 page
# 1250 x 880 px. 10 px/mm puts an MRZ character at ~25 px high, the size where tesseract's MRZ model read
# 96-100 % of straightened crops (../shared/notes/mrz-baselines.md, "crop" column, 480-1000 px wide cards).
RECTIFIED_PX_PER_MM = 10.0

# ISO/IEC 7810 ID-1 and ICAO 9303 Part 4 (TD3 data page), width x height in mm.
DOCUMENT_SIZE_MM: Mapping[DocumentKind, tuple[float, float]] = MappingProxyType(
    {DocumentKind.ID1: (85.60, 53.98), DocumentKind.TD3: (125.0, 88.0)}
)

# MRZ lines x characters per line: ICAO 9303 Part 5 (TD1) and Part 4 (TD3).
MRZ_SHAPE: Mapping[DocumentKind, tuple[int, int]] = MappingProxyType(
    {DocumentKind.ID1: (3, 30), DocumentKind.TD3: (2, 44)}
)

# ICAO 9303 Part 3: OCR-B size 1 is printed at 10 characters per inch (2.54 mm pitch).
MRZ_CHAR_PITCH_MM = 2.54


class Template(StrEnum):
    """The document templates we know (CLI name = value)."""

    NL_ID = "nl-id"  # Dutch identity card, TD1, BSN on the back and in the MRZ optional data
    DE_ID = "de-id"  # German identity card, TD1, issuing state "D<<", 6-digit CAN on the front
    PASSPORT = "passport"  # passport data page, TD3, with a personal number


class ZoneName(StrEnum):
    """Named regions of a document side.

    On the German card the document number *is* the card's serial number (printed top right of the
    front); it is the ``DOCUMENT_NUMBER`` zone there.
    """

    PORTRAIT = "portrait"
    MRZ = "mrz"
    OVD = "ovd"  # optically variable device ("hologram"): colour and brightness change with the angle
    SURNAME = "surname"
    GIVEN_NAMES = "given_names"
    BIRTHDATE = "birthdate"
    EXPIRY = "expiry"
    ISSUE_DATE = "issue_date"
    DOCUMENT_NUMBER = "document_number"
    NATIONALITY = "nationality"
    SEX = "sex"
    PLACE_OF_BIRTH = "place_of_birth"
    BSN = "bsn"  # Dutch citizen service number (burgerservicenummer): personal data, masked in evidence
    CAN = "can"  # German card access number (6 digits) for the chip's PACE: masked in evidence
    PERSONAL_NUMBER = "personal_number"
    SIGNATURE = "signature"


@dataclass(frozen=True)
class Zone:
    """A rectangle on one side of a document, in mm from that side's top-left corner."""

    side: DocumentSide
    x_mm: float
    y_mm: float
    w_mm: float
    h_mm: float

    def __post_init__(self) -> None:
        if self.side is DocumentSide.UNKNOWN:
            raise ValueError("a zone lies on the front or the back")
        if self.x_mm < 0 or self.y_mm < 0 or self.w_mm <= 0 or self.h_mm <= 0:
            raise ValueError(f"zone must have a non-negative origin and a positive size, got {self}")

    @property
    def x1_mm(self) -> float:
        return self.x_mm + self.w_mm

    @property
    def y1_mm(self) -> float:
        return self.y_mm + self.h_mm

    def box_px(self, px_per_mm_x: float, px_per_mm_y: float) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` in pixels (ends exclusive, rounded outwards) at the given scale."""
        if px_per_mm_x <= 0 or px_per_mm_y <= 0:
            raise ValueError("scale must be positive")
        x0 = math.floor(self.x_mm * px_per_mm_x)
        y0 = math.floor(self.y_mm * px_per_mm_y)
        x1 = math.ceil(self.x1_mm * px_per_mm_x)
        y1 = math.ceil(self.y1_mm * px_per_mm_y)
        return x0, y0, x1, y1


@dataclass(frozen=True)
class DocumentLayout:
    """One template's geometry.

    ``size_mm``: (width, height) of the document upright. ``sides``: the sides a customer shows, in the
    order they are shown (a passport data page has no back worth showing). ``masked``: zones that evidence
    masking must black out. ``mrz_shape``: (lines, characters per line).
    """

    template: Template
    kind: DocumentKind
    size_mm: tuple[float, float]
    zones: Mapping[ZoneName, Zone]
    sides: tuple[DocumentSide, ...]
    masked: frozenset[ZoneName] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.size_mm != DOCUMENT_SIZE_MM[self.kind]:
            raise ValueError(f"{self.template}: size {self.size_mm} is not the {self.kind} size")
        if not self.sides or DocumentSide.UNKNOWN in self.sides or len(set(self.sides)) != len(self.sides):
            raise ValueError(f"{self.template}: sides must be distinct and known, got {self.sides}")
        w, h = self.size_mm
        for name, zone in self.zones.items():
            if zone.x1_mm > w + 1e-9 or zone.y1_mm > h + 1e-9:
                raise ValueError(f"{self.template}: zone {name} leaves the document")
            if zone.side not in self.sides:
                raise ValueError(f"{self.template}: zone {name} is on a side that is never shown")
        for required in (ZoneName.PORTRAIT, ZoneName.MRZ, ZoneName.OVD):
            if required not in self.zones:
                raise ValueError(f"{self.template}: missing the {required} zone")
        if not self.masked <= set(self.zones):
            raise ValueError(f"{self.template}: masked zones {self.masked - set(self.zones)} are not declared")
        object.__setattr__(self, "zones", MappingProxyType(dict(self.zones)))

    @property
    def mrz_shape(self) -> tuple[int, int]:
        return MRZ_SHAPE[self.kind]

    @property
    def mrz_side(self) -> DocumentSide:
        return self.zones[ZoneName.MRZ].side

    def zones_on(self, side: DocumentSide) -> dict[ZoneName, Zone]:
        """The zones printed on ``side``, in declaration order."""
        return {name: zone for name, zone in self.zones.items() if zone.side is side}

    def box_px(self, name: ZoneName, image_wh: tuple[int, int] | None = None) -> tuple[int, int, int, int]:
        """Pixel box ``(x0, y0, x1, y1)`` of zone ``name`` in a rectified image of ``image_wh`` = (width,
        height) pixels showing the zone's side (default: :func:`rectified_size_px`), clipped to the image.
        Raises ``KeyError`` when the template has no such zone."""
        zone = self.zones[name]
        width, height = image_wh if image_wh is not None else rectified_size_px(self.kind)
        if width <= 0 or height <= 0:
            raise ValueError("image size must be positive")
        x0, y0, x1, y1 = zone.box_px(width / self.size_mm[0], height / self.size_mm[1])
        return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def rectified_size_px(kind: DocumentKind) -> tuple[int, int]:
    """(width, height) in pixels of a rectified document of ``kind`` at :data:`RECTIFIED_PX_PER_MM`."""
    w_mm, h_mm = DOCUMENT_SIZE_MM[kind]
    return round(w_mm * RECTIFIED_PX_PER_MM), round(h_mm * RECTIFIED_PX_PER_MM)


_F, _B = DocumentSide.FRONT, DocumentSide.BACK
_ID1 = DOCUMENT_SIZE_MM[DocumentKind.ID1]
_TD3 = DOCUMENT_SIZE_MM[DocumentKind.TD3]
# TD1 MRZ: 30 characters at 2.54 mm = 76.2 mm, centred; three lines in the bottom 17 mm of the back.
_TD1_MRZ = Zone(_B, 3.5, 36.0, 78.6, 16.5)

_NL = DocumentLayout(
    Template.NL_ID,
    DocumentKind.ID1,
    _ID1,
    {
        ZoneName.PORTRAIT: Zone(_F, 3.5, 11.0, 25.0, 32.0),
        ZoneName.SURNAME: Zone(_F, 31.0, 13.0, 51.0, 4.0),
        ZoneName.GIVEN_NAMES: Zone(_F, 31.0, 20.0, 51.0, 4.0),
        ZoneName.BIRTHDATE: Zone(_F, 31.0, 27.0, 24.0, 4.0),
        ZoneName.SEX: Zone(_F, 58.0, 27.0, 9.0, 4.0),
        ZoneName.NATIONALITY: Zone(_F, 31.0, 34.0, 30.0, 4.0),
        ZoneName.DOCUMENT_NUMBER: Zone(_F, 31.0, 41.0, 30.0, 4.0),
        ZoneName.EXPIRY: Zone(_F, 31.0, 48.0, 24.0, 4.0),
        ZoneName.OVD: Zone(_F, 66.5, 36.0, 15.0, 15.0),
        ZoneName.SIGNATURE: Zone(_F, 3.5, 45.5, 25.0, 6.5),
        ZoneName.BSN: Zone(_B, 4.0, 7.0, 32.0, 4.0),
        ZoneName.PLACE_OF_BIRTH: Zone(_B, 4.0, 14.0, 40.0, 4.0),
        ZoneName.ISSUE_DATE: Zone(_B, 4.0, 21.0, 24.0, 4.0),
        ZoneName.MRZ: _TD1_MRZ,
    },
    (_F, _B),
    frozenset({ZoneName.BSN}),
)

_DE = DocumentLayout(
    Template.DE_ID,
    DocumentKind.ID1,
    _ID1,
    {
        ZoneName.DOCUMENT_NUMBER: Zone(_F, 60.0, 2.5, 22.5, 4.0),  # the serial number
        ZoneName.PORTRAIT: Zone(_F, 3.5, 11.0, 25.0, 32.0),
        ZoneName.SURNAME: Zone(_F, 31.0, 13.0, 51.0, 4.0),
        ZoneName.GIVEN_NAMES: Zone(_F, 31.0, 20.0, 51.0, 4.0),
        ZoneName.BIRTHDATE: Zone(_F, 31.0, 27.0, 24.0, 4.0),
        ZoneName.NATIONALITY: Zone(_F, 58.0, 27.0, 24.0, 4.0),
        ZoneName.PLACE_OF_BIRTH: Zone(_F, 31.0, 34.0, 30.0, 4.0),
        ZoneName.EXPIRY: Zone(_F, 31.0, 41.0, 24.0, 4.0),
        ZoneName.OVD: Zone(_F, 62.0, 34.0, 14.0, 12.5),
        ZoneName.CAN: Zone(_F, 66.0, 48.5, 16.0, 4.0),
        ZoneName.SIGNATURE: Zone(_F, 3.5, 45.5, 25.0, 6.5),
        ZoneName.ISSUE_DATE: Zone(_B, 4.0, 7.0, 24.0, 4.0),
        ZoneName.MRZ: _TD1_MRZ,
    },
    (_F, _B),
    frozenset({ZoneName.CAN}),
)

_PASSPORT = DocumentLayout(
    Template.PASSPORT,
    DocumentKind.TD3,
    _TD3,
    {
        ZoneName.PORTRAIT: Zone(_F, 5.0, 14.0, 35.0, 45.0),
        ZoneName.DOCUMENT_NUMBER: Zone(_F, 92.0, 13.0, 30.0, 4.5),
        ZoneName.SURNAME: Zone(_F, 45.0, 20.0, 77.0, 4.5),
        ZoneName.GIVEN_NAMES: Zone(_F, 45.0, 27.0, 77.0, 4.5),
        ZoneName.NATIONALITY: Zone(_F, 45.0, 34.0, 40.0, 4.5),
        ZoneName.BIRTHDATE: Zone(_F, 45.0, 41.0, 30.0, 4.5),
        ZoneName.PERSONAL_NUMBER: Zone(_F, 85.0, 41.0, 37.0, 4.5),
        ZoneName.SEX: Zone(_F, 45.0, 48.0, 10.0, 4.5),
        ZoneName.PLACE_OF_BIRTH: Zone(_F, 60.0, 48.0, 40.0, 4.5),
        ZoneName.ISSUE_DATE: Zone(_F, 45.0, 55.0, 30.0, 4.5),
        ZoneName.EXPIRY: Zone(_F, 85.0, 55.0, 30.0, 4.5),
        ZoneName.OVD: Zone(_F, 28.0, 48.0, 15.0, 15.0),
        ZoneName.SIGNATURE: Zone(_F, 85.0, 61.0, 35.0, 5.0),
        # 44 characters at 2.54 mm = 111.8 mm; two lines in the bottom 20 mm (ICAO 9303 Part 4).
        ZoneName.MRZ: Zone(_F, 5.0, 68.0, 116.0, 17.0),
    },
    (_F,),
    frozenset({ZoneName.PERSONAL_NUMBER}),
)

LAYOUTS: Mapping[Template, DocumentLayout] = MappingProxyType(
    {Template.NL_ID: _NL, Template.DE_ID: _DE, Template.PASSPORT: _PASSPORT}
)


def layout_for(template: Template | str) -> DocumentLayout:
    """The layout of ``template`` (a :class:`Template` or its CLI name, e.g. ``"nl-id"``)."""
    return LAYOUTS[Template(template)]
