"""The session analyzer over generated webcam scenes: genuine passes tilt and hologram, attacks do not."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from fixtures.attacks import Attack
from fixtures.scenes import SceneSpec, generate_scene
from pipelines.analyzer import FACE_CHECK_EVERY, SECTIONS, SessionAnalyzer
from pipelines.frame import DocumentSide, Frame, FrameContext
from pipelines.layouts import Template
from pipelines.quality import Guidance
from pipelines.results import CheckResult, Reason, Verdict

# Short scenes keep the suite fast: 4 s at 10 fps, 640x480, still a full tilt choreography.
SCENE = {"size": (640, 480), "seconds": 4.0, "fps": 10.0}


def _analyse(template: Template, attack: Attack | None, seed: int) -> tuple[SessionAnalyzer, dict]:
    scene = generate_scene(SceneSpec(template, seed=seed, attack=attack, **SCENE))  # type: ignore[arg-type]
    analyzer = SessionAnalyzer()
    for frame, _ in scene.frames():
        analyzer.process(frame)
    return analyzer, analyzer.report()


@pytest.mark.shared_data
@pytest.mark.parametrize("template", [Template.NL_ID, Template.PASSPORT])
def test_a_genuine_session_passes_tilt_and_hologram(shared_data: Path, template: Template) -> None:
    analyzer, report = _analyse(template, None, seed=5)
    assert report["tilt"]["verdict"] == "pass", report["tilt"]
    assert report["hologram"]["verdict"] == "pass", report["hologram"]
    assert report["document"]["verdict"] == "pass", report["document"]
    assert report["quality"]["verdict"] == "pass"
    stills = analyzer.stills()
    assert DocumentSide.FRONT in stills
    assert stills[DocumentSide.FRONT].image.shape[:2] == (540, 856) or template is Template.PASSPORT


@pytest.mark.shared_data
def test_a_card_held_flat_fails_the_tilt_check(shared_data: Path) -> None:
    _, report = _analyse(Template.NL_ID, Attack.NO_TILT, seed=5)
    assert report["tilt"]["verdict"] == "fail"
    assert report["tilt"]["reason"]["code"] == "insufficient_tilt"
    assert report["hologram"]["verdict"] != "pass"
    assert report["verdict"] == "fail"


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("template", "attack"), [(Template.DE_ID, Attack.PHOTOCOPY), (Template.PASSPORT, Attack.SCREEN_REPLAY)]
)
def test_copies_and_screens_fail_the_hologram_check(shared_data: Path, template: Template, attack: Attack) -> None:
    _, report = _analyse(template, attack, seed=5)
    assert report["hologram"]["verdict"] == "fail", report["hologram"]


@pytest.mark.shared_data
def test_corrupted_frames_do_not_crash_and_are_counted(shared_data: Path) -> None:
    scene = generate_scene(SceneSpec(Template.NL_ID, seed=2, size=(640, 480), seconds=1.0, fps=10.0))
    rng = np.random.default_rng(0)
    analyzer = SessionAnalyzer()
    broken = 0
    for frame, _ in scene.frames():
        image = frame.image.copy()
        if frame.index % 3 == 1:  # what a starved decoder delivers: smeared macroblocks and green rows
            h, w = image.shape[:2]
            for y in range(0, h // 2, 16):
                for x in range(0, w, 16):
                    image[y : y + 16, x : x + 16] = rng.integers(0, 255, 3)
            image[h - 80 :, :] = (0, 135, 0)
            broken += 1
        observation = analyzer.process(Frame(image, frame.index, frame.t_s))
        if frame.index % 3 == 1:
            assert Guidance.CONNECTION_PROBLEM in observation.guidance
            assert observation.document is None
    report = analyzer.report()
    assert report["quality"]["broken_frames"] == broken
    for garbage in (np.zeros((480, 640, 3), np.uint8), rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)):
        analyzer.process(Frame(garbage, 99, 9.9))
    json.dumps(analyzer.report())


class _FakeMrz:
    """A stand-in stage for the report's composition only (the real MRZ stage has its own tests)."""

    name = "mrz"
    version = "test-mrz-1"

    def __init__(self) -> None:
        self.seen = 0

    def observe(self, context: FrameContext) -> None:
        self.seen += 1

    def result(self) -> CheckResult:
        return CheckResult("mrz", Verdict.PASS, Reason("read", "read"), 1.0, {"frames": self.seen})


def test_report_has_every_section_and_is_honest_about_missing_ones() -> None:
    stage = _FakeMrz()
    analyzer = SessionAnalyzer([stage])
    frame = Frame(np.full((480, 640, 3), 128, np.uint8), 0, 0.0)
    for index in range(3):
        analyzer.process(Frame(frame.image, index, index / 15))
    report = json.loads(json.dumps(analyzer.report()))
    assert set(SECTIONS) <= set(report)
    for name in ("face", "liveness", "injection"):
        assert report[name]["verdict"] == "inconclusive"
        assert report[name]["reason"]["code"] == "not_implemented"
    assert report["mrz"]["verdict"] == "pass" and stage.seen == 3
    assert report["engines"]["mrz"] == "test-mrz-1"
    assert report["verdict"] == "inconclusive"  # nothing failed, but not everything could be decided
    assert report["frames"] == 3


def test_two_stages_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="share a section"):
        SessionAnalyzer([_FakeMrz(), _FakeMrz()])


def test_report_may_be_read_while_another_thread_processes() -> None:
    analyzer = SessionAnalyzer()
    image = np.full((480, 640, 3), 100, np.uint8)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for index in range(30):
                analyzer.process(Frame(image, index, index / 15))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    while thread.is_alive():
        analyzer.report()
    thread.join()
    assert not errors
    assert analyzer.report()["frames"] == 30


def test_the_face_detector_runs_on_sampled_camera_frames_whatever_their_index() -> None:
    """A live session samples the camera (every 6th frame of 30 fps): its frame indices 3, 9, 15, ... are
    never multiples of 10, yet the face detector must still run every FACE_CHECK_EVERY analysed frames."""
    calls: list[int] = []

    def detector(context: FrameContext) -> bool:
        calls.append(context.frame.index)
        return True

    analyzer = SessionAnalyzer(face_detector=detector)
    image = np.full((120, 160, 3), 128, np.uint8)
    frames = 3 * FACE_CHECK_EVERY
    for k in range(frames):
        analyzer.process(Frame(image, 6 * k + 3, k / 5))
    assert len(calls) == frames // FACE_CHECK_EVERY
