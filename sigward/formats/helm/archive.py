"""Chart archives (.tgz) as Helm writes and reads them: Go's archive/tar and compress/gzip.

Written: regular-file entries only (no directory entries), mode 0644, uid/gid 0, USTAR headers (PAX only
for names USTAR cannot hold), mtimes rounded to the second, two zero blocks at the end; gzip with MTIME 0,
OS 255, a fixed Extra field and the comment "Helm". Only the deflate stream differs (zlib's, not Go's
compress/flate), so the .tgz bytes are not helm's although every entry, header field and file is —
Python's tarfile writes other headers, hence the small writer here.

Read: absolute paths, ``..``, drive letters and oversized content (100 MiB in all, 5 MiB per file,
Helm's limits) are refused; sigward also refuses links leading out of the chart, device files, and more
than one top-level directory."""

from __future__ import annotations

import io
import math
import posixpath
import re
import struct
import tarfile
import zlib
from dataclasses import dataclass
from typing import Any

from sigward import safejson
from sigward.formats.helm.common import (
    API_V2,
    GZIP_COMMENT,
    GZIP_EXTRA,
    GZIP_OS_UNKNOWN,
    MAX_CHART_SIZE,
    MAX_FILE_SIZE,
    STREAM_SLACK,
    UTF8_BOM,
    ChartError,
)
from sigward.formats.helm.metadata import Chart, ChartFile, ChartMetadata, load_chart

_DRIVE_RE = re.compile(r"^[a-zA-Z]:/")


# -- writing the archive: Go's archive/tar and compress/gzip -------------------------------------------------

_NAME_SIZE, _PREFIX_SIZE = 100, 155


def _fmt_str(blk: bytearray, off: int, size: int, s: bytes) -> None:
    n = min(len(s), size)
    blk[off:off + n] = s[:n]
    if len(s) < size:
        blk[off + len(s)] = 0
    elif len(s) > size and blk[off + size - 1] == ord("/"):
        # Go: a truncated name must not end in '/' (readers would take it for a directory).
        stripped = s[: size - 1].rstrip(b"/")
        blk[off + len(stripped)] = 0


def _fits_octal(size: int, x: int) -> bool:
    return 0 <= x < 1 << (3 * (size - 1))


def _fmt_octal(blk: bytearray, off: int, size: int, x: int) -> None:
    if not _fits_octal(size, x):
        x = 0
    _fmt_str(blk, off, size, format(x, "o").rjust(size - 1, "0").encode())


def _finish_block(blk: bytearray) -> bytes:
    blk[257:263] = b"ustar\x00"
    blk[263:265] = b"00"
    blk[148:156] = b" " * 8
    chksum = sum(blk)
    _fmt_octal(blk, 148, 7, chksum)
    blk[155] = ord(" ")
    return bytes(blk)


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    length = len(name)
    if length <= _NAME_SIZE or not name.isascii():
        return None
    if length > _PREFIX_SIZE + 1:
        length = _PREFIX_SIZE + 1
    elif name[length - 1:length] == b"/":
        length -= 1
    i = name.rfind(b"/", 0, length)
    nlen, plen = len(name) - i - 1, i
    if i <= 0 or nlen > _NAME_SIZE or nlen == 0 or plen > _PREFIX_SIZE:
        return None
    return name[:i], name[i + 1:]


def _pax_record(k: str, v: str) -> bytes:
    body = f" {k}={v}\n".encode()
    size = len(body) + len(str(len(body)))
    if len(str(size)) + len(body) != size:
        size = len(str(size)) + len(body)
    return str(size).encode() + body


def _to_ascii(s: bytes) -> bytes:
    return bytes(b for b in s if b < 0x80)


