"""Active liveness on generated scenes: a customer who performs the asked challenges passes; one who sits
still (no turn, no blink, no step closer) times out and fails. Real faces from ../shared/data/faces."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.benchmarks.face import ACTIVE_CHALLENGES, ACTIVE_TIMEOUT_S, run_active_scene
from models.face import FaceEngine
from pipelines.results import Verdict


@pytest.fixture(scope="module")
def engine(face_engine: FaceEngine) -> FaceEngine:
    return face_engine  # loaded once per run (tests/conftest.py)


@pytest.mark.shared_data
def test_performed_challenges_pass(engine: FaceEngine, shared_data: Path) -> None:
    row = run_active_scene(engine, seed=2, perform=True)
    assert [c["state"] for c in row["challenges"]] == ["passed"] * len(ACTIVE_CHALLENGES), row
    assert row["liveness"] == Verdict.PASS.value, row


@pytest.mark.shared_data
def test_a_customer_who_does_nothing_times_out(engine: FaceEngine, shared_data: Path) -> None:
    row = run_active_scene(engine, seed=2, perform=False)
    assert row["liveness"] == Verdict.FAIL.value and row["liveness_reason"] == "challenge_failed", row
    first = row["challenges"][0]
    assert first["state"] == "timed_out" and first["seconds"] is None, row
    assert first["observations"] >= ACTIVE_TIMEOUT_S * 10  # it was watching the face all along (15 fps)
