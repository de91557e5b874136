"""The face engine really loads and encodes (a broken install must fail here, not exit 0), and the
match decision and calibration arithmetic behave as documented."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from models.face import FaceBox, FaceEngine
from pipelines.face import match
from pipelines.face.calibration import (
    degrade_to_document_photo,
    equal_error_rate,
    error_rates,
    threshold_for_fmr,
)
from pipelines.face.geometry import face_pose
from pipelines.face.still import analyze_still
from pipelines.results import Verdict


@pytest.fixture(scope="module")
def engine(face_engine: FaceEngine) -> FaceEngine:
    return face_engine  # loaded once per run (tests/conftest.py)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def test_engine_imports_and_encodes_a_face(engine: FaceEngine, astronaut: np.ndarray) -> None:
    faces = engine.detect(astronaut)
    assert len(faces) == 1
    face = faces[0]
    assert 60 < face.box.width < 140  # the astronaut's face is ~90 px wide in the 512 px image
    encoding = engine.encode(astronaut, face.box)
    assert encoding.shape == (128,) and encoding.dtype == np.float64
    assert 0.2 < float(np.linalg.norm(encoding)) < 2.0
    assert "dlib" in engine.version and "upsample 0" in engine.version


def test_landmarks_sit_on_the_face(engine: FaceEngine, astronaut: np.ndarray) -> None:
    face = engine.detect(astronaut)[0]
    lm = face.landmarks
    assert lm.shape == (68, 2)
    inside = (lm[:, 0] >= face.box.left - 10) & (lm[:, 0] <= face.box.right + 10)
    assert inside.mean() > 0.9
    pose = face_pose(lm)
    assert abs(pose.yaw_deg) < 25 and 0.15 < pose.ear < 0.45


def test_mirrored_face_turns_the_other_way(engine: FaceEngine, astronaut: np.ndarray) -> None:
    yaw = face_pose(engine.detect(astronaut)[0].landmarks).yaw_deg
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    yaw_m = face_pose(engine.detect(mirrored)[0].landmarks).yaw_deg
    assert yaw * yaw_m <= 0 or abs(yaw + yaw_m) < 4


def test_the_same_image_matches_itself_and_a_degraded_copy(engine: FaceEngine, astronaut: np.ndarray) -> None:
    a = analyze_still(engine, astronaut)
    assert a.encoding is not None and a.problem is None
    assert a.face_width_px is not None
    doc = degrade_to_document_photo(astronaut, a.face_width_px, 64)
    b = analyze_still(engine, doc)
    assert b.encoding is not None
    result = match.decide(match.face_distance(a.encoding, b.encoding), engine.version)
    assert result.verdict is Verdict.PASS
    assert result.measurements["threshold"] == match.MATCH_THRESHOLD
    assert result.measurements["model"] == engine.version


def test_no_face_and_tiny_face_are_reported(engine: FaceEngine, astronaut: np.ndarray) -> None:
    blank = np.full((300, 300, 3), 128, np.uint8)
    assert analyze_still(engine, blank).problem.code == "no_face"  # type: ignore[union-attr]
    tiny = cv2.resize(astronaut, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    result = analyze_still(engine, tiny)
    assert result.encoding is None and result.problem is not None
    assert result.problem.code in {"face_too_small", "no_face"}


def test_decision_bands() -> None:
    v = "test-model"
    assert match.decide(match.MATCH_THRESHOLD - 0.01, v).verdict is Verdict.PASS
    assert match.decide(match.NON_MATCH_THRESHOLD + 0.01, v).verdict is Verdict.FAIL
    mid = (match.MATCH_THRESHOLD + match.NON_MATCH_THRESHOLD) / 2
    borderline = match.decide(mid, v)
    assert borderline.verdict is Verdict.INCONCLUSIVE and borderline.reason.code == "borderline"
    assert match.match_score(0.0) == 1.0 and match.match_score(2 * match.MATCH_THRESHOLD) == 0.0
    with pytest.raises(ValueError):
        match.face_distance(np.zeros(128), np.zeros(64))


def test_error_rates_and_eer_arithmetic() -> None:
    genuine = [0.3, 0.4, 0.5, 0.7, None]
    impostor = [0.45, 0.8, 0.9, 1.0]
    rates = error_rates(genuine, impostor, 0.5)
    assert rates.fnmr == pytest.approx(2 / 5) and rates.fmr == pytest.approx(1 / 4)
    eer, t = equal_error_rate([0.1, 0.2, 0.3, 0.6], [0.5, 0.7, 0.8, 0.9])
    assert eer == pytest.approx(0.25) and 0.3 <= t <= 0.6
    assert threshold_for_fmr(impostor, 0.0) == pytest.approx(0.44)  # just below the closest impostor
    assert threshold_for_fmr(impostor, 0.25) == pytest.approx((0.45 + 0.8) / 2)  # one false match allowed


def test_box_validates() -> None:
    with pytest.raises(ValueError):
        FaceBox(10, 5, 20, 10)
    assert FaceBox(0, 10, 20, 0).scaled(2.0) == FaceBox(0, 20, 40, 0)


@pytest.mark.shared_data
def test_real_pairs_same_and_different(engine: FaceEngine, shared_data: Path) -> None:
    folder = shared_data / "faces" / "deepface"

    def enc(name: str) -> np.ndarray:
        still = analyze_still(engine, cv2.imread(str(folder / name)))
        assert still.encoding is not None, name
        return still.encoding

    a, same, other = enc("img1.jpg"), enc("img2.jpg"), enc("img12.jpg")
    assert match.decide(match.face_distance(a, same), engine.version).verdict is Verdict.PASS
    assert match.decide(match.face_distance(a, other), engine.version).verdict is Verdict.FAIL


@pytest.mark.shared_data
def test_a_group_photo_is_never_a_clean_match(engine: FaceEngine, shared_data: Path) -> None:
    image = cv2.imread(str(shared_data / "faces" / "deepface" / "couple.jpg"))
    still = analyze_still(engine, image)
    assert len(still.faces) >= 2
    assert still.problem is not None and still.problem.code == "several_faces"
