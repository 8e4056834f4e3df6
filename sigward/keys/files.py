"""Writing key files so that a failure never leaves a partial or half-replaced key pair behind.

Every file is written in full to a temporary name in the destination directory (so the final rename is
atomic on the same file system), flushed, given its final mode, and only then renamed into place. If
anything fails, temporaries are removed and files already renamed in this call are removed too, so the
caller sees either the complete new pair or an error.
"""

from __future__ import annotations

import os
import tempfile

from sigward.errors import KeyFileError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_files_atomically(files: list[tuple[str, bytes, int]]) -> None:
    """Write each (path, data, mode); modes are filtered by the umask, as Go's ``os.WriteFile`` does."""
    mask = _umask()
    temps: list[tuple[str, str]] = []
    placed: list[str] = []
    try:
        for path, data, mode in files:
            directory = os.path.dirname(path) or "."
            try:
                fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
            except OSError as e:
                raise KeyFileError(f"writing {path}: {e.strerror or e}") from None
            temps.append((tmp, path))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode & ~mask)
        for tmp, path in temps:
            os.replace(tmp, path)
            placed.append(path)
    except OSError as e:
        _cleanup(temps, placed)
        raise KeyFileError(f"writing {temps[-1][1] if temps else files[0][0]}: {e.strerror or e}") from None
    except BaseException:
        _cleanup(temps, placed)
        raise


def _cleanup(temps: list[tuple[str, str]], placed: list[str]) -> None:
    for tmp, _ in temps:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    for path in placed:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
