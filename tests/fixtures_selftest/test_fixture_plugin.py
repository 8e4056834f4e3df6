"""Plugin-level behaviour: clean skip without the registry binary, and the fixture contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures import plugin, registries


def test_skips_cleanly_without_docker_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin, "registry_binary", lambda: None)
    with pytest.raises(pytest.skip.Exception, match="docker-registry"):
        plugin._require_registry_binary()


def test_start_registry_reports_missing_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(registries, "registry_binary", lambda: None)
    with pytest.raises(registries.RegistryStartError, match="not installed"):
        registries.start_plain_registry(tmp_path)


def test_registry_fixtures_are_lazy(request: pytest.FixtureRequest) -> None:
    # Only fixtures this test asked for are active: a session registry is not started by merely existing.
    assert "registry" not in request.fixturenames and "token_registry" not in request.fixturenames


def test_start_failure_carries_log_tail(tmp_path: Path) -> None:
    # A TLS config pointing at missing files makes distribution exit at once; the error must say why.
    from tests.fixtures.pki import KeyPair, make_ca

    base = tmp_path
    ca = make_ca(base / "pki")
    broken = KeyPair(ca.cert, ca.key, base / "missing.crt", base / "missing.key")
    if registries.registry_binary() is None:
        pytest.skip("docker-registry is not installed")
    with pytest.raises(registries.RegistryStartError, match="missing"):
        registries.start_registry(base, "broken", tls=broken, ca_file=ca.cert_file, attempts=1)
