"""LayoutStore.batch(): blobs staged and fsync'd together, index.json last — and what readers see.

Real directories; fsync calls are counted by wrapping ``os.fsync`` (the files are still synced)."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from sigward.errors import DigestMismatchError
from sigward.fileio import SyncGroup
from sigward.oci import digest as _digest
from sigward.oci import mediatypes as mt
from sigward.oci.layout import FILE_MODE, LayoutStore
from sigward.oci.manifest import Descriptor, Manifest


def _desc(data: bytes, media_type: str = mt.OCI_LAYER_TAR) -> Descriptor:
    return Descriptor(media_type, _digest.compute(data), len(data))


def _manifest(cfg: Descriptor, layer: Descriptor) -> Manifest:
    return Manifest.from_json({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                               "config": cfg.to_json(), "layers": [layer.to_json()]})


def _blob_file(root: Path, d: Descriptor) -> Path:
    return root / "blobs" / "sha256" / _digest.hex_part(d.digest)


def test_batch_stages_blobs_then_commits_before_index(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    store = LayoutStore(tmp_path / "lay")
    cfg, layer = _desc(b'{"os":"linux"}', mt.OCI_CONFIG), _desc(b"layer bytes")
    m = _manifest(cfg, layer)
    synced: list[str] = []
    real_fsync = os.fsync

    def counting(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting)
    with store.batch():
        assert store.put_blob(cfg, b'{"os":"linux"}')
        assert store.put_blob(layer, b"layer bytes")
        assert not store.put_blob(layer, b"layer bytes")  # staged already: not written twice
        before = list(synced)
        # Staged, not visible yet: no blob file under its digest name, nothing fsync'd for them.
        assert not _blob_file(tmp_path / "lay", layer).exists()
        store.put_manifest(m, "v1")
        assert json.loads((tmp_path / "lay" / "index.json").read_text())["manifests"] == []
    assert len(before) == 2  # the layout's own index.json and oci-layout, written at creation
    after = synced[len(before):]
    blobs_dir = str(tmp_path / "lay" / "blobs" / "sha256")
    # The three blobs fsync'd under their temp names, then the blobs directory once, then index.json
    # (its own temp file) last.
    temps = [i for i, p in enumerate(after) if os.path.basename(p).startswith(".sigward-tmp-")]
    assert len(temps) == 4 and temps[-1] == len(after) - 1
    assert after.count(blobs_dir) == 1
    assert max(temps[:3]) < after.index(blobs_dir) < temps[-1]
    for d in (cfg, layer, m.descriptor()):
        f = _blob_file(tmp_path / "lay", d)
        assert _digest.compute(f.read_bytes()) == d.digest
        assert stat.S_IMODE(f.stat().st_mode) == FILE_MODE
    assert store.resolve("v1").digest == m.digest
    assert not [p for p in (tmp_path / "lay").iterdir() if p.name.startswith(".sigward-tmp-")]


def test_reads_inside_a_batch_see_staged_blobs(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "lay")
    layer = _desc(b"read me back")
    with store.batch():
        store.put_blob(layer, b"read me back")
        assert store.has_blob(layer.digest)
        assert b"".join(store.iter_blob(layer)) == b"read me back"


def test_failed_batch_keeps_blobs_but_not_index(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "lay")
    cfg, layer = _desc(b'{"os":"linux"}', mt.OCI_CONFIG), _desc(b"kept")
    m = _manifest(cfg, layer)
    with pytest.raises(RuntimeError), store.batch():
        store.put_blob(cfg, b'{"os":"linux"}')
        store.put_blob(layer, b"kept")
        store.put_manifest(m, "v1")
        raise RuntimeError("interrupted")
    assert _blob_file(tmp_path / "lay", layer).read_bytes() == b"kept"
    assert json.loads((tmp_path / "lay" / "index.json").read_text())["manifests"] == []
    assert not [p for p in (tmp_path / "lay").iterdir() if p.name.startswith(".sigward-tmp-")]


def test_wrong_digest_inside_a_batch_stages_nothing(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "lay")
    good = _desc(b"expected")
    with pytest.raises(DigestMismatchError), store.batch():
        store.put_blob(good, b"whatever")
    assert not _blob_file(tmp_path / "lay", good).exists()
    assert not [p for p in (tmp_path / "lay").iterdir() if p.name.startswith(".sigward-tmp-")]


def test_sync_group_commit_failure_removes_what_was_not_renamed(tmp_path: Path) -> None:
    group = SyncGroup()
    with group.file(tmp_path / "a", prefix=".t-", tmp_dir=str(tmp_path)) as f:
        f.write(b"a")
    with group.file(tmp_path / "missing-dir" / "b", prefix=".t-", tmp_dir=str(tmp_path)) as f:
        f.write(b"b")
    with pytest.raises(OSError):
        group.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    assert (tmp_path / "a").read_bytes() == b"a"


def test_sync_group_fsyncs_every_file_on_worker_threads(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Many staged files: each is fsync'd exactly once (from worker threads, FSYNC_THREADS at most), then
    renamed, then their directory once."""
    synced: list[str] = []
    threads: set[str] = set()
    lock = threading.Lock()
    real_fsync = os.fsync

    def counting(fd: int) -> None:
        with lock:
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
            threads.add(threading.current_thread().name)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting)
    group = SyncGroup()
    for i in range(30):
        with group.file(tmp_path / f"f{i:02d}", prefix=".t-", tmp_dir=str(tmp_path)) as f:
            f.write(b"x%d" % i)
    group.commit()
    files = [p for p in synced if os.path.basename(p).startswith(".t-")]
    assert len(files) == len(set(files)) == 30  # the temp names, each once, before the renames
    assert synced.count(str(tmp_path)) == 1
    assert threads and threads <= {"sigward-fsync"} | {threading.main_thread().name}
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"f{i:02d}" for i in range(30)]


def test_fsync_failure_raises_the_first_in_order_after_trying_all(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from sigward import fileio

    paths = [str(tmp_path / f"p{i}") for i in range(12)]
    for p in paths:
        Path(p).write_bytes(b"")
    os.unlink(paths[7])
    os.unlink(paths[3])
    tried: list[int] = []
    real_open = os.open

    def recording(path: str, flags: int, *a: Any) -> int:
        if path in paths:
            tried.append(paths.index(path))
        return real_open(path, flags, *a)

    monkeypatch.setattr(os, "open", recording)
    with pytest.raises(FileNotFoundError) as e:
        fileio._fsync_all(paths, 4)
    assert e.value.filename == paths[3]
    assert sorted(tried) == list(range(12))  # a failure does not stop the others
