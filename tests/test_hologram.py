"""Hologram: the OVD's colour must follow the tilt, more than the rest of the card does."""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from pipelines.frame import DocumentKind, DocumentSide, DocumentView, Frame, FrameContext
from pipelines.hologram import HologramStage, ovd_features, response
from pipelines.results import Verdict
from tests.test_document_render import drawn_card, with_hologram

SWEEP = list(itertools.product((-25.0, -15.0, -5.0, 5.0, 15.0, 25.0), (-20.0, 0.0, 20.0)))
CORNERS = np.array([[0, 0], [856, 0], [856, 540], [0, 540]], dtype=np.float32)


def _view(rectified: np.ndarray, yaw: float, pitch: float, side: DocumentSide = DocumentSide.FRONT) -> DocumentView:
    return DocumentView(CORNERS, rectified, DocumentKind.ID1, side, yaw, pitch, 0.9)


def _session(live: bool, sweep: list[tuple[float, float]], gain_per_deg: float = 0.0) -> HologramStage:
    """Feed rectified views of a drawn card with a live or printed OVD; ``gain_per_deg`` brightens the
    whole card with the yaw (light that follows the tilt, like a lamp's reflection)."""
    stage = HologramStage()
    card = drawn_card(seed=4)
    rng = np.random.default_rng(0)
    for index, (yaw, pitch) in enumerate(sweep):
        image = with_hologram(card, DocumentKind.ID1, yaw, pitch, live).astype(np.float32)
        image = image * (1.0 + gain_per_deg * yaw) + rng.normal(0, 2.0, image.shape)
        rectified = np.clip(image, 0, 255).astype(np.uint8)
        stage.observe(FrameContext(Frame(rectified, index, index / 15), _view(rectified, yaw, pitch)))
    return stage


def test_a_live_hologram_passes() -> None:
    result = _session(True, SWEEP).result()
    assert result.verdict is Verdict.PASS, result.reason
    assert result.measurements["response_lab"] > 2 * result.measurements["min_response_lab"]
    assert result.score is not None and result.score > 0.5


def test_a_printed_hologram_fails() -> None:
    result = _session(False, SWEEP).result()
    assert result.verdict is Verdict.FAIL
    assert result.reason.code == "ovd_static"


def test_lighting_that_follows_the_tilt_does_not_make_a_print_pass() -> None:
    result = _session(False, SWEEP, gain_per_deg=0.01).result()  # +-25 % brightness over the sweep
    assert result.verdict is Verdict.FAIL


def test_glare_over_a_printed_hologram_does_not_make_it_pass() -> None:
    stage = HologramStage()
    card = drawn_card(seed=4)
    for index, (yaw, pitch) in enumerate(SWEEP):
        image = with_hologram(card, DocumentKind.ID1, yaw, pitch, live=False)
        centre = (int(740 + 3 * yaw), int(470 + 2 * pitch))  # a highlight that moves with the tilt
        cv2.circle(image, centre, 45, (255, 255, 255), -1)
        stage.observe(FrameContext(Frame(image, index, 0.0), _view(image, yaw, pitch)))
    assert stage.result().verdict is Verdict.FAIL


def test_too_little_tilt_is_inconclusive_not_fail() -> None:
    small = [(y / 5, p / 5) for y, p in SWEEP]
    result = _session(True, small).result()
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.reason.code == "too_little_tilt"


def test_too_few_frames_and_the_back_side_are_inconclusive() -> None:
    assert _session(True, SWEEP[:5]).result().reason.code == "too_few_frames"
    stage = HologramStage()
    card = drawn_card(back=True)
    for index, (yaw, pitch) in enumerate(SWEEP):
        stage.observe(FrameContext(Frame(card, index, 0.0), _view(card, yaw, pitch, DocumentSide.BACK)))
    assert stage.result().verdict is Verdict.INCONCLUSIVE


def test_response_measures_only_what_the_angle_explains() -> None:
    rng = np.random.default_rng(1)
    angles = rng.uniform(-25, 25, (60, 2))
    noise = rng.normal(0, 3.0, (60, 4))
    driven = np.column_stack([10 * np.sin(angles[:, 0] / 10), 8 * np.cos(angles[:, 1] / 8), noise[:, :2]])
    assert response(noise, angles) < 2.0  # pure noise: mostly averaged away
    assert response(driven, angles) > 4.0
    with_gaps = driven.copy()
    with_gaps[::3, 0] = np.nan  # glare: some frames miss a cell
    assert response(with_gaps, angles) > 4.0


def test_features_are_relative_to_the_card() -> None:
    card = with_hologram(drawn_card(seed=4), DocumentKind.ID1, 10.0, 0.0, True)
    warm = np.clip(card.astype(np.float32) * np.array([0.85, 1.0, 1.15]), 0, 255).astype(np.uint8)
    a = ovd_features(_view(card, 10.0, 0.0))
    b = ovd_features(_view(warm, 10.0, 0.0))
    assert a is not None and b is not None
    # A white-balance shift moves the card and the control zone together: the control features barely move.
    assert float(np.nanmean(np.abs(a[1] - b[1]))) < 3.0


def _misregistered_print_session() -> HologramStage:
    """A screenshot of the card (its hologram frozen in colour at one angle) seen through a quad that
    slides off the card as the card turns right (a screen replay's quad jumping between the card and the
    phone's screen): the OVD zone then moves over the frozen rainbow, and its colour changes with the
    yaw without any hologram. The sweep is shown twice, so enough well-placed frames remain to judge."""
    stage = HologramStage()
    card = with_hologram(drawn_card(seed=4), DocumentKind.ID1, 10.0, 0.0, live=True)
    padded = cv2.copyMakeBorder(card, 0, 0, 0, 200, cv2.BORDER_CONSTANT, value=(15, 15, 15))  # the screen's black
    for index, (yaw, pitch) in enumerate(SWEEP + SWEEP):
        shift = int(round(6 * max(0.0, yaw)))
        view = np.ascontiguousarray(padded[:, shift : shift + card.shape[1]])
        stage.observe(FrameContext(Frame(view, index, index / 15), _view(view, yaw, pitch)))
    return stage


def test_frames_whose_quad_slid_off_the_card_are_left_out() -> None:
    stage = _misregistered_print_session()
    result = stage.result()
    assert result.measurements["skipped_misregistered"] >= 12  # the frames with the largest shifts
    assert result.verdict is Verdict.FAIL, result.measurements
    assert result.reason.code == "ovd_static"
