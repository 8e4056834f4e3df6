"""ops.copy with real registries: distribution 2.8.2 (no referrers API: tag-schema fallback) and the
in-memory referrers-API registry, in every direction with a layout, with .sig tags and referrers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_attached import make_legacy, make_referrer

from sigward.cli.main import main
from sigward.errors import NotFoundError
from sigward.oci.layout import LayoutStore
from sigward.oci.reference import parse_reference
from sigward.oci.store import Store, open_store
from sigward.ops.attached import attached_tag, fallback_tag
from sigward.ops.copy import copy
from sigward.ops.example import write_demo_image
from tests.fixtures.images import push_image, push_index_detailed


def reg_store(server: Any, repo: str) -> Store:
    return open_store(parse_reference(f"{server.host}/{repo}"))


def attach_both(store: Store, digest: str) -> tuple[Any, Any]:
    desc = store.resolve(digest)
    return make_legacy(store, digest), make_referrer(store, desc)


def assert_carried(dst: Store, digest: str, sig: Any, ref: Any) -> None:
    assert dst.get_manifest(attached_tag(digest, "sig")).data == sig.data
    assert [d.digest for d in dst.referrers(digest)] == [ref.digest]
    for m in (dst.get_manifest(digest), sig, ref):
        for child in m.children():
            assert len(b"".join(dst.iter_blob(child))) == child.size


def test_registry_to_layout(registry: Any, unique_repo: str, tmp_path: Path) -> None:
    digest = push_image(registry, unique_repo, "v1")
    with reg_store(registry, unique_repo) as src:
        sig, ref = attach_both(src, digest)
        dst = LayoutStore(tmp_path / "out")
        result = copy(src, "v1", dst, "v1")
    assert result.digest == digest and dst.resolve("v1").digest == digest
    assert_carried(dst, digest, sig, ref)
    # The fallback index tag is registry bookkeeping, not content: it is not copied as a tag.
    assert fallback_tag(digest) not in dst.tags()


def test_layout_to_registry(registry: Any, unique_repo: str, tmp_path: Path) -> None:
    src = LayoutStore(tmp_path / "src")
    desc = write_demo_image(src, "hello")
    sig, ref = attach_both(src, desc.digest)
    with reg_store(registry, unique_repo) as dst:
        copy(src, "hello", dst, "hello")
        assert dst.resolve("hello").digest == desc.digest
        assert_carried(dst, desc.digest, sig, ref)
        # distribution 2.8 has no referrers API: the referrer went into the fallback index.
        fallback = dst.get_manifest(fallback_tag(desc.digest))
        assert [d.digest for d in fallback.manifests] == [ref.digest]


def test_same_registry_copy_mounts_blobs(registry: Any, unique_repo: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    pushed = push_index_detailed(registry, unique_repo, "multi")
    arm = pushed.children[1].digest
    with reg_store(registry, unique_repo) as src:
        sig = make_legacy(src, arm)
        ref = make_referrer(src, src.resolve(pushed.digest))
    dst_repo = f"{unique_repo}-copy"
    assert main(["copy", f"{registry.host}/{unique_repo}:multi", f"{registry.host}/{dst_repo}"]) == 0
    cap = capsys.readouterr()
    assert cap.out == f"{registry.host}/{dst_repo}@{pushed.digest}\n"
    assert "0 blobs (0 B) copied" in cap.err  # every blob was mounted, none re-uploaded
    with reg_store(registry, dst_repo) as dst:
        assert dst.get_manifest("multi").data == pushed.manifest
        for child in pushed.children:
            assert dst.get_manifest(child.digest).data == child.manifest
        assert dst.get_manifest(attached_tag(arm, "sig")).data == sig.data
        assert [d.digest for d in dst.referrers(pushed.digest)] == [ref.digest]
        with pytest.raises(NotFoundError):
            dst.resolve(attached_tag(pushed.children[0].digest, "sig"))


def test_to_the_referrers_api_registry(registry: Any, referrers_registry: Any, unique_repo: str) -> None:
    digest = push_image(registry, unique_repo, "v1")
    with reg_store(registry, unique_repo) as src, reg_store(referrers_registry, unique_repo) as dst:
        sig, ref = attach_both(src, digest)
        rr = make_referrer(src, ref.descriptor(), "https://example.com/countersign")
        copy(src, "v1", dst, "v1")
        assert_carried(dst, digest, sig, ref)
        assert [d.digest for d in dst.referrers(ref.digest)] == [rr.digest]
    # Served by the referrers API itself, not by a fallback tag.
    listed = referrers_registry.referrers(unique_repo, digest, None)
    assert [d["digest"] for d in listed] == [ref.digest]
    with reg_store(referrers_registry, unique_repo) as dst, pytest.raises(NotFoundError):
        dst.resolve(fallback_tag(digest))


def test_registry_copy_refuses_to_overwrite(registry: Any, unique_repo: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    push_image(registry, unique_repo, "a", layers=None)
    other = push_image(registry, f"{unique_repo}-dst", "a", layers=[b"not the same image"])
    assert main(["copy", f"{registry.host}/{unique_repo}:a", f"{registry.host}/{unique_repo}-dst:a"]) == 1
    assert capsys.readouterr().err == (
        f'Error: image "{registry.host}/{unique_repo}-dst:a" already exists. Use `-f` to overwrite\n'
    )
    with reg_store(registry, f"{unique_repo}-dst") as dst:
        assert dst.resolve("a").digest == other


def test_from_the_referrers_api_registry(referrers_registry: Any, unique_repo: str, tmp_path: Path) -> None:
    """The source lists no sha256-<hex> fallback tag, so discovery skips that GET; the referrers (and the
    referrers of referrers) still come from the referrers API."""
    digest = push_image(referrers_registry, unique_repo, "v1")
    with reg_store(referrers_registry, unique_repo) as src:
        sig, ref = attach_both(src, digest)
        rr = make_referrer(src, ref.descriptor(), "https://example.com/countersign")
        assert fallback_tag(digest) not in src.tags()
        dst = LayoutStore(tmp_path / "out")
        result = copy(src, "v1", dst, "v1")
    assert result.digest == digest
    assert_carried(dst, digest, sig, ref)
    assert [d.digest for d in dst.referrers(ref.digest)] == [rr.digest]
