"""The HTML pages refuse framing, referrers, caching and any script not served by this origin."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.page_headers import page_headers
from videoident.settings import Settings


def test_the_console_page_is_served_with_the_strict_headers(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
        response = client.get("/console")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


def test_only_the_console_allows_blob_images() -> None:
    assert "img-src 'self' data: blob:;" in page_headers(img_blob=True)["Content-Security-Policy"]
    assert "img-src 'self' data:;" in page_headers()["Content-Security-Policy"]
