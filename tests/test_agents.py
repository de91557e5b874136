"""Agent accounts: argon2id passwords, TOTP with replay protection, lockout, console session expiry, audit,
and the ``videoident agents create`` command — against a real SQLite database."""

from __future__ import annotations

import base64
import io
import sqlite3
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from videoident.agents import (
    LOCKOUT,
    MAX_FAILED_LOGINS,
    SESSION_IDLE,
    AgentRecord,
    AgentRole,
    AgentStore,
    LoginFailed,
)
from videoident.db import make_engine, make_sessionmaker
from videoident.migrations import migrate
from videoident.records import AuditEventRecord

PASSWORD = "correct horse battery staple"
MASTER_KEY = bytes(range(32))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 9, 0, 7, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'agents.db'}")
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def clock() -> Clock:
    return Clock()


#: Real argon2id with light parameters for speed; the production parameters are checked once below.
LIGHT = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)


@pytest.fixture
def store(sessions: sessionmaker[Session], clock: Clock) -> AgentStore:
    return AgentStore(sessions, MASTER_KEY, clock=clock, hasher=LIGHT)


def secret_of(uri: str) -> str:
    return parse_qs(urlparse(uri).query)["secret"][0]


def code(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret).at(at)


def actions(sessions: sessionmaker[Session]) -> list[tuple[str, dict[str, object]]]:
    with sessions() as db:
        return [(r.action, r.details) for r in db.execute(select(AuditEventRecord).order_by(AuditEventRecord.seq))
                .scalars()]


def test_login_with_password_and_totp_opens_a_session_until_logout(store: AgentStore, clock: Clock,
                                                                    sessions: sessionmaker[Session]) -> None:
    created = store.create("anna.agent", AgentRole.AGENT, PASSWORD)
    assert created.provisioning_uri.startswith("otpauth://totp/")
    login = store.login("anna.agent", PASSWORD, code(secret_of(created.provisioning_uri), clock.now))
    assert login.agent.role is AgentRole.AGENT and login.agent.name == "anna.agent"
    assert store.authenticate(login.token) == login.agent
    assert store.authenticate("x" + login.token) is None
    store.logout(login.token)
    assert store.authenticate(login.token) is None
    done = [a for a, _ in actions(sessions)]
    assert done == ["agent.created", "console.login", "console.logout"]


def test_secrets_at_rest_are_argon2id_and_sealed(clock: Clock, tmp_path: Path,
                                                 sessions: sessionmaker[Session]) -> None:
    store = AgentStore(sessions, MASTER_KEY, clock=clock)  # the production argon2id parameters
    created = store.create("bob", AgentRole.SUPERVISOR, PASSWORD)
    store.login("bob", PASSWORD, code(secret_of(created.provisioning_uri), clock.now))
    with sessions() as db:
        row = db.execute(select(AgentRecord)).scalar_one()
        assert row.password_hash.startswith("$argon2id$") and "m=65536" in row.password_hash
    raw = (tmp_path / "agents.db").read_bytes()
    for wal in tmp_path.glob("agents.db-wal"):
        raw += wal.read_bytes()
    assert secret_of(created.provisioning_uri).encode() not in raw
    assert PASSWORD.encode() not in raw
    # The console token itself is not stored, only its hash.
    con = sqlite3.connect(tmp_path / "agents.db")
    assert all(len(h) == 64 for (h,) in con.execute("select token_hash from console_sessions"))
    con.close()


def test_a_totp_code_works_once(store: AgentStore, clock: Clock) -> None:
    secret = secret_of(store.create("carla", AgentRole.AGENT, PASSWORD).provisioning_uri)
    used = code(secret, clock.now)
    store.login("carla", PASSWORD, used)
    with pytest.raises(LoginFailed):
        store.login("carla", PASSWORD, used)  # replayed within its 30 s window
    clock.now += timedelta(seconds=30)
    store.login("carla", PASSWORD, code(secret, clock.now))  # the next step's code works
    # One step of drift is accepted, but not an older step than the last accepted one.
    with pytest.raises(LoginFailed):
        store.login("carla", PASSWORD, code(secret, clock.now - timedelta(seconds=30)))


def test_wrong_password_or_code_and_unknown_names_fail_alike(store: AgentStore, clock: Clock,
                                                             sessions: sessionmaker[Session]) -> None:
    secret = secret_of(store.create("dora", AgentRole.AGENT, PASSWORD).provisioning_uri)
    for name, password, totp in (("dora", "wrong password!!", code(secret, clock.now)),
                                 ("dora", PASSWORD, "000000" if code(secret, clock.now) != "000000" else "111111"),
                                 ("nobody", PASSWORD, code(secret, clock.now)),
                                 ("dora", PASSWORD, "12ab56")):
        with pytest.raises(LoginFailed) as info:
            store.login(name, password, totp)
        assert str(info.value) == "login failed" and not info.value.locked
    reasons = [d.get("why") for a, d in actions(sessions) if a == "console.login_failed"]
    assert reasons == ["password", "totp", "unknown_agent", "totp"]
    assert all(PASSWORD not in str(d) for _, d in actions(sessions))


