"""Image layers as ``tar+gzip`` blobs that come out byte-identical from the same inputs.

A rebuilt image is only checkable against a published digest if nothing incidental leaks into its
bytes: not the order ``readdir`` happens to return, not who owns the checkout, not when it was cloned,
not the gzip header's clock. So a directory becomes a tarball whose entries are sorted by path (a
directory right before its contents), owned by 0:0 (or one chosen owner) with empty user and group
names, with modes reduced to 0755/0644, one mtime for everything, PAX format; and the gzip stream has a
fixed header (MTIME 0, no file name, OS "unknown") and a fixed compression level.

Layers can be large, so nothing holds a whole layer in memory: the tar is produced into a compressor
that hashes both sides as it goes (the uncompressed ``diff_id`` the config lists and the compressed
digest the manifest lists) and writes to a temporary file, which is then uploaded from disk.

Symlinks are stored as symlinks, never followed (following one could pull files from outside the
source into the image); hard links become independent regular files; devices, FIFOs and sockets are
refused. A given tarball is taken as its bytes: ``.tar`` is compressed deterministically, a
``.tar.gz``/``.tgz`` is used as is (its ``diff_id`` is computed by decompressing it); both are read
through once as tar archives so a wrong file is refused before anything is pushed.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import posixpath
import stat
import struct
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from sigward.errors import SigwardError, UsageError
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import Descriptor

GZIP_LEVEL = 6  # gzip's and Go's default: the usual trade-off, and fixed so digests are stable
# Magic, CM=deflate, FLG=0 (no name, no comment), MTIME=0, XFL=0, OS=255 (unknown).
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
DIR_MODE = 0o755
EXEC_MODE = 0o755
FILE_MODE = 0o644
LINK_MODE = 0o777
TARBALL_SUFFIXES = (".tar", ".tar.gz", ".tgz")
_CHUNK = 1 << 20


class LayerError(SigwardError):
    """A layer source that cannot be turned into a layer (unreadable, special file, not a tar)."""


@dataclass(frozen=True)
class Layer:
    """A finished layer blob on disk, with both of its digests.

    ``temporary`` layers were written by us and are removed by ``discard``; a ``.tar.gz`` given by the
    user is used in place and never removed.
    """

    path: str
    digest: str  # sha256 of the compressed bytes (the manifest's layer digest)
    size: int
    diff_id: str  # sha256 of the uncompressed tar (the config's rootfs.diff_ids entry)
    temporary: bool
    media_type: str = mt.OCI_LAYER_TAR_GZIP

    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, self.size)

    def chunks(self, chunk_size: int = _CHUNK) -> Iterator[bytes]:
        """The blob's bytes, streamed from disk."""
        try:
            with open(self.path, "rb") as f:
                while chunk := f.read(chunk_size):
                    yield chunk
        except OSError as e:
            raise LayerError(f"cannot read layer file {self.path}: {e.strerror or e}")

    def discard(self) -> None:
        if self.temporary:
            with contextlib.suppress(OSError):
                os.unlink(self.path)


