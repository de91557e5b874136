"""A small, independent scene renderer for the document/tilt/hologram/quality tests.

It places a card texture (a real specimen from ../shared/data, or a card drawn here) into a cluttered
webcam-like frame at a known pose, using the pinhole model of :mod:`pipelines.tilt`, and returns the true
corners. The fixtures/ scene generator is the main benchmark; this one keeps these tests independent of
it and lets them place fingers, glare and partial views exactly where a test needs them.
"""

from __future__ import annotations

import colorsys
from pathlib import Path

import cv2
import numpy as np

from pipelines.frame import DocumentKind
from pipelines.hologram import ovd_zone
from pipelines.layouts import rectified_size_px
from pipelines.tilt import CameraModel, project_document, rotation_from_angles

SPECIMENS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "documents" / "passporteye"


def clutter(width: int, height: int, rng: np.random.Generator, shapes: int = 25) -> np.ndarray:
    """A cluttered background: flat shapes and lines in random colours, softened like a lens would."""
    img = np.empty((height, width, 3), np.uint8)
    img[:] = rng.integers(60, 200, 3).astype(np.uint8)
    for _ in range(shapes):
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        choice = int(rng.integers(0, 3))
        if choice == 0:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(10, 160)), y + int(rng.integers(10, 160))), colour, -1)
        elif choice == 1:
            cv2.circle(img, (x, y), int(rng.integers(5, 70)), colour, -1)
        else:
            end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.line(img, (x, y), end, colour, int(rng.integers(1, 4)))
    return cv2.GaussianBlur(img, (5, 5), 0)  # a webcam focused on the card sees the room slightly soft


def drawn_card(kind: DocumentKind = DocumentKind.ID1, seed: int = 0, back: bool = False) -> np.ndarray:
    """A card drawn with OpenCV at the rectified size: tinted background, a portrait block, text lines,
    and on the back an MRZ-like band of three full-width character lines."""
    rng = np.random.default_rng(seed)
    width, height = rectified_size_px(kind)
    card = np.empty((height, width, 3), np.uint8)
    card[:] = (210, 225, 235)
    for k in range(0, width, 9):  # guilloche-like fine lines
        cv2.line(card, (k, 0), (k + 60, height), (190, 205, 230), 1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    if back:
        for row in range(3):
            text = "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<<<<"), 30))
            cv2.putText(card, text, (40, int(height * 0.74) + row * 55), font, 1.25, (30, 30, 30), 3, cv2.LINE_AA)
        cv2.putText(card, "BACK 1234567", (40, 90), font, 1.0, (60, 40, 40), 2, cv2.LINE_AA)
    else:
        cv2.rectangle(card, (35, 110), (280, 430), (120, 140, 170), -1)
        cv2.circle(card, (157, 230), 70, (150, 170, 205), -1)
        for row in range(5):
            cv2.putText(card, f"FIELD {row} VALUE", (310, 140 + row * 70), font, 1.0, (40, 30, 30), 2, cv2.LINE_AA)
        cv2.putText(card, "IDENTITY CARD", (40, 70), font, 1.4, (80, 40, 40), 3, cv2.LINE_AA)
    return card


def with_hologram(card: np.ndarray, kind: DocumentKind, yaw_deg: float, pitch_deg: float, live: bool) -> np.ndarray:
    """``card`` with an OVD patch in the common OVD zone: live = rainbow whose hue phase follows the angle
    (independent of fixtures/: its own formula), else a flat silver print."""
    out = card.copy()
    h, w = out.shape[:2]
    doc_w = 85.60 if kind is DocumentKind.ID1 else 125.0
    doc_h = 53.98 if kind is DocumentKind.ID1 else 88.0
    x0, y0, x1, y1 = ovd_zone(kind)
    box = (int(x0 * w / doc_w), int(y0 * h / doc_h), int(x1 * w / doc_w), int(y1 * h / doc_h))
    bw, bh = box[2] - box[0], box[3] - box[1]
    ys, xs = np.mgrid[0:bh, 0:bw].astype(np.float32)
    if live:
        phase = (yaw_deg + 0.5 * pitch_deg) / 45.0
        patch = np.zeros((bh, bw, 3), np.float32)
        for i in range(0, bh, 4):
            for j in range(0, bw, 4):
                r, g, b = colorsys.hsv_to_rgb(((j / bw) * 0.7 + (i / bh) * 0.3 + phase) % 1.0, 0.8, 0.95)
                patch[i : i + 4, j : j + 4] = (b * 255, g * 255, r * 255)
    else:
        patch = np.full((bh, bw, 3), 170.0, np.float32) + 30.0 * np.sin(xs / 6.0)[..., None]
    region = out[box[1] : box[3], box[0] : box[2]].astype(np.float32)
    out[box[1] : box[3], box[0] : box[2]] = (0.25 * region + 0.75 * patch).astype(np.uint8)
    return out


def specimen_card(name: str, kind: DocumentKind = DocumentKind.ID1) -> np.ndarray | None:
    """A real specimen scan resized to the rectified size of ``kind``, or None when absent."""
    image = cv2.imread(str(SPECIMENS / name), cv2.IMREAD_COLOR)
    return None if image is None else cv2.resize(image, rectified_size_px(kind), interpolation=cv2.INTER_AREA)


def render(
    texture: np.ndarray,
    kind: DocumentKind,
    yaw_deg: float,
    pitch_deg: float,
    *,
    size: tuple[int, int] = (1280, 720),
    distance_mm: float = 170.0,
    offset_mm: tuple[float, float] = (0.0, 0.0),
    seed: int = 0,
    finger: bool = False,
    noise: float = 3.0,
    background: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(frame BGR uint8, true corners (4, 2) TL TR BR BL) of ``texture`` seen at the pose."""
    rng = np.random.default_rng(seed)
    width, height = size
    camera = CameraModel(width, height)
    translation = np.array([offset_mm[0], offset_mm[1], distance_mm])
    corners = project_document(kind, rotation_from_angles(yaw_deg, pitch_deg), translation, camera)
    bg = clutter(width, height, rng) if background is None else background.copy()
    th, tw = texture.shape[:2]
    src = np.array([[0, 0], [tw, 0], [tw, th], [0, th]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, corners)
    warped = cv2.warpPerspective(texture, matrix, (width, height), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((th, tw), 255, np.uint8), matrix, (width, height), flags=cv2.INTER_AREA)
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    out = warped.astype(np.float32) * alpha + bg.astype(np.float32) * (1 - alpha)
    if finger:  # a thumb over the middle of the left edge, from outside the card
        left = (corners[0] + corners[3]) / 2
        centre = (int(left[0] - 25), int(left[1]))
        cv2.ellipse(out, centre, (70, 24), 0, 0, 360, (110, 140, 190), -1, cv2.LINE_AA)
    out += rng.normal(0.0, noise, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8), corners


def test_render_puts_the_card_where_its_corners_say() -> None:
    card = drawn_card()
    frame, corners = render(card, DocumentKind.ID1, 20.0, -10.0, seed=3, noise=0.0)
    assert frame.shape == (720, 1280, 3)
    # The card's corners, mapped back, show the card: its rectified view matches the texture.
    from pipelines.document import rectify

    flat = rectify(frame, corners, DocumentKind.ID1)
    difference = np.abs(flat.astype(np.float32) - card.astype(np.float32)).mean()
    assert difference < 20.0
    assert corners[1][0] > corners[0][0] and corners[3][1] > corners[0][1]
