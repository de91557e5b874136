"""Quality: broken decodes (real VP8 corruption through PyAV/libvpx), exposure, blur, glare, size, framing."""

from __future__ import annotations

import fractions

import av
import cv2
import numpy as np
import pytest

from pipelines.document import DocumentLocator
from pipelines.frame import DocumentKind
from pipelines.quality import (
    BROKEN_MACROBLOCK_RATIO,
    FrameQuality,
    Guidance,
    QualityStage,
    assess_frame,
    broken_frame_score,
)
from pipelines.results import Verdict
from tests.test_document_render import drawn_card, render


def _vp8_stream(frames: list[np.ndarray]) -> list[bytes]:
    """Encode with libvpx in real-time mode, the way a browser's WebRTC encoder does."""
    height, width = frames[0].shape[:2]
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 15)
    encoder.bit_rate = 800_000
    encoder.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    packets: list[bytes] = []
    for index, image in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts = index
        packets.extend(bytes(p) for p in encoder.encode(frame))
    packets.extend(bytes(p) for p in encoder.encode(None))
    return packets


def _decode(packets: list[bytes], corrupt: set[int], drop: set[int], seed: int = 1) -> list[np.ndarray]:
    """Decode with FFmpeg's VP8 decoder, flipping bytes in ``corrupt`` packets and losing ``drop`` ones."""
    rng = np.random.default_rng(seed)
    decoder = av.CodecContext.create("vp8", "r")
    out: list[np.ndarray] = []
    for index, payload in enumerate(packets):
        if index in drop:
            continue
        data = bytearray(payload)
        if index in corrupt:
            for _ in range(50):
                data[int(rng.integers(len(data) // 8, len(data)))] = int(rng.integers(0, 256))
        try:
            out.extend(f.to_ndarray(format="bgr24") for f in decoder.decode(av.Packet(bytes(data))))
        except av.FFmpegError:
            continue
    return out


@pytest.fixture(scope="module")
def stream() -> tuple[list[np.ndarray], list[bytes]]:
    background = render(drawn_card(), DocumentKind.ID1, 0, 0, size=(640, 480), seed=1)[0]
    frames = [
        render(drawn_card(), DocumentKind.ID1, 12 * np.sin(i / 3), 0, size=(640, 480), distance_mm=230,
               seed=1, background=background)[0]
        for i in range(16)
    ]
    return frames, _vp8_stream(frames)


def test_intact_vp8_frames_are_not_flagged(stream: tuple[list[np.ndarray], list[bytes]]) -> None:
    decoded = _decode(stream[1], corrupt=set(), drop=set())
    assert len(decoded) == len(stream[0])
    assert not any(assess_frame(f, None).broken for f in decoded)


def test_a_corrupted_keyframe_is_flagged(stream: tuple[list[np.ndarray], list[bytes]]) -> None:
    decoded = _decode(stream[1], corrupt={0}, drop=set())
    assert decoded, "the decoder gave nothing to judge"
    flagged = [assess_frame(f, None) for f in decoded]
    assert sum(q.broken for q in flagged) >= 0.8 * len(decoded)
    assert Guidance.CONNECTION_PROBLEM in flagged[0].issues


def test_lost_packets_leave_flagged_frames(stream: tuple[list[np.ndarray], list[bytes]]) -> None:
    decoded = _decode(stream[1], corrupt=set(), drop={3, 4})
    scores = [broken_frame_score(f) for f in decoded]
    assert any(ratio >= BROKEN_MACROBLOCK_RATIO or green > 0 for ratio, green in scores)


def test_jpeg_blockiness_is_not_taken_for_a_broken_decode(stream: tuple[list[np.ndarray], list[bytes]]) -> None:
    for quality in (20, 40):
        ok, encoded = cv2.imencode(".jpg", stream[0][0], [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        assert not assess_frame(cv2.imdecode(encoded, cv2.IMREAD_COLOR), None).broken


def _doc_frame(**kwargs: object) -> tuple[np.ndarray, FrameQuality]:
    options: dict = {"distance_mm": 190.0, **kwargs}
    frame, _ = render(drawn_card(), DocumentKind.ID1, 5.0, 5.0, seed=3, **options)
    view = DocumentLocator().locate(frame)
    return frame, assess_frame(frame, view, face_visible=True)


def test_a_good_frame_has_no_issue() -> None:
    _, quality = _doc_frame()
    assert quality.issues == ()
    assert quality.usable and quality.document_usable


def test_dark_and_bright_frames_ask_for_light() -> None:
    frame, _ = _doc_frame()
    dark = (frame * 0.25).astype(np.uint8)
    bright = cv2.add(frame, np.full_like(frame, 140))
    assert Guidance.MORE_LIGHT in assess_frame(dark, None).issues
    assert Guidance.LESS_LIGHT in assess_frame(bright, None).issues


def test_motion_blur_asks_to_hold_still() -> None:
    frame, truth = render(drawn_card(), DocumentKind.ID1, 5.0, 5.0, seed=3, distance_mm=190.0)
    view = DocumentLocator().locate(frame)
    assert view is not None
    kernel = np.zeros((1, 25), np.float32)
    kernel[0, :] = 1 / 25
    blurred = cv2.filter2D(frame, -1, kernel)
    view_blurred = DocumentLocator().locate(blurred, hint=truth)
    assert view_blurred is not None
    assert Guidance.HOLD_STILL in assess_frame(blurred, view_blurred).issues
    assert Guidance.HOLD_STILL not in assess_frame(frame, view).issues


def test_glare_on_the_document_is_reported() -> None:
    frame, truth = render(drawn_card(), DocumentKind.ID1, 5.0, 5.0, seed=3)
    centre = truth.mean(axis=0).astype(int)
    glared = frame.copy()
    cv2.circle(glared, (int(centre[0]), int(centre[1])), 70, (255, 255, 255), -1)
    view = DocumentLocator().locate(glared, hint=truth)
    assert view is not None
    assert Guidance.AVOID_GLARE in assess_frame(glared, view).issues


def test_a_small_card_asks_to_move_closer_and_a_cut_card_to_centre_it() -> None:
    _, far = _doc_frame(distance_mm=420.0)
    assert Guidance.MOVE_CLOSER in far.issues
    frame, truth = render(drawn_card(), DocumentKind.ID1, 0.0, 0.0, seed=3, offset_mm=(135.0, 0.0))
    view = DocumentLocator().locate(frame, hint=truth)
    if view is not None:  # when found at all, it must be flagged as cut
        assert Guidance.CENTER_DOCUMENT in assess_frame(frame, view).issues
    assert Guidance.SHOW_DOCUMENT in assess_frame(frame, None).issues


def test_face_not_visible_is_guidance() -> None:
    frame, _ = _doc_frame()
    assert Guidance.SHOW_FACE in assess_frame(frame, None, face_visible=False).issues
    assert Guidance.SHOW_FACE not in assess_frame(frame, None, face_visible=None).issues


def test_session_quality_fails_when_most_frames_are_unusable() -> None:
    good = FrameQuality((), False, 120.0)
    broken = FrameQuality((Guidance.CONNECTION_PROBLEM,), True, 120.0)
    stage = QualityStage()
    for _ in range(3):
        stage.add(good)
    assert stage.result().verdict is Verdict.INCONCLUSIVE
    for _ in range(7):
        stage.add(broken)
    result = stage.result()
    assert result.verdict is Verdict.FAIL
    assert result.measurements["broken_frames"] == 7
    healthy = QualityStage()
    for _ in range(9):
        healthy.add(good)
    healthy.add(broken)
    assert healthy.result().verdict is Verdict.PASS


def test_a_clean_fixture_frame_with_strong_16px_steps_is_not_called_broken() -> None:
    """A clean passport frame (fixture seed 1, 640x480, frame 58) whose print happens to step more at the
    16-px grid (ratio 1.17, excess 1.75 grey levels) than corrupted VP8 frames' minimum ratio: the excess
    (2.5-6.6 in corrupted decodes) tells them apart."""
    from fixtures.scenes import SceneSpec, generate_scene
    from pipelines.layouts import Template

    image, _ = generate_scene(SceneSpec(Template.PASSPORT, seed=1, size=(640, 480), seconds=4.0)).render(58)
    assert not assess_frame(image, None).broken