class _GzipSink:
    """A write-only file for ``tarfile``: gzips into ``out`` and hashes both sides on the way.

    ``tell`` counts uncompressed bytes, which is all ``tarfile`` needs to pad its records.
    """

    def __init__(self, out: BinaryIO, progress: Callable[[int], object] | None = None) -> None:
        self._out = out
        self._progress = progress
        self._deflate = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate
        self._crc = 0
        self._raw_size = 0
        self._raw_hash = hashlib.sha256()
        self._gz_hash = hashlib.sha256()
        self._gz_size = 0
        self._emit(GZIP_HEADER)

    def _emit(self, data: bytes) -> None:
        if data:
            self._gz_hash.update(data)
            self._gz_size += len(data)
            self._out.write(data)

    def write(self, data: bytes) -> int:
        self._raw_hash.update(data)
        self._crc = zlib.crc32(data, self._crc)
        self._raw_size += len(data)
        self._emit(self._deflate.compress(data))
        if self._progress is not None:
            self._progress(len(data))
        return len(data)

    def tell(self) -> int:
        return self._raw_size

    def finish(self) -> tuple[str, int, str]:
        """Flush and write the trailer; returns (compressed digest, compressed size, diff_id)."""
        self._emit(self._deflate.flush())
        self._emit(struct.pack("<II", self._crc, self._raw_size & 0xFFFFFFFF))
        return (f"sha256:{self._gz_hash.hexdigest()}", self._gz_size, f"sha256:{self._raw_hash.hexdigest()}")


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class _TeeReader:
    """A readable file that passes every byte it returns to ``sink`` (hashing while something parses)."""

    def __init__(self, raw: _Readable, sink: Callable[[bytes], object]) -> None:
        self._raw = raw
        self._sink = sink

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            self._sink(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


# --- directories -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    name: str  # archive path: relative, '/'-separated, no trailing slash
    kind: str  # "dir", "file" or "symlink"
    source: str | None = None  # filesystem path of a file's content
    size: int = 0
    executable: bool = False
    linkname: str = ""
    owned: bool = True  # takes the chosen owner (False: DEST's parent directories, always 0:0)


def is_excluded(rel: str, patterns: Sequence[str]) -> bool:
    """``rel`` (relative to the layer source) matches a pattern as a whole or in any one component."""
    parts = rel.split("/")
    for pat in patterns:
        pat = pat.rstrip("/")
        if not pat:
            continue
        if fnmatch.fnmatchcase(rel, pat) or any(fnmatch.fnmatchcase(p, pat) for p in parts):
            return True
    return False


def normalise_dest(dest: str) -> str:
    """An absolute in-image directory → its archive prefix (``/`` → ``""``, ``/opt/app/`` → ``opt/app``)."""
    if not dest.startswith("/"):
        raise UsageError(f"layer destination {dest!r} must be an absolute path inside the image")
    norm = posixpath.normpath(dest).lstrip("/")  # an absolute path normalises without any '..' left
    if norm in ("", "."):
        return ""
    return norm


def _scan(root: str, excludes: Sequence[str]) -> list[tuple[str, os.stat_result]]:
    """Every path under ``root`` (lstat, never following symlinks), excluded subtrees pruned."""
    out: list[tuple[str, os.stat_result]] = []
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        path = os.path.join(root, rel_dir) if rel_dir else root
        try:
            with os.scandir(path) as it:
                found = [(e.name, e.stat(follow_symlinks=False)) for e in it]
        except OSError as e:
            raise LayerError(f"cannot read directory {path}: {e.strerror or e}")
        for name, st in found:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if is_excluded(rel, excludes):
                continue
            if stat.S_ISDIR(st.st_mode):
                pending.append(rel)
            elif not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                raise LayerError(
                    f"{os.path.join(root, rel)}: special file (device, FIFO or socket) cannot go into a "
                    "layer; leave it out with an exclude pattern"
                )
            out.append((rel, st))
    return out


def _entries(src: str, prefix: str, excludes: Sequence[str]) -> list[_Entry]:
    entries: list[_Entry] = []
    if prefix:
        parts = prefix.split("/")
        for i in range(1, len(parts) + 1):
            entries.append(_Entry("/".join(parts[:i]), "dir", owned=i == len(parts)))
    for rel, st in _scan(src, excludes):
        name = f"{prefix}/{rel}" if prefix else rel
        full = os.path.join(src, rel)
        if stat.S_ISDIR(st.st_mode):
            entries.append(_Entry(name, "dir"))
        elif stat.S_ISLNK(st.st_mode):
            try:
                target = os.readlink(full)
            except OSError as e:
                raise LayerError(f"cannot read symlink {full}: {e.strerror or e}")
            entries.append(_Entry(name, "symlink", linkname=target))
        else:
            entries.append(_Entry(name, "file", source=full, size=st.st_size,
                                  executable=bool(st.st_mode & 0o111)))
    entries.sort(key=lambda e: e.name.split("/"))
    return entries


def _tarinfo(entry: _Entry, mtime: int, owner: tuple[int, int]) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.name)
    info.mtime = mtime
    info.uid, info.gid = owner if entry.owned else (0, 0)
    info.uname = info.gname = ""
    if entry.kind == "dir":
        info.type, info.mode = tarfile.DIRTYPE, DIR_MODE
    elif entry.kind == "symlink":
        info.type, info.mode, info.linkname = tarfile.SYMTYPE, LINK_MODE, entry.linkname
    else:
        info.type, info.size = tarfile.REGTYPE, entry.size
        info.mode = EXEC_MODE if entry.executable else FILE_MODE
    return info


