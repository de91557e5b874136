# ruff: noqa: F811 - pytest fixtures imported from tests/test_core_support.py are redefined as arguments
"""Masking: profiles decide the fields; the pixels of the zones and of the repeating MRZ characters are
replaced; stored and exported evidence carry it; the command line does it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import Engine

from api.cli import main
from pipelines.frame import DocumentSide
from pipelines.layouts import MRZ_CHAR_PITCH_MM, Template, ZoneName, layout_for, rectified_size_px
from pipelines.masking import FILL_BGR, mask_document
from tests.test_core_support import (  # noqa: F401 - fixtures
    clock,
    keyring,
    migrated_sqlite,
    new_session,
    notifier,
    service,
)
from videoident import audit
from videoident.masking_policy import MaskingPolicy, Profile, fields_to_mask, policy_for
from videoident.service import IdentService
from videoident.states import ActorType
from videoident.vault import EvidenceKind, Variant

OCRB = Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf")
NL_MRZ = ("I<NLDSPECI20212999999990<<<<<8", "6503101F3103095NLD<<<<<<<<<<<0", "DE<BRUIJN<<WILLEKE<LISELOTTE<<")
BSN = "999999990"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """SQLite only: this module's subject is not storage (test_core_service covers both databases)."""
    eng = migrated_sqlite(tmp_path)
    yield eng
    eng.dispose()



def ink_document(template: Template, side: DocumentSide, mrz: tuple[str, ...] | None = None) -> np.ndarray:
    """A rectified document side: paper, every field zone filled with dark random 'ink', the MRZ in OCR-B
    at the ICAO pitch, centred in its zone."""
    layout = layout_for(template)
    width, height = rectified_size_px(layout.kind)
    rng = np.random.default_rng(7)
    image = np.full((height, width, 3), 235, np.uint8)
    for name in layout.zones_on(side):
        if name in (ZoneName.MRZ, ZoneName.PORTRAIT, ZoneName.OVD):
            continue
        x0, y0, x1, y1 = layout.box_px(name)
        image[y0:y1, x0:x1] = rng.integers(0, 90, (y1 - y0, x1 - x0, 3), dtype=np.uint8)
    if mrz is not None and layout.zones[ZoneName.MRZ].side is side:
        x0, y0, x1, y1 = layout.box_px(ZoneName.MRZ)
        px = width / layout.size_mm[0]
        pil = Image.fromarray(image[:, :, ::-1].copy())
        draw = ImageDraw.Draw(pil)
        font = ImageFont.truetype(str(OCRB), 34)
        pitch = MRZ_CHAR_PITCH_MM * px
        start = x0 + ((x1 - x0) - len(mrz[0]) * pitch) / 2
        line_h = (y1 - y0) / len(mrz)
        for row, line in enumerate(mrz):
            for col, char in enumerate(line):
                draw.text((start + (col + 0.5) * pitch, y0 + line_h * (row + 0.5)), char, font=font,
                          fill=(20, 20, 20), anchor="mm")
        image = np.asarray(pil)[:, :, ::-1].copy()
    return image


def char_cell(template: Template, line: int, col: int) -> tuple[int, int, int, int]:
    layout = layout_for(template)
    x0, y0, x1, y1 = layout.box_px(ZoneName.MRZ)
    pitch = MRZ_CHAR_PITCH_MM * (rectified_size_px(layout.kind)[0] / layout.size_mm[0])
    start = x0 + ((x1 - x0) - layout.mrz_shape[1] * pitch) / 2
    line_h = (y1 - y0) / layout.mrz_shape[0]
    return (int(start + col * pitch + 2), int(y0 + line * line_h + 2), int(start + (col + 1) * pitch - 2),
            int(y0 + (line + 1) * line_h - 2))


