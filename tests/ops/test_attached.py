"""ops.attached: tag names, finding legacy tags and referrers, COSIGN_REPOSITORY.

Also holds the small builders the other ``tests/ops`` modules use to hang artifacts off an image through
the Store interface (signing code is not needed to test what carries signatures around).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from sigward import gojson
from sigward.cli.common import repository_override
from sigward.errors import InvalidReferenceError
from sigward.oci import digest as _digest
from sigward.oci import mediatypes as mt
from sigward.oci.layout import LayoutStore
from sigward.oci.manifest import Descriptor, Manifest
from sigward.oci.reference import LayoutReference, Reference, parse_reference
from sigward.oci.store import Store
from sigward.ops.attached import (
    attached_tag,
    attachment_reference,
    attachment_store,
    fallback_tag,
    find_attached,
)
from sigward.ops.example import write_demo_image

DIGEST = "sha256:" + "ab" * 32
PREDICATE = "dev.sigstore.bundle.predicateType"


def put(store: Store, data: bytes, media_type: str) -> Descriptor:
    desc = Descriptor(media_type, _digest.compute(data), len(data))
    store.put_blob(desc, data)
    return desc


def make_legacy(store: Store, subject_digest: str, suffix: str = "sig", payloads: list[bytes] | None = None,
                media_type: str = mt.COSIGN_SIMPLESIGNING) -> Manifest:
    """A cosign-style ``sha256-<hex>.<suffix>`` image: one layer per payload, signature annotation."""
    default = f'{{"critical":{{"image":{{"docker-manifest-digest":"{subject_digest}"}}}}}}'
    payloads = payloads or [default.encode()]
    layers = []
    for i, p in enumerate(payloads):
        d = put(store, p, media_type)
        sig = base64.b64encode(f"sig-{i}".encode()).decode()
        layers.append(d.with_annotations({"dev.cosignproject.cosign/signature": sig}).to_json())
    config = gojson.marshal({"architecture": "", "os": "", "rootfs": {"type": "layers"}})
    cfg = put(store, config, mt.OCI_CONFIG)
    m = Manifest.from_json({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": cfg.to_json(),
                            "layers": layers})
    store.put_manifest(m, attached_tag(subject_digest, suffix))
    return m


def make_referrer(store: Store, subject: Descriptor, predicate: str = "https://slsa.dev/provenance/v1",
                  content: bytes | None = None) -> Manifest:
    """A cosign v3 style bundle referrer (cosign-wire-formats.md §3.3), with made-up bundle bytes."""
    put(store, mt.EMPTY_JSON, mt.OCI_EMPTY)
    fake = f'{{"mediaType":"bundle","for":"{subject.digest}","p":"{predicate}"}}'.encode()
    bundle = put(store, content or fake, mt.SIGSTORE_BUNDLE_V03)
    m = Manifest.from_json({
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_EMPTY, "size": 2, "digest": mt.EMPTY_DIGEST,
                   "artifactType": mt.SIGSTORE_BUNDLE_V03},
        "layers": [bundle.to_json()],
        "annotations": {"dev.sigstore.bundle.content": "dsse-envelope", PREDICATE: predicate,
                        "org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
        "subject": Descriptor(subject.media_type, subject.digest, subject.size).to_json(),
        "artifactType": mt.SIGSTORE_BUNDLE_V03,
    })
    store.put_manifest(m)
    return m


def test_tag_names_follow_cosign() -> None:
    assert attached_tag(DIGEST, "sig") == "sha256-" + "ab" * 32 + ".sig"
    assert attached_tag(DIGEST, "att").endswith(".att")
    assert fallback_tag(DIGEST) == "sha256-" + "ab" * 32
    sha512 = "sha512:" + "cd" * 64
    assert fallback_tag(sha512) == "sha512-" + "cd" * 32  # truncated to 64 hex characters (tag limit)
    with pytest.raises(InvalidReferenceError):
        attached_tag("sha256:../../etc", "sig")


def test_find_attached_lists_legacy_and_referrers(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path)
    desc = write_demo_image(store, "app")
    assert find_attached(store, desc.digest).empty
    sig = make_legacy(store, desc.digest, "sig", [b"one", b"two"])
    att = make_legacy(store, desc.digest, "att", [b"statement"], mt.DSSE_ENVELOPE)
    r1 = make_referrer(store, desc, "https://example.com/a")
    r2 = make_referrer(store, desc, "https://example.com/b")
    found = find_attached(store, desc.digest)
    assert found.legacy.keys() == {"sig", "att"}
    assert found.legacy["sig"].digest == sig.digest and found.legacy["att"].digest == att.digest
    assert [d.digest for d in found.referrers] == sorted([r1.digest, r2.digest])
    assert not found.empty
    only_sig = find_attached(store, desc.digest, suffixes=("sig",), referrers=False)
    assert only_sig.legacy.keys() == {"sig"} and only_sig.referrers == []


def test_attach_store_is_separate(tmp_path: Path) -> None:
    images, sigs = LayoutStore(tmp_path / "img"), LayoutStore(tmp_path / "sigs")
    desc = write_demo_image(images, "app")
    make_legacy(sigs, desc.digest)
    assert find_attached(images, desc.digest).empty
    found = find_attached(images, desc.digest, sigs)
    assert found.store is sigs and "sig" in found.legacy


def test_cosign_repository_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = parse_reference("example.com/app:1")
    monkeypatch.delenv("COSIGN_REPOSITORY", raising=False)
    assert attachment_reference(ref, repository_override()) is ref
    layout = LayoutStore(tmp_path)
    assert attachment_store(LayoutReference(str(tmp_path)), image_store=layout) is layout
    monkeypatch.setenv("COSIGN_REPOSITORY", "registry.example.com/sigs/app")
    assert attachment_reference(ref, repository_override()) == Reference("registry.example.com", "sigs/app")
    monkeypatch.setenv("COSIGN_REPOSITORY", f"oci:{tmp_path}/sigs")
    assert attachment_reference(ref, repository_override()) == LayoutReference(f"{tmp_path}/sigs")
    store = attachment_store(ref, override=repository_override())
    assert isinstance(store, LayoutStore) and store.name == f"oci:{tmp_path}/sigs"
    monkeypatch.setenv("COSIGN_REPOSITORY", "example.com/app:tag")
    with pytest.raises(InvalidReferenceError, match="a repository has no tag"):
        attachment_reference(ref, repository_override())
