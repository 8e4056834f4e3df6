"""Chart tests: the signing fixtures (CLI runner, key pairs, demo layouts), the seed's chart, and helpers
that build archives and manifests by hand — independently of sigward's own writers, so a mistake in
those cannot hide itself."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.signing.conftest import keys, layout, other_keys, run  # noqa: F401

# The seed's chart (`helm create` output, name differing from the directory), trimmed to what matters.
POC_CHART_YAML = b"""\
apiVersion: v2
name: cosign-oci-poc-helm
description: A Helm chart for Kubernetes

# A chart can be either an 'application' or a 'library' chart.
type: application

# This is the chart version.
version: 0.1.0

# This is the version number of the application being deployed.
appVersion: "1.16.0"
"""
POC_CONFIG = (b'{"name":"cosign-oci-poc-helm","version":"0.1.0","description":"A Helm chart for Kubernetes",'
              b'"apiVersion":"v2","appVersion":"1.16.0","type":"application"}')
POC_VALUES = b"""\
replicaCount: 1
image:
  repository: ghcr.io/michaelvl/cosign-oci-poc
  tag: "sha256:fc84c7d1"
service:
  type: ClusterIP
  port: 80
"""
HELMIGNORE = b"""\
# Patterns to ignore when building packages.
.DS_Store
.git/
*.swp
*.bak
*.orig
*~
.idea/
"""
DEPLOYMENT = b"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "cosign-oci-poc.fullname" . }}
"""

# Facts from oci-registry-helm-buildpacks-poc.md §3, written out literally.
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CONTENT = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
HELM_PROV = "application/vnd.cncf.helm.chart.provenance.v1.prov"
LEGACY_CONTENT = "application/tar+gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
GZIP_EXTRA = b"rr\x28\x00aHR0cHM6Ly95b3V0dS5iZS96OVV6MWljandyTQo="
EPOCH = 1700000000
EPOCH_RFC3339 = "2023-11-14T22:13:20Z"


@pytest.fixture(autouse=True)
def _no_ambient_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


@pytest.fixture
def poc_chart(tmp_path: Path) -> Path:
    """charts/cosign-oci-poc as in the seed repository (directory name differs from the chart name)."""
    d = tmp_path / "src" / "cosign-oci-poc"
    (d / "templates").mkdir(parents=True)
    (d / "Chart.yaml").write_bytes(POC_CHART_YAML)
    (d / "values.yaml").write_bytes(POC_VALUES)
    (d / ".helmignore").write_bytes(HELMIGNORE)
    (d / "templates" / "deployment.yaml").write_bytes(DEPLOYMENT)
    (d / "templates" / "_helpers.tpl").write_bytes(b'{{- define "cosign-oci-poc.fullname" -}}x{{- end }}\n')
    (d / "templates" / "NOTES.txt").write_bytes(b"Thanks for installing.\n")
    return d


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_tgz(entries: list[tuple[str, bytes | None, dict[str, Any]]]) -> bytes:
    """A gzipped tar with exactly these entries (``None`` data: a header-only entry, e.g. a link)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, attrs in entries:
            info = tarfile.TarInfo(name)
            info.mtime = EPOCH
            info.mode = 0o644
            for k, v in attrs.items():
                setattr(info, k, v)
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return gzip.compress(raw.getvalue(), mtime=0)


def chart_tgz(name: str = "cosign-oci-poc-helm", version: str = "0.1.0",
              extra: list[tuple[str, bytes | None, dict[str, Any]]] | None = None) -> bytes:
    chart_yaml = f"apiVersion: v2\nname: {name}\nversion: {version}\ntype: application\n".encode()
    return make_tgz([(f"{name}/Chart.yaml", chart_yaml, {}), (f"{name}/values.yaml", b"a: 1\n", {}),
                     *(extra or [])])


def helm_manifest(config: bytes, layers: list[tuple[str, bytes]], annotations: dict[str, str]) -> bytes:
    """The manifest as Helm >= 3.18 marshals ocispec.Manifest: schemaVersion, config, layers (sorted by
    digest), annotations (sorted); descriptors mediaType, digest, size; no mediaType, no artifactType."""
    def desc(media_type: str, data: bytes) -> dict[str, Any]:
        return {"mediaType": media_type, "digest": sha256(data), "size": len(data)}

    obj = {
        "schemaVersion": 2,
        "config": desc(HELM_CONFIG, config),
        "layers": sorted((desc(t, d) for t, d in layers), key=lambda d: d["digest"]),
        "annotations": dict(sorted(annotations.items())),
    }
    return json.dumps(obj, separators=(",", ":")).encode()


def push_raw(store: Any, config: bytes, layers: list[tuple[str, bytes]], manifest: bytes,
             tag: str | None) -> str:
    """Push blobs and the exact manifest bytes through sigward's store (no re-serialisation)."""
    from sigward.oci.manifest import Descriptor, Manifest

    store.put_blob(Descriptor(HELM_CONFIG, sha256(config), len(config)), config)
    for media_type, data in layers:
        store.put_blob(Descriptor(media_type, sha256(data), len(data)), data)
    m = Manifest(manifest, OCI_MANIFEST)
    store.put_manifest(m, tag)
    return m.digest


@pytest.fixture
def registry_store(registry: Any) -> Iterator[Any]:
    """``open(repo)``: a sigward store for a repository of the test registry."""
    from sigward.oci.reference import parse_reference
    from sigward.oci.store import StoreOptions, open_store

    opened: list[Any] = []

    def _open(repo: str) -> Any:
        s = open_store(parse_reference(f"{registry.host}/{repo}", default_tag=False), StoreOptions())
        opened.append(s)
        return s

    yield _open
    for s in opened:
        s.close()
