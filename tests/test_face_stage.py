"""FaceStage over webcam-like frames built from real photos: the customer's face beside a card whose
portrait is the same person (genuine) or someone else (portrait swap)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from models.face import DetectedFace, FaceEngine
from pipelines.face.live import MAX_FALLBACK_YAW_DEG, MAX_FRONTAL_YAW_DEG, FaceTracker, rate_face
from pipelines.face.portrait import portrait_search_box
from pipelines.face.stage import LIVE_ENCODINGS, MAX_ENCODINGS, PORTRAIT_ENCODINGS, FaceStage
from pipelines.face.still import find_faces
from pipelines.frame import DocumentKind, DocumentSide, DocumentView, Frame, FrameContext
from pipelines.layouts import LAYOUTS, Template, ZoneName
from pipelines.results import Verdict

CARD_WH = (856, 540)


@pytest.fixture(scope="module")
def engine(face_engine: FaceEngine) -> FaceEngine:
    return face_engine  # loaded once per run (tests/conftest.py)


def face_crop(engine: FaceEngine, image: np.ndarray, face_px: int, aspect: float = 1.0) -> np.ndarray:
    """The photo around its largest face, scaled so the face is ``face_px`` wide; height = aspect*width."""
    face = find_faces(engine, image)[0].box
    cx, cy = face.center
    half = face.width * 0.9
    x0, x1 = int(max(0, cx - half)), int(min(image.shape[1], cx + half))
    y0, y1 = int(max(0, cy - half * aspect)), int(min(image.shape[0], cy + half * aspect * 1.1))
    crop = image[y0:y1, x0:x1]
    scale = face_px / face.width
    return cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def make_card(portrait: np.ndarray) -> np.ndarray:
    """An ID-1 front, rectified size, with ``portrait`` in the template's portrait zone."""
    card = np.full((CARD_WH[1], CARD_WH[0], 3), (205, 215, 225), np.uint8)
    x0, y0, x1, y1 = LAYOUTS[Template.DE_ID].box_px(ZoneName.PORTRAIT, CARD_WH)
    card[y0:y1, x0:x1] = cv2.resize(portrait, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    for i, y in enumerate(range(140, 420, 45)):
        cv2.putText(card, f"FIELD {i} MUSTERMANN", (330, y), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (40, 40, 40), 2)
    return card


def scene_frames(
    live_face: np.ndarray, card: np.ndarray | None, count: int, fps: float = 15.0, seed: int = 1,
    size: tuple[int, int] = (1280, 720),
) -> Iterator[FrameContext]:
    """Frames with the customer on the right and (optionally) the card on the left, noise and JPEG."""
    rng = np.random.default_rng(seed)
    width, height = size
    for index in range(count):
        frame = np.full((height, width, 3), (90, 110, 120), np.uint8)
        dx, dy = (int(v) for v in rng.integers(-4, 5, 2))
        fh, fw = live_face.shape[:2]
        x, y = width - fw - 80 + dx, max(0, (height - fh) // 2 + dy)
        frame[y : y + fh, x : x + fw] = live_face[: height - y]
        view = None
        if card is not None:
            src = np.float32([[0, 0], [CARD_WH[0], 0], [CARD_WH[0], CARD_WH[1]], [0, CARD_WH[1]]])
            cw = width * 0.42
            dst = np.float32([[60, 300], [60 + cw, 290], [60 + cw + 8, 300 + cw * 0.63], [52, 305 + cw * 0.63]])
            h = cv2.getPerspectiveTransform(src, dst)
            warped = cv2.warpPerspective(card, h, (width, height))
            mask = cv2.warpPerspective(np.full(card.shape[:2], 255, np.uint8), h, (width, height)) > 0
            frame[mask] = warped[mask]
        noisy = np.clip(frame.astype(np.int16) + rng.normal(0, 4, frame.shape).astype(np.int16), 0, 255)
        ok, buf = cv2.imencode(".jpg", noisy.astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 75])
        assert ok
        image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if card is not None:
            rectified = cv2.warpPerspective(image, np.linalg.inv(h), CARD_WH)
            view = DocumentView(dst, rectified, DocumentKind.ID1, DocumentSide.FRONT, 2.0, -1.0, 0.9)
        yield FrameContext(Frame(image, index, index / fps), view)


def run_stage(stage: FaceStage, frames: Iterator[FrameContext]) -> None:
    for context in frames:
        stage.observe(context)


def photo(folder: Path, name: str) -> np.ndarray:
    image = cv2.imread(str(folder / name))
    assert image is not None, name
    return image


@pytest.fixture(scope="module")
def faces_dir(shared_data: Path) -> Path:
    return shared_data / "faces" / "deepface"


@pytest.mark.shared_data
def test_genuine_customer_matches_their_id_photo(engine: FaceEngine, faces_dir: Path) -> None:
    live = face_crop(engine, photo(faces_dir, "img1.jpg"), 220)
    card = make_card(face_crop(engine, photo(faces_dir, "img2.jpg"), 150, aspect=1.28))
    stage = FaceStage(engine)
    run_stage(stage, scene_frames(live, card, 20))
    result = stage.result()
    assert result.verdict is Verdict.PASS, result
    assert result.measurements["distance"] <= result.measurements["threshold"]
    assert 1 <= len(result.measurements["live_frames"]) <= 3
    assert result.measurements["encodings"] <= MAX_ENCODINGS
    assert "dlib" in result.measurements["model"]
    assert result.measurements["cards_shown"] == 1  # one card held and tilted: never taken for a second one


@pytest.mark.shared_data
def test_portrait_swap_fails(engine: FaceEngine, faces_dir: Path) -> None:
    live = face_crop(engine, photo(faces_dir, "img1.jpg"), 220)
    card = make_card(face_crop(engine, photo(faces_dir, "img12.jpg"), 150, aspect=1.28))
    stage = FaceStage(engine)
    run_stage(stage, scene_frames(live, card, 20))
    result = stage.result()
    assert result.verdict is Verdict.FAIL, result
    assert result.reason.code == "no_match"


def later(frames: Iterator[FrameContext], offset: int, fps: float = 15.0) -> Iterator[FrameContext]:
    """The same frames ``offset`` frames later in the session."""
    for c in frames:
        yield FrameContext(Frame(c.frame.image, c.frame.index + offset, (c.frame.index + offset) / fps), c.document)


def polled(stage: FaceStage, frames: Iterator[FrameContext], every: int = 8) -> None:
    """Feed the frames, asking for the result every ``every`` frames as the agent console does."""
    for context in frames:
        stage.observe(context)
        if context.frame.index % every == every - 1:
            stage.result()


@pytest.mark.shared_data
def test_card_shown_later_is_compared_too(engine: FaceEngine, faces_dir: Path) -> None:
    # The customer's own card first (compared at the first poll: a pass), then a stranger's card. Before
    # cards were told apart, the second card never replaced the first (not larger) and the session passed.
    live = face_crop(engine, photo(faces_dir, "img1.jpg"), 220)
    own = make_card(face_crop(engine, photo(faces_dir, "img2.jpg"), 150, aspect=1.28))
    stranger = make_card(face_crop(engine, photo(faces_dir, "img12.jpg"), 150, aspect=1.28))
    stage = FaceStage(engine)
    polled(stage, scene_frames(live, own, 24))
    assert stage.result().verdict is Verdict.PASS
    polled(stage, later(scene_frames(live, stranger, 45, seed=2), 24))
    result = stage.result()
    assert result.measurements["cards_shown"] == 2, result
    assert result.verdict is Verdict.FAIL and result.reason.code == "no_match", result
    assert result.measurements["encodings"] <= MAX_ENCODINGS


@pytest.mark.shared_data
def test_card_shown_after_the_portrait_budget_is_not_passed(engine: FaceEngine, faces_dir: Path) -> None:
    # Two of the customer's own photos use the portrait budget; a third card cannot be encoded any more, so
    # the session must not pass on the first two.
    live = face_crop(engine, photo(faces_dir, "img1.jpg"), 220)
    stage = FaceStage(engine)
    offset = 0
    for name, count in (("img2.jpg", 24), ("img4.jpg", 45), ("img12.jpg", 45)):
        card = make_card(face_crop(engine, photo(faces_dir, name), 150, aspect=1.28))
        polled(stage, later(scene_frames(live, card, count, seed=offset + 1), offset))
        offset += count
    result = stage.result()
    assert stage.counters.portrait_encodings == PORTRAIT_ENCODINGS
    assert result.measurements["cards_shown"] == 3, result
    assert result.verdict is Verdict.INCONCLUSIVE and result.reason.code == "portrait_changed", result


def test_no_document_is_inconclusive_never_pass(engine: FaceEngine) -> None:
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    stage = FaceStage(engine)
    run_stage(stage, scene_frames(face_crop(engine, astronaut, 200), None, 12))
    result = stage.result()
    assert result.verdict is Verdict.INCONCLUSIVE and result.reason.code == "no_portrait"
    assert result.measurements["live_frames_with_face"] > 0


def test_portrait_without_customer_is_inconclusive(engine: FaceEngine) -> None:
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    card = make_card(face_crop(engine, astronaut, 150, aspect=1.28))
    stage = FaceStage(engine)
    blank = np.full((10, 10, 3), (90, 110, 120), np.uint8)
    run_stage(stage, scene_frames(blank, card, 12))
    result = stage.result()
    assert result.verdict is Verdict.INCONCLUSIVE and result.reason.code == "no_live_face", result
    assert result.measurements["portrait_face_px"] is not None


def test_astronaut_genuine_and_shared_tracker(engine: FaceEngine) -> None:
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    tracker = FaceTracker(engine)
    stage = FaceStage(engine, tracker)
    card = make_card(face_crop(engine, astronaut, 150, aspect=1.28))
    frames = list(scene_frames(face_crop(engine, astronaut, 220), card, 20))
    run_stage(stage, iter(frames))
    tracker.faces(frames[-1])
    before = tracker.detections
    tracker.faces(frames[-1])  # asked again for the same frame (by another stage): served from the cache
    assert tracker.detections == before
    assert stage.result().verdict is Verdict.PASS


def test_polling_every_frame_stays_within_the_encoding_budget(engine: FaceEngine) -> None:
    # The console polls the result; each poll may see a new best frame. The budget holds regardless.
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    stage = FaceStage(engine)
    card = make_card(face_crop(engine, astronaut, 150, aspect=1.28))
    first_score_at = None
    for context in scene_frames(face_crop(engine, astronaut, 220), card, 45, seed=5):
        stage.observe(context)
        result = stage.result()
        if first_score_at is None and "distance" in result.measurements:
            first_score_at = context.frame.index
    assert stage.counters.live_encodings <= LIVE_ENCODINGS and stage.counters.portrait_encodings <= PORTRAIT_ENCODINGS
    assert stage.counters.encodings == stage.counters.live_encodings + stage.counters.portrait_encodings
    assert result.measurements["encodings"] <= MAX_ENCODINGS
    assert len(result.measurements["distances"]) == LIVE_ENCODINGS  # 3 s of frames: all three were spent
    assert first_score_at is not None and first_score_at < 5  # a first score comes at once, not at the end
    assert result.verdict is Verdict.PASS


def test_search_box_covers_the_layout_portrait() -> None:
    x0, y0, x1, y1 = portrait_search_box(DocumentKind.ID1, CARD_WH)
    zx0, zy0, zx1, zy1 = LAYOUTS[Template.NL_ID].box_px(ZoneName.PORTRAIT, CARD_WH)
    assert x0 <= zx0 and y0 <= zy0 and x1 >= zx1 and y1 >= zy1
    assert x1 < CARD_WH[0] * 0.6  # the text side of the card is not searched


def turned(face: DetectedFace, yaw_deg: float) -> DetectedFace:
    """The same face with its nose tip moved so the cylinder estimate reads ``yaw_deg``."""
    lm = face.landmarks.copy()
    left, right = lm[0, 0], lm[16, 0]
    lm[30, 0] = (left + right) / 2 + (right - left) / 2 * math.sin(math.radians(yaw_deg))
    return DetectedFace(face.box, face.score, lm)


def test_a_face_turned_a_little_too_far_is_only_a_fallback(engine: FaceEngine) -> None:
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    image = cv2.resize(astronaut, None, fx=2.0, fy=2.0)  # face ~180 px: above the live minimum
    face = find_faces(engine, image)[0]
    frontal = rate_face(image, turned(face, 5.0))
    assert frontal.usable and frontal.fallback_score == frontal.score and not frontal.turned
    a_little = rate_face(image, turned(face, -(MAX_FRONTAL_YAW_DEG + 5.0)))
    assert not a_little.usable and a_little.turned and "not_frontal" in a_little.problems
    assert 0.0 < a_little.fallback_score < frontal.score  # ranked below the frontal view
    too_far = rate_face(image, turned(face, MAX_FALLBACK_YAW_DEG + 5.0))
    assert not too_far.usable and not too_far.turned and too_far.fallback_score == 0.0
    small = cv2.resize(image, None, fx=0.5, fy=0.5)  # ~90 px: too small whatever the pose
    small_face = find_faces(engine, small)[0]
    assert rate_face(small, turned(small_face, MAX_FRONTAL_YAW_DEG + 5.0)).fallback_score == 0.0