def test_lockout_after_repeated_failures_then_unlock_by_time(store: AgentStore, clock: Clock,
                                                             sessions: sessionmaker[Session]) -> None:
    secret = secret_of(store.create("emil", AgentRole.AGENT, PASSWORD).provisioning_uri)
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(LoginFailed):
            store.login("emil", "not the password", code(secret, clock.now))
    clock.now += timedelta(seconds=31)
    with pytest.raises(LoginFailed) as info:  # right password and code, but locked
        store.login("emil", PASSWORD, code(secret, clock.now))
    assert info.value.locked
    assert ("agent.locked", {"minutes": 15}) in actions(sessions)
    clock.now += LOCKOUT
    assert store.login("emil", PASSWORD, code(secret, clock.now)).agent.name == "emil"


def test_supervisor_can_unlock(store: AgentStore, clock: Clock) -> None:
    secret = secret_of(store.create("fritz", AgentRole.AGENT, PASSWORD).provisioning_uri)
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(LoginFailed):
            store.login("fritz", "not the password", "123456")
    store.unlock("fritz", store.get(store.create("sue", AgentRole.SUPERVISOR, PASSWORD).agent.id).actor)  # type: ignore[union-attr]
    assert store.login("fritz", PASSWORD, code(secret, clock.now)).agent.name == "fritz"


def test_console_session_expires_when_idle(store: AgentStore, clock: Clock) -> None:
    secret = secret_of(store.create("gina", AgentRole.AGENT, PASSWORD).provisioning_uri)
    token = store.login("gina", PASSWORD, code(secret, clock.now)).token
    clock.now += SESSION_IDLE - timedelta(minutes=1)
    assert store.authenticate(token) is not None  # activity refreshes the idle timer
    clock.now += SESSION_IDLE - timedelta(minutes=1)
    assert store.authenticate(token) is not None
    clock.now += SESSION_IDLE
    assert store.authenticate(token) is None


def test_account_rules(store: AgentStore) -> None:
    with pytest.raises(ValueError, match="12 characters"):
        store.create("hans", AgentRole.AGENT, "short")
    with pytest.raises(ValueError, match="name"):
        store.create("hans wurst", AgentRole.AGENT, PASSWORD)
    store.create("hans", AgentRole.AGENT, PASSWORD)
    with pytest.raises(ValueError, match="exists"):
        store.create("hans", AgentRole.SUPERVISOR, PASSWORD)


def test_cli_creates_an_agent_and_prints_the_uri_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from api.cli import main

    monkeypatch.setenv("VIDEOIDENT_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["agents", "create", "ida", "--role", "supervisor", "--password-stdin"]) == 0
    out = capsys.readouterr().out
    uri = next(line for line in out.splitlines() if line.startswith("otpauth://"))
    engine = make_engine(f"sqlite:///{tmp_path / 'videoident.db'}")
    try:
        master_key = base64.b64decode((tmp_path / "dev-master.key").read_text().strip())
        store = AgentStore(make_sessionmaker(engine), master_key)
        login = store.login("ida", PASSWORD, pyotp.TOTP(secret_of(uri)).now())
        assert login.agent.role is AgentRole.SUPERVISOR
    finally:
        engine.dispose()
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["agents", "create", "ida", "--password-stdin"]) == 2  # the name is taken
    assert main(["agents", "unlock", "ida"]) == 0


def test_agents_still_log_in_after_a_master_key_rotation(sessions: sessionmaker[Session], clock: Clock) -> None:
    """Rotation (VIDEOIDENT_MASTER_KEY=new, VIDEOIDENT_PREVIOUS_MASTER_KEYS=old): the old key opens the TOTP
    secret, the login moves it onto the new key, and once the old key is retired the agent still logs in."""
    new_key = bytes(range(100, 132))
    assert new_key != MASTER_KEY
    secret = secret_of(AgentStore(sessions, MASTER_KEY, clock=clock, hasher=LIGHT)
                       .create("erik", AgentRole.AGENT, PASSWORD).provisioning_uri)
    with pytest.raises(LoginFailed):  # the new key alone cannot open a secret sealed under the old one
        AgentStore(sessions, new_key, clock=clock, hasher=LIGHT).login("erik", PASSWORD, code(secret, clock.now))
    assert actions(sessions)[-1] == ("console.login_failed", {"why": "totp_key_unavailable"})
    rotating = AgentStore(sessions, new_key, previous_master_keys=(MASTER_KEY,), clock=clock, hasher=LIGHT)
    rotating.login("erik", PASSWORD, code(secret, clock.now))
    clock.now += timedelta(seconds=30)
    retired = AgentStore(sessions, new_key, clock=clock, hasher=LIGHT)
    assert retired.login("erik", PASSWORD, code(secret, clock.now)).agent.name == "erik"