class GoTarWriter:
    """The subset of Go's ``archive/tar.Writer`` Helm uses: regular files, mode 0644, owner 0."""

    def __init__(self) -> None:
        self._out = io.BytesIO()

    def add(self, name: str, data: bytes, mtime: int) -> None:
        raw = name.encode("utf-8")
        long_name = len(raw) > _NAME_SIZE or not raw.isascii()
        split = _split_ustar(raw) if long_name else None
        pax: dict[str, str] = {}
        prefix = b""
        if (long_name and split is None) or not _fits_octal(12, mtime):
            # USTAR cannot hold it: Go writes PAX records for every field that does not fit.
            if long_name:
                pax["path"] = name
            if not _fits_octal(12, mtime):
                pax["mtime"] = str(mtime)
        elif split is not None:
            prefix, raw = split
        if pax:
            records = b"".join(_pax_record(k, pax[k]) for k in sorted(pax))
            d, f = posixpath.split(name)
            pname = _to_ascii(posixpath.join(d, "PaxHeaders.0", f).encode())[:_NAME_SIZE].rstrip(b"/")
            hdr = bytearray(512)
            hdr[156] = ord("x")
            _fmt_str(hdr, 0, 100, pname)
            for off, size, val in ((100, 8, 0), (108, 8, 0), (116, 8, 0), (124, 12, len(records)),
                                   (136, 12, 0)):
                _fmt_octal(hdr, off, size, val)
            self._write(_finish_block(hdr), records)
            raw = _to_ascii(name.encode("utf-8"))
        blk = bytearray(512)
        blk[156] = ord("0")
        _fmt_str(blk, 0, 100, raw)
        _fmt_str(blk, 157, 100, b"")
        _fmt_octal(blk, 100, 8, 0o644)
        _fmt_octal(blk, 108, 8, 0)
        _fmt_octal(blk, 116, 8, 0)
        _fmt_octal(blk, 124, 12, len(data))
        _fmt_octal(blk, 136, 12, mtime)
        _fmt_str(blk, 265, 32, b"")
        _fmt_str(blk, 297, 32, b"")
        _fmt_octal(blk, 329, 8, 0)
        _fmt_octal(blk, 337, 8, 0)
        if not pax:
            _fmt_str(blk, 345, _PREFIX_SIZE, prefix)
        self._write(_finish_block(blk), data)

    def _write(self, header: bytes, data: bytes) -> None:
        self._out.write(header)
        self._out.write(data)
        self._out.write(b"\0" * (-len(data) % 512))

    def close(self) -> bytes:
        self._out.write(b"\0" * 1024)
        return self._out.getvalue()


def go_gzip(data: bytes) -> bytes:
    """``gzip.NewWriter`` with Helm's Extra and Comment: MTIME 0, XFL 0, OS 255, default level."""
    header = b"\x1f\x8b\x08" + bytes([0x04 | 0x10]) + b"\0\0\0\0" + bytes([0, GZIP_OS_UNKNOWN])
    header += struct.pack("<H", len(GZIP_EXTRA)) + GZIP_EXTRA + GZIP_COMMENT + b"\0"
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = comp.compress(data) + comp.flush()
    return header + body + struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)


def _valid_json(data: bytes) -> bool:
    def reject(_: str) -> Any:
        raise ValueError

    try:
        safejson.loads(data.decode("utf-8", errors="surrogateescape"), parse_constant=reject)
    except (ValueError, RecursionError):
        return False
    return True


def _write_contents(tw: GoTarWriter, chart: Chart, prefix: str) -> None:
    name = chart.name
    if not name or name in (".", "..") or "/" in name:
        raise ChartError(f"chart name {name!r} is not allowed")
    base = f"{prefix}/{name}" if prefix else name
    tw.add(f"{base}/Chart.yaml", chart.metadata.chart_yaml(), chart.mtime)
    if chart.metadata.api_version == API_V2 and chart.lock is not None:
        tw.add(f"{base}/Chart.lock", chart.lock.to_yaml(), chart.lock.mtime)
    for f in chart.values:
        tw.add(f"{base}/values.yaml", f.data, f.mtime)
    if chart.schema is not None:
        if not _valid_json(chart.schema.data):
            raise ChartError(f"{base}/values.schema.json: invalid JSON")
        tw.add(f"{base}/values.schema.json", chart.schema.data, chart.schema.mtime)
    for f in [*chart.templates, *chart.files]:
        tw.add(f"{base}/{f.name}", f.data, f.mtime)
    for dep in chart.dependencies:
        _write_contents(tw, dep, f"{base}/charts")


def write_chart_archive(chart: Chart) -> bytes:
    """The ``<name>-<version>.tgz`` bytes ``helm package`` would write (up to the deflate stream)."""
    tw = GoTarWriter()
    _write_contents(tw, chart, "")
    return go_gzip(tw.close())


def archive_name(meta: ChartMetadata) -> str:
    return f"{meta.name}-{meta.version}.tgz"


# -- reading archives safely ---------------------------------------------------------------------------------

class _CappedReader(io.RawIOBase):
    """A decompressed stream that refuses to grow past ``cap`` bytes (gzip bombs)."""

    def __init__(self, raw: Any, cap: int, where: str) -> None:
        self.raw, self.cap, self.where, self.count = raw, cap, where, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.raw.read(len(b))
        self.count += len(data)
        if self.count > self.cap:
            raise ChartError(f"{self.where}: decompressed chart is larger than the maximum size "
                             f"{MAX_CHART_SIZE} bytes")
        b[: len(data)] = data
        return len(data)


