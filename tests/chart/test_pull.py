"""`sigward chart pull`, and charts signed and verified like images: Helm-made manifests, legacy layers,
corrupt blobs, foreign artifacts, unsafe archives."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import (
    EPOCH,
    HELM_CONTENT,
    LEGACY_CONTENT,
    POC_CONFIG,
    chart_tgz,
    helm_manifest,
    make_tgz,
    push_raw,
)

NOTLOG = "--insecure-ignore-tlog=true"


def _pulled(r: Any) -> tuple[str, str]:
    assert r.code == 0, r.err
    lines = r.out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Pulled: ") and lines[1].startswith("Digest: ")
    return lines[0][len("Pulled: "):], lines[1][len("Digest: "):]


def _helm_push(store: Any, tgz: bytes, *, layer_type: str = HELM_CONTENT, config: bytes = POC_CONFIG,
               tag: str | None = "0.1.0") -> str:
    """Push a chart exactly as Helm 3.18+ lays it out (manifest built by hand, pushed as raw bytes)."""
    annotations = {
        "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
        "org.opencontainers.image.description": "A Helm chart for Kubernetes",
        "org.opencontainers.image.title": "cosign-oci-poc-helm",
        "org.opencontainers.image.version": "0.1.0",
    }
    manifest = helm_manifest(config, [(layer_type, tgz)], annotations)
    return push_raw(store, config, [(layer_type, tgz)], manifest, tag)


def test_helm_made_chart_pull_sign_verify(run: Callable[..., Any], keys: Any, registry: Any,
                                          registry_store: Any, unique_repo: str, tmp_path: Path) -> None:
    tgz = chart_tgz()
    repo = f"{unique_repo}/cosign-oci-poc-helm"
    digest = _helm_push(registry_store(repo), tgz)
    ref = f"{registry.host}/{repo}@{digest}"

    # Pull by version: the archive comes back byte for byte, named from the config.
    pulled, got = _pulled(run("chart", "pull", f"oci://{registry.host}/{repo}", "--version", "0.1.0",
                              "-d", str(tmp_path / "a")))
    assert (pulled, got) == (ref, digest)
    assert (tmp_path / "a" / "cosign-oci-poc-helm-0.1.0.tgz").read_bytes() == tgz

    # Sign and verify the chart digest as the seed pipeline does (key-based, no transparency log).
    r = run("sign", "--tlog-upload=false", "--key", keys.key, "-a", "chartVersion=0.1.0", ref)
    assert r.code == 0, r.err
    r = run("verify", "--key", keys.pub, NOTLOG, "-a", "chartVersion=0.1.0", ref)
    assert r.code == 0, r.err
    [claim] = json.loads(r.out)
    assert claim["critical"]["image"]["docker-manifest-digest"] == digest
    assert claim["optional"]["chartVersion"] == "0.1.0"
    r = run("verify", "--key", keys.pub, NOTLOG, "-a", "chartVersion=0.2.0", ref)
    assert r.code != 0 and "Error:" in r.err

    # Signing added a referrer but left the chart untouched: it still pulls, by digest too.
    pulled, _ = _pulled(run("chart", "pull", f"oci://{ref}", "-d", str(tmp_path / "b")))
    assert (tmp_path / "b" / "cosign-oci-poc-helm-0.1.0.tgz").read_bytes() == tgz


def test_sigward_pushed_chart_signs_and_verifies(run: Callable[..., Any], keys: Any, poc_chart: Path,
                                                 registry: Any, unique_repo: str, tmp_path: Path) -> None:
    r = run("chart", "package", str(poc_chart), "-d", str(tmp_path))
    assert r.code == 0, r.err
    tgz = tmp_path / "cosign-oci-poc-helm-0.1.0.tgz"
    r = run("chart", "push", str(tgz), f"oci://{registry.host}/{unique_repo}")
    assert r.code == 0, r.err
    ref = r.out.splitlines()[0].split(" ", 1)[1]
    assert run("sign", "--tlog-upload=false", "--key", keys.key, "-a", "chartVersion=0.1.0", ref).code == 0
    r = run("verify", "--key", keys.pub, NOTLOG, "-a", "chartVersion=0.1.0", ref)
    assert r.code == 0, r.err


def test_legacy_layer_media_type(run: Callable[..., Any], registry: Any, registry_store: Any,
                                 unique_repo: str, tmp_path: Path) -> None:
    tgz = chart_tgz()
    repo = f"{unique_repo}/cosign-oci-poc-helm"
    digest = _helm_push(registry_store(repo), tgz, layer_type=LEGACY_CONTENT)
    r = run("chart", "pull", f"oci://{registry.host}/{repo}:0.1.0", "-d", str(tmp_path))
    _, got = _pulled(r)
    assert got == digest
    assert f"chart media type {LEGACY_CONTENT} is deprecated" in r.err
    assert (tmp_path / "cosign-oci-poc-helm-0.1.0.tgz").read_bytes() == tgz


def test_round_trip_versions_and_untar(run: Callable[..., Any], poc_chart: Path, registry: Any,
                                       unique_repo: str, tmp_path: Path) -> None:
    target = f"oci://{registry.host}/{unique_repo}"
    digests = {}
    for version in ("0.1.0", "0.2.0", "0.3.0-rc.1", "0.1.1+build.7"):
        r = run("chart", "package", str(poc_chart), "-d", str(tmp_path / "pkg"), "--version", version,
                env={"SOURCE_DATE_EPOCH": str(EPOCH)})
        assert r.code == 0, r.err
        r = run("chart", "push", str(tmp_path / "pkg" / f"cosign-oci-poc-helm-{version}.tgz"), target)
        digests[version] = r.out.splitlines()[1].split(" ", 1)[1]
    src = f"{target}/cosign-oci-poc-helm"

    # No version: the highest release (0.3.0-rc.1 is a pre-release).
    _, got = _pulled(run("chart", "pull", src, "-d", str(tmp_path / "latest")))
    assert got == digests["0.2.0"]
    assert [p.name for p in (tmp_path / "latest").iterdir()] == ["cosign-oci-poc-helm-0.2.0.tgz"]
    # A version with build metadata, given with '+' (the tag has '_').
    _, got = _pulled(run("chart", "pull", f"{src}:0.1.1+build.7", "-d", str(tmp_path / "build")))
    assert got == digests["0.1.1+build.7"]
    assert (tmp_path / "build" / "cosign-oci-poc-helm-0.1.1+build.7.tgz").read_bytes() == \
        (tmp_path / "pkg" / "cosign-oci-poc-helm-0.1.1+build.7.tgz").read_bytes()
    # Mismatches are refused.
    r = run("chart", "pull", f"{src}:0.1.0", "--version", "0.2.0", "-d", str(tmp_path / "x"))
    assert r.code == 1 and "version mismatch" in r.err
    r = run("chart", "pull", f"{src}@{digests['0.1.0']}", "--version", "0.2.0", "-d", str(tmp_path / "x"))
    assert r.code == 1 and "digest mismatch" in r.err
    assert not (tmp_path / "x").exists()

    # --untar: the chart directory, named after the chart, files as packaged.
    _, got = _pulled(run("chart", "pull", f"{src}@{digests['0.1.0']}", "--untar", "-d", str(tmp_path / "u")))
    root = tmp_path / "u" / "cosign-oci-poc-helm"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        ".helmignore", "Chart.yaml", "templates/NOTES.txt", "templates/_helpers.tpl",
        "templates/deployment.yaml", "values.yaml"]
    assert (root / "values.yaml").read_bytes() == (poc_chart / "values.yaml").read_bytes()
    assert oct(os.stat(root / "values.yaml").st_mode & 0o777) == "0o644"
    assert [p.name for p in (tmp_path / "u").iterdir()] == ["cosign-oci-poc-helm"]  # no .tgz, no temp dir
    r = run("chart", "pull", f"{src}:0.1.0", "--untar", "-d", str(tmp_path / "u"))
    assert r.code == 1 and "already exists" in r.err


def test_layout_round_trip_and_corrupt_blob(run: Callable[..., Any], poc_chart: Path, tmp_path: Path) -> None:
    assert run("chart", "package", str(poc_chart), "-d", str(tmp_path)).code == 0
    tgz = tmp_path / "cosign-oci-poc-helm-0.1.0.tgz"
    layout = tmp_path / "layout"
    r = run("chart", "push", str(tgz), f"oci:{layout}")
    digest = r.out.splitlines()[1].split(" ", 1)[1]
    pulled, got = _pulled(run("chart", "pull", f"oci:{layout}:0.1.0", "-d", str(tmp_path / "ok")))
    assert (pulled, got) == (f"oci:{layout}@{digest}", digest)
    assert (tmp_path / "ok" / tgz.name).read_bytes() == tgz.read_bytes()

    # Flip one byte of the chart blob on disk: the pull fails and writes nothing.
    manifest = json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes())
    blob = layout / "blobs" / "sha256" / manifest["layers"][0]["digest"].split(":")[1]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    r = run("chart", "pull", f"oci:{layout}:0.1.0", "-d", str(tmp_path / "bad"))
    assert r.code == 1 and "digest mismatch" in r.err
    assert not (tmp_path / "bad").exists()


def test_not_a_chart_is_refused(run: Callable[..., Any], layout: Callable[..., str], tmp_path: Path) -> None:
    image = layout()  # a demo container image
    r = run("chart", "pull", image, "-d", str(tmp_path / "out"))
    assert r.code == 1
    assert "not a Helm chart: config media type application/vnd.oci.image.config.v1+json" in r.err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("entries, expect", [
    ([("c/Chart.yaml", b"apiVersion: v2\nname: c\nversion: 0.1.0\n", {}), ("c/../../evil", b"x", {})],
     "references parent directory"),
    ([("c/Chart.yaml", b"apiVersion: v2\nname: c\nversion: 0.1.0\n", {}), ("/etc/evil", b"x", {})],
     "absolute paths"),
    ([("c/Chart.yaml", b"apiVersion: v2\nname: c\nversion: 0.1.0\n", {}), ("d/other.yaml", b"x", {})],
     "more than one top-level directory"),
    ([("c/Chart.yaml", b"apiVersion: v2\nname: c\nversion: 0.1.0\n", {}),
      ("c/templates/link", None, {"type": tarfile.SYMTYPE, "linkname": "../../../etc/passwd"})],
     "points outside the chart"),
    ([("c/Chart.yaml", b"apiVersion: v2\nname: c\nversion: 0.1.0\n", {}),
      ("c/hard", None, {"type": tarfile.LNKTYPE, "linkname": "etc/passwd"})],
     "points outside the chart"),
    ([("c/Chart.yaml", b"apiVersion: v2\nname: c\nversion: 0.1.0\n", {}),
      ("c/dev", None, {"type": tarfile.CHRTYPE})],
     "not a regular file"),
    ([("Chart.yaml", b"apiVersion: v2\nname: c\nversion: 0.1.0\n", {})], "not in the chart's base directory"),
    ([("c/Chart.yaml", b"apiVersion: v2\nname: c\nversion: 0.1.0\n", {}),
      ("c/big", b"\0" * (5 * 1024 * 1024 + 1), {})], "larger than the maximum file size"),
])
def test_unsafe_archives_are_refused_on_pull(run: Callable[..., Any], registry: Any, registry_store: Any,
                                             unique_repo: str, tmp_path: Path, entries: Any,
                                             expect: str) -> None:
    tgz = make_tgz(entries)
    repo = f"{unique_repo}/c"
    _helm_push(registry_store(repo), tgz, config=b'{"name":"c","version":"0.1.0","apiVersion":"v2"}')
    dest = tmp_path / "dest" / "inner"
    for extra in ((), ("--untar",)):
        r = run("chart", "pull", f"oci://{registry.host}/{repo}:0.1.0", "-d", str(dest), *extra)
        assert r.code == 1 and expect in r.err, r.err
        assert len(r.err.strip().splitlines()) == 1
    assert not dest.exists()
    assert not (tmp_path / "evil").exists() and not (tmp_path / "dest" / "evil").exists()


def test_archive_bomb_is_refused() -> None:
    from sigward.formats.helm import ChartError, read_chart_archive

    # 21 files of 5 MiB of zeros: a small archive, 105 MiB unpacked — over Helm's 100 MiB limit.
    raw = io.BytesIO()
    zeros = b"\0" * (5 * 1024 * 1024)
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for i in range(21):
            info = tarfile.TarInfo(f"c/f{i}")
            info.size = len(zeros)
            tar.addfile(info, io.BytesIO(zeros))
    import zlib

    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    tgz = comp.compress(raw.getvalue()) + comp.flush()
    assert len(tgz) < 1024 * 1024
    with pytest.raises(ChartError, match="larger than the maximum size"):
        read_chart_archive(tgz, "bomb.tgz")


def test_source_and_target_parsing() -> None:
    from sigward.oci.reference import LayoutReference, Reference
    from sigward.ops.chart import parse_pull_source, parse_push_target

    # oci:// names the registry first, even without a dot or port (as Helm/oras read it); '+' → '_'.
    assert parse_pull_source("oci://myhost/ns/name:1.2.3+b") == Reference("myhost", "ns/name", "1.2.3_b")
    assert parse_pull_source("oci:/tmp/x:1.0.0+x") == LayoutReference("/tmp/x", "1.0.0_x")
    assert parse_pull_source("oci:/tmp/a:b/c") == LayoutReference("/tmp/a:b/c")
    assert parse_push_target("oci://myhost", "hello") == Reference("myhost", "hello")
    assert parse_push_target("oci://ghcr.io/org/", "hello") == Reference("ghcr.io", "org/hello")
    assert parse_push_target("oci:./layout", "hello") == LayoutReference("./layout")
