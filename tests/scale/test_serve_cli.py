"""``videoident serve --workers N``: what is refused before anything starts (no server is started here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.cli import main
from api.commands.serve_workers import (
    Listeners,
    analysis_processes_per_worker,
    bind_public_socket,
    reuse_port_supported,
)


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


@pytest.mark.skipif(not reuse_port_supported(), reason="the OS has no SO_REUSEPORT")
def test_per_worker_sockets_share_the_port_and_the_kernel_spreads_connections() -> None:
    """One SO_REUSEPORT socket per worker on one port: each listening one gets a share of 40 connections; a
    released one gets none, and the address stays served by the others."""
    import socket
    import time

    first = bind_public_socket("127.0.0.1", 0, reuse_port=True)
    port = first.getsockname()[1]
    first.close()
    listeners = Listeners("127.0.0.1", port, [1, 2], reuse_port=True)
    try:
        sockets = [listeners.for_slot(1), listeners.for_slot(2)]
        assert {s.getsockname()[1] for s in sockets} == {port}
        for sock in sockets:  # what the worker's server does once it is ready
            sock.listen(64)
            sock.setblocking(False)

        def spread(count: int) -> list[int]:
            clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
            time.sleep(0.2)
            accepted = [0, 0]
            for i, sock in enumerate(sockets):
                if sock.fileno() == -1:
                    continue
                while True:
                    try:
                        conn, _ = sock.accept()
                    except BlockingIOError:
                        break
                    conn.close()
                    accepted[i] += 1
            for client in clients:
                client.close()
            return accepted

        both = spread(40)
        assert sum(both) == 40 and min(both) > 0, both
        listeners.release(2)
        assert spread(10) == [10, 0]
    finally:
        listeners.close()
