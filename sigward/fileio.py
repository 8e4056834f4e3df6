"""Writing files so that a crash, a full disk or Ctrl-C never leaves a half-written one.

Every file sigward writes — bundles, signatures, certificates, key pairs, docker's config, packaged
charts, layout blobs and ``index.json`` — goes through here: the bytes go to a temp file in the same
directory (same filesystem, so the rename is atomic), are fsync'd, get their mode, and only then are
renamed over the destination. A failure at any point removes the temp file and leaves the destination as
it was. ``write_all_atomic`` does the same for several files that only make sense together (a key pair):
all are staged first, then renamed; if one fails, those already renamed are removed again.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

TMP_PREFIX = ".sigward-"


def _temp_beside(path: str, prefix: str | None, tmp_dir: str | None) -> tuple[int, str]:
    directory = tmp_dir or os.path.dirname(os.path.abspath(path))
    return tempfile.mkstemp(prefix=prefix or TMP_PREFIX, dir=directory)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], mode: int = 0o644, *, prefix: str | None = None,
                tmp_dir: str | None = None) -> Iterator[BinaryIO]:
    """A binary file to write; on a clean exit it is fsync'd, given ``mode`` and renamed over ``path``.

    ``tmp_dir`` puts the temp file elsewhere on the same filesystem (a layout keeps its temp files at
    its root); ``prefix`` names it."""
    dest = os.fspath(path)
    fd, tmp = _temp_beside(dest, prefix, tmp_dir)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_atomic(path: str | os.PathLike[str], data: bytes, mode: int = 0o644, *,
                 prefix: str | None = None, tmp_dir: str | None = None) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync, then rename over ``path``."""
    with atomic_file(path, mode, prefix=prefix, tmp_dir=tmp_dir) as f:
        f.write(data)


def write_all_atomic(files: list[tuple[str, bytes, int]]) -> None:
    """Write each ``(path, data, mode)``, all or none: every file is staged before any is renamed.

    An ``OSError`` carries the destination it happened on as ``filename``."""
    staged: list[tuple[str, str]] = []
    placed: list[str] = []
    current = files[0][0] if files else ""
    try:
        for path, data, mode in files:
            current = path
            fd, tmp = _temp_beside(path, f".{os.path.basename(path)}.", None)
            staged.append((tmp, path))
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for tmp, path in staged:
            current = path
            os.replace(tmp, path)
            placed.append(path)
    except BaseException as e:
        if isinstance(e, OSError):
            e.filename = current
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        for path in placed:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise
