"""The security features an agent inspects on the customer's document: three drawn at random per session.

BaFin's video-ident circular (Rundschreiben 3/2017 (GW), section III.4) asks the agent to check at least
three randomly chosen optical security features of the document, "visually" on the video, with the
customer tilting it; so the catalogue lists only what a webcam can show (no UV, no IR, no touch). Each
feature says where it is and what to look for. The entries are the feature *categories* of ICAO Doc 9303
part 2 and the EU's PRADO glossary as they appear on these document types; an operator should compare them
with the PRADO entry of each document version it accepts (https://www.consilium.europa.eu/prado/) and
extend the catalogue.

The draw uses ``secrets.SystemRandom`` (the customer cannot predict which features will be asked for)
and is recorded in the audit log by the console.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from types import MappingProxyType

from pipelines.layouts import Template

__all__ = ["SecurityFeature", "CATALOGUE", "GENERIC_ID1", "FEATURES_PER_SESSION", "features_for", "draw_features",
           "template_from_report"]

#: BaFin RS 3/2017 (GW) III.4: at least three security features per identification.
FEATURES_PER_SESSION = 3


@dataclass(frozen=True)
class SecurityFeature:
    code: str
    name: str
    where: str
    look_for: str

    def __post_init__(self) -> None:
        if not self.code.replace("_", "").isalnum() or self.code.lower() != self.code:
            raise ValueError(f"feature code must be snake_case, got {self.code!r}")

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "name": self.name, "where": self.where, "look_for": self.look_for}


_F = SecurityFeature

_OVD = _F("ovd_hologram", "Hologram (OVD)", "the foil patch on the front",
          "ask the customer to tilt the card slowly: colours must run through the rainbow and the emblem must "
          "flash and change; a printed copy stays flat and the same colour")
_GUILLOCHE = _F("guilloche", "Guilloche background", "the whole background of the front",
                "fine, unbroken interlaced lines in pastel colours that flow into each other; a copy shows "
                "broken, dotted or blurred lines and a raster of dots when zoomed")
_MRZ_FONT = _F("mrz_ocrb", "MRZ in OCR-B", "the machine-readable zone",
               "evenly spaced OCR-B characters on a clean line, fill characters '<' aligned; no shifted or "
               "differently sized characters (a sign of a pasted line)")
_PORTRAIT_EDGE = _F("portrait_integration", "Portrait integrated into the card", "the portrait",
                    "the background pattern runs through the photo's edge, no raised edge, no glue shine or "
                    "shadow of a pasted photo when the card is tilted")

CATALOGUE: MappingProxyType[Template, tuple[SecurityFeature, ...]] = MappingProxyType({
    Template.DE_ID: (
        _OVD,
        _GUILLOCHE,
        _MRZ_FONT,
        _PORTRAIT_EDGE,
        _F("laser_engraving", "Laser-engraved data", "the personal data and the portrait",
           "black-grey engraving inside the card body: when the card is tilted against the light, the text "
           "does not shine like ink on the surface and shows a slight relief"),
        _F("colour_shift_eagle", "Colour-shifting federal eagle", "the eagle on the back",
           "the eagle changes colour when the card is tilted towards and away from the camera"),
        _F("serial_number", "Card number consistent", "top right of the front and the MRZ",
           "the 9-character card number top right matches the number in the MRZ character for character"),
        _F("card_edge", "Polycarbonate card edge", "the card's edge",
           "ask for the card edge to be shown: a single, uniform, stiff card with no layers peeling; a "
           "laminated paper copy bends and shows layers"),
    ),
    Template.NL_ID: (
        _OVD,
        _GUILLOCHE,
        _MRZ_FONT,
        _PORTRAIT_EDGE,
        _F("laser_engraving", "Laser-engraved data", "the personal data and the portrait",
           "engraving inside the card body, no shine of ink on the surface when tilted"),
        _F("second_portrait", "Second (ghost) portrait", "beside the main portrait",
           "a smaller copy of the same face; it must show the same person, the same pose and the same "
           "hair-line as the main portrait"),
        _F("bsn_consistent", "BSN printed on the back", "the back of the card",
           "the citizen service number is present and printed in the same font as the other data "
           "(the number itself stays masked in the evidence)"),
        _F("card_edge", "Polycarbonate card edge", "the card's edge",
           "one uniform stiff card, no peeling layers"),
    ),
    Template.PASSPORT: (
        _OVD,
        _GUILLOCHE,
        _MRZ_FONT,
        _PORTRAIT_EDGE,
        _F("laminate", "Data page laminate", "the whole data page",
           "a clear security laminate with a pattern that changes with the angle, no bubbles or cut edges "
           "around the photo"),
        _F("second_portrait", "Second (ghost) portrait", "beside the main portrait",
           "a smaller copy of the same face with the same features"),
        _F("page_number", "Perforated or printed document number", "the data page and the pages around it",
           "the document number recurs (perforated or printed) and matches the MRZ"),
        _F("watermark", "Watermark in the visa pages", "the page next to the data page, against the light",
           "a watermark appears when the page is held towards a light; a copy shows none"),
    ),
})

#: When the template is not known (no MRZ read yet): the features every ID-1 card has.
GENERIC_ID1: tuple[SecurityFeature, ...] = (_OVD, _GUILLOCHE, _MRZ_FONT, _PORTRAIT_EDGE)


def features_for(template: Template | None) -> tuple[SecurityFeature, ...]:
    return CATALOGUE[template] if template is not None else GENERIC_ID1


def draw_features(template: Template | None, rng: random.Random | None = None,
                  count: int = FEATURES_PER_SESSION) -> tuple[SecurityFeature, ...]:
    """``count`` distinct features of the template, drawn uniformly at random (system randomness)."""
    pool = features_for(template)
    if count > len(pool):
        raise ValueError(f"the catalogue has only {len(pool)} features for {template}")
    return tuple((rng or secrets.SystemRandom()).sample(pool, count))


def template_from_report(report: dict[str, object]) -> Template | None:
    """The template the live report points to. A read MRZ decides (its format and issuing state: TD3 ->
    passport, TD1 of ``D`` -> German ID, of ``NLD`` -> Dutch ID, anything else -> unknown); without one, only
    a TD3-shaped document counts as a passport. Unknown -> None (a still is then kept sealed, unexported)."""
    mrz = report.get("mrz")
    fields = mrz.get("fields") if isinstance(mrz, dict) else None
    if isinstance(fields, dict) and fields.get("document_type"):
        if fields["document_type"] == "TD3":
            return Template.PASSPORT
        if fields["document_type"] == "TD1":
            return {"D": Template.DE_ID, "D<<": Template.DE_ID, "DEU": Template.DE_ID,
                    "NLD": Template.NL_ID}.get(str(fields.get("issuing_state")))
        return None
    document = report.get("document")
    kind = document.get("kind") if isinstance(document, dict) else None
    return Template.PASSPORT if kind == "td3" else None
