"""Fixtures for the admission engine: images signed by sigward in a real registry (distribution) or in
layouts, ClusterImagePolicy files, TrustRoots made from the local Sigstore stack's trusted root, and the
CLI run in-process."""

from __future__ import annotations

import base64
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
    """A TrustRoot (``sigstoreKeys``: base64 PEM, as policy-controller's docs build them) carrying a
    trusted_root.json's CAs, Rekor and CT logs and TSAs."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key

    root = json.loads(trusted_root.read_text())

    def chain(ca: dict[str, Any]) -> str:
        certs = [x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"]))
                 for c in ca["certChain"]["certificates"]]
        pem = b"".join(c.public_bytes(Encoding.PEM) for c in certs)
        return base64.b64encode(pem).decode()

    def log(t: dict[str, Any]) -> dict[str, Any]:
        der = base64.b64decode(t["publicKey"]["rawBytes"])
        pem = load_der_public_key(der).public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        return {"baseURL": t.get("baseUrl", ""), "hashAlgorithm": "sha-256",
                "publicKey": base64.b64encode(pem).decode()}

    keys = {
        "certificateAuthorities": [{"subject": {"organization": "sigward-test", "commonName": "fulcio"},
                                    "uri": ca.get("uri", ""), "certChain": chain(ca)}
                                   for ca in root.get("certificateAuthorities", [])],
        "tLogs": [log(t) for t in root.get("tlogs", [])],
        "ctLogs": [log(t) for t in root.get("ctlogs", [])],
        "timestampAuthorities": [{"subject": {"organization": "sigward-test", "commonName": "tsa"},
                                  "uri": ca.get("uri", ""), "certChain": chain(ca)}
                                 for ca in root.get("timestampAuthorities", [])],
    }
    return {"apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "TrustRoot", "metadata": {"name": name},
            "spec": {"sigstoreKeys": keys}}
