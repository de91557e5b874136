"""``videoident serve --workers N``: what is refused before anything starts (no server is started here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.cli import main
from api.commands.serve_workers import analysis_processes_per_worker


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("VIDEOIDENT_DATABASE_URL", "VIDEOIDENT_REDIS_URL", "VIDEOIDENT_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VIDEOIDENT_DATA_DIR", str(tmp_path))


@pytest.mark.usefixtures("clean_env")
def test_several_workers_on_sqlite_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--workers", "2", "--port", "1"]) == 2
    assert "needs PostgreSQL" in capsys.readouterr().err


@pytest.mark.usefixtures("clean_env")
def test_several_workers_without_redis_are_refused(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VIDEOIDENT_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/none")
    assert main(["serve", "--workers", "3", "--port", "1"]) == 2
    assert "needs Redis" in capsys.readouterr().err


@pytest.mark.usefixtures("clean_env")
def test_an_unreachable_redis_is_refused_at_start(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VIDEOIDENT_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/none")
    monkeypatch.setenv("VIDEOIDENT_REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["serve", "--workers", "2", "--port", "1"]) == 2
    assert "Redis at VIDEOIDENT_REDIS_URL does not answer" in capsys.readouterr().err


@pytest.mark.usefixtures("clean_env")
def test_zero_workers_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--workers", "0", "--port", "1"]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_the_cores_are_shared_out_among_the_workers_analysis_pools() -> None:
    assert [analysis_processes_per_worker(n, 2) for n in (1, 2, 4)] == [2, 1, 1]
    assert [analysis_processes_per_worker(n, 8) for n in (1, 2, 3, 4)] == [8, 4, 2, 2]
    assert analysis_processes_per_worker(2, None) == 1
