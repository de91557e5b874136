"""Passive liveness signals on frames built for the purpose: camera noise vs re-sent frames, a card held
in a hand vs shown on a black-framed phone, and frame timing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from models.face import FaceEngine
from pipelines.face.live import FaceTracker
from pipelines.frame import DocumentKind, DocumentSide, DocumentView, Frame, FrameContext
from pipelines.liveness import passive
from pipelines.liveness.active import Challenge
from pipelines.liveness.repeats import FROZEN_MIN_RUN, RepeatMonitor
from pipelines.liveness.stage import LivenessStage
from pipelines.results import Verdict

RNG_SEED = 7


def scene(rng: np.random.Generator, dx: int = 0) -> np.ndarray:
    """A 1280x720 'room' with the astronaut, plus sensor noise (sigma 3, as a webcam)."""
    frame = np.full((720, 1280, 3), (120, 130, 140), np.uint8)
    frame[:, :400] = (60, 90, 150)
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    frame[100:612, 700 + dx : 1212 + dx] = astronaut
    noise = rng.normal(0, 3, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def test_camera_noise_is_never_a_repeat_but_a_resent_frame_is() -> None:
    rng = np.random.default_rng(RNG_SEED)
    a, b = scene(rng), scene(rng)  # the same still scene, two camera frames
    assert passive.repeat_distance(passive.thumbnail(a), passive.thumbnail(b)) > passive.REPEAT_MAX_DIFF
    assert passive.repeat_distance(passive.thumbnail(a), passive.thumbnail(a.copy())) == 0.0


def test_frozen_and_looping_video_are_found_live_video_is_not() -> None:
    rng = np.random.default_rng(RNG_SEED)
    clip = [passive.thumbnail(scene(rng, dx=i % 3)) for i in range(12)]
    live = RepeatMonitor()
    for thumb in clip:
        live.add(thumb)
    assert not live.stats().frozen and not live.stats().looping

    frozen = RepeatMonitor()
    for _ in range(FROZEN_MIN_RUN + 2):
        frozen.add(clip[0])
    assert frozen.stats().frozen

    loop = RepeatMonitor()
    for thumb in clip * 2:
        loop.add(thumb)
    stats = loop.stats()
    assert stats.looping and stats.loop_lag_frames == len(clip) and not stats.frozen


def _card_frame(rng: np.random.Generator, on_phone: bool) -> tuple[np.ndarray, np.ndarray]:
    frame = scene(rng)
    corners = np.float32([[100, 300], [600, 300], [600, 615], [100, 615]])
    if on_phone:
        cv2.rectangle(frame, (60, 260), (640, 655), (15, 15, 15), -1)  # bezel + black screen border
    cv2.rectangle(frame, (100, 300), (600, 615), (210, 220, 230), -1)  # the card (or its picture)
    return frame, corners


def test_black_frame_around_the_card_is_a_screen() -> None:
    rng = np.random.default_rng(RNG_SEED)
    held, corners = _card_frame(rng, on_phone=False)
    shown, _ = _card_frame(rng, on_phone=True)
    assert passive.surround_darkness(held, corners) < 0.3
    assert passive.surround_darkness(shown, corners) >= passive.BEZEL_THRESHOLD


def test_face_inside_a_dark_frame_scores_a_bezel() -> None:
    rng = np.random.default_rng(RNG_SEED)
    frame = scene(rng)
    box = (250, 1010, 450, 830)  # (top, right, bottom, left) around the astronaut's face region
    assert passive.bezel_score(frame, box) < 0.75
    cv2.rectangle(frame, (640, 60), (1270, 660), (10, 10, 10), 25)
    assert passive.bezel_score(frame, box) >= 0.75


@pytest.mark.parametrize(
    ("times", "problem"),
    [
        ([0.0, 0.066, 0.133, 0.1, 0.2, 0.266], "non_monotonic"),
        ([i / 200 for i in range(30)], "implausible_fps"),
        ([0.0, 0.066, 0.133, 2.5, 2.566, 2.633], "stall"),
        ([0.0, 0.0, 0.0, 0.066, 0.066, 0.066], "duplicate_timestamps"),
    ],
)
def test_implausible_timing(times: list[float], problem: str) -> None:
    assert problem in passive.timing_stats(times).problems


def test_webcam_jitter_is_plausible() -> None:
    rng = np.random.default_rng(RNG_SEED)
    times = np.cumsum(1 / 15 + rng.normal(0, 0.004, 60))
    assert passive.timing_stats(list(times)).problems == ()


def test_stage_fails_a_frozen_feed_and_never_passes_without_challenges() -> None:
    engine = FaceEngine()
    rng = np.random.default_rng(RNG_SEED)
    frames = [scene(rng, dx=i % 2) for i in range(6)]
    live = LivenessStage(FaceTracker(engine))
    for i, image in enumerate(frames * 2):
        live.observe(FrameContext(Frame(image if i < 6 else scene(rng), i, i / 15), None))
    result = live.result()
    assert result.verdict is Verdict.INCONCLUSIVE and result.reason.code == "passive_only"
    assert not any(s["flagged"] for s in result.measurements["signals"].values() if s["decisive"])

    frozen = LivenessStage(FaceTracker(engine), [Challenge.BLINK], challenge_start_s=0.0)
    for i in range(15):
        frozen.observe(FrameContext(Frame(frames[0], i, i / 15), None))
    result = frozen.result()
    assert result.verdict is Verdict.FAIL and "frozen_frames" in result.reason.text


def test_document_on_a_phone_fails_the_stage() -> None:
    engine = FaceEngine()
    rng = np.random.default_rng(RNG_SEED)
    stage = LivenessStage(FaceTracker(engine))
    for i in range(10):
        image, corners = _card_frame(rng, on_phone=True)
        view = DocumentView(corners, np.zeros((540, 856, 3), np.uint8), DocumentKind.ID1, DocumentSide.FRONT,
                            0.0, 0.0, 0.9)
        stage.observe(FrameContext(Frame(image, i, i / 15), view))
    result = stage.result()
    assert result.verdict is Verdict.FAIL
    assert result.measurements["signals"]["screen_bezel_document"]["flagged"]


def test_a_card_held_against_a_dark_sweater_is_not_a_screen() -> None:
    rng = np.random.default_rng(RNG_SEED)
    frame, corners = _card_frame(rng, on_phone=False)
    frame[200:720, 0:760] = 20  # black clothing all around and far beyond the card
    cv2.rectangle(frame, (100, 300), (600, 615), (210, 220, 230), -1)
    assert passive.surround_darkness(frame, corners) < passive.BEZEL_THRESHOLD
