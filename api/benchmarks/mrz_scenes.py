"""Synthetic MRZ documents and webcam frames for the MRZ tests and benchmark (seeded, OCR-B font).

A stand-in until ``fixtures/`` renders full documents: a plain document with a valid ICAO MRZ printed
where the layouts put it, at the rectified scale, and the same document warped into a 1280x720 frame
with a tilt, blur, noise and JPEG. Ground truth is the MRZ text itself.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipelines.frame import DocumentKind
from pipelines.layouts import (
    LAYOUTS,
    MRZ_CHAR_PITCH_MM,
    RECTIFIED_PX_PER_MM,
    Template,
    ZoneName,
    layout_for,
    rectified_size_px,
)
from pipelines.mrz.checkdigit import check_digit

__all__ = [
    "OCRB_FONT",
    "SyntheticMrz",
    "random_mrz",
    "printed_fields",
    "render_document",
    "render_front",
    "place_in_frame",
    "degrade",
    "mrz_crop",
]
_LAYOUT_FOR_VIZ = {DocumentKind.ID1: layout_for(Template.DE_ID), DocumentKind.TD3: layout_for(Template.PASSPORT)}

OCRB_FONT = Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf")
SANS_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NAMES = ["MUELLER", "SCHMIDT", "DE<VRIES", "JANSEN", "ERIKSSON", "OBRIEN", "NGUYEN", "SCHULZE<MEIER", "BAKKER"]
_GIVEN = ["ANNA<MARIA", "JAN", "LUKAS", "SOPHIE", "KEES<JAN", "MARIE", "OLIVER", "FATIMA", "ZOE"]
_STATES = ["D<<", "NLD", "FRA", "UTO", "AUT", "BEL", "POL"]


@dataclass(frozen=True)
class SyntheticMrz:
    kind: DocumentKind
    lines: tuple[str, ...]


def _date(rng: random.Random, start: dt.date, days: int) -> str:
    return (start + dt.timedelta(days=rng.randrange(days))).strftime("%y%m%d")


def _number(rng: random.Random, n: int) -> str:
    return rng.choice(_LETTERS) + "".join(rng.choice(_LETTERS + "0123456789") for _ in range(n - 1))


def random_mrz(rng: random.Random, kind: DocumentKind) -> SyntheticMrz:
    """A valid TD1 (``ID1``) or TD3 MRZ with random identity, every check digit right."""
    state = rng.choice(_STATES)
    birth = _date(rng, dt.date(1940, 1, 1), 365 * 60)
    expiry = _date(rng, dt.date(2027, 1, 1), 365 * 9)
    sex = rng.choice("MF<")
    name = f"{rng.choice(_NAMES)}<<{rng.choice(_GIVEN)}"
    number = _number(rng, 9)
    if kind is DocumentKind.ID1:
        opt1 = "".join(rng.choice("0123456789") for _ in range(rng.choice((0, 9)))).ljust(15, "<")
        line1 = f"I{rng.choice('D<')}{state}{number}{check_digit(number)}{opt1}"
        line2 = f"{birth}{check_digit(birth)}{sex}{expiry}{check_digit(expiry)}{state}".ljust(29, "<")
        composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
        line2 += check_digit(composite)
        return SyntheticMrz(kind, (line1, line2, name[:30].ljust(30, "<")))
    personal = "".join(rng.choice("0123456789") for _ in range(rng.choice((0, 10)))).ljust(14, "<")
    personal_check = check_digit(personal) if personal.strip("<") else "<"
    line1 = f"P<{state}{name}"[:44].ljust(44, "<")
    body = f"{number}{check_digit(number)}{state}{birth}{check_digit(birth)}{sex}{expiry}{check_digit(expiry)}"
    body += personal + personal_check
    composite = body[0:10] + body[13:20] + body[21:43]
    return SyntheticMrz(kind, (line1, body + check_digit(composite)))


@lru_cache(maxsize=4)
def _font(size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(OCRB_FONT), size_px)


def printed_fields(mrz: SyntheticMrz) -> dict[ZoneName, str]:
    """The visual zone a genuine document of this MRZ prints (dates DD.MM.YYYY on cards, DD MON YYYY
    on passports, like the German card and the ICAO specimen)."""
    names = mrz.lines[2] if mrz.kind is DocumentKind.ID1 else mrz.lines[0][5:]
    surname, _, given = names.partition("<<")
    line = mrz.lines[1]
    number, birth, expiry = (mrz.lines[0][5:14], line[0:6], line[8:14]) if mrz.kind is DocumentKind.ID1 else (
        line[0:9], line[13:19], line[21:27])  # fmt: skip
    months = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()

    def date(raw: str, past: bool) -> str:
        year = 2000 + int(raw[:2])
        if past and year > 2026:
            year -= 100
        day, month = raw[4:6], int(raw[2:4])
        return f"{day}.{month:02d}.{year}" if mrz.kind is DocumentKind.ID1 else f"{day} {months[month - 1]} {year}"

    return {
        ZoneName.SURNAME: surname.replace("<", " ").strip(),
        ZoneName.GIVEN_NAMES: given.replace("<", " ").strip(),
        ZoneName.BIRTHDATE: date(birth, past=True),
        ZoneName.EXPIRY: date(expiry, past=False),
        ZoneName.DOCUMENT_NUMBER: number.strip("<"),
    }


def _blank(kind: DocumentKind, rng: random.Random) -> tuple[Image.Image, tuple[int, ...]]:
    width, height = rectified_size_px(kind)
    base = np.array([rng.randint(215, 245), rng.randint(215, 245), rng.randint(215, 245)], np.uint8)
    image = Image.fromarray(np.broadcast_to(base, (height, width, 3)).copy())
    draw = ImageDraw.Draw(image)
    for _ in range(12):  # guilloche-like background lines, lighter than the print
        y0, y1 = rng.randrange(height), rng.randrange(height)
        tone = tuple(int(c) - 25 for c in base)
        draw.line([(0, y0), (width, y1)], fill=tone, width=1)
    return image, tuple(int(c) for c in base)


def _draw_printed(image: Image.Image, kind: DocumentKind, printed: dict[ZoneName, str]) -> None:
    layout = _LAYOUT_FOR_VIZ[kind]
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(SANS_FONT), 32)
    for zone, text in printed.items():
        x0, y0, x1, y1 = layout.box_px(zone, image.size)
        draw.text((x0 + 4, y0 + 4), text, font=font, fill=(20, 20, 30))


def render_front(mrz: SyntheticMrz, rng: random.Random, printed: dict[ZoneName, str] | None = None) -> np.ndarray:
    """A card's front (ID1) with the printed visual zone (``printed``, default: the genuine fields),
    rectified BGR uint8. For TD3 the visual zone is on the MRZ page: see :func:`render_document`."""
    image, _ = _blank(mrz.kind, rng)
    _draw_printed(image, mrz.kind, printed if printed is not None else printed_fields(mrz))
    return np.array(image)[:, :, ::-1].copy()


def render_document(mrz: SyntheticMrz, rng: random.Random, printed: dict[ZoneName, str] | None = None) -> np.ndarray:
    """The document side holding the MRZ, rectified (10 px/mm), BGR uint8, with a light background pattern.
    A passport page also carries its printed visual zone (``printed``, default: the genuine fields)."""
    width, height = rectified_size_px(mrz.kind)
    layout = next(layout for layout in LAYOUTS.values() if layout.kind is mrz.kind)
    image, _ = _blank(mrz.kind, rng)
    draw = ImageDraw.Draw(image)
    if mrz.kind is DocumentKind.TD3:
        _draw_printed(image, mrz.kind, printed if printed is not None else printed_fields(mrz))
    x0, y0, x1, y1 = layout.box_px(ZoneName.MRZ, (width, height))
    pitch_px = MRZ_CHAR_PITCH_MM * RECTIFIED_PX_PER_MM
    font = _font(round(pitch_px / (_font(100).getlength("<") / 100)))
    line_gap = (y1 - y0) / len(mrz.lines)
    ink = rng.randint(0, 50)
    for i, line in enumerate(mrz.lines):
        y = y0 + i * line_gap + line_gap * 0.15
        for j, char in enumerate(line):
            draw.text((x0 + 3 + j * pitch_px, y), char, font=font, fill=(ink, ink, ink))
    # a few printed labels above the MRZ so the band finder meets other text too
    label = _font(28)
    draw.text((width * 0.35, height * 0.06), "SPECIMEN", font=label, fill=(60, 60, 90))
    return np.array(image)[:, :, ::-1].copy()


def place_in_frame(
    document: np.ndarray,
    rng: random.Random,
    tilt_deg: float,
    width_px: int = 720,
    frame_wh: tuple[int, int] = (1280, 720),
) -> tuple[np.ndarray, np.ndarray]:
    """(frame, corners): the document warped into a frame, turned ``tilt_deg`` about a random axis in the
    plane, with a small in-plane rotation. ``corners``: (4, 2) float32 TL, TR, BR, BL in frame pixels."""
    fw, fh = frame_wh
    h, w = document.shape[:2]
    scale = width_px / w
    half_w, half_h = w * scale / 2, h * scale / 2
    pts3 = np.array([[-half_w, -half_h, 0], [half_w, -half_h, 0], [half_w, half_h, 0], [-half_w, half_h, 0]])
    axis_angle = rng.uniform(0, 2 * math.pi)
    axis = np.array([math.cos(axis_angle), math.sin(axis_angle), 0.0])
    rot, _ = cv2.Rodrigues(axis * math.radians(tilt_deg))
    roll = math.radians(rng.uniform(-4, 4))
    roll_m = np.array([[math.cos(roll), -math.sin(roll), 0], [math.sin(roll), math.cos(roll), 0], [0, 0, 1]])
    pts = pts3 @ (roll_m @ rot).T
    focal = 1000.0
    z = pts[:, 2] + focal * 1.0
    cx = fw / 2 + rng.uniform(-60, 60)
    cy = fh / 2 + rng.uniform(-40, 40)
    corners = np.stack([cx + focal * pts[:, 0] / z, cy + focal * pts[:, 1] / z], axis=1).astype(np.float32)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, corners)
    background = np.full((fh, fw, 3), rng.randint(40, 120), np.uint8)
    speckle = np.random.default_rng(rng.randrange(2**32)).integers(0, 30, (fh, fw, 3), np.uint8)
    background = np.asarray(cv2.add(background, speckle), np.uint8)
    frame = cv2.warpPerspective(document, matrix, (fw, fh), dst=background, borderMode=cv2.BORDER_TRANSPARENT)
    return frame, corners


def degrade(
    image: np.ndarray, rng: random.Random, blur_sigma: float = 0.0, noise: float = 3.0, jpeg_q: int = 80
) -> np.ndarray:
    """Camera-like degradation: Gaussian blur, sensor noise (std in grey levels), JPEG at ``jpeg_q``."""
    out = image
    if blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), blur_sigma)
    if noise > 0:
        gen = np.random.default_rng(rng.randrange(2**32))
        out = np.clip(out.astype(np.float32) + gen.normal(0, noise, out.shape), 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, jpeg_q])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("JPEG decoding failed")
    return np.asarray(decoded)


def mrz_crop(document: np.ndarray, kind: DocumentKind) -> np.ndarray:
    """The MRZ zone of a rectified document (BGR), cut where the layout puts it."""
    layout = next(layout for layout in LAYOUTS.values() if layout.kind is kind)
    x0, y0, x1, y1 = layout.box_px(ZoneName.MRZ, (document.shape[1], document.shape[0]))
    return document[y0:y1, x0:x1]
