"""API keys: high entropy, shown once, stored hashed, revocable; webhook secrets sealed at rest."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from videoident.db import make_engine, make_sessionmaker
from videoident.migrations import migrate
from videoident.settings import Settings
from videoident.tenants import (
    SecretBox,
    active_webhook_secrets,
    authenticate,
    issue_api_key,
    issue_webhook_secret,
    list_api_keys,
    revoke_api_key,
)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(Settings(data_dir=tmp_path).resolved_database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def _db_bytes(tmp_path: Path) -> bytes:
    """Every byte of the SQLite file and its WAL, as an attacker with the disk would see them."""
    return b"".join(p.read_bytes() for p in tmp_path.glob("videoident.db*"))


def test_a_key_authenticates_its_tenant_and_is_stored_only_as_a_hash(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions() as db:
        key_id, key = issue_api_key(db, "tenant-a", "backoffice")
        db.commit()
    assert key.startswith("vik_") and len(key) >= 4 + 16 + 1 + 43
    with sessions() as db:
        found = authenticate(db, key)
    assert found is not None and found.tenant_id == "tenant-a" and found.key_id == key_id
    secret_part = key.rsplit("_", 1)[1]
    raw = _db_bytes(tmp_path)
    assert secret_part.encode() not in raw and key.encode() not in raw
    with sqlite3.connect(tmp_path / "videoident.db") as conn:
        (stored,) = conn.execute("select key_hash from api_keys").fetchone()
    assert stored == hashlib.sha256(key.encode()).digest()


@pytest.mark.parametrize("mutation", ["flip_last", "other_id", "truncate", "empty", "no_prefix", "huge"])
def test_a_wrong_key_does_not_authenticate(sessions: sessionmaker[Session], mutation: str) -> None:
    with sessions() as db:
        _key_id, key = issue_api_key(db, "tenant-a")
        _other_id, other = issue_api_key(db, "tenant-b")
        db.commit()
    wrong = {
        "flip_last": key[:-1] + ("A" if key[-1] != "A" else "B"),
        "other_id": other.rsplit("_", 1)[0] + "_" + key.rsplit("_", 1)[1],
        "truncate": key[:-5],
        "empty": "",
        "no_prefix": key[4:],
        "huge": key + "x" * 10_000,
    }[mutation]
    with sessions() as db:
        assert authenticate(db, wrong) is None


def test_keys_are_unique_and_a_revoked_key_stops_working(sessions: sessionmaker[Session]) -> None:
    with sessions() as db:
        issued = [issue_api_key(db, "tenant-a") for _ in range(20)]
        db.commit()
    assert len({k for _, k in issued}) == 20 and len({i for i, _ in issued}) == 20
    key_id, key = issued[0]
    with sessions() as db:
        assert not revoke_api_key(db, key_id, tenant_id="tenant-b"), "another tenant cannot revoke it"
        assert revoke_api_key(db, key_id, tenant_id="tenant-a")
        assert not revoke_api_key(db, key_id), "revoking twice reports nothing to revoke"
        db.commit()
    with sessions() as db:
        assert authenticate(db, key) is None
        assert authenticate(db, issued[1][1]) is not None, "the tenant's other keys keep working"
        keys = list_api_keys(db, "tenant-a")
        assert [k.revoked_at is not None for k in keys].count(True) == 1


def test_webhook_secrets_are_sealed_at_rest_and_bound_to_their_tenant(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    box = SecretBox(Settings(data_dir=tmp_path))
    with sessions() as db:
        secret = issue_webhook_secret(db, box, "tenant-a")
        db.commit()
    assert secret.startswith("whsec_")
    assert secret.encode() not in _db_bytes(tmp_path)
    with sessions() as db:
        assert active_webhook_secrets(db, box, "tenant-a") == [secret]
        assert active_webhook_secrets(db, box, "tenant-b") == []
    with sqlite3.connect(tmp_path / "videoident.db") as conn:
        conn.execute("update webhook_secrets set tenant_id = 'tenant-b'")
    with sessions() as db, pytest.raises(Exception, match="InvalidTag|^$"):
        active_webhook_secrets(db, box, "tenant-b")  # moved to another tenant: does not open


def test_a_box_with_another_master_key_cannot_open_a_secret(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    box = SecretBox(Settings(data_dir=tmp_path))
    with sessions() as db:
        issue_webhook_secret(db, box, "tenant-a")
        db.commit()
    other = SecretBox(Settings(data_dir=tmp_path / "elsewhere"))
    with sessions() as db, pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidTag
        active_webhook_secrets(db, other, "tenant-a")


def test_the_cli_creates_a_tenant_whose_key_works_against_the_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`videoident tenants create NAME --json` as a user runs it, then the key against the real app;
    list and revoke in-process (same code path, without paying a second interpreter start)."""
    import json
    import subprocess
    import sys

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.cli import main

    exe = Path(sys.executable).with_name("videoident")
    env = {"VIDEOIDENT_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([str(exe), "tenants", "create", "acme", "--json"], env=env, capture_output=True,
                          text=True, timeout=180, check=True)
    created = json.loads(done.stdout)
    assert set(created) >= {"tenant_id", "api_key", "webhook_secret"}
    monkeypatch.setenv("VIDEOIDENT_DATA_DIR", str(tmp_path))
    assert main(["tenants", "create", "acme", "--json"]) == 1
    assert "exists" in capsys.readouterr().err
    with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
        ok = client.get("/v1/sessions/nope", headers={"Authorization": f"Bearer {created['api_key']}"})
        assert ok.status_code == 404, "authenticated: the session simply does not exist"
    assert main(["tenants", "list", "--json"]) == 0
    listed = capsys.readouterr().out
    (tenant,) = json.loads(listed)
    assert created["api_key"] not in listed
    assert main(["tenants", "revoke", tenant["api_keys"][0]["key_id"]]) == 0
    with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
        revoked = client.get("/v1/sessions/nope", headers={"Authorization": f"Bearer {created['api_key']}"})
        assert revoked.status_code == 401
