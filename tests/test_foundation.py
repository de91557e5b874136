"""The walking skeleton: settings refuse unsafe defaults, the app serves health and OpenAPI, the CLI lists commands."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from api.cli import build_parser
from videoident.settings import Environment, Settings

REPO = Path(__file__).resolve().parent.parent


def test_production_refuses_a_missing_master_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="MASTER_KEY is required"):
        Settings(environment=Environment.PRODUCTION, data_dir=tmp_path, public_base_url="https://kyc.example")


def test_production_refuses_the_all_zero_key_and_plain_http(tmp_path: Path) -> None:
    zero = base64.b64encode(bytes(32)).decode()
    with pytest.raises(ValidationError, match="all-zero"):
        Settings(environment=Environment.PRODUCTION, master_key=zero, public_base_url="https://kyc.example")
    good = base64.b64encode(b"k" * 32).decode()
    with pytest.raises(ValidationError, match="https"):
        Settings(environment=Environment.PRODUCTION, master_key=good, public_base_url="http://kyc.example")
    ok = Settings(environment=Environment.PRODUCTION, master_key=good, public_base_url="https://kyc.example")
    assert ok.master_key_bytes == b"k" * 32


def test_a_short_master_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="32 bytes"):
        Settings(environment=Environment.TEST, master_key=base64.b64encode(b"short").decode())


def test_development_generates_one_key_and_keeps_it(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).master_key_bytes
    second = Settings(data_dir=tmp_path).master_key_bytes
    assert first == second and len(first) == 32
    assert (tmp_path / "dev-master.key").stat().st_mode & 0o077 == 0


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIDEOIDENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VIDEOIDENT_PORT", "9123")
    settings = Settings()
    assert settings.port == 9123
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'videoident.db'}"


def test_health_and_openapi(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        schema = client.get("/openapi.json").json()
        assert "/healthz" in schema["paths"]
        assert client.get("/docs").status_code == 200


def test_cli_lists_serve() -> None:
    assert "serve" in build_parser().format_help()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_videoident_serve_starts_and_answers(tmp_path: Path) -> None:
    """The real console script, as a user runs it: it prints the docs URL and serves health."""
    port = _free_port()
    exe = Path(sys.executable).with_name("videoident")
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port)],
        env={"VIDEOIDENT_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.2)
        else:
            pytest.fail("videoident serve did not answer within 60 s")
        assert response.json()["status"] == "ok"
        # The demo bank made on first start can create a session whose link points at this very server.
        api_key = json.loads((tmp_path / "demo-bank.credentials.json").read_text())["api_key"]
        created = httpx.post(
            f"http://127.0.0.1:{port}/v1/sessions",
            headers={"Authorization": f"Bearer {api_key}"},
            json={"reference": "r-1", "purpose": "account_opening",
                  "claimed_identity": {"given_name": "Erika", "family_name": "Mustermann", "birthdate": "1983-08-12"}},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        customer_url = created.json()["customer_url"]
        assert customer_url.startswith(f"http://127.0.0.1:{port}/ident/")
        token = customer_url.rsplit("/", 1)[-1]
        assert httpx.get(customer_url, timeout=30).status_code == 200
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/docs" in output
    assert f"http://127.0.0.1:{port}/console" in output
    assert '"GET /ident/<token> HTTP/1.1" 200' in output  # the access log saw the request ...
    assert token not in output  # ... but never the customer's bearer token
