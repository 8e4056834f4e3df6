"""What makes copy fast, asserted on the requests a real registry receives (through the logging fault
proxy) and on real layouts: the early stop when the destination tag already names the digest, tag-listed
attachment discovery, and bounded concurrent blob transfer that still pushes no manifest before its
blobs."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from test_attached import make_legacy, make_referrer

from sigward.errors import DigestMismatchError, NotFoundError
from sigward.oci import digest as _digest
from sigward.oci.layout import LayoutStore
from sigward.oci.manifest import Descriptor
from sigward.oci.reference import parse_reference
from sigward.oci.store import ProgressFn, Store, open_store
from sigward.ops.attached import attached_tag
from sigward.ops.copy import copy, execute, plan_copy
from sigward.ops.example import write_demo_image
from tests.fixtures.images import push_image, push_index_detailed


def _kinds(log: list[tuple[str, str, int | None]]) -> list[str]:
    out = []
    for method, path, _ in log:
        if "/blobs/" in path:
            out.append(f"{method} blob")
        elif "/manifests/" in path:
            out.append(f"{method} manifest")
        elif "/tags/list" in path:
            out.append(f"{method} tags")
        elif "/referrers/" in path:
            out.append(f"{method} referrers")
        else:
            out.append(f"{method} other")
    return out


def test_present_copy_stops_at_the_destination_tag(registry: Any, unique_repo: str, fault_proxy: Any) -> None:
    pushed = push_index_detailed(registry, unique_repo, "v1")
    proxy = fault_proxy(registry)
    src_text, dst_text = f"{proxy.host}/{unique_repo}", f"{proxy.host}/{unique_repo}-dst"
    with open_store(parse_reference(src_text)) as src, open_store(parse_reference(dst_text)) as dst:
        copy(src, "v1", dst, "v1")
        proxy.clear()
        again = copy(src, "v1", dst, "v1")
    kinds = _kinds(proxy.requests)
    assert again.digest == pushed.digest and again.blobs_copied == 0 and again.manifests == 0
    # No blob request at all, no manifest PUT, no child manifest fetched: one HEAD of the tag.
    assert not [k for k in kinds if k.endswith("blob") or k == "PUT manifest"]
    assert kinds.count("HEAD manifest") == 1
    assert kinds.count("GET manifest") == 1  # the source root only
    # Discovery for the index and its 2 children: one tag listing (the store already knows this registry
    # has no referrers API, and no sha256-<hex> fallback tag is listed), instead of 3 legacy tags + a
    # fallback tag per entity.
    assert kinds == ["GET manifest", "HEAD manifest", "GET tags"]


def test_present_copy_still_brings_new_signatures(registry: Any, unique_repo: str, tmp_path: Path) -> None:
    digest = push_image(registry, unique_repo, "v1")
    dst = LayoutStore(tmp_path / "dst")
    with open_store(parse_reference(f"{registry.host}/{unique_repo}")) as src:
        copy(src, "v1", dst, "v1")
        sig = make_legacy(src, digest)
        ref = make_referrer(src, src.resolve(digest))
        again = copy(src, "v1", dst, "v1")
    assert dst.get_manifest(attached_tag(digest, "sig")).data == sig.data
    assert [d.digest for d in dst.referrers(digest)] == [ref.digest]
    assert again.manifests == 2


def test_discovery_fetches_only_existing_legacy_tags(registry: Any, unique_repo: str, fault_proxy: Any,
                                                     tmp_path: Path) -> None:
    digest = push_image(registry, unique_repo, "v1")
    proxy = fault_proxy(registry)
    with open_store(parse_reference(f"{proxy.host}/{unique_repo}")) as src:
        make_legacy(src, digest)
        proxy.clear()
        copy(src, "v1", LayoutStore(tmp_path / "out"), "v1")
    paths = [p for m, p, _ in proxy.requests if m == "GET" and "/manifests/" in p]
    # The root and its .sig (listed); no .att/.sbom probe, no probe at all for the .sig manifest's own
    # attachments, and no fallback tag (sha256-<hex>): the tag listing shows there is none, so only the
    # referrers API is asked (once: it is absent here).
    fallback = [p for p in paths if p.rsplit("/", 1)[1].startswith("sha256-") and "." not in p[-5:]]
    assert fallback == []
    assert len([p for m, p, _ in proxy.requests if "/referrers/" in p]) == 1
    sig = f"/v2/{unique_repo}/manifests/{attached_tag(digest, 'sig')}"
    assert sorted(set(paths) - set(fallback)) == [sig, f"/v2/{unique_repo}/manifests/v1"]


class _SlowLayout(LayoutStore):
    """A real layout whose blob writes take a while and record how many run at once (the manifest
    writes the main thread makes through put_blob are not counted)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0

    def put_blob(self, desc: Descriptor, content: bytes | Iterable[bytes], *,
                 progress: ProgressFn | None = None, mount_from: Store | None = None) -> bool:
        if threading.current_thread() is threading.main_thread():
            return super().put_blob(desc, content, progress=progress, mount_from=mount_from)
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(0.05)
            return super().put_blob(desc, content, progress=progress, mount_from=mount_from)
        finally:
            with self.lock:
                self.active -= 1


