"""``videoident face-compare``: two images, a CSV of pairs, and the exit code 2 for a side without a face."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from api.cli import main


@pytest.fixture()
def images(tmp_path: Path) -> dict[str, Path]:
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    paths = {"a": tmp_path / "astronaut.png", "b": tmp_path / "astronaut_small.jpg", "blank": tmp_path / "wall.png"}
    cv2.imwrite(str(paths["a"]), astronaut)
    cv2.imwrite(str(paths["b"]), cv2.resize(astronaut, None, fx=0.8, fy=0.8), [cv2.IMWRITE_JPEG_QUALITY, 70])
    cv2.imwrite(str(paths["blank"]), np.full((200, 200, 3), 180, np.uint8))
    return paths


def test_two_images_json(images: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["face-compare", str(images["a"]), str(images["b"]), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["a"]["faces_found"] == 1 and out["b"]["faces_found"] == 1
    assert out["decision"] == "pass" and out["distance"] <= out["threshold"]
    assert "dlib" in out["model"]


def test_a_side_without_face_exits_2(images: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["face-compare", str(images["a"]), str(images["blank"]), "--json"]) == 2
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["decision"] == "inconclusive" and out["b"]["faces_found"] == 0
    assert "no_face" in captured.err and "wall.png" in captured.err


def test_pairs_csv_one_line_per_pair(images: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = images["a"].parent / "pairs.csv"
    csv_path.write_text(
        "file_a,file_b,same_person\n"
        f"astronaut.png,{images['b'].name},1\n"
        f"{images['a']},wall.png,0\n"
    )
    assert main(["face-compare", "--pairs", str(csv_path), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["decision"] for line in lines] == ["pass", "inconclusive"]
    assert lines[1]["reason"] == "no_face"


@pytest.mark.shared_data
def test_real_pair_different_people(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = shared_data / "faces" / "deepface"
    assert main(["face-compare", str(folder / "img1.jpg"), str(folder / "img12.jpg"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["decision"] == "fail" and out["distance"] > out["fail_threshold"]
