"""Servers for the registry-client tests: the suite-wide fixtures under short ``rc_`` names, a fault
proxy per test, and a store factory with fast retries."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sigward.oci.reference import Reference
from sigward.oci.registry.store import RegistryStore
from sigward.oci.store import StoreOptions

_counter = itertools.count()


@pytest.fixture
def rc_registry(registry: Any) -> Any:
    return registry


@pytest.fixture
def rc_tls_registry(tls_registry: Any) -> Any:
    return tls_registry


@pytest.fixture
def rc_token_registry(token_registry: Any) -> Any:
    token_registry.token_server.reset()
    return token_registry


@pytest.fixture
def rc_referrers_registry(referrers_registry: Any) -> Any:
    return referrers_registry


@pytest.fixture
def rc_proxy(rc_registry: Any) -> Iterator[Any]:
    """A fault proxy in front of the plain registry, fresh per test."""
    from tests.fixtures.faultproxy import FaultProxy

    proxy = FaultProxy(rc_registry.url).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def repo_name() -> str:
    """A repository no other test touches (unique per process; registries are per session)."""
    return f"rc/t{next(_counter)}-{os.getpid()}"


@pytest.fixture(autouse=True)
def _isolated_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never read or write the real ~/.docker/config.json."""
    d = tmp_path / "docker"
    monkeypatch.setenv("DOCKER_CONFIG", str(d))
    return d


def open_store(server: Any, repo: str, **opts: Any) -> RegistryStore:
    """A store on ``server`` (anything with ``.host``) with fast retries for tests."""
    insecure = opts.get("allow_insecure_registry")
    if getattr(server, "ca_file", None) is not None and "ca_file" not in opts and not insecure:
        opts["ca_file"] = str(server.ca_file)
    if getattr(server, "username", None) and "username" not in opts and "registry_token" not in opts:
        opts.setdefault("username", server.username)
        opts.setdefault("password", server.password)
    store = RegistryStore(Reference(server.host, repo, "latest"), StoreOptions(**opts))
    store.client.backoff_base = 0.01
    store.client.backoff_cap = 0.05
    return store
