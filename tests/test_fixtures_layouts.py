"""The document templates' geometry: sizes, zones inside the document, no overlapping fields."""

from __future__ import annotations

import itertools

import pytest

from pipelines.frame import DocumentKind, DocumentSide
from pipelines.layouts import (
    LAYOUTS,
    MRZ_CHAR_PITCH_MM,
    RECTIFIED_PX_PER_MM,
    Template,
    Zone,
    ZoneName,
    layout_for,
    rectified_size_px,
)

# The hologram may overlap the portrait's corner (as on real cards); nothing else may overlap.
_MAY_OVERLAP = {frozenset({ZoneName.OVD, ZoneName.PORTRAIT})}


def test_rectified_sizes() -> None:
    assert RECTIFIED_PX_PER_MM == 10.0
    assert rectified_size_px(DocumentKind.ID1) == (856, 540)
    assert rectified_size_px(DocumentKind.TD3) == (1250, 880)


@pytest.mark.parametrize("template", list(Template))
def test_zones_do_not_overlap(template: Template) -> None:
    layout = layout_for(template)
    for (name_a, a), (name_b, b) in itertools.combinations(layout.zones.items(), 2):
        if a.side is not b.side or frozenset({name_a, name_b}) in _MAY_OVERLAP:
            continue
        overlap = min(a.x1_mm, b.x1_mm) > max(a.x_mm, b.x_mm) and min(a.y1_mm, b.y1_mm) > max(a.y_mm, b.y_mm)
        assert not overlap, f"{template}: {name_a} overlaps {name_b}"


@pytest.mark.parametrize("template", list(Template))
def test_mrz_band_fits_its_characters(template: Template) -> None:
    layout = layout_for(template)
    lines, chars = layout.mrz_shape
    band = layout.zones[ZoneName.MRZ]
    assert band.w_mm >= chars * MRZ_CHAR_PITCH_MM
    assert band.h_mm >= lines * 4.0  # OCR-B size 1 lines are at least 4 mm apart when printed by us


def test_realistic_placement() -> None:
    nl, de, pp = LAYOUTS[Template.NL_ID], LAYOUTS[Template.DE_ID], LAYOUTS[Template.PASSPORT]
    assert nl.mrz_side is DocumentSide.BACK and de.mrz_side is DocumentSide.BACK
    assert nl.zones[ZoneName.BSN].side is DocumentSide.BACK and ZoneName.BSN in nl.masked
    assert de.zones[ZoneName.CAN].side is DocumentSide.FRONT and ZoneName.CAN in de.masked
    assert pp.sides == (DocumentSide.FRONT,) and pp.mrz_shape == (2, 44)
    assert pp.zones[ZoneName.PORTRAIT].x_mm < 20 and pp.zones[ZoneName.MRZ].y_mm > 60
    assert layout_for("nl-id") is nl


def test_box_px_scales_and_clips() -> None:
    layout = layout_for(Template.NL_ID)
    x0, y0, x1, y1 = layout.box_px(ZoneName.MRZ)
    assert (x0, y0) == (35, 360) and (x1, y1) == (821, 526)
    # Half the resolution: half the box (within rounding).
    hx0, hy0, hx1, hy1 = layout.box_px(ZoneName.MRZ, (428, 270))
    assert abs(hx0 - x0 / 2) <= 1 and abs(hy1 - y1 / 2) <= 1
    with pytest.raises(KeyError):
        layout.box_px(ZoneName.CAN)


def test_value_objects_validate() -> None:
    with pytest.raises(ValueError):
        Zone(DocumentSide.UNKNOWN, 0, 0, 1, 1)
    with pytest.raises(ValueError):
        Zone(DocumentSide.FRONT, 0, 0, 0, 1)
    nl = layout_for(Template.NL_ID)
    with pytest.raises(ValueError):
        type(nl)(nl.template, nl.kind, nl.size_mm, {ZoneName.MRZ: Zone(DocumentSide.BACK, 80, 0, 10, 5)}, nl.sides)
    with pytest.raises(ValueError):
        type(nl)(nl.template, DocumentKind.TD3, nl.size_mm, nl.zones, nl.sides)
