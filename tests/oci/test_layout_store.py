"""LayoutStore against real directories: layout files, tags, referrers, atomicity, corruption."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from sigward import gojson
from sigward.errors import DigestMismatchError, NotFoundError, StoreError
from sigward.oci import digest as _digest
from sigward.oci import mediatypes as mt
from sigward.oci.layout import REF_NAME, LayoutStore
from sigward.oci.manifest import Descriptor, Manifest
from sigward.oci.reference import LayoutReference, parse_reference
from sigward.oci.store import open_store


def blob(store: LayoutStore, data: bytes, media_type: str = "application/octet-stream") -> Descriptor:
    desc = Descriptor(media_type, _digest.compute(data), len(data))
    store.put_blob(desc, data)
    return desc


def image(store: LayoutStore, text: bytes = b"layer", **extra: object) -> Manifest:
    cfg = blob(store, b'{"os":"linux"}', mt.OCI_CONFIG)
    layer = blob(store, text, mt.OCI_LAYER_TAR)
    return Manifest.from_json({
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
        "config": cfg.to_json(), "layers": [layer.to_json()], **extra,
    })


def referrer(store: LayoutStore, subject: Manifest, kind: str = "a") -> Manifest:
    empty = blob(store, mt.EMPTY_JSON, mt.OCI_EMPTY)
    layer = blob(store, f'{{"kind":"{kind}"}}'.encode(), mt.SIGSTORE_BUNDLE_V03)
    return Manifest.from_json({
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
        "config": empty.to_json(), "layers": [layer.to_json()],
        "annotations": {"dev.sigstore.bundle.predicateType": f"https://example.com/{kind}"},
        "subject": subject.descriptor().to_json(),
        "artifactType": mt.SIGSTORE_BUNDLE_V03,
    })


def test_first_write_creates_a_spec_layout(tmp_path: Path) -> None:
    path = tmp_path / "new" / "layout"
    store = LayoutStore(path)
    m = image(store)
    store.put_manifest(m, "v1")
    assert json.loads((path / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((path / "index.json").read_bytes())
    assert index["schemaVersion"] == 2 and index["mediaType"] == mt.OCI_INDEX
    assert index["manifests"] == [
        {"mediaType": mt.OCI_MANIFEST, "size": len(m.data), "digest": m.digest,
         "annotations": {REF_NAME: "v1"}}
    ]
    assert (path / "blobs" / "sha256" / _digest.hex_part(m.digest)).read_bytes() == m.data
    # Files are readable by others (mkstemp's 0600 would break shared layouts).
    assert (path / "index.json").stat().st_mode & 0o777 == 0o644
    got = store.get_manifest("v1")
    assert got.data == m.data and got.digest == m.digest
    assert store.resolve("v1") == Descriptor(mt.OCI_MANIFEST, m.digest, len(m.data))
    assert store.tags() == ["v1"]


def test_empty_directory_is_initialised_but_foreign_directory_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    LayoutStore(empty).put_manifest(image(LayoutStore(empty)), "x")
    assert (empty / "oci-layout").is_file()

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("hello")
    with pytest.raises(StoreError, match="not an OCI image layout"):
        LayoutStore(foreign).get_manifest("latest")
    with pytest.raises(StoreError, match="refusing to write"):
        blob(LayoutStore(foreign), b"x")
    assert sorted(os.listdir(foreign)) == ["notes.txt"]
    with pytest.raises(NotFoundError, match="does not exist"):
        LayoutStore(tmp_path / "missing").resolve("latest")


def test_bad_layout_version_is_a_clear_error(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path)
    store.put_manifest(image(store), "t")
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion":"2.0.0"}')
    with pytest.raises(StoreError, match=r"unsupported oci-layout imageLayoutVersion '2\.0\.0'"):
        store.resolve("t")


def test_tag_moves_and_untagged_push_stays_reachable(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path)
    a, b = image(store, b"a"), image(store, b"b")
    store.put_manifest(a)  # untagged: still listed so the content is reachable
    store.put_manifest(a)  # idempotent
    entries = json.loads((tmp_path / "index.json").read_bytes())["manifests"]
    assert [e["digest"] for e in entries] == [a.digest]
    assert "annotations" not in entries[0]
    store.put_manifest(a, "t")
    store.put_manifest(b, "t")
    store.put_manifest(b, "other")
    entries = json.loads((tmp_path / "index.json").read_bytes())["manifests"]
    tagged = [(e["digest"], e["annotations"][REF_NAME]) for e in entries]
    assert tagged == [(b.digest, "t"), (b.digest, "other")]
    assert store.resolve("t").digest == b.digest
    # a lost its tag but is still addressable by digest (its blob is there).
    assert store.get_manifest(a.digest).data == a.data
    assert store.tags() == ["other", "t"]


def test_reads_layouts_written_by_other_tools(tmp_path: Path) -> None:
    """Unknown files and media types are tolerated; index entries may lack mediaType annotations."""
    store = LayoutStore(tmp_path)
    m = image(store)
    store.put_manifest(m, "t")
    (tmp_path / "manifest.json").write_text("[]")  # docker save leftovers
    (tmp_path / "blobs" / "sha256" / "README").write_text("not a blob")
    idx = json.loads((tmp_path / "index.json").read_bytes())
    idx["manifests"].append({"mediaType": "application/vnd.example.unknown", "size": 3,
                             "digest": _digest.compute(b"abc"), "annotations": {REF_NAME: "odd"}})
    (tmp_path / "index.json").write_bytes(json.dumps(idx, indent=2).encode())
    assert store.resolve("t").digest == m.digest
    assert store.tags() == ["odd", "t"]
    assert store.referrers(m.digest) == []


def test_referrers_from_index_and_from_blob_scan(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path)
    subject = image(store)
    store.put_manifest(subject, "app")
    r1 = referrer(store, subject, "one")
    store.put_manifest(r1)  # recorded in index.json
    # cosign save writes referrers as bare blobs, not in index.json (cosign-wire-formats.md §5.4).
    r2 = referrer(store, subject, "two")
    blob(store, r2.data, mt.OCI_MANIFEST)
    other = referrer(store, image(store, b"other"), "three")
    blob(store, other.data, mt.OCI_MANIFEST)
    found = store.referrers(subject.digest)
    assert sorted(d.digest for d in found) == sorted([r1.digest, r2.digest])
    assert [d.digest for d in found] == sorted(d.digest for d in found)
    d1 = next(d for d in found if d.digest == r1.digest)
    assert d1.artifact_type == mt.SIGSTORE_BUNDLE_V03
    assert d1.annotations == {"dev.sigstore.bundle.predicateType": "https://example.com/one"}
    assert d1.size == len(r1.data) and d1.media_type == mt.OCI_MANIFEST
    assert store.referrers(subject.digest, artifact_type="application/x-none") == []


def test_referrer_artifact_type_falls_back_to_config_media_type(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path)
    subject = image(store)
    cfg = blob(store, b"{}", "application/vnd.example.sbom.config")
    r = Manifest.from_json({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": cfg.to_json(),
                            "layers": [], "subject": subject.descriptor().to_json()})
    store.put_manifest(r)
    (d,) = store.referrers(subject.digest)
    assert d.artifact_type == "application/vnd.example.sbom.config"


def test_corrupted_blob_on_disk_is_detected(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path)
    m = image(store, b"original layer")
    store.put_manifest(m, "t")
    layer = m.layers[0]
    (tmp_path / "blobs" / "sha256" / _digest.hex_part(layer.digest)).write_bytes(b"tampered layer")
    with pytest.raises(DigestMismatchError):
        b"".join(store.iter_blob(layer))
    (tmp_path / "blobs" / "sha256" / _digest.hex_part(m.digest)).write_bytes(m.data + b" ")
    with pytest.raises(DigestMismatchError):
        store.get_manifest("t")


def test_put_blob_verifies_content_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path)
    blob(store, b"seed")  # create the layout
    data = b"x" * 10_000
    desc = Descriptor("application/octet-stream", _digest.compute(data), len(data))

    def interrupted():
        yield data[:4000]
        raise OSError("connection reset")

    with pytest.raises(StoreError, match="connection reset"):
        store.put_blob(desc, interrupted())
    with pytest.raises(DigestMismatchError):
        store.put_blob(desc, [b"y" * 10_000])
    assert not store.has_blob(desc.digest)
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()
                 and p.name not in {"oci-layout", "index.json", ".sigward.lock"}]
    assert leftovers == [tmp_path / "blobs" / "sha256" / _digest.hex_part(_digest.compute(b"seed"))]

    seen: list[int] = []
    assert store.put_blob(desc, iter([data[:3000], data[3000:]]), progress=seen.append) is True
    assert seen == [3000, 7000]
    assert store.put_blob(desc, iter([b"never read"])) is False  # present: skipped
    assert b"".join(store.iter_blob(desc, chunk_size=4096)) == data


def test_delete_tag_and_digest(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path)
    m = image(store)
    store.put_manifest(m, "a")
    store.put_manifest(m, "b")
    store.delete("a")
    assert store.tags() == ["b"]
    with pytest.raises(NotFoundError, match="tag not found"):
        store.delete("a")
    r = referrer(store, m)
    store.put_manifest(r)
    assert [d.digest for d in store.referrers(m.digest)] == [r.digest]
    store.delete(r.digest)
    assert store.referrers(m.digest) == []
    store.delete(m.digest)
    assert store.tags() == []
    with pytest.raises(NotFoundError):
        store.get_manifest(m.digest)
    with pytest.raises(NotFoundError):
        store.delete(m.digest)


def test_open_store_and_references(tmp_path: Path) -> None:
    ref = parse_reference(f"oci:{tmp_path}/l:v1")
    store = open_store(ref)
    assert isinstance(store, LayoutStore)
    assert store.name == f"oci:{tmp_path}/l"
    assert store.reference("v1") == LayoutReference(f"{tmp_path}/l", "v1", None)
    d = _digest.compute(b"x")
    assert str(store.reference(d)) == f"oci:{tmp_path}/l@{d}"


def test_index_manifest_roundtrip(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path)
    a = image(store, b"amd64")
    store.put_manifest(a)
    idx = Manifest(gojson.marshal({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                                   "manifests": [a.descriptor().to_json()]}), mt.OCI_INDEX)
    store.put_manifest(idx, "multi")
    got = store.get_manifest("multi")
    assert got.is_index and got.manifests[0].digest == a.digest


def _writer(path: str, n: int, worker: int) -> None:
    store = LayoutStore(path)
    for i in range(n):
        m = image(store, f"w{worker}-{i}".encode())
        store.put_manifest(m, f"w{worker}-{i}")


def test_concurrent_writers_keep_every_entry(tmp_path: Path) -> None:
    """Separate processes writing one layout: the flock'd read-modify-write loses no tag."""
    blob(LayoutStore(tmp_path), b"seed")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), 15, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    tags = LayoutStore(tmp_path).tags()
    assert len(tags) == 60
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".sigward-tmp-")]
