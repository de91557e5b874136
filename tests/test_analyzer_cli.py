"""Reading recorded video (.y4m, .mp4, folders) and `videoident analyze VIDEO --json`."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from api.cli import main
from fixtures.scenes import SceneSpec, generate_scene
from fixtures.y4m import write_y4m
from pipelines.layouts import Template
from videoident.video_input import VideoInputError, open_video


def _frames(n: int = 6) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), (9, 9), 0)
    return [np.roll(base, 4 * i, axis=1) for i in range(n)]


def _write_mp4(path: Path, frames: list[np.ndarray], fps: int = 15) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.options = {"crf": "12", "preset": "ultrafast"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_y4m_frames_come_back_with_index_and_time(tmp_path: Path) -> None:
    frames = _frames()
    write_y4m(tmp_path / "a.y4m", frames, 15.0)
    source = open_video(tmp_path / "a.y4m")
    read = list(source)
    assert source.fps == 15.0 and (source.width, source.height) == (160, 120)
    assert [f.index for f in read] == list(range(6))
    assert read[3].t_s == pytest.approx(0.2)
    assert np.abs(read[2].image.astype(int) - frames[2].astype(int)).mean() < 4.0  # 4:2:0 round trip


def test_mp4_and_image_folders_are_read(tmp_path: Path) -> None:
    frames = _frames()
    _write_mp4(tmp_path / "a.mp4", frames)
    read = list(open_video(tmp_path / "a.mp4"))
    assert len(read) == 6
    assert np.abs(read[1].image.astype(int) - frames[1].astype(int)).mean() < 6.0
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, image in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:03d}.png"), image)
    (folder / "notes.txt").write_text("not an image")
    source = open_video(folder, fps=10.0)
    read = list(source)
    assert len(read) == 6 and read[5].t_s == pytest.approx(0.5)
    assert np.array_equal(read[4].image, frames[4])


@pytest.mark.parametrize(
    ("name", "content"),
    [("missing.y4m", None), ("bad.y4m", b"not a y4m header\n"), ("bad.mp4", b"\x00" * 1000), ("empty", b"")],
)
def test_unreadable_inputs_raise_a_clear_error(tmp_path: Path, name: str, content: bytes | None) -> None:
    path = tmp_path / name
    if name == "empty":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(VideoInputError):
        open_video(path)


def test_a_truncated_y4m_stops_cleanly(tmp_path: Path) -> None:
    write_y4m(tmp_path / "a.y4m", _frames(), 15.0)
    data = (tmp_path / "a.y4m").read_bytes()
    (tmp_path / "cut.y4m").write_bytes(data[: len(data) - 5000])
    source = open_video(tmp_path / "cut.y4m")
    assert len(list(source)) == 5 and source.skipped == 1


@pytest.mark.shared_data
def test_analyze_prints_one_json_report_and_exits_0(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene = generate_scene(SceneSpec(Template.NL_ID, seed=3, size=(640, 480), seconds=1.0, fps=10.0))
    write_y4m(tmp_path / "scene.y4m", (frame.image for frame, _ in scene.frames()), 10.0)
    assert main(["analyze", str(tmp_path / "scene.y4m"), "--json", "--frames"]) == 0
    report = json.loads(capsys.readouterr().out)
    for section in ("quality", "document", "tilt", "hologram", "mrz", "face", "liveness", "injection"):
        assert report[section]["verdict"] in ("pass", "fail", "inconclusive")
    assert report["input"]["frames_analysed"] == 10
    assert len(report["per_frame"]) == 10
    assert sum(f["document"] is not None for f in report["per_frame"]) >= 8
    assert report["engines"]["tilt"]


def test_analyze_exits_2_on_an_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.mp4").write_bytes(b"garbage" * 100)
    assert main(["analyze", str(tmp_path / "x.mp4"), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "x.mp4" in captured.err
    assert main(["analyze", str(tmp_path / "nothing.y4m")]) == 2


def test_analyze_summary_without_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_y4m(tmp_path / "a.y4m", _frames(), 15.0)
    assert main(["analyze", str(tmp_path / "a.y4m"), "--every", "2", "--no-mrz", "--no-face"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("verdict: ") and "hologram" in out and "(3 frames" in out
