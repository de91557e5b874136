"""``videoident fixtures document|scene`` write their files and a truth.json that describes them."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from api.cli import main
from fixtures.mrz_format import check_digits_valid
from fixtures.y4m import read_y4m


def test_document_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "doc"
    assert main(["fixtures", "document", "--template", "de-id", "--seed", "5", "--out", str(out)]) == 0
    front = cv2.imread(str(out / "document.png"), cv2.IMREAD_UNCHANGED)
    back = cv2.imread(str(out / "document-back.png"), cv2.IMREAD_UNCHANGED)
    assert front.shape == (540, 856, 4) and back.shape == (540, 856, 4)
    truth = json.loads((out / "truth.json").read_text())
    assert truth["template"] == "de-id" and truth["fields"]["can"] == truth["printed"]["can"]
    assert check_digits_valid(truth["mrz"]["lines"]) and truth["mrz"]["valid_check_digits"]
    assert "truth.json" in capsys.readouterr().out


def test_scene_command_with_attack(tmp_path: Path) -> None:
    out = tmp_path / "scene"
    argv = ["fixtures", "scene", "--template", "nl-id", "--attack", "injected-loop", "--size", "320x240",
            "--fps", "10", "--seconds", "1", "--seed", "3", "--out", str(out)]
    assert main(argv) == 0
    frames, fps = read_y4m(out / "scene.y4m")
    assert fps == 10 and len(frames) == 10 and frames[0].shape == (240, 320, 3)
    truth = json.loads((out / "truth.json").read_text())
    assert truth["attack"] == "injected-loop" and "injection" in truth["should_fail"]
    assert len(truth["frames"]) == 10 and truth["frames"][7]["repeated_of"] == 2
    assert (out / "preview.png").is_file()


def test_bad_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["fixtures", "scene", "--size", "big", "--seed", "1", "--out", str(tmp_path)])
