"""A ``cosign save`` layout read through LayoutStore: no tags, index.json entries told apart by ``kind``.

The real cosign writes these in tests/interop/test_saveload_helm.py; here the shape alone, built by hand as
cosign-wire-formats.md §5.4 describes it, so the tag fallbacks and their limits are pinned without Go.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sigward.errors import NotFoundError
from sigward.oci.layout import KIND, KIND_ATTS, KIND_IMAGE, KIND_SIGS, LayoutStore
from sigward.ops.attached import attached_tag, find_attached
from tests.oci.test_layout_store import image


def cosign_layout(tmp_path: Path, images: int = 1) -> tuple[LayoutStore, list[str], str, str]:
    store = LayoutStore(tmp_path / "saved")
    subjects = []
    for i in range(images):
        m = image(store, f"image {i}".encode())
        store.put_manifest(m)
        store.annotate(m.digest, {KIND: KIND_IMAGE})
        subjects.append(m.digest)
    sigs, atts = image(store, b"signature layer"), image(store, b"attestation layer")
    for m, kind in ((sigs, KIND_SIGS), (atts, KIND_ATTS)):
        store.put_manifest(m)
        store.annotate(m.digest, {KIND: kind})
    assert store.tags() == []
    return store, subjects, sigs.digest, atts.digest


def test_default_tag_and_attached_tags_resolve_to_kind_entries(tmp_path: Path) -> None:
    store, (subject,), sigs, atts = cosign_layout(tmp_path)
    assert store.resolve("latest").digest == subject
    assert store.resolve(attached_tag(subject, "sig")).digest == sigs
    assert store.resolve(attached_tag(subject, "att")).digest == atts
    found = find_attached(store, subject)
    assert {k: m.digest for k, m in found.legacy.items()} == {"sig": sigs, "att": atts}
    with pytest.raises(NotFoundError):
        store.resolve(attached_tag("sha256:" + "ab" * 32, "sig"))  # another image's signatures
    with pytest.raises(NotFoundError):
        store.resolve("v1")  # only the default tag names the saved image


def test_layout_with_several_saved_images_has_no_fallback(tmp_path: Path) -> None:
    store, subjects, _sigs, _atts = cosign_layout(tmp_path, images=2)
    with pytest.raises(NotFoundError):
        store.resolve("latest")
    with pytest.raises(NotFoundError):
        store.resolve(attached_tag(subjects[0], "sig"))
