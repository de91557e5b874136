"""Re-identification: template bytes round-trip and refuse garbage; decisions on real encodings."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from models.face import FaceEngine
from pipelines.face.still import analyze_still
from pipelines.face.template import (
    FaceTemplate,
    reidentify,
    template_from_bytes,
    template_to_bytes,
)
from pipelines.results import Verdict


@pytest.fixture(scope="module")
def engine(face_engine: FaceEngine) -> FaceEngine:
    return face_engine  # loaded once per run (tests/conftest.py)


@pytest.fixture(scope="module")
def astronaut_encoding(engine: FaceEngine) -> np.ndarray:
    still = analyze_still(engine, cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    assert still.encoding is not None
    return still.encoding


def test_round_trip_keeps_the_distance(astronaut_encoding: np.ndarray) -> None:
    blob = template_to_bytes(FaceTemplate(astronaut_encoding))
    back = template_from_bytes(blob)
    assert back.encoder == "dlib_resnet_v1"
    assert float(np.linalg.norm(back.encoding - astronaut_encoding)) < 1e-5
    assert len(blob) == 4 + 2 + len("dlib_resnet_v1") + 512


@pytest.mark.parametrize("mutate", [lambda b: b"XXXX" + b[4:], lambda b: b[:-1], lambda b: b + b"\0",
                                    lambda b: b[:4] + b"\x02" + b[5:]])
def test_garbage_is_refused(astronaut_encoding: np.ndarray, mutate) -> None:  # type: ignore[no-untyped-def]
    blob = template_to_bytes(FaceTemplate(astronaut_encoding))
    with pytest.raises(ValueError):
        template_from_bytes(mutate(blob))


def test_same_face_same_document_passes(engine: FaceEngine, astronaut_encoding: np.ndarray) -> None:
    ref = template_from_bytes(template_to_bytes(FaceTemplate(astronaut_encoding)))
    small = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), None, fx=0.8, fy=0.8)
    live = analyze_still(engine, small).encoding
    assert live is not None
    ok = reidentify(live, "l898902c3", ref, "L898902C<3".replace("<", ""), engine.version)
    assert ok.verdict is Verdict.PASS and ok.measurements["same_document"] is True
    changed = reidentify(live, "X12345678", ref, "L898902C3", engine.version)
    assert changed.verdict is Verdict.INCONCLUSIVE and changed.reason.code == "document_changed"
    missing = reidentify(live, None, ref, "L898902C3", engine.version)
    assert missing.verdict is Verdict.INCONCLUSIVE


def test_foreign_encoder_is_never_compared(astronaut_encoding: np.ndarray) -> None:
    result = reidentify(astronaut_encoding, "A1", FaceTemplate(astronaut_encoding, "other_model"), "A1", "v")
    assert result.verdict is Verdict.INCONCLUSIVE and result.reason.code == "template_incompatible"


@pytest.mark.shared_data
def test_another_person_fails_even_with_the_right_document(engine: FaceEngine, shared_data: Path) -> None:
    folder = shared_data / "faces" / "deepface"
    ref = analyze_still(engine, cv2.imread(str(folder / "img1.jpg"))).encoding
    other = analyze_still(engine, cv2.imread(str(folder / "img12.jpg"))).encoding
    assert ref is not None and other is not None
    result = reidentify(other, "L898902C3", FaceTemplate(ref), "L898902C3", engine.version)
    assert result.verdict is Verdict.FAIL
