"""Fixtures of the admission webhook tests: a real Redis, TLS material for the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.redis_server import RedisServer


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server per test (tests kill it on purpose)."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def webhook_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ca.crt, tls.crt, tls.key for 127.0.0.1 and localhost, made by the code `admission certs` runs."""
    from sigward.webhook.certs import issue

    out = tmp_path_factory.mktemp("webhook-certs")
    issue(out, ["127.0.0.1", "localhost"])
    return out
