"""Writing key files so that a failure never leaves a partial or half-replaced key pair behind.

The pair is written with ``fileio.write_all_atomic``: every file goes in full to a temporary name in its
directory, is flushed and given its final mode, and only then are they renamed into place; on any
failure the temporaries, and files already renamed in this call, are removed, so the caller sees either
the complete new pair or an error.
"""

from __future__ import annotations

import os

from sigward.errors import KeyFileError
from sigward.fileio import write_all_atomic


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_files_atomically(files: list[tuple[str, bytes, int]]) -> None:
    """Write each (path, data, mode); modes are filtered by the umask, as Go's ``os.WriteFile`` does."""
    mask = _umask()
    try:
        write_all_atomic([(path, data, mode & ~mask) for path, data, mode in files])
    except OSError as e:
        raise KeyFileError(f"writing {e.filename or files[0][0]}: {e.strerror or e}") from None