def test_blobs_move_concurrently_and_manifests_wait_for_theirs(tmp_path: Path) -> None:
    src = LayoutStore(tmp_path / "src")
    write_demo_image(src, "multi", platforms=["linux/amd64", "linux/arm64", "linux/s390x", "linux/ppc64le"])
    dst = _SlowLayout(tmp_path / "dst")
    plan = plan_copy(src, "multi", dst, "multi")
    seen: list[int] = []
    result = execute(plan, seen.append, concurrency=4)
    assert dst.peak == 4  # bounded, and actually concurrent
    assert result.blobs_copied == sum(1 for _ in plan.steps if type(_).__name__ == "_BlobStep")
    assert sum(seen) == plan.total_bytes
    for child in dst.get_manifest("multi").manifests:
        for blob in dst.get_manifest(child.digest).children():
            assert dst.has_blob(blob.digest)


def test_a_failing_blob_stops_its_manifest_and_everything_after(tmp_path: Path) -> None:
    src = LayoutStore(tmp_path / "src")
    idx = write_demo_image(src, "multi", platforms=["linux/amd64", "linux/arm64"])
    first = src.get_manifest(src.get_manifest("multi").manifests[0].digest)
    layer = first.layers[0]
    (tmp_path / "src" / "blobs" / "sha256" / _digest.hex_part(layer.digest)).write_bytes(b"\0" * layer.size)
    dst = LayoutStore(tmp_path / "dst")
    with pytest.raises(DigestMismatchError):
        copy(src, "multi", dst, "multi")
    assert not dst.has_blob(layer.digest)
    for digest in (first.digest, idx.digest):
        assert not dst.has_blob(digest)
    assert dst.tags() == []


@pytest.mark.parametrize("to", ["registry", "layout"])
@pytest.mark.parametrize("kind", ["corrupt", "truncate"])
def test_damaged_source_stream_is_never_committed_at_the_destination(
        registry: Any, unique_repo: str, fault_proxy: Any, tmp_path: Path, kind: str, to: str) -> None:
    """The destination trusts the source's digest check instead of hashing again: a damaged download
    must still stop the write before it commits (a layout destination does no check of its own now)."""
    digest = push_image(registry, unique_repo, "v1", [os.urandom(300_000)])
    proxy = fault_proxy(registry)
    dst: Store = LayoutStore(tmp_path / "dst") if to == "layout" else \
        open_store(parse_reference(f"{registry.host}/{unique_repo}-dst"))
    with open_store(parse_reference(f"{proxy.host}/{unique_repo}")) as src, dst:
        layer = src.get_manifest(digest).layers[0]
        proxy.inject(kind, method="GET", path_regex=f"/blobs/{layer.digest}")
        with pytest.raises(DigestMismatchError):
            copy(src, "v1", dst, "v1")
        assert not dst.has_blob(layer.digest)
        with pytest.raises(NotFoundError):
            dst.resolve("v1")


class _CountingLayout(LayoutStore):
    """A real layout counting its index.json read-modify-writes."""

    writes = 0

    def _update_index(self, change: Any) -> None:
        self.writes += 1
        super()._update_index(change)


def test_an_index_copy_into_a_layout_writes_index_json_once(tmp_path: Path) -> None:
    src = LayoutStore(tmp_path / "src")
    platforms = [f"linux/arch{i}" for i in range(6)]
    write_demo_image(src, "multi", platforms=platforms)
    dst = _CountingLayout(tmp_path / "dst")
    copy(src, "multi", dst, "multi")
    assert dst.writes == 1  # 6 children + the tagged root, listed in one write
    index = src.get_manifest("multi")
    assert dst.get_manifest("multi").data == index.data
    listed = {d.digest for d in dst.index_entries()}
    assert {c.digest for c in index.manifests} <= listed


class _ThreadRecordingLayout(LayoutStore):
    """A real layout recording which threads read and write it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.threads: set[str] = set()

    def get_manifest(self, identifier: str) -> Any:
        self.threads.add(threading.current_thread().name)
        return super().get_manifest(identifier)

    def put_blob(self, desc: Descriptor, content: bytes | Iterable[bytes], *,
                 progress: ProgressFn | None = None, mount_from: Store | None = None) -> bool:
        self.threads.add(threading.current_thread().name)
        return super().put_blob(desc, content, progress=progress, mount_from=mount_from)


def test_a_layout_to_layout_copy_runs_in_the_calling_thread(tmp_path: Path) -> None:
    """No round trip to overlap between two layouts: no worker threads (their start-up and GIL hand-offs
    cost a 20-platform copy a fifth of its time), the same result."""
    src = _ThreadRecordingLayout(tmp_path / "src")
    write_demo_image(src, "multi", platforms=[f"linux/arch{i}" for i in range(6)])
    src.threads.clear()
    dst = _ThreadRecordingLayout(tmp_path / "dst")
    result = copy(src, "multi", dst, "multi")
    assert src.threads == dst.threads == {threading.current_thread().name}
    assert result.blobs_copied == 12 and result.manifests == 7
    assert dst.get_manifest("multi").data == src.get_manifest("multi").data


def test_a_registry_source_still_overlaps_its_requests(registry: Any, unique_repo: str,
                                                       tmp_path: Path) -> None:
    push_index_detailed(registry, unique_repo, "v1", platforms=tuple(("linux", f"arch{i}") for i in range(6)))
    dst = _ThreadRecordingLayout(tmp_path / "dst")
    with open_store(parse_reference(f"{registry.host}/{unique_repo}")) as src:
        assert src.overlaps_io and not dst.overlaps_io
        copy(src, "v1", dst, "v1")
    assert any(name.startswith("sigward-copy") for name in dst.threads)
