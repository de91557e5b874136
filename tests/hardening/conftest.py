"""The hardening suite's harness: the real service as a subprocess (``videoident serve``) on a free loopback
port, in a temporary data dir, on a fresh PostgreSQL database (several processes write it: the server, and
the test process acting as agent and supervisor through the core), killed with SIGKILL when the test wants a
crash and always cleaned up.

Every test records its figures with the ``figures`` fixture; they are printed in the terminal summary and
written to ``<pytest basetemp>/hardening-figures.json``.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from tests.conftest import fresh_postgres_database
from tests.hardening.harness import Server

FIGURES_KEY = pytest.StashKey[dict[str, dict[str, Any]]]()


def fresh_database() -> AbstractContextManager[str]:
    """A fresh PostgreSQL database (dropped afterwards); its SQLAlchemy URL."""
    return fresh_postgres_database("hardening")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def new_master_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, pg_database: str) -> Iterator[Server]:
    """The shared running service of the suite (the crash test starts its own)."""
    srv = Server(tmp_path_factory.mktemp("service"), pg_database, new_master_key())
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def figures(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """This test's figures: printed in the terminal summary and saved to hardening-figures.json."""
    mine: dict[str, Any] = {}
    yield mine
    if not mine:
        return
    store = request.config.stash.setdefault(FIGURES_KEY, {})
    store[request.node.name] = mine
    path = tmp_path_factory.getbasetemp() / "hardening-figures.json"
    path.write_text(json.dumps(store, indent=2, sort_keys=True, default=str))
    print(f"\n[hardening] {request.node.name}: {json.dumps(mine, default=str)}")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    store = config.stash.get(FIGURES_KEY, None)
    if not store:
        return
    terminalreporter.section("hardening figures")
    for test, values in store.items():
        terminalreporter.write_line(f"{test}: {json.dumps(values, default=str)}")
