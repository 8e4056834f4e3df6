"""formats.layer: deterministic directory layers and tarball layers, checked byte by byte."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from sigward.errors import UsageError
from sigward.formats import layer as lf
from tests.build.conftest import make_source


def _tar(layer: lf.Layer) -> tuple[bytes, list[tarfile.TarInfo]]:
    data = Path(layer.path).read_bytes()
    raw = gzip.decompress(data)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        return data, tar.getmembers()


def test_digests_header_and_order(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for name in ("a-c", "a/b", "a/z/q", "B"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(name)
    layer = lf.directory_layer(str(src), "/", workdir=str(tmp_path))
    data, members = _tar(layer)
    assert data[:10] == lf.GZIP_HEADER  # MTIME 0, no file name, OS unknown
    assert layer.digest == "sha256:" + hashlib.sha256(data).hexdigest() and layer.size == len(data)
    assert layer.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest()
    # A directory is followed by its contents (component-wise order), byte order otherwise.
    assert [m.name for m in members] == ["B", "a", "a/b", "a/z", "a/z/q", "a-c"]
    assert all(m.pax_headers == {} for m in members)
    assert layer.descriptor().media_type == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert b"".join(layer.chunks(7)) == data
    layer.discard()
    assert not os.path.exists(layer.path)


def test_same_tree_same_bytes(tmp_path: Path) -> None:
    work = str(tmp_path)
    one = lf.directory_layer(str(make_source(tmp_path / "one")), "/app", mtime=42, workdir=work)
    two = lf.directory_layer(str(make_source(tmp_path / "two", reverse=True)), "/app/", mtime=42,
                             workdir=work)
    three = lf.directory_layer(str(make_source(tmp_path / "three")), "/app", mtime=43, workdir=work)
    try:
        assert Path(one.path).read_bytes() == Path(two.path).read_bytes()
        assert (one.digest, one.diff_id) == (two.digest, two.diff_id)
        assert three.digest != one.digest
    finally:
        for la in (one, two, three):
            la.discard()


def test_owner_dest_parents_and_links(tmp_path: Path) -> None:
    src = make_source(tmp_path / "src")
    os.link(src / "app.py", src / "hard.py")
    layer = lf.directory_layer(str(src), "/opt/svc/app", owner=(1000, 1001), mtime=7,
                               excludes=[".git", "*.pyc", "__pycache__"], workdir=str(tmp_path))
    try:
        _, members = _tar(layer)
    finally:
        layer.discard()
    by = {m.name: m for m in members}
    assert [(by[n].uid, by[n].gid) for n in ("opt", "opt/svc")] == [(0, 0), (0, 0)]  # parents stay root's
    assert {(m.uid, m.gid) for m in members if m.name.startswith("opt/svc/app")} == {(1000, 1001)}
    assert {m.mtime for m in members} == {7} and {(m.uname, m.gname) for m in members} == {("", "")}
    assert by["opt/svc/app/hard.py"].isfile() and by["opt/svc/app/hard.py"].size == len("print('hello')\n")
    assert by["opt/svc/app/link"].issym() and by["opt/svc/app/link"].mode == 0o777
    assert by["opt/svc/app/bin/run.sh"].mode == 0o755 and by["opt/svc/app/app.py"].mode == 0o644
    assert not any(".git" in n or n.endswith(".pyc") for n in by)


@pytest.mark.parametrize("rel, patterns, excluded", [
    ("pkg/__pycache__", ["__pycache__"], True),
    ("pkg/mod.pyc", ["*.pyc"], True),
    ("docs/a.md", ["docs/*.md"], True),
    (".git", [".git/"], True),
    ("pkg/mod.py", ["*.pyc", "__pycache__"], False),
    ("gitignore", [".git"], False),
])
def test_is_excluded(rel: str, patterns: list[str], excluded: bool) -> None:
    assert lf.is_excluded(rel, patterns) is excluded


def test_dest_normalisation() -> None:
    assert lf.normalise_dest("/") == "" and lf.normalise_dest("//opt/./app/") == "opt/app"
    assert lf.normalise_dest("/a/../b") == "b"
    with pytest.raises(UsageError, match="absolute"):
        lf.normalise_dest("opt")


def test_tarballs(tmp_path: Path) -> None:
    src = make_source(tmp_path / "src")
    plain = tmp_path / "t.tar"
    with tarfile.open(plain, "w") as tar:
        tar.add(src, arcname=".")
    gz = tmp_path / "t.tgz"
    gz.write_bytes(gzip.compress(plain.read_bytes(), mtime=12345))
    a = lf.tarball_layer(str(plain), workdir=str(tmp_path))
    b = lf.tarball_layer(str(gz))
    assert a.temporary and not b.temporary and b.path == str(gz)
    assert a.diff_id == b.diff_id == "sha256:" + hashlib.sha256(plain.read_bytes()).hexdigest()
    assert gzip.decompress(Path(a.path).read_bytes()) == plain.read_bytes()
    assert b.digest == "sha256:" + hashlib.sha256(gz.read_bytes()).hexdigest()
    again = lf.tarball_layer(str(plain), workdir=str(tmp_path))
    assert again.digest == a.digest  # deterministic gzip
    again.discard()
    b.discard()
    assert gz.exists()  # the user's file is never removed
    a.discard()


def test_bad_tarballs(tmp_path: Path) -> None:
    good = io.BytesIO()
    with tarfile.open(fileobj=good, mode="w") as tar:
        info = tarfile.TarInfo("x")
        info.size = 3000
        tar.addfile(info, io.BytesIO(b"x" * 3000))
    truncated = tmp_path / "cut.tar.gz"
    truncated.write_bytes(gzip.compress(good.getvalue())[:-40])
    with pytest.raises(lf.LayerError, match="not a valid gzip-compressed tar"):
        lf.tarball_layer(str(truncated))
    text = tmp_path / "text.tar"
    text.write_bytes(b"hello world\n" * 100)
    with pytest.raises(lf.LayerError, match="not a valid tar archive"):
        lf.tarball_layer(str(text), workdir=str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.tar.gz", "text.tar"]  # no temp file left
    with pytest.raises(UsageError, match=r"\.tar, \.tar\.gz or \.tgz"):
        lf.tarball_layer(str(tmp_path / "x.zip"))


def test_special_file_refused_and_nothing_left(tmp_path: Path) -> None:
    src = make_source(tmp_path / "src")
    os.mkfifo(src / "data" / "fifo")
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(lf.LayerError, match=r"data/fifo: special file"):
        lf.directory_layer(str(src), workdir=str(work))
    assert list(work.iterdir()) == []
