"""Shared test fixtures: where the real sample data is, and a skip with a reason where it is not."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent

# Apps built in this process analyse live frames in a thread, not in a pool of processes that each load dlib
# (~3 s CPU per app start, and most tests never open a live session). The pool itself is tested with real
# processes in tests/test_live_pool.py, and every `videoident serve` the hardening tests start (their harness
# drops VIDEOIDENT_* variables) runs the default pool.
os.environ.setdefault("VIDEOIDENT_ANALYSIS_PROCESSES", "0")
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real faces, specimen documents, MRZ lines, the MRZ tesseract model).

    It is always present on the development and CI machines; in a user's clone the tests that need it
    are skipped with this reason."""
    if not SHARED_DATA.is_dir():
        pytest.skip("needs ../shared/data (real sample data; present on the development and CI machines)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def face_engine() -> Any:
    """The dlib face engine (models.face.FaceEngine), loaded and warmed up once for the whole run: its models
    take seconds of CPU to load, and every face test module uses the same read-only engine."""
    from models.face import FaceEngine

    engine = FaceEngine()
    engine.warmup()
    return engine


@contextmanager
def fresh_postgres_database(prefix: str = "videoident_test") -> Iterator[str]:
    """A new, empty PostgreSQL database on 127.0.0.1:5432 as a SQLAlchemy URL, dropped afterwards
    (videoident.scratch_db).

    On CI (``CI`` set) and the development machines the server is always there, and its absence fails
    the test. In a user's clone without PostgreSQL the test is skipped with this reason instead."""
    import psycopg

    from videoident.scratch_db import scratch_postgres_database

    with ExitStack() as stack:
        try:
            url = stack.enter_context(scratch_postgres_database(prefix))
        except psycopg.OperationalError as exc:
            reason = f"needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth): {exc}".strip()
            if os.environ.get("CI"):
                pytest.fail(reason)
            pytest.skip(reason)
        yield url
