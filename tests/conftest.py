"""Shared test fixtures: where the real sample data is, and a skip with a reason where it is not."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real faces, specimen documents, MRZ lines, the MRZ tesseract model).

    It is always present on the development and CI machines; in a user's clone the tests that need it
    are skipped with this reason."""
    if not SHARED_DATA.is_dir():
        pytest.skip("needs ../shared/data (real sample data; present on the development and CI machines)")
    return SHARED_DATA