@dataclass
class ArchiveContents:
    top: str
    files: list[ChartFile]


def read_chart_archive(data: bytes, where: str) -> ArchiveContents:
    """The files of a chart archive, with Helm's path checks and limits and a few more (see module doc)."""
    if not data.startswith(b"\x1f\x8b\x08"):
        raise ChartError(f"{where}: does not appear to be a gzipped chart archive")
    import gzip

    stream = _CappedReader(gzip.GzipFile(fileobj=io.BytesIO(data)), MAX_CHART_SIZE + STREAM_SLACK, where)
    files: list[ChartFile] = []
    tops: set[str] = set()
    remaining = MAX_CHART_SIZE
    try:
        with tarfile.open(fileobj=io.BufferedReader(stream), mode="r|") as tar:
            for m in tar:
                name = m.name
                if any("\udc80" <= c <= "\udcff" for c in name):
                    raise ChartError(f"{where}: entry name {name!r} is not UTF-8")
                if name.startswith("/") or (name.startswith("\\")):
                    raise ChartError(f"{where}: chart illegally contains absolute paths ({name!r})")
                delim = "\\" if "\\" in name else "/"
                parts = name.split(delim)
                while len(parts) > 1 and parts[0] == ".":
                    parts = parts[1:]
                if m.isdir():
                    if parts[0] not in ("", "."):
                        tops.add(parts[0])
                        _check_tops(tops, where)
                    continue
                if parts[0] == "Chart.yaml":
                    raise ChartError(f"{where}: Chart.yaml is not in the chart's base directory")
                n = "/".join(parts[1:])
                if n.startswith("/"):
                    raise ChartError(f"{where}: chart illegally contains absolute paths ({name!r})")
                n = posixpath.normpath(n) if n else "."
                if n == ".":
                    raise ChartError(f"{where}: chart illegally contains content outside the base directory "
                                     f"({name!r})")
                if n.startswith(".."):
                    raise ChartError(f"{where}: chart illegally references parent directory ({name!r})")
                if _DRIVE_RE.match(n):
                    raise ChartError(f"{where}: chart contains illegally named files ({name!r})")
                tops.add(parts[0])
                _check_tops(tops, where)
                if m.issym() or m.islnk():
                    _check_link(m, parts[0], n, where)
                    continue  # links never reach a chart: Helm writes none, sigward loads none
                if not m.isreg():
                    raise ChartError(f"{where}: {name!r} is not a regular file "
                                     "(device, FIFO or unknown type)")
                if m.size > remaining:
                    raise ChartError(f"{where}: decompressed chart is larger than the maximum size "
                                     f"{MAX_CHART_SIZE} bytes")
                if m.size > MAX_FILE_SIZE:
                    raise ChartError(f"{where}: file {name!r} is larger than the maximum file size "
                                     f"{MAX_FILE_SIZE} bytes")
                fobj = tar.extractfile(m)
                body = fobj.read() if fobj is not None else b""
                remaining -= len(body)
                if body.startswith(UTF8_BOM):
                    body = body[len(UTF8_BOM):]
                files.append(ChartFile(n, body, math.floor(float(m.mtime) + 0.5)))
    except ChartError:
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise ChartError(f"{where}: not a valid chart archive ({e})")
    if not files:
        raise ChartError(f"{where}: no files in chart archive")
    return ArchiveContents(next(iter(tops)), files)


def _check_tops(tops: set[str], where: str) -> None:
    if len(tops) > 1:
        raise ChartError(f"{where}: more than one top-level directory ({', '.join(sorted(tops))}); "
                         "a chart archive holds exactly one")


def _check_link(m: tarfile.TarInfo, top: str, n: str, where: str) -> None:
    target = m.linkname
    if target.startswith("/"):
        raise ChartError(f"{where}: link {m.name!r} points outside the chart ({target!r})")
    if m.issym():
        resolved = posixpath.normpath(posixpath.join(top, posixpath.dirname(n), target))
    else:
        while target.startswith("./"):
            target = target[2:]
        resolved = posixpath.normpath(target)
    if resolved == top or not resolved.startswith(top + "/"):
        raise ChartError(f"{where}: link {m.name!r} points outside the chart ({target!r})")


def load_chart_archive(data: bytes, where: str) -> Chart:
    """Helm's ``LoadArchive``: read safely, then load (no .helmignore inside archives)."""
    return load_chart(read_chart_archive(data, where).files, where)
