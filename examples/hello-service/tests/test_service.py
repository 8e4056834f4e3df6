"""The service answers hello on any path and reports health with its version."""

from __future__ import annotations

import json
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from hello_service.server import make_server


@pytest.fixture
def base_url() -> Iterator[str]:
    server = make_server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.headers["Content-Type"], resp.read().decode()


def test_hello_on_any_path(base_url: str) -> None:
    for path in ("/", "/some/where"):
        status, ctype, body = _get(base_url + path)
        assert (status, body) == (200, "Hello, world!\n")
        assert ctype.startswith("text/plain")


def test_health_reports_version(base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELLO_SERVICE_VERSION", "9.9.9")
    status, ctype, body = _get(base_url + "/healthz")
    assert status == 200 and ctype == "application/json"
    assert json.loads(body) == {"status": "ok", "version": "9.9.9"}
