"""`sigward chart push`: Helm's manifest, config and tags, on the real registry and in OCI layouts."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.chart.conftest import (
    EPOCH,
    EPOCH_RFC3339,
    HELM_CONFIG,
    HELM_CONTENT,
    HELM_PROV,
    OCI_MANIFEST,
    POC_CONFIG,
    helm_manifest,
    sha256,
)

ACCEPT = {"Accept": OCI_MANIFEST}


def _package(run: Callable[..., Any], chart: Path, dest: Path, *extra: str) -> Path:
    r = run("chart", "package", str(chart), "-d", str(dest), *extra, env={"SOURCE_DATE_EPOCH": str(EPOCH)})
    assert r.code == 0, r.err
    return Path(r.out.strip().split(": ", 1)[1])


def _pushed(r: Any) -> tuple[str, str]:
    assert r.code == 0, r.err
    lines = r.out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Pushed: ") and lines[1].startswith("Digest: ")
    return lines[0][len("Pushed: "):], lines[1][len("Digest: "):]


def test_push_poc_chart_to_registry(run: Callable[..., Any], poc_chart: Path, registry: Any,
                                    unique_repo: str, tmp_path: Path) -> None:
    tgz = _package(run, poc_chart, tmp_path)
    ns = unique_repo
    ref, digest = _pushed(run("chart", "push", str(tgz), f"oci://{registry.host}/{ns}",
                              env={"SOURCE_DATE_EPOCH": str(EPOCH)}))
    repo = f"{ns}/cosign-oci-poc-helm"
    assert ref == f"{registry.host}/{repo}@{digest}"  # a digest reference, never a tag

    resp = httpx.get(f"{registry.url}/v2/{repo}/manifests/0.1.0", headers=ACCEPT)
    assert resp.status_code == 200
    assert resp.headers["Docker-Content-Digest"] == digest == sha256(resp.content)
    assert resp.headers["Content-Type"] == OCI_MANIFEST
    obj = json.loads(resp.content)
    assert "mediaType" not in obj and "artifactType" not in obj
    assert list(obj) == ["schemaVersion", "config", "layers", "annotations"]
    assert obj["schemaVersion"] == 2
    assert list(obj["config"]) == ["mediaType", "digest", "size"]
    assert obj["config"]["mediaType"] == HELM_CONFIG
    config = httpx.get(f"{registry.url}/v2/{repo}/blobs/{obj['config']['digest']}").content
    assert config == POC_CONFIG  # the reference's example, byte for byte
    [layer] = obj["layers"]
    data = tgz.read_bytes()
    assert layer == {"mediaType": HELM_CONTENT, "digest": sha256(data), "size": len(data)}
    assert obj["annotations"] == {
        "org.opencontainers.image.created": EPOCH_RFC3339,
        "org.opencontainers.image.description": "A Helm chart for Kubernetes",
        "org.opencontainers.image.title": "cosign-oci-poc-helm",
        "org.opencontainers.image.version": "0.1.0",
    }
    # The whole manifest equals one written by hand from the reference's facts.
    annotations = obj["annotations"]
    assert resp.content == helm_manifest(POC_CONFIG, [(HELM_CONTENT, tgz.read_bytes())], annotations)

    # Pushing again transfers nothing new and gives the same digest.
    _, again = _pushed(run("chart", "push", str(tgz), f"oci://{registry.host}/{ns}",
                           env={"SOURCE_DATE_EPOCH": str(EPOCH)}))
    assert again == digest


def test_build_metadata_tag_and_annotations(run: Callable[..., Any], tmp_path: Path, registry: Any,
                                            unique_repo: str) -> None:
    d = tmp_path / "chart"
    d.mkdir()
    (d / "Chart.yaml").write_bytes(b"""\
