"""``videoident tenants add-key`` and ``rotate-secret``: they find the bank by id or name, commit what they
issue, and refuse an unknown bank without touching anything (run in-process against a SQLite data dir)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from api.cli import main
from videoident.db import make_engine, make_sessionmaker
from videoident.settings import Settings
from videoident.tenants import ApiKey, SecretBox, active_webhook_secrets, authenticate


def test_add_key_and_rotate_secret_by_name_and_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VIDEOIDENT_DATA_DIR", str(tmp_path))
    assert main(["tenants", "create", "acme", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)

    assert main(["tenants", "add-key", "acme", "--label", "rotation", "--json"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert added["tenant_id"] == created["tenant_id"] and added["api_key"] != created["api_key"]
    assert main(["tenants", "rotate-secret", created["tenant_id"], "--json"]) == 0
    rotated = json.loads(capsys.readouterr().out)
    assert rotated["webhook_secret"] != created["webhook_secret"]

    assert main(["tenants", "add-key", "nobody"]) == 1
    assert main(["tenants", "rotate-secret", "nobody"]) == 1
    assert capsys.readouterr().err.count("no tenant 'nobody'") == 2

    settings = Settings(data_dir=tmp_path)
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_sessionmaker(engine)() as db:  # what the commands issued was committed, nothing else
            assert authenticate(db, added["api_key"]) is not None
            assert len(db.scalars(select(ApiKey)).all()) == 2
            secrets_now = active_webhook_secrets(db, SecretBox(settings), created["tenant_id"])
    finally:
        engine.dispose()
    assert set(secrets_now) == {rotated["webhook_secret"], created["webhook_secret"]}  # overlap: both sign
