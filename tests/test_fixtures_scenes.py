"""Webcam scenes: the truth corners are where the card is drawn, the tilt truth matches the projected shape,
the choreography reaches the tilt range front then back, frames are deterministic and lazy, .y4m round-trips."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from fixtures.camera import PinholeCamera, Pose, rotation
from fixtures.scenes import SceneSpec, generate_scene
from fixtures.y4m import read_y4m, write_y4m
from pipelines.frame import DocumentSide, Frame
from pipelines.layouts import Template, rectified_size_px

SMALL = (640, 480)


def _rectify(image: np.ndarray, corners: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    w, h = size_wh
    target = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]], np.float32)
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    return cv2.warpPerspective(image, matrix, (w, h), flags=cv2.INTER_AREA)


def _ncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    x, y = a[mask].astype(np.float64), b[mask].astype(np.float64)
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / math.sqrt((x * x).sum() * (y * y).sum()))


@pytest.mark.parametrize(("template", "index"), [("nl-id", 9), ("nl-id", 22), ("de-id", 45), ("de-id", 88),
                                                  ("passport", 30)])
def test_truth_corners_are_where_the_document_is_drawn(template: str, index: int) -> None:
    scene = generate_scene(SceneSpec(template, seed=3, size=SMALL, fps=15, seconds=8))
    image, truth = scene.render(index)
    doc = scene.document
    size = rectified_size_px(doc.layout.kind)
    reference = cv2.cvtColor(doc.side_image(truth.side, truth.yaw_deg, truth.pitch_deg)[..., :3], cv2.COLOR_BGR2GRAY)
    # Compare at the resolution the frame has: blur the reference the way the warp to the frame does.
    scale = max(1.0, size[0] / float(np.linalg.norm(truth.corners_px[1] - truth.corners_px[0])))
    reference = cv2.GaussianBlur(reference, (0, 0), 0.5 * scale)
    held = scene.held[truth.side]
    ox, oy = held.offset_px
    mask = held.visible[oy : oy + size[1], ox : ox + size[0]] > 200
    mask = cv2.erode(mask.astype(np.uint8), np.ones((25, 25), np.uint8)) > 0  # away from edges and the thumb
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    exact = _ncc(_rectify(grey, truth.corners_px, size), reference, mask)
    assert exact > 0.85, f"rectified frame does not match the document (NCC {exact:.2f})"
    for dx, dy in ((6, 0), (0, 6), (-6, 0)):
        shifted = _ncc(_rectify(grey, truth.corners_px + np.float32([dx, dy]), size), reference, mask)
        assert shifted < exact - 0.1, f"a 6 px shift ({dx}, {dy}) matches as well ({shifted:.2f} vs {exact:.2f})"
    assert 0.85 < truth.visible_fraction <= 1.0


def _yaw_pitch_from_rotation(r: np.ndarray) -> tuple[float, float]:
    """Invert fixtures.camera.rotation for roll = 0 (R = R_yaw R_pitch): yaw from the x column, pitch from y."""
    yaw = math.degrees(math.atan2(r[2, 0], r[0, 0]))
    pitch = math.degrees(math.atan2(-r[2, 1], r[1, 1]))
    return yaw, pitch


def test_tilt_truth_matches_the_projected_shape() -> None:
    scene = generate_scene(SceneSpec("nl-id", seed=5, size=SMALL, fps=10, seconds=6))
    camera, size_mm = scene.camera, scene.document.layout.size_mm
    w, h = size_mm
    object_points = np.array([[-w / 2, -h / 2, 0], [w / 2, -h / 2, 0], [w / 2, h / 2, 0], [-w / 2, h / 2, 0]])
    checked = 0
    for _, truth in scene.frames():
        ok, rvec, _ = cv2.solvePnP(object_points, truth.corners_px.astype(np.float64), camera.matrix, None,
                                   flags=cv2.SOLVEPNP_IPPE)
        assert ok
        r = cv2.Rodrigues(rvec)[0] @ rotation(0, 0, truth.roll_deg).T  # remove the roll
        yaw, pitch = _yaw_pitch_from_rotation(r)
        if truth.tilt_deg < 60:  # near edge-on (the flip) four float32 corners leave the other angle ill-defined
            assert abs(yaw - truth.yaw_deg) < 0.5 and abs(pitch - truth.pitch_deg) < 0.5, truth.index
            checked += 1
        left = np.linalg.norm(truth.corners_px[3] - truth.corners_px[0])
        right = np.linalg.norm(truth.corners_px[2] - truth.corners_px[1])
        top = np.linalg.norm(truth.corners_px[1] - truth.corners_px[0])
        bottom = np.linalg.norm(truth.corners_px[2] - truth.corners_px[3])
        if truth.yaw_deg > 15:
            assert right < left  # right edge away from the camera looks shorter
        if truth.pitch_deg > 15:
            assert top < bottom  # top edge away looks shorter
    assert checked >= len(scene) - 8


def test_choreography_reaches_the_tilt_range_front_then_back() -> None:
    scene = generate_scene(SceneSpec("de-id", seed=1, size=(320, 240), fps=15, seconds=8, tilt_deg=30))
    poses = [scene.pose_at(i) for i in range(len(scene))]
    front = [p for s, p in poses if s is DocumentSide.FRONT]
    sides = [s for s, _ in poses]
    assert sides[0] is DocumentSide.FRONT and sides[-1] is DocumentSide.BACK
    assert sides.index(DocumentSide.BACK) > max(i for i, s in enumerate(sides) if s is DocumentSide.FRONT) - 1
    assert max(p.yaw_deg for p in front) > 27 and min(p.yaw_deg for p in front) < -27
    assert max(p.pitch_deg for p in front) > 27 and min(p.pitch_deg for p in front) < -27
    passport = generate_scene(SceneSpec("passport", seed=1, size=(320, 240), fps=5, seconds=4, tilt_deg=20))
    angles = [passport.pose_at(i) for i in range(len(passport))]
    assert {s for s, _ in angles} == {DocumentSide.FRONT}
    assert 17 < max(p.yaw_deg for _, p in angles) < 23


def test_frames_are_lazy_deterministic_and_random_access() -> None:
    spec = SceneSpec("nl-id", seed=9, size=(320, 240), fps=15, seconds=1)
    first, second = generate_scene(spec), generate_scene(spec)
    iterator = first.frames()
    frame, truth = next(iterator)
    assert isinstance(frame, Frame) and frame.image.shape == (240, 320, 3) and truth.index == 0
    rendered = [f.image for f, _ in [(frame, truth), *iterator]]
    assert len(rendered) == 15
    assert all(np.array_equal(rendered[i], second.render(i)[0]) for i in (0, 7, 14))
    assert not np.array_equal(rendered[3], rendered[4])
    other = generate_scene(SceneSpec("nl-id", seed=10, size=(320, 240), fps=15, seconds=1))
    assert not np.array_equal(rendered[0], other.render(0)[0])


def test_truth_json_is_complete() -> None:
    scene = generate_scene(SceneSpec("passport", seed=2, size=(320, 240), fps=5, seconds=1))
    data = scene.truth_json()
    assert data["camera"]["hfov_deg"] > 0 and data["camera"]["focal_px"] > 0
    assert data["document"]["mrz"]["valid_check_digits"] is True and data["same_person"] is True
    assert data["attack"] is None and data["should_fail"] == []
    _, truth = scene.render(0)
    frame = truth.to_json()
    assert len(frame["corners_px"]) == 4 and frame["side"] == "front" and frame["ovd"] is not None


def test_y4m_round_trip(tmp_path: Path) -> None:
    scene = generate_scene(SceneSpec("nl-id", seed=4, size=(320, 240), fps=15, seconds=0.4))
    images = [f.image for f, _ in scene.frames()]
    path = tmp_path / "scene.y4m"
    assert write_y4m(path, images, 15) == len(images)
    assert path.read_bytes().startswith(b"YUV4MPEG2 W320 H240 F15:1 Ip A1:1 C420jpeg\nFRAME\n")
    frames, fps = read_y4m(path)
    assert fps == 15 and len(frames) == len(images)
    assert all(np.abs(a.astype(int) - b.astype(int)).mean() < 4 for a, b in zip(frames, images, strict=True))


def test_value_objects_validate() -> None:
    with pytest.raises(ValueError):
        SceneSpec(size=(641, 480))
    with pytest.raises(ValueError):
        SceneSpec(fps=0)
    with pytest.raises(ValueError):
        PinholeCamera(640, 480, 200)
    with pytest.raises(ValueError):
        Pose((0, 0, -10.0), 0, 0, 0).corners_px(PinholeCamera(640, 480), (85.6, 53.98))
    assert SceneSpec("de-id").template is Template.DE_ID


@pytest.mark.shared_data
def test_face_engine_finds_the_live_face_where_the_truth_says(shared_data: Path) -> None:
    from models.face import FaceEngine

    engine = FaceEngine(upsample=0)
    scene = generate_scene(SceneSpec("nl-id", seed=6, size=(1280, 720), fps=15, seconds=2))
    image, truth = scene.render(3)
    faces = engine.detect(image)
    assert faces, "no live face detected"
    top, right, bottom, left = truth.face_box_px
    box = faces[0].box
    assert abs((box.left + box.right) / 2 - (left + right) / 2) < 0.25 * (right - left)
    assert abs((box.top + box.bottom) / 2 - (top + bottom) / 2) < 0.35 * (bottom - top)


def _eye_aspect_ratio(landmarks: np.ndarray) -> float:
    """Mean EAR of both eyes (Soukupová & Čech 2016): lid distances over the eye width."""
    ratios = []
    for eye in (landmarks[36:42], landmarks[42:48]):
        vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
        ratios.append(vertical / (2.0 * np.linalg.norm(eye[0] - eye[3])))
    return float(np.mean(ratios))


def test_blinks_are_scheduled_and_in_the_truth() -> None:
    scene = generate_scene(SceneSpec("nl-id", seed=1, size=(320, 240), fps=15, seconds=8))
    closures = [truth.eyes_closed for _, truth in scene.frames()]
    assert max(closures) > 0.8 and sum(c > 0.5 for c in closures) <= len(closures) // 5
    assert len(scene.backdrop.blinks) >= 2


@pytest.mark.shared_data
def test_face_landmarks_see_the_blink(shared_data: Path) -> None:
    from models.face import FaceEngine

    engine = FaceEngine(upsample=0)
    scene = generate_scene(SceneSpec("de-id", seed=8, size=(1280, 720), fps=15, seconds=4))
    closure = [scene.backdrop.eye_closure(i / 15) for i in range(len(scene))]
    shut = int(np.argmax(closure))
    open_index = next(i for i, c in enumerate(closure) if c == 0.0 and abs(i - shut) > 5)
    ratios = {}
    for name, index in (("open", open_index), ("shut", shut)):
        image, truth = scene.render(index)
        assert truth.eyes_closed == closure[index]
        faces = engine.detect(image)
        assert faces, f"no face in the {name} frame"
        ratios[name] = _eye_aspect_ratio(faces[0].landmarks)
    assert closure[shut] > 0.8 and ratios["shut"] < 0.7 * ratios["open"], ratios


def test_card_width_fraction_sets_the_apparent_size() -> None:
    widths = {}
    for fraction in (0.35, 0.7):
        scene = generate_scene(SceneSpec("nl-id", seed=1, size=(320, 240), fps=15, seconds=8,
                                         card_width_fraction=fraction))
        side, pose = scene.pose_at(10)  # held flat after the approach
        corners = pose.corners_px(scene.camera, scene.document.layout.size_mm)
        widths[fraction] = float(np.linalg.norm(corners[1] - corners[0])) / 320
        assert side is DocumentSide.FRONT and abs(widths[fraction] - fraction) < 0.05 * fraction
    assert scene.truth_json()["spec"]["card_width_fraction"] == 0.7
