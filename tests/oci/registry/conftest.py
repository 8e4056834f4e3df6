"""Servers for the registry-client tests.

The suite-wide fixtures (``registry``, ``tls_registry``, ``token_registry``, ``referrers_registry``,
``fault_proxy``) are used when ``tests/conftest.py`` provides them; otherwise the same servers are started
here from ``tests/fixtures`` so these tests also run on their own. Names are prefixed ``rc_`` so they
never shadow the shared ones.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sigward.oci.reference import Reference
from sigward.oci.registry.store import RegistryStore
from sigward.oci.store import StoreOptions

_own: dict[str, Any] = {}
_counter = itertools.count()


def _shared_or_own(request: pytest.FixtureRequest, name: str, start: Callable[[Path], Any]) -> Any:
    try:
        return request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        pass
    if name not in _own:
        workdir = request.getfixturevalue("tmp_path_factory").mktemp(name)
        _own[name] = start(workdir)
        request.session.config.add_cleanup(_own[name].stop)
    return _own[name]


@pytest.fixture
def rc_registry(request: pytest.FixtureRequest) -> Any:
    from tests.fixtures.registries import start_plain_registry

    return _shared_or_own(request, "registry", start_plain_registry)


@pytest.fixture
def rc_tls_registry(request: pytest.FixtureRequest) -> Any:
    from tests.fixtures.registries import start_tls_registry

    return _shared_or_own(request, "tls_registry", start_tls_registry)


@pytest.fixture
def rc_token_registry(request: pytest.FixtureRequest) -> Any:
    from tests.fixtures.registries import start_token_registry

    reg = _shared_or_own(request, "token_registry", start_token_registry)
    reg.token_server.reset()
    return reg


@pytest.fixture
def rc_referrers_registry(request: pytest.FixtureRequest) -> Any:
    from tests.fixtures.referrers_registry import ReferrersRegistry

    return _shared_or_own(request, "referrers_registry", lambda _: ReferrersRegistry().start())


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