def _temp_file(workdir: str | None) -> tuple[BinaryIO, str]:
    fd, path = tempfile.mkstemp(prefix="sigward-layer-", suffix=".tar.gz", dir=workdir)
    return os.fdopen(fd, "wb"), path


def directory_layer(src: str, dest: str = "/", *, excludes: Sequence[str] = (), mtime: int = 0,
                    owner: tuple[int, int] = (0, 0), workdir: str | None = None,
                    progress: Callable[[int], object] | None = None) -> Layer:
    """The contents of directory ``src`` placed under ``dest`` in the image, as a deterministic layer.

    DEST's parent directories are entries of their own (owned by root), so the layer unpacks the same
    on any base.
    """
    if not os.path.isdir(src):
        raise UsageError(f"layer source {src} is not a directory")
    prefix = normalise_dest(dest)
    entries = _entries(src, prefix, excludes)
    out, path = _temp_file(workdir)
    try:
        with out:
            sink = _GzipSink(out, progress)
            with tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT,  # type: ignore[call-overload]
                              encoding="utf-8") as tar:
                for entry in entries:
                    info = _tarinfo(entry, mtime, owner)
                    if entry.kind == "file":
                        assert entry.source is not None
                        with open(entry.source, "rb") as f:
                            tar.addfile(info, f)
                    else:
                        tar.addfile(info)
            digest, size, diff_id = sink.finish()
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(path)
        if isinstance(e, OSError):
            where = f" {e.filename}" if e.filename else ""
            raise LayerError(f"cannot build layer from {src}:{where} {e.strerror or e}")
        if isinstance(e, tarfile.TarError | UnicodeError):
            raise LayerError(f"cannot build layer from {src}: {e} (did a file change while reading?)")
        raise
    return Layer(path, digest, size, diff_id, temporary=True)


# --- tarballs --------------------------------------------------------------------------------------


def is_tarball(path: str) -> bool:
    return path.lower().endswith(TARBALL_SUFFIXES)


def _check_tar(stream: _TeeReader, path: str) -> None:
    """Read ``stream`` as a tar archive to its end (so every byte passes the tee)."""
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
            for _ in tar:
                pass
        stream.drain()
    except tarfile.TarError as e:
        raise LayerError(f"{path} is not a valid tar archive ({e})")


def tarball_layer(path: str, *, workdir: str | None = None,
                  progress: Callable[[int], object] | None = None) -> Layer:
    """A layer from a tarball: ``.tar`` gzipped deterministically, ``.tar.gz``/``.tgz`` used as is."""
    if not is_tarball(path):
        raise UsageError(f"layer tarball {path} must end in .tar, .tar.gz or .tgz")
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed below, also on error
    except OSError as e:
        raise UsageError(f"cannot read layer tarball {path}: {e.strerror or e}")
    with raw:
        if path.lower().endswith(".tar"):
            return _gzip_tar(raw, path, workdir, progress)
        return _existing_gzip(raw, path, progress)


def _gzip_tar(raw: BinaryIO, path: str, workdir: str | None,
              progress: Callable[[int], object] | None) -> Layer:
    out, tmp = _temp_file(workdir)
    try:
        with out:
            sink = _GzipSink(out, progress)
            _check_tar(_TeeReader(raw, sink.write), path)
            digest, size, diff_id = sink.finish()
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise LayerError(f"cannot read layer tarball {path}: {e.strerror or e}")
        raise
    return Layer(tmp, digest, size, diff_id, temporary=True)


def _existing_gzip(raw: BinaryIO, path: str, progress: Callable[[int], object] | None) -> Layer:
    import gzip

    gz_hash = hashlib.sha256()
    size = 0

    def compressed(data: bytes) -> None:
        nonlocal size
        gz_hash.update(data)
        size += len(data)
        if progress is not None:
            progress(len(data))

    raw_hash = hashlib.sha256()
    outer = _TeeReader(raw, compressed)
    try:
        with gzip.GzipFile(fileobj=outer, mode="rb") as gz:  # type: ignore[call-overload]
            _check_tar(_TeeReader(gz, raw_hash.update), path)
        outer.drain()
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
        raise LayerError(f"{path} is not a valid gzip-compressed tar archive ({e})")
    return Layer(os.path.abspath(path), f"sha256:{gz_hash.hexdigest()}", size,
                 f"sha256:{raw_hash.hexdigest()}", temporary=False)
