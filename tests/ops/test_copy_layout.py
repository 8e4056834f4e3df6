"""ops.copy between OCI layouts: content, attached artifacts, referrers of referrers, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_attached import make_legacy, make_referrer, put

from sigward.errors import DigestMismatchError, NotFoundError, StoreError, UsageError
from sigward.oci import digest as _digest
from sigward.oci import mediatypes as mt
from sigward.oci.layout import LayoutStore
from sigward.oci.manifest import Manifest
from sigward.ops.attached import attached_tag
from sigward.ops.copy import copy, execute, parse_only, plan_copy
from sigward.ops.example import write_demo_image


def blob_files(root: Path) -> set[str]:
    blobs = root / "blobs"
    return {p.name for p in blobs.rglob("*") if p.is_file()} if blobs.exists() else set()


@pytest.fixture
def signed(tmp_path: Path):
    """A layout with an image carrying .sig, .att, two referrers, and a signature on one referrer."""
    src = LayoutStore(tmp_path / "src")
    desc = write_demo_image(src, "app")
    sig = make_legacy(src, desc.digest, "sig", [b"payload-1", b"payload-2"])
    att = make_legacy(src, desc.digest, "att", [b"statement"], mt.DSSE_ENVELOPE)
    r1 = make_referrer(src, desc, "https://sigstore.dev/cosign/sign/v1")
    r2 = make_referrer(src, desc, "https://slsa.dev/provenance/v1")
    rr = make_referrer(src, r2.descriptor(), "https://example.com/countersign")
    return src, desc, {"sig": sig, "att": att, "r1": r1, "r2": r2, "rr": rr}


def test_copy_carries_everything_attached(tmp_path: Path, signed) -> None:
    src, desc, parts = signed
    dst = LayoutStore(tmp_path / "dst")
    result = copy(src, "app", dst, "copied")
    assert result.digest == desc.digest
    assert str(result.reference) == f"oci:{tmp_path}/dst@{desc.digest}"
    assert dst.resolve("copied").digest == desc.digest
    assert dst.get_manifest(attached_tag(desc.digest, "sig")).data == parts["sig"].data
    assert dst.get_manifest(attached_tag(desc.digest, "att")).data == parts["att"].data
    assert not [t for t in dst.tags() if t.endswith(".sbom")]
    assert {d.digest for d in dst.referrers(desc.digest)} == {parts["r1"].digest, parts["r2"].digest}
    # Referrers of referrers come along too.
    assert [d.digest for d in dst.referrers(parts["r2"].digest)] == [parts["rr"].digest]
    # Every blob of every manifest is there, byte for byte, and verifies.
    for m in [dst.get_manifest("copied"), *(dst.get_manifest(p.digest) for p in parts.values())]:
        for child in m.children():
            assert b"".join(dst.iter_blob(child)) == b"".join(src.iter_blob(child))
    assert blob_files(tmp_path / "dst") == blob_files(tmp_path / "src")
    assert result.manifests == 6 and result.blobs_skipped == 0
    assert result.blobs_copied == len(blob_files(tmp_path / "src")) - 6
    labels = " ".join(result.attached)
    assert ".sig" in labels and ".att" in labels and "https://example.com/countersign" in labels


def test_second_copy_transfers_nothing(tmp_path: Path, signed) -> None:
    src, _, _ = signed
    dst = LayoutStore(tmp_path / "dst")
    first = copy(src, "app", dst, "app")
    second = copy(src, "app", dst, "app")
    assert second.blobs_copied == 0 and second.bytes_copied == 0
    assert second.blobs_skipped == first.blobs_copied


def test_order_blobs_then_children_then_root_then_attached(tmp_path: Path, signed) -> None:
    src, desc, parts = signed
    plan = plan_copy(src, "app", LayoutStore(tmp_path / "dst"), "app")
    kinds = [
        (type(s).__name__, getattr(s, "tag", None), s.manifest.digest if hasattr(s, "manifest") else None)
        for s in plan.steps
    ]
    # The root is pushed once, by tag (which also stores it by digest), after all its blobs.
    assert ("_ManifestStep", None, desc.digest) not in kinds
    root_tag = kinds.index(("_ManifestStep", "app", desc.digest))
    assert all(k[0] == "_BlobStep" for k in kinds[:root_tag])
    sig_at = kinds.index(("_ManifestStep", attached_tag(desc.digest, "sig"), parts["sig"].digest))
    assert sig_at > root_tag
    # A referrer is pushed before its own referrer.
    assert kinds.index(("_ManifestStep", None, parts["r2"].digest)) < kinds.index(
        ("_ManifestStep", None, parts["rr"].digest))


def test_refuses_to_move_a_tag_without_force(tmp_path: Path, signed) -> None:
    src, desc, _ = signed
    dst = LayoutStore(tmp_path / "dst")
    other = write_demo_image(dst, "app", message="something else")
    before = blob_files(tmp_path / "dst")
    exists = r'image "oci:.*/dst:app" already exists\. Use plan_copy\(force=True\) to overwrite'
    with pytest.raises(StoreError, match=exists):
        copy(src, "app", dst, "app")
    assert blob_files(tmp_path / "dst") == before  # nothing written
    assert dst.resolve("app").digest == other.digest
    copy(src, "app", dst, "app", force=True)
    assert dst.resolve("app").digest == desc.digest
    copy(src, "app", dst, "app")  # same digest: not an overwrite


def test_index_children_and_platform(tmp_path: Path) -> None:
    src = LayoutStore(tmp_path / "src")
    idx_desc = write_demo_image(src, "multi", platforms=["linux/amd64", "linux/arm64"])
    idx = src.get_manifest("multi")
    amd, arm = idx.manifests
    make_legacy(src, arm.digest, "sig")
    make_legacy(src, idx_desc.digest, "sig")
    dst = LayoutStore(tmp_path / "all")
    copy(src, "multi", dst, "multi")
    assert dst.get_manifest("multi").data == idx.data
    for child in (amd, arm):
        assert dst.get_manifest(child.digest).digest == child.digest
    assert dst.resolve(attached_tag(arm.digest, "sig"))
    assert dst.resolve(attached_tag(idx_desc.digest, "sig"))

    one = LayoutStore(tmp_path / "one")
    result = copy(src, "multi", one, "arm", platform="linux/arm64")
    assert result.digest == arm.digest and one.resolve("arm").digest == arm.digest
    assert one.resolve(attached_tag(arm.digest, "sig"))
    with pytest.raises(NotFoundError):
        one.get_manifest(amd.digest)
    with pytest.raises(NotFoundError, match="no manifest for platform linux/s390x"):
        copy(src, "multi", one, "x", platform="linux/s390x")
    with pytest.raises(UsageError, match="invalid platform"):
        copy(src, "multi", one, "x", platform="linux")


def test_only_copies_the_chosen_kinds_and_leaves_the_tag(tmp_path: Path, signed) -> None:
    src, desc, parts = signed
    dst = LayoutStore(tmp_path / "dst")
    copy(src, "app", dst, "app", only=parse_only(["sig"]))
    assert dst.resolve(attached_tag(desc.digest, "sig")).digest == parts["sig"].digest
    assert dst.get_manifest(desc.digest).digest == desc.digest  # image content, by digest
    assert "app" not in dst.tags()
    assert not any(t.endswith(".att") for t in dst.tags())
    assert dst.referrers(desc.digest) == []


def test_parse_only() -> None:
    assert parse_only([]) is None
    assert parse_only(["sig,att", "sbom"]) == {"sig", "att", "sbom"}
    assert parse_only([], sig_only=True) == {"sig"}
    with pytest.raises(UsageError, match=r"invalid value for plan_copy\(only\): img, only the following"):
        parse_only(["sig,img"])


def test_corrupt_source_blob_stops_before_anything_references_it(tmp_path: Path, signed) -> None:
    src, desc, _ = signed
    layer = src.get_manifest("app").layers[0]
    path = tmp_path / "src" / "blobs" / "sha256" / _digest.hex_part(layer.digest)
    path.write_bytes(b"\x00" * layer.size)
    dst = LayoutStore(tmp_path / "dst")
    with pytest.raises(DigestMismatchError):
        copy(src, "app", dst, "app")
    assert layer.digest.split(":")[1] not in blob_files(tmp_path / "dst")
    assert desc.digest.split(":")[1] not in blob_files(tmp_path / "dst")
    entries = json.loads((tmp_path / "dst" / "index.json").read_bytes())["manifests"]
    assert entries == []


def test_progress_reaches_the_total_and_streams_in_chunks(tmp_path: Path) -> None:
    src = LayoutStore(tmp_path / "src")
    big = bytes(range(256)) * (12 * 1024)  # 3 MiB: several 1 MiB chunks
    layer = put(src, big, mt.OCI_LAYER_TAR)
    cfg = put(src, b'{"os":"linux","architecture":"amd64"}', mt.OCI_CONFIG)
    m = Manifest.from_json({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                            "config": cfg.to_json(), "layers": [layer.to_json()]})
    src.put_manifest(m, "big")
    plan = plan_copy(src, "big", LayoutStore(tmp_path / "dst"), "big")
    assert plan.total_bytes == len(big) + cfg.size
    calls: list[int] = []
    result = execute(plan, calls.append)
    assert sum(calls) == plan.total_bytes
    assert max(calls) <= 1 << 20 and len(calls) >= 4
    assert result.bytes_copied == plan.total_bytes


def test_attachments_from_a_separate_repository(tmp_path: Path) -> None:
    """COSIGN_REPOSITORY: signatures read from their own store land next to the copied image."""
    src, sigs = LayoutStore(tmp_path / "src"), LayoutStore(tmp_path / "sigs")
    desc = write_demo_image(src, "app")
    sig = make_legacy(sigs, desc.digest)
    dst = LayoutStore(tmp_path / "dst")
    copy(src, "app", dst, "app", src_attach=sigs)
    assert dst.resolve(attached_tag(desc.digest, "sig")).digest == sig.digest
