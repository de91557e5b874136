"""Tilt: the pose from four corners under the stated pinhole model, and the session's tilt check."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from pipelines.frame import DocumentKind, Frame
from pipelines.results import Verdict
from pipelines.tilt import (
    PHYSICAL_SIZE_MM,
    SINGLE_FRAME_CONFIDENCE,
    CameraModel,
    TiltDirection,
    TiltTracker,
    estimate_pose,
    metric_aspect,
    project_document,
    rotation_from_angles,
)

CAMERA = CameraModel(1280, 720)


@pytest.mark.parametrize("kind", list(DocumentKind))
@pytest.mark.parametrize(("yaw", "pitch", "roll"), list(itertools.product((-35, -12, 0, 20), (-30, 0, 25), (0, 8))))
def test_pose_round_trip_recovers_the_angles(kind: DocumentKind, yaw: float, pitch: float, roll: float) -> None:
    corners = project_document(kind, rotation_from_angles(yaw, pitch, roll), np.array([30.0, -20.0, 320.0]), CAMERA)
    pose = estimate_pose(corners, kind, CAMERA)
    assert pose is not None
    # float32 corners limit the precision to ~0.05 deg.
    assert pose.yaw_deg == pytest.approx(yaw, abs=0.1)
    assert pose.pitch_deg == pytest.approx(pitch, abs=0.1)
    assert pose.translation_mm[2] == pytest.approx(320.0, rel=0.01)


def test_right_edge_away_is_positive_yaw_and_looks_shorter() -> None:
    corners = project_document(DocumentKind.ID1, rotation_from_angles(25, 0), np.array([0.0, 0.0, 300.0]), CAMERA)
    left_edge = np.linalg.norm(corners[3] - corners[0])
    right_edge = np.linalg.norm(corners[2] - corners[1])
    assert right_edge < left_edge  # farther away, smaller
    pose = estimate_pose(corners, DocumentKind.ID1, CAMERA)
    assert pose is not None and pose.yaw_deg > 20


def test_top_edge_away_is_positive_pitch_and_looks_shorter() -> None:
    corners = project_document(DocumentKind.ID1, rotation_from_angles(0, 25), np.array([0.0, 0.0, 300.0]), CAMERA)
    assert np.linalg.norm(corners[1] - corners[0]) < np.linalg.norm(corners[2] - corners[3])
    pose = estimate_pose(corners, DocumentKind.ID1, CAMERA)
    assert pose is not None and pose.pitch_deg > 20


def test_an_upside_down_card_has_the_same_tilt() -> None:
    rotation = rotation_from_angles(15, -10, 180)
    corners = project_document(DocumentKind.ID1, rotation, np.array([0.0, 0.0, 300.0]), CAMERA)
    pose = estimate_pose(corners, DocumentKind.ID1, CAMERA)
    assert pose is not None
    assert pose.yaw_deg == pytest.approx(15, abs=0.1) and pose.pitch_deg == pytest.approx(-10, abs=0.1)


@pytest.mark.parametrize("kind", list(DocumentKind))
def test_metric_aspect_tells_a_card_from_a_passport_page_under_perspective(kind: DocumentKind) -> None:
    w, h = PHYSICAL_SIZE_MM[kind]
    for yaw, pitch in ((0, 0), (30, 0), (0, -30), (20, 20)):
        corners = project_document(kind, rotation_from_angles(yaw, pitch), np.array([40.0, 10.0, 350.0]), CAMERA)
        aspect = metric_aspect(corners, CAMERA)
        assert aspect == pytest.approx(w / h, rel=0.01)


def test_a_wrong_field_of_view_scales_the_angle_modestly() -> None:
    """The stated model assumes 66 deg; a real webcam of 61 or 71 deg reads a 25 deg tilt within 2.5 deg
    (measured 22.9 and 27.1), with the error's sign following the FOV's."""
    for true_fov in (61.0, 71.0):
        true_camera = CameraModel(1280, 720, true_fov)
        corners = project_document(
            DocumentKind.ID1, rotation_from_angles(25, 0), np.array([0.0, 0.0, 300.0]), true_camera
        )
        pose = estimate_pose(corners, DocumentKind.ID1, CAMERA)
        assert pose is not None and abs(pose.yaw_deg - 25) < 2.5
        assert (pose.yaw_deg > 25) == (true_fov > 66.0)


def _tracker_with(samples: list[tuple[float, float]], required: float = 15.0) -> TiltTracker:
    tracker = TiltTracker(required_deg=required)
    for yaw, pitch in samples:
        tracker.add(yaw, pitch)
    return tracker


def test_tilt_passes_when_every_direction_reached_the_setting() -> None:
    sweep = [(a, 0.0) for a in (-20, -18, 0, 17, 19)] + [(0.0, a) for a in (-16, -17, 0, 18, 21)]
    result = _tracker_with(sweep).result()
    assert result.verdict is Verdict.PASS
    assert result.measurements["reached_deg"] == {"left": 18.0, "right": 17.0, "towards": 16.0, "away": 18.0}


def test_tilt_fails_naming_the_direction_not_reached() -> None:
    sweep = [(a, 0.0) for a in (-20, -18, 17, 19)] + [(0.0, a) for a in (-16, -17, 5, 6)]
    tracker = _tracker_with(sweep)
    result = tracker.result()
    assert result.verdict is Verdict.FAIL
    assert result.measurements["missing"] == ["away"]
    assert tracker.missing() == [TiltDirection.AWAY]


def test_one_outlier_frame_does_not_count_as_a_tilt() -> None:
    sweep = [(a, 0.0) for a in (-20, -18, 17, 19)] + [(0.0, a) for a in (-16, -17, 40, 2)]
    assert _tracker_with(sweep).result().verdict is Verdict.FAIL


def test_implausible_angles_are_ignored_and_no_frames_is_inconclusive() -> None:
    assert _tracker_with([]).result().verdict is Verdict.INCONCLUSIVE
    assert _tracker_with([(80.0, 0.0), (-89.0, 3.0)]).frames == 0


def test_the_required_angle_is_a_setting() -> None:
    sweep = [(a, 0.0) for a in (-12, -11, 11, 12)] + [(0.0, a) for a in (-11, -12, 11, 12)]
    assert _tracker_with(sweep, required=15.0).result().verdict is Verdict.FAIL
    assert _tracker_with(sweep, required=10.0).result().verdict is Verdict.PASS


def test_one_confidently_located_frame_counts_alone_and_a_weak_one_does_not() -> None:
    sweep = [(a, 0.0) for a in (-20, -18, 17, 19)] + [(0.0, a) for a in (-16, -17, 2)]
    weak = _tracker_with(sweep)
    weak.add(0.0, 40.0, confidence=SINGLE_FRAME_CONFIDENCE - 0.1)
    assert weak.result().verdict is Verdict.FAIL
    confident = _tracker_with(sweep)
    confident.add(0.0, 40.0, confidence=SINGLE_FRAME_CONFIDENCE)
    assert confident.result().verdict is Verdict.PASS
    assert confident.reached_deg(TiltDirection.AWAY) == 40.0


@pytest.mark.parametrize("phase", [0, 1, 2])
def test_a_short_scene_sampled_at_the_live_rate_still_reaches_every_tilt(phase: int, tmp_path: Path) -> None:
    """The 3 s browser-test scene (nl-id seed 3, 640x480, 15 fps) analysed at every 3rd frame, as the live
    session samples it (5 fps): each tilt extreme shows in one analysed frame only. Before, every phase
    failed (towards reached 4-10 deg of the ~22-30 shown). The astronaut face (no photo folder), so the
    scene is the same in every clone."""
    from fixtures.scenes import SceneSpec, generate_scene
    from pipelines.analyzer import SessionAnalyzer
    from pipelines.layouts import Template

    spec = SceneSpec(Template.NL_ID, seed=3, size=(640, 480), seconds=3.0, fps=15.0, faces_root=tmp_path / "none")
    scene = generate_scene(spec)
    analyzer = SessionAnalyzer()
    for index in range(phase, spec.n_frames, 3):
        image, _ = scene.render(index)
        analyzer.process(Frame(image, index, index / spec.fps))
    tilt = analyzer.report()["tilt"]
    assert tilt["verdict"] == Verdict.PASS.value, tilt["reached_deg"]
