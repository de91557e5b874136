"""Synthetic documents: the MRZ validates and encodes what the visual zone prints; the OVD responds to the
angle; the same seed gives the same bytes; tesseract's MRZ model and the face engine work on the renders."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from fixtures.documents import render_document
from fixtures.faces import ASTRONAUT, load_face_library
from fixtures.mrz_format import MrzData, check_digits_valid, format_td1, format_td3, transliterate, yymmdd
from fixtures.persons import bsn_valid, generate_holder
from pipelines.frame import DocumentSide
from pipelines.layouts import Template, ZoneName, layout_for, rectified_size_px

SEEDS = (0, 1, 2)


def test_td3_formatter_reproduces_the_icao_specimen() -> None:
    data = MrzData("P", "UTO", "L898902C3", date(1974, 8, 12), "F", date(2012, 4, 15), "UTO", "Eriksson",
                   "Anna María", "ZE184226B")
    assert format_td3(data) == (
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
    )


def test_td1_formatter_reproduces_the_icao_specimen() -> None:
    # ICAO 9303 Part 5 TD1 specimen (document D23145890, optional data 7349 in line 1 after the filler).
    data = MrzData("I", "UTO", "D23145890", date(1974, 8, 12), "F", date(2012, 4, 15), "UTO", "Eriksson",
                   "Anna Maria")
    line1, line2, line3 = format_td1(data)
    assert line1 == "I<UTOD231458907<<<<<<<<<<<<<<<"
    assert line2[:18] == "7408122F1204159UTO" and check_digits_valid((line1, line2, line3))
    assert line3 == "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"


def test_transliteration() -> None:
    assert transliterate("Müller-Lüdenscheidt") == "MUELLER<LUEDENSCHEIDT"
    assert transliterate("Schröder") == "SCHROEDER" and transliterate("Groß") == "GROSS"
    assert transliterate("De Boer") == "DE<BOER" and transliterate("Zoë") == "ZOE"


def test_check_digit_validator_rejects_every_single_digit_change() -> None:
    lines = format_td3(MrzData("P", "UTO", "L898902C3", date(1974, 8, 12), "F", date(2012, 4, 15), "UTO",
                               "Eriksson", "Anna", "ZE184226B"))
    for col in range(44):
        char = lines[1][col]
        if char.isdigit():
            broken = lines[1][:col] + str((int(char) + 1) % 10) + lines[1][col + 1 :]
            assert not check_digits_valid((lines[0], broken)), f"column {col + 1}"


@pytest.mark.parametrize("template", list(Template))
def test_mrz_is_valid_and_matches_the_printed_data(template: Template) -> None:
    for seed in SEEDS:
        doc = render_document(template, seed)
        truth = doc.truth
        holder = truth.holder
        lines = truth.mrz_lines
        assert truth.mrz_valid and check_digits_valid(lines)
        rows, chars = layout_for(template).mrz_shape
        assert len(lines) == rows and all(len(line) == chars for line in lines)
        joined = "".join(lines)
        assert holder.document_number in joined
        assert yymmdd(holder.birthdate) in joined and yymmdd(holder.expiry) in joined
        assert transliterate(holder.surname) in joined
        assert truth.printed[ZoneName.DOCUMENT_NUMBER] == holder.document_number
        assert truth.printed[ZoneName.SURNAME] == holder.surname.upper()
        assert str(holder.birthdate.year) in truth.printed[ZoneName.BIRTHDATE]
        if template is Template.NL_ID:
            assert lines[0].startswith("I<NLD") and lines[0][15:24] == holder.bsn
            assert holder.bsn is not None and bsn_valid(holder.bsn)
            assert truth.printed[ZoneName.BSN].replace(".", "") == holder.bsn
        elif template is Template.DE_ID:
            assert lines[0].startswith("IDD<<") and lines[1][15:18] == "D<<"
            assert holder.can is not None and len(holder.can) == 6 and holder.can.isdigit()
            assert truth.printed[ZoneName.CAN] == holder.can
        else:
            assert lines[0].startswith("P<") and holder.personal_number is not None
            assert holder.personal_number in lines[1]


def test_bsn_eleven_test() -> None:
    assert bsn_valid("111222333") and bsn_valid("123456782")
    assert not bsn_valid("123456789") and not bsn_valid("000000000") and not bsn_valid("12345678")
    rng = np.random.default_rng(5)
    assert all(bsn_valid(generate_holder(Template.NL_ID, rng).bsn or "") for _ in range(20))


@pytest.mark.parametrize("template", list(Template))
def test_images_have_the_rectified_size_and_rounded_corners(template: Template) -> None:
    doc = render_document(template, 3)
    layout = layout_for(template)
    width, height = rectified_size_px(layout.kind)
    for side in layout.sides:
        image = doc.side_image(side)
        assert image.shape == (height, width, 4) and image.dtype == np.uint8
        assert image[0, 0, 3] == 0 and image[height // 2, width // 2, 3] == 255
    assert (doc.back is None) == (template is Template.PASSPORT)


def test_same_seed_same_bytes_and_different_seed_differs() -> None:
    a, b, c = render_document("de-id", 11), render_document("de-id", 11), render_document("de-id", 12)
    assert np.array_equal(a.front, b.front) and a.back is not None and b.back is not None
    assert np.array_equal(a.back, b.back)
    assert a.truth.to_json() == b.truth.to_json()
    assert not np.array_equal(a.front, c.front) and a.truth.mrz_lines != c.truth.mrz_lines


def test_ovd_changes_colour_and_brightness_with_the_angle_and_nothing_else_does() -> None:
    doc = render_document("nl-id", 4)
    x0, y0, x1, y1 = doc.layout.box_px(ZoneName.OVD)
    left = doc.side_image(DocumentSide.FRONT, -20.0, 0.0).astype(np.int16)
    right = doc.side_image(DocumentSide.FRONT, 20.0, 0.0).astype(np.int16)
    flash = doc.side_image(DocumentSide.FRONT, 12.0, -10.0).astype(np.int16)
    zone = (slice(y0, y1), slice(x0, x1))
    foil = doc.ovd.foil > 0.5
    diff = np.abs(left[zone][..., :3] - right[zone][..., :3])[foil]
    assert diff.mean() > 25  # a clear colour shift between -20 and +20 degrees
    value = {name: img[zone][..., :3].max(axis=-1)[foil].mean() for name, img in (("flash", flash), ("left", left))}
    assert value["flash"] > value["left"] + 10  # HSV value: it flashes at its angle
    outside = np.ones(left.shape[:2], bool)
    outside[zone] = False
    assert np.array_equal(left[outside], right[outside])


def test_faces_fall_back_to_the_astronaut_without_shared_data(tmp_path: Path) -> None:
    library = load_face_library(tmp_path / "absent")
    assert not library.real and library.photos == (ASTRONAUT,)
    doc = render_document("passport", 1, faces=library)
    assert doc.truth.portrait.identity == "astronaut"


@pytest.mark.shared_data
def test_tesseract_mrz_model_reads_the_rectified_band(shared_data: Path) -> None:
    import cv2

    from models.ocr import PageSegMode, TesseractEngine

    engine = TesseractEngine(shared_data / "tessdata")
    for template in Template:
        doc = render_document(template, 21)
        layout = doc.layout
        image = doc.side_image(layout.mrz_side)
        x0, y0, x1, y1 = layout.box_px(ZoneName.MRZ)
        band = cv2.cvtColor(image[y0:y1, x0:x1, :3], cv2.COLOR_BGR2GRAY)
        band = cv2.resize(band, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
        text = engine.recognise(band, PageSegMode.SINGLE_BLOCK).text
        assert tuple(line for line in text.splitlines() if line) == doc.truth.mrz_lines, template


@pytest.mark.shared_data
def test_portrait_is_a_face_of_the_holder_identity(shared_data: Path) -> None:
    from models.face import FaceEngine

    engine = FaceEngine(upsample=1)
    library = load_face_library(shared_data / "faces")
    rng = np.random.default_rng(3)
    portrait, live = library.pick_genuine(rng)
    assert portrait.identity == live.identity and portrait.source != live.source
    doc = render_document("nl-id", 3, faces=library, portrait=portrait)
    x0, y0, x1, y1 = doc.layout.box_px(ZoneName.PORTRAIT)
    crop = np.ascontiguousarray(doc.front[y0:y1, x0:x1, :3])
    faces = engine.detect(crop, scale=2.0)
    assert faces, "no face found in the printed portrait"
    live_image, (top, right, bottom, left) = live.load()
    from models.face import FaceBox

    distance = float(np.linalg.norm(engine.encode(crop, faces[0].box) - engine.encode(
        live_image, FaceBox(top, right, bottom, left))))
    assert distance < 0.6  # face_recognition's same-person threshold (../shared/notes/faces.md)
