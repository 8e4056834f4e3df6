"""The layout referrers index: built by one scan, O(referrers) afterwards, and never stale — not after
our own writes, not after other stores' or processes' writes, not with writers running concurrently."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import threading
from pathlib import Path

from sigward.oci import mediatypes as mt
from sigward.oci.layout import LayoutStore
from tests.oci.test_layout_store import blob, image, referrer


def _layout_with_images(path: Path, n: int) -> tuple[LayoutStore, list[str]]:
    store = LayoutStore(path)
    subjects = []
    for i in range(n):
        m = image(store, f"layer {i}".encode())
        store.put_manifest(m)
        subjects.append(m.digest)
    return store, subjects


def test_lookups_after_the_first_parse_nothing(tmp_path: Path) -> None:
    store, subjects = _layout_with_images(tmp_path, 30)
    assert store.referrers(subjects[0]) == []
    first_scan = store.referrers_index.parsed
    assert first_scan >= 30  # every manifest and JSON config was looked at once
    for d in subjects:
        assert store.referrers(d) == []
    assert store.referrers_index.parsed == first_scan  # nothing re-read: lookups are O(referrers)


def test_own_writes_and_other_stores_writes_are_seen(tmp_path: Path) -> None:
    store, subjects = _layout_with_images(tmp_path, 3)
    subject = store.get_manifest(subjects[1])
    assert store.referrers(subject.digest) == []
    r1 = referrer(store, subject, "one")
    store.put_manifest(r1)
    assert [d.digest for d in store.referrers(subject.digest)] == [r1.digest]
    # Another store object (as another process would) adds a bare referrer blob and deletes r1.
    other = LayoutStore(tmp_path)
    r2 = referrer(other, subject, "two")
    blob(other, r2.data, mt.OCI_MANIFEST)
    assert sorted(d.digest for d in store.referrers(subject.digest)) == sorted([r1.digest, r2.digest])
    other.delete(r1.digest)
    assert [d.digest for d in store.referrers(subject.digest)] == [r2.digest]


def _write_referrers(path: str, subject: str, kinds: list[str]) -> None:
    store = LayoutStore(path)
    m = store.get_manifest(subject)
    for k in kinds:
        store.put_manifest(referrer(store, m, k))


def test_concurrent_writers_and_a_reader_agree_at_the_end(tmp_path: Path) -> None:
    store, subjects = _layout_with_images(tmp_path, 2)
    subject = subjects[0]
    reader = LayoutStore(tmp_path)
    stop = threading.Event()
    seen_counts: list[int] = []

    def read_loop() -> None:
        while not stop.is_set():
            seen_counts.append(len(reader.referrers(subject)))

    t = threading.Thread(target=read_loop)
    t.start()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_referrers, args=(str(tmp_path), subject,
                                                        [f"p{p}-{i}" for i in range(8)]))
             for p in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    stop.set()
    t.join()
    assert len(reader.referrers(subject)) == 24
    assert len(store.referrers(subject)) == 24
    assert seen_counts == sorted(seen_counts)  # never lost one it had seen
    # index.json lists each referrer once (the flock kept every writer's entries).
    assert sum(1 for d in store.index_entries() if d.digest != subjects[1]) == 1 + 24


def test_write_in_the_same_clock_tick_as_a_lookup_is_seen(tmp_path: Path) -> None:
    """Two renames within one mtime tick leave the directory mtime unchanged; simulated with utime."""
    store, subjects = _layout_with_images(tmp_path, 1)
    subject = store.get_manifest(subjects[0])
    blobs = tmp_path / "blobs" / "sha256"
    assert store.referrers(subject.digest) == []
    before = blobs.stat()
    r = referrer(LayoutStore(tmp_path), subject, "late")
    blob(LayoutStore(tmp_path), r.data, mt.OCI_MANIFEST)
    os.utime(blobs, ns=(before.st_atime_ns, before.st_mtime_ns))  # the same tick as the listing
    assert [d.digest for d in store.referrers(subject.digest)] == [r.digest]


def test_many_threads_create_one_new_layout(tmp_path: Path) -> None:
    """Concurrent blob writes into a layout that does not exist yet (copy's transfer threads) all land."""
    path = tmp_path / "new"
    datas = [f"blob {i}".encode() for i in range(16)]
    errors: list[BaseException] = []

    def write(data: bytes) -> None:
        try:
            blob(LayoutStore(path), data)
        except BaseException as e:  # reported below
            errors.append(e)

    for _ in range(5):
        threads = [threading.Thread(target=write, args=(d,)) for d in datas]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert (path / "oci-layout").exists()
        shutil.rmtree(path)