def has_ink(image: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    x0, y0, x1, y1 = box
    return bool((image[y0:y1, x0:x1] < 100).all(axis=2).any())


def test_profiles_say_what_is_masked() -> None:
    default = policy_for(Profile.DEFAULT)
    assert {ZoneName.CAN, ZoneName.BSN, ZoneName.PERSONAL_NUMBER} <= default.stored
    assert ZoneName.DOCUMENT_NUMBER not in default.stored and ZoneName.PORTRAIT not in default.exported
    gwg = policy_for(Profile.GWG_DE)
    assert ZoneName.DOCUMENT_NUMBER not in gwg.exported  # GwG requires the (serial) number to be kept
    wwft = policy_for(Profile.WWFT_NL)
    assert ZoneName.BSN not in wwft.stored and ZoneName.CAN in wwft.stored
    crypto = policy_for(Profile.CRYPTO_EXCHANGE)
    assert ZoneName.SIGNATURE in crypto.exported and ZoneName.SIGNATURE not in crypto.stored
    custom = policy_for(Profile.CUSTOM, {"stored": ["surname"], "exported": ["birthdate"]})
    assert custom.stored == {ZoneName.SURNAME, ZoneName.CAN}  # the CAN is never kept, whatever the list says
    assert custom.exported == {ZoneName.SURNAME, ZoneName.CAN, ZoneName.BIRTHDATE}
    with pytest.raises(ValueError, match="card access number"):
        MaskingPolicy(Profile.CUSTOM, frozenset(), frozenset({ZoneName.CAN}))
    assert fields_to_mask(default, Template.DE_ID, exported=False) == {ZoneName.CAN}
    assert fields_to_mask(default, Template.NL_ID, exported=False) == {ZoneName.BSN}


def test_the_can_is_replaced_and_the_serial_number_kept() -> None:
    image = ink_document(Template.DE_ID, DocumentSide.FRONT)
    result = mask_document(image, Template.DE_ID, DocumentSide.FRONT, {ZoneName.CAN})
    layout = layout_for(Template.DE_ID)
    x0, y0, x1, y1 = layout.box_px(ZoneName.CAN)
    assert (result.image[y0:y1, x0:x1] == FILL_BGR).all()
    d0, e0, d1, e1 = layout.box_px(ZoneName.DOCUMENT_NUMBER)
    assert np.array_equal(result.image[e0:e1, d0:d1], image[e0:e1, d0:d1])
    assert result.fields == {ZoneName.CAN} and has_ink(image, (x0, y0, x1, y1))
    assert image[y0, x0].tolist() != list(FILL_BGR), "the input is not changed in place"


def test_the_bsn_is_masked_in_its_zone_and_in_the_mrz_but_nothing_else() -> None:
    image = ink_document(Template.NL_ID, DocumentSide.BACK, NL_MRZ)
    result = mask_document(image, Template.NL_ID, DocumentSide.BACK, {ZoneName.BSN})
    start = NL_MRZ[0].index(BSN)
    assert 15 <= start and start + len(BSN) <= 30  # the BSN sits in the line-1 optional data
    for col in range(start, start + len(BSN)):
        cell = char_cell(Template.NL_ID, 0, col)
        assert has_ink(image, cell) and not has_ink(result.image, cell), f"MRZ column {col} still shows ink"
    for col in range(0, 14):  # document code, issuing state, document number: untouched
        cell = char_cell(Template.NL_ID, 0, col)
        x0, y0, x1, y1 = cell
        assert np.array_equal(result.image[y0:y1, x0:x1], image[y0:y1, x0:x1])
    for line in (1, 2):
        for col in range(30):
            x0, y0, x1, y1 = char_cell(Template.NL_ID, line, col)
            assert np.array_equal(result.image[y0:y1, x0:x1], image[y0:y1, x0:x1])
    assert {r.mrz for r in result.regions} == {True, False}


def test_masking_a_field_that_is_on_the_other_side_changes_nothing() -> None:
    image = ink_document(Template.NL_ID, DocumentSide.FRONT)
    result = mask_document(image, Template.NL_ID, DocumentSide.FRONT, {ZoneName.BSN})
    assert np.array_equal(result.image, image) and result.regions == ()


def test_stored_and_exported_evidence_are_masked_per_tenant(service: IdentService) -> None:
    tenant = service.create_tenant("exchange", "Coin Exchange", masking_profile=Profile.CRYPTO_EXCHANGE)
    session_id, _ = new_session(service, tenant.id)
    ok, data = cv2.imencode(".png", ink_document(Template.DE_ID, DocumentSide.FRONT))
    stored, exported = service.store_evidence(session_id, EvidenceKind.FRONT, data.tobytes(), "image/png",
                                              template=Template.DE_ID)
    assert stored.masked_fields == ("can",)
    assert exported.masked_fields == ("can", "signature")  # incidental data is not exported by an exchange
    agent = audit.Actor(ActorType.AGENT, "agent-1")
    kept = cv2.imdecode(np.frombuffer(service.read_evidence(session_id, stored.id, agent, export=False)[1],
                                      np.uint8), cv2.IMREAD_COLOR)
    x0, y0, x1, y1 = layout_for(Template.DE_ID).box_px(ZoneName.CAN)
    assert (kept[y0:y1, x0:x1] == FILL_BGR).all()  # the CAN never reaches the vault
    s0, t0, s1, t1 = layout_for(Template.DE_ID).box_px(ZoneName.SIGNATURE)
    assert has_ink(kept, (s0, t0, s1, t1))
    out = cv2.imdecode(np.frombuffer(service.read_evidence(session_id, exported.id, agent)[1], np.uint8),
                       cv2.IMREAD_COLOR)
    assert (out[t0:t1, s0:s1] == FILL_BGR).all()
    assert [e.id for e in service.list_evidence(session_id, variant=Variant.EXPORT)] == [exported.id]


def test_mask_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "nl-back.png"
    cv2.imwrite(str(source), ink_document(Template.NL_ID, DocumentSide.BACK, NL_MRZ))
    out = tmp_path / "masked.png"
    assert main(["mask", str(source), "--template", "nl-id", "--side", "back", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["masked_fields"] == ["bsn"] and any(r["mrz"] for r in report["regions"])
    masked = cv2.imread(str(out))
    x0, y0, x1, y1 = layout_for(Template.NL_ID).box_px(ZoneName.BSN)
    assert (masked[y0:y1, x0:x1] == FILL_BGR).all()
    assert main(["mask", str(source), "--template", "nl-id", "--profile", "wwft_nl", "--side", "back",
                 "-o", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["masked_fields"] == []
    assert main(["mask", str(source), "--template", "nl-id", "-o", str(out)]) == 2  # which side?
    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), np.zeros((720, 1280, 3), np.uint8))
    assert main(["mask", str(frame), "--template", "de-id", "--side", "front", "-o", str(out)]) == 2
    assert "rectified" in capsys.readouterr().err


@pytest.mark.shared_data
def test_ocr_no_longer_finds_the_bsn_on_a_rendered_dutch_card(shared_data: Path) -> None:
    """A real OCR read (tesseract with the MRZ model) of a rendered Dutch card: before masking the MRZ
    carries the BSN, after masking with the default profile neither the MRZ nor the BSN zone gives it."""
    import datetime as dt

    from fixtures.documents import render_document
    from models.ocr import TesseractEngine
    from pipelines.frame import DocumentKind
    from pipelines.mrz.read import read_rectified

    doc = render_document(Template.NL_ID, seed=11)
    bsn = doc.truth.holder.bsn
    back = doc.back
    assert bsn is not None and back is not None
    image = np.ascontiguousarray(back[:, :, :3])
    engine = TesseractEngine(shared_data / "tessdata")
    before = read_rectified(engine, image, DocumentKind.ID1, dt.date(2026, 11, 25))
    assert before is not None and bsn in "".join(before.raw_lines), "the test must see the BSN before masking"
    fields = fields_to_mask(policy_for(Profile.DEFAULT), Template.NL_ID, exported=False)
    masked = mask_document(image, Template.NL_ID, DocumentSide.BACK, fields).image
    after = read_rectified(engine, masked, DocumentKind.ID1, dt.date(2026, 11, 25))
    read_text = "".join(after.raw_lines) if after is not None else ""
    assert bsn not in read_text and bsn[:5] not in read_text
    surname = "".join(c for c in doc.truth.holder.surname.upper() if c.isalpha())
    assert surname in read_text.replace("<", ""), "the rest of the MRZ stays readable"
    x0, y0, x1, y1 = layout_for(Template.NL_ID).box_px(ZoneName.BSN)
    assert has_ink(image, (x0, y0, x1, y1)) and (masked[y0:y1, x0:x1] == FILL_BGR).all()


def test_a_passports_personal_number_is_masked_in_the_mrz_too() -> None:
    td3 = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
    image = ink_document(Template.PASSPORT, DocumentSide.FRONT, td3)
    fields = fields_to_mask(policy_for(Profile.DEFAULT), Template.PASSPORT, exported=False)
    assert fields == {ZoneName.PERSONAL_NUMBER}
    result = mask_document(image, Template.PASSPORT, DocumentSide.FRONT, fields)
    for col in range(28, 43):  # optional data (personal number) and its check digit
        cell = char_cell(Template.PASSPORT, 1, col)
        if td3[1][col] != "<":
            assert has_ink(image, cell)
        assert not has_ink(result.image, cell)
    for col in range(0, 27):  # document number, nationality, birth date, sex, expiry stay
        x0, y0, x1, y1 = char_cell(Template.PASSPORT, 1, col)
        assert np.array_equal(result.image[y0:y1, x0:x1], image[y0:y1, x0:x1])
    for col in range(44):
        x0, y0, x1, y1 = char_cell(Template.PASSPORT, 0, col)
        assert np.array_equal(result.image[y0:y1, x0:x1], image[y0:y1, x0:x1])
