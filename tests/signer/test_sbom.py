"""The SBOM layer reader on layers shaped as the lifecycle writes them (absolute paths, parent dirs)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest

from sigward.errors import DigestMismatchError, SigwardError
from sigward.signer import sbom

GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def tarball(files: dict[str, bytes], dirs: list[str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            tf.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def diff_id(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def test_reads_launch_sboms_under_any_layers_dir() -> None:
    root = "/workspace/sbom/launch"  # the layers dir is /workspace, and "sbom" also names a layer below
    raw = tarball({
        f"{root}/example_hello/web/sbom.cdx.json": b'{"bomFormat":"CycloneDX"}',
        f"{root}/example_hello/sbom/sbom.spdx.json": b'{"spdxVersion":"SPDX-2.3"}',
        f"{root}/example_hello/sbom.syft.json": b"{}",
        f"{root}/buildpacksio_lifecycle/launcher/sbom.cdx.json": b"{}",
        f"{root}/sbom.legacy.json": b"[]",
        f"{root}/example_hello/web/notes.txt": b"not an SBOM",
    }, ["/workspace", "/workspace/sbom", root, f"{root}/example_hello"])
    files = sbom.read_sbom_files(sbom.uncompress(gzip.compress(raw), GZIP, diff_id(raw)))
    assert [(f.path, f.format, f.attestation_type, f.media_type) for f in files] == [
        ("buildpacksio_lifecycle/launcher/sbom.cdx.json", "cdx", "cyclonedx",
         "application/vnd.cyclonedx+json"),
        ("example_hello/sbom.syft.json", "syft", None, "application/vnd.syft+json"),
        ("example_hello/sbom/sbom.spdx.json", "spdx", "spdxjson", "text/spdx+json"),
        ("example_hello/web/sbom.cdx.json", "cdx", "cyclonedx", "application/vnd.cyclonedx+json"),
    ]


def test_layer_not_matching_the_label_is_refused() -> None:
    raw = tarball({"layers/sbom/launch/bp/sbom.cdx.json": b"{}"}, [])
    with pytest.raises(DigestMismatchError, match="is not the diff ID"):
        sbom.uncompress(gzip.compress(raw), GZIP, diff_id(raw + b"x"))
    assert sbom.read_sbom_files(sbom.uncompress(raw, "application/vnd.oci.image.layer.v1.tar", diff_id(raw)))


def test_label_and_diff_ids() -> None:
    cfg = json.dumps({"config": {"Labels": {sbom.METADATA_LABEL: json.dumps({"sbom": {"sha": "sha256:b"}})}},
                      "rootfs": {"diff_ids": ["sha256:a", "sha256:b"]}}).encode()
    assert sbom.sbom_diff_id(cfg) == "sha256:b"
    assert sbom.layer_index(cfg, "sha256:b") == 1
    with pytest.raises(SigwardError, match=r"not in rootfs\.diff_ids"):
        sbom.layer_index(cfg, "sha256:c")
    assert sbom.sbom_diff_id(json.dumps({"config": {"Labels": {}}}).encode()) is None
    with pytest.raises(SigwardError, match=r"unreadable io\.buildpacks\.lifecycle\.metadata"):
        sbom.sbom_diff_id(json.dumps({"config": {"Labels": {sbom.METADATA_LABEL: "{"}}}).encode())
