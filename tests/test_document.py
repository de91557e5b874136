"""Document location: corners, kind, side, rectification, and robustness to clutter, fingers and garbage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.document import DocumentLocator, order_corners
from pipelines.frame import DocumentKind, DocumentSide
from pipelines.layouts import rectified_size_px
from tests.test_document_render import clutter, drawn_card, render, specimen_card

#: The issue's target: median corner error <= 2 % of the card width; each case here must stay under it.
MAX_CORNER_ERROR_FRACTION = 0.02
MAX_ANGLE_ERROR_DEG = 3.0

POSES = [(0.0, 0.0), (20.0, 0.0), (-25.0, 5.0), (0.0, 20.0), (5.0, -25.0), (15.0, 15.0), (-20.0, -15.0)]


def _card_width(corners: np.ndarray) -> float:
    return float(np.linalg.norm(corners[1] - corners[0]))


def _check(frame: np.ndarray, truth: np.ndarray, yaw: float, pitch: float, kind: DocumentKind) -> None:
    view = DocumentLocator().locate(frame)
    assert view is not None, f"no document found at yaw {yaw} pitch {pitch}"
    error = float(np.linalg.norm(view.corners_px - truth, axis=1).max())
    assert error <= MAX_CORNER_ERROR_FRACTION * _card_width(truth), f"corner error {error:.1f} px"
    assert view.kind is kind
    assert view.yaw_deg is not None and view.pitch_deg is not None
    assert abs(view.yaw_deg - yaw) <= MAX_ANGLE_ERROR_DEG + 0.1 * abs(pitch)
    assert abs(view.pitch_deg - pitch) <= MAX_ANGLE_ERROR_DEG + 0.1 * abs(yaw)
    assert view.rectified.shape[:2][::-1] == rectified_size_px(kind)


@pytest.mark.parametrize(("yaw", "pitch"), POSES)
def test_drawn_card_in_clutter_is_found_with_its_corners_and_tilt(yaw: float, pitch: float) -> None:
    frame, truth = render(drawn_card(), DocumentKind.ID1, yaw, pitch, seed=int(abs(yaw * 7 + pitch)))
    _check(frame, truth, yaw, pitch, DocumentKind.ID1)


SPECIMENS = ["100_id-che.jpg", "53_id-d.jpg", "100_id-si.jpg", "77_card-cmw.png"]
SPECIMEN_POSES = [(0.0, 0.0), (22.0, -8.0), (-10.0, 20.0)]


@pytest.mark.shared_data
def test_real_specimen_cards_are_found_in_most_placements(shared_data: Path) -> None:
    """Four real ID-1 specimens x three poses in clutter. Measured: 8 of 12 within 2 % of the card width;
    the Slovenian back (100_id-si) fails: its white MRZ band has no visible edge against a light room.
    This guards that level; docs/document.md lists the misses."""
    good = []
    for name in SPECIMENS:
        card = specimen_card(name)
        assert card is not None
        for yaw, pitch in SPECIMEN_POSES:
            frame, truth = render(card, DocumentKind.ID1, yaw, pitch, seed=len(name))
            view = DocumentLocator().locate(frame)
            if view is None:
                continue
            error = float(np.linalg.norm(view.corners_px - truth, axis=1).max())
            if error <= MAX_CORNER_ERROR_FRACTION * _card_width(truth):
                assert view.kind is DocumentKind.ID1
                assert abs((view.yaw_deg or 0.0) - yaw) <= MAX_ANGLE_ERROR_DEG + 0.1 * abs(pitch)
                good.append((name, yaw, pitch))
    assert len(good) >= 8, good


@pytest.mark.shared_data
def test_real_passport_page_is_found_as_td3(shared_data: Path) -> None:
    page = specimen_card("passport-td3.jpg", DocumentKind.TD3)
    assert page is not None
    frame, truth = render(page, DocumentKind.TD3, 12.0, 10.0, distance_mm=330.0, seed=5)
    _check(frame, truth, 12.0, 10.0, DocumentKind.TD3)


def test_640x480_frames_work_too() -> None:
    frame, truth = render(drawn_card(), DocumentKind.ID1, -15.0, 10.0, size=(640, 480), distance_mm=200.0, seed=2)
    _check(frame, truth, -15.0, 10.0, DocumentKind.ID1)


def test_a_finger_over_an_edge_does_not_lose_the_card() -> None:
    frame, truth = render(drawn_card(), DocumentKind.ID1, 10.0, 5.0, seed=11, finger=True)
    _check(frame, truth, 10.0, 5.0, DocumentKind.ID1)


def test_tracking_hint_follows_a_moving_card() -> None:
    locator = DocumentLocator()
    background = clutter(1280, 720, np.random.default_rng(4))
    hint = None
    for step in range(6):
        yaw = -10.0 + 4.0 * step
        frame, truth = render(drawn_card(), DocumentKind.ID1, yaw, 0.0, seed=step, background=background,
                              offset_mm=(2.0 * step, 0.0))
        view = locator.locate(frame, hint)
        assert view is not None
        assert float(np.linalg.norm(view.corners_px - truth, axis=1).max()) <= 0.02 * _card_width(truth)
        hint = view.corners_px


def test_back_of_a_td1_card_is_told_from_its_front() -> None:
    locator = DocumentLocator()
    front, _ = render(drawn_card(back=False), DocumentKind.ID1, 5.0, 5.0, seed=1)
    back, _ = render(drawn_card(back=True), DocumentKind.ID1, 5.0, 5.0, seed=1)
    front_view, back_view = locator.locate(front), locator.locate(back)
    assert front_view is not None and back_view is not None
    assert front_view.side is DocumentSide.FRONT
    assert back_view.side is DocumentSide.BACK


def test_an_upside_down_back_is_turned_the_right_way() -> None:
    card = drawn_card(back=True)[::-1, ::-1].copy()
    frame, truth = render(card, DocumentKind.ID1, 0.0, 0.0, seed=9)
    view = DocumentLocator().locate(frame)
    assert view is not None and view.side is DocumentSide.BACK
    # The document's top-left is the frame's bottom-right corner of the quad.
    assert np.linalg.norm(view.corners_px[0] - truth[2]) < 0.02 * _card_width(truth)


@pytest.mark.parametrize("seed", range(4))
def test_clutter_without_a_card_gives_nothing(seed: int) -> None:
    frame = clutter(1280, 720, np.random.default_rng(100 + seed), shapes=30)
    assert DocumentLocator().locate(frame) is None


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((720, 1280, 3), np.uint8),
        np.full((480, 640, 3), 255, np.uint8),
        np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8),
        np.zeros((8, 8, 3), np.uint8),
    ],
    ids=["black", "white", "noise", "tiny"],
)
def test_garbage_frames_give_nothing_and_never_raise(image: np.ndarray) -> None:
    assert DocumentLocator().locate(image) is None


def test_a_card_held_in_portrait_orientation_is_not_taken() -> None:
    card = np.ascontiguousarray(np.rot90(drawn_card()))
    frame, _ = render(card, DocumentKind.ID1, 0.0, 0.0, seed=8)  # the texture squashed into a landscape quad
    portrait = np.ascontiguousarray(np.rot90(frame))
    assert DocumentLocator().locate(portrait) is None


def test_order_corners_is_tl_tr_br_bl_whatever_the_input_order() -> None:
    quad = np.array([[100, 100], [420, 110], [410, 300], [90, 290]], dtype=np.float32)
    rng = np.random.default_rng(0)
    for _ in range(10):
        shuffled = quad[rng.permutation(4)]
        assert np.array_equal(order_corners(shuffled), quad)
