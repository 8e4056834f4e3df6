"""Fixtures for the admission engine: images signed by sigward in a real registry (distribution) or in
layouts, ClusterImagePolicy files, TrustRoots made from the local Sigstore stack's trusted root, and the
CLI run in-process."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sigward.cli.main import main
from tests.fixtures.registries import RegistryServer
from tests.fixtures.testkeys import TEST_PASSWORD, KeyPair, make_keys


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    """The sigward CLI in-process (COSIGN_PASSWORD is the test password)."""
    monkeypatch.setenv("COSIGN_PASSWORD", TEST_PASSWORD)
    monkeypatch.delenv("COSIGN_REPOSITORY", raising=False)

    def _run(*argv: str) -> Run:
        capsys.readouterr()
        code = main(list(argv))
        cap = capsys.readouterr()
        assert "Traceback" not in cap.err
        return Run(code, cap.out, cap.err)

    return _run


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_keys(tmp_path_factory.mktemp("admission-keys"), "cosign")


@pytest.fixture(scope="session")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_keys(tmp_path_factory.mktemp("admission-other-keys"), "other")


@pytest.fixture
def image(registry: RegistryServer, unique_repo: str) -> Callable[..., str]:
    """Push a fresh demo image into the test registry; returns ``host/repo@sha256:…``."""
    from sigward.oci.reference import parse_reference
    from sigward.oci.store import StoreOptions, open_store
    from sigward.ops.example import write_demo_image

    counter = iter(range(1000))

    def _make(message: str = "hello", repo: str | None = None) -> str:
        ref = parse_reference(f"{registry.host}/{repo or unique_repo}:v{next(counter)}")
        with open_store(ref, StoreOptions(allow_http_registry=True)) as store:
            write_demo_image(store, ref.identifier, message=message)
            digest = store.resolve(ref.identifier).digest
        return str(ref.with_digest(digest))

    return _make


@pytest.fixture
def layout(tmp_path: Path) -> Callable[..., str]:
    """A demo image in a fresh layout; returns ``oci:PATH@sha256:…``."""
    from sigward.oci.layout import LayoutStore
    from sigward.ops.example import write_demo_image

    counter = iter(range(1000))

    def _make(message: str = "hello") -> str:
        path = tmp_path / f"layout{next(counter)}"
        store = LayoutStore(str(path))
        write_demo_image(store, "v1", message=message)
        return f"oci:{path}@{store.resolve('v1').digest}"

    return _make


def cip(name: str, spec: dict[str, Any], version: str = "v1beta1") -> dict[str, Any]:
    return {"apiVersion": f"policy.sigstore.dev/{version}", "kind": "ClusterImagePolicy",
            "metadata": {"name": name}, "spec": spec}


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., str]:
    """Write documents (dicts) as one multi-document YAML file; returns its path."""
    counter = iter(range(1000))

    def _write(*docs: dict[str, Any], name: str | None = None) -> str:
        p = tmp_path / (name or f"doc{next(counter)}.yaml")
        p.write_text(yaml.safe_dump_all(list(docs), sort_keys=False))
        return str(p)

    return _write


def trustroot_from_trusted_root(name: str, trusted_root: Path) -> dict[str, Any]:
    """A TrustRoot (``sigstoreKeys``) carrying a trusted_root.json's CAs, logs and TSAs: what
    ``sigward policy trustroot`` prints (the library function behind it)."""
    from sigward.cip.trustroot_export import trustroot_from_trusted_root as export

    made = export(name, trusted_root.read_bytes(), source=str(trusted_root))
    return made.resource