apiVersion: v2
name: hello
version: 1.2.3+build.1
description: "  "
home: https://example.com/hello
sources: [https://github.com/org/hello, https://mirror.example.com/hello]
maintainers:
  - name: Alice
    email: alice@example.com
  - name: Bob
annotations:
  org.opencontainers.image.title: not-the-name
  org.opencontainers.image.version: 9.9.9
  org.opencontainers.image.url: https://override.example.com
  custom: value
""")
    tgz = _package(run, d, tmp_path / "out")
    (tmp_path / "out" / f"{tgz.name}.prov").write_bytes(b"-----BEGIN PGP SIGNED MESSAGE-----\nfake\n")
    r = run("chart", "push", str(tgz), f"oci://{registry.host}/{unique_repo}", "--creation-time",
            "2024-05-06T07:08:09Z")
    ref, _ = _pushed(r)
    assert ref.startswith(f"{registry.host}/{unique_repo}/hello@sha256:")
    assert "1.2.3_build.1" in r.err and "'+'" in r.err  # the underscore notice
    repo = f"{unique_repo}/hello"
    tags = httpx.get(f"{registry.url}/v2/{repo}/tags/list").json()["tags"]
    assert tags == ["1.2.3_build.1"]
    obj = httpx.get(f"{registry.url}/v2/{repo}/manifests/1.2.3_build.1", headers=ACCEPT).json()
    assert obj["annotations"] == {
        "custom": "value",
        "org.opencontainers.image.authors": "Alice (alice@example.com), Bob",
        "org.opencontainers.image.created": "2024-05-06T07:08:09Z",
        "org.opencontainers.image.source": "https://github.com/org/hello",
        "org.opencontainers.image.title": "hello",      # title and version cannot be overridden
        "org.opencontainers.image.url": "https://override.example.com",
        "org.opencontainers.image.version": "1.2.3+build.1",
    }  # the blank description is skipped
    # chart + provenance layers, sorted by digest
    types = {d["digest"]: d["mediaType"] for d in obj["layers"]}
    assert sorted(types.values()) == sorted([HELM_CONTENT, HELM_PROV])
    assert [d["digest"] for d in obj["layers"]] == sorted(types)


def test_created_defaults_to_the_archive_mtime(run: Callable[..., Any], poc_chart: Path,
                                               tmp_path: Path) -> None:
    tgz = _package(run, poc_chart, tmp_path / "out")
    os.utime(tgz, (1_234_567_890, 1_234_567_890))
    _, digest = _pushed(run("chart", "push", str(tgz), f"oci:{tmp_path / 'layout'}"))
    blob = tmp_path / "layout" / "blobs" / "sha256" / digest.split(":")[1]
    ann = json.loads(blob.read_bytes())["annotations"]
    assert ann["org.opencontainers.image.created"] == "2009-02-13T23:31:30Z"


def test_push_to_layout_matches_registry(run: Callable[..., Any], poc_chart: Path, registry: Any,
                                         unique_repo: str, tmp_path: Path) -> None:
    tgz = _package(run, poc_chart, tmp_path / "out")
    env = {"SOURCE_DATE_EPOCH": str(EPOCH)}
    layout = tmp_path / "layout"
    ref, digest = _pushed(run("chart", "push", str(tgz), f"oci:{layout}", env=env))
    assert ref == f"oci:{layout}@{digest}"
    index = json.loads((layout / "index.json").read_bytes())
    [entry] = index["manifests"]
    assert entry["digest"] == digest
    assert entry["annotations"] == {"org.opencontainers.image.ref.name": "0.1.0"}
    manifest = (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()
    assert b'"mediaType":"application/vnd.oci.image.manifest.v1+json"' not in manifest
    # Same chart, same time: the registry push has the same digest.
    _, reg_digest = _pushed(run("chart", "push", str(tgz), f"oci://{registry.host}/{unique_repo}", env=env))
    assert reg_digest == digest


def test_push_refusals(run: Callable[..., Any], poc_chart: Path, tmp_path: Path) -> None:
    tgz = _package(run, poc_chart, tmp_path / "out")
    r = run("chart", "push", str(poc_chart), f"oci:{tmp_path / 'l'}")
    assert r.code == 1 and "cannot push a directory" in r.err
    r = run("chart", "push", str(tmp_path / "missing.tgz"), f"oci:{tmp_path / 'l'}")
    assert r.code == 1 and "no such file" in r.err
    r = run("chart", "push", str(tgz), "oci://127.0.0.1:1/charts:v1")
    assert r.code == 1 and "registry and namespace only" in r.err
    r = run("chart", "push", str(tgz), f"oci:{tmp_path / 'l'}", "--creation-time", "yesterday")
    assert r.code == 1 and "RFC 3339" in r.err
    (tmp_path / "values.yaml").write_bytes(b"a: 1\n")
    r = run("chart", "push", str(tmp_path / "values.yaml"), f"oci:{tmp_path / 'l'}")
    assert r.code == 1 and "does not appear to be a gzipped chart archive" in r.err
    assert not (tmp_path / "l").exists()
