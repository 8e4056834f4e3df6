"""Writing output files so that a crash, Ctrl-C or a bad path never leaves a half-written (or a logged and
then lost) one, and reading input files with a size bound, only from regular files."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from typing import BinaryIO

from sigward.errors import SigwardError

# Key files, bundles, policies, predicates, certificates: far below this. A bound keeps a FIFO or a link
# to /dev/zero from hanging or exhausting memory.
MAX_INPUT_FILE = 64 * 1024 * 1024
MAX_KEY_FILE = 1024 * 1024


def os_error(path: str, e: OSError, verb: str = "cannot write") -> SigwardError:
    """One line naming the file and the OS's reason (ENOSPC, EACCES, ENAMETOOLONG, …)."""
    reason = e.strerror or str(e)
    return SigwardError(f"{verb} {path}: {reason}")


def check_writable(path: str, flag: str = "") -> None:
    """Refuse, before anything is signed or logged, an output path that cannot be written.

    A directory, a missing or unwritable parent directory, or a name the file system refuses is an error
    now rather than after the Rekor entry exists (a logged signature whose bundle is lost).
    """
    where = f"{flag} {path}" if flag else path
    if os.path.isdir(path):
        raise SigwardError(f"{where}: is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise SigwardError(f"{where}: directory {directory} does not exist")
    try:
        name_max = os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    if len(os.fsencode(os.path.basename(path))) > name_max:
        raise SigwardError(f"{where}: {os.strerror(errno.ENAMETOOLONG)}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".sigward-", dir=directory)
    except OSError as e:
        raise SigwardError(f"{where}: cannot write in {directory}: {e.strerror or e}")
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync, then rename over ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".sigward-", dir=directory)
    except OSError as e:
        raise os_error(path, e)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise os_error(path, e)
        raise


def read_regular(path: str, limit: int = MAX_INPUT_FILE, label: str = "",
                 error: type[SigwardError] = SigwardError) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``limit`` bytes.

    Opened non-blocking so a FIFO cannot hang the open; checked with fstat on the opened descriptor (no
    race with a swapped path); read at most ``limit + 1`` bytes so a growing file cannot exceed the bound.
    Every failure is ``error("<label>: <reason>")``, the label defaulting to ``cannot read PATH``.
    """
    label = label or f"cannot read {path}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise error(f"{label}: {_reason(e)}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise error(f"{label}: is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{label}: not a regular file")
        if st.st_size > limit:
            raise error(f"{label}: larger than {limit} bytes")
        os.set_blocking(fd, True)
        return _read_bounded(fd, limit, label, error)
    except OSError as e:
        raise error(f"{label}: {_reason(e)}") from None
    finally:
        os.close(fd)


def open_regular(path: str) -> BinaryIO:
    """``open(path, "rb")`` that refuses (``OSError``, ``strerror`` "not a regular file") anything but a
    regular file, without blocking on a FIFO."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_stream(stream: BinaryIO, limit: int = MAX_INPUT_FILE, label: str = "cannot read standard input",
                error: type[SigwardError] = SigwardError) -> bytes:
    """At most ``limit`` bytes of ``stream`` (stdin), refused beyond."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise error(f"{label}: larger than {limit} bytes")
    return data


def _read_bounded(fd: int, limit: int, label: str, error: type[SigwardError]) -> bytes:
    chunks = []
    total = 0
    while True:
        piece = os.read(fd, min(1 << 20, limit + 1 - total))
        if not piece:
            return b"".join(chunks)
        chunks.append(piece)
        total += len(piece)
        if total > limit:
            raise error(f"{label}: larger than {limit} bytes")


def _reason(e: OSError) -> str:
    if e.errno == errno.ENOENT:
        return "no such file"
    return e.strerror or str(e)
