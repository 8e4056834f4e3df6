"""Build tests reuse the signing fixtures (in-process CLI runner, key pairs, demo layouts) and add a
source tree with every kind of entry a layer must handle."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.signing.conftest import keys, layout, other_keys, run  # noqa: F401


def make_source(root: Path, *, reverse: bool = False) -> Path:
    """A small application tree: plain, private and executable files, a nested directory, a symlink,
    and the clutter --exclude is for (``__pycache__``, ``*.pyc``, ``.git``).

    ``reverse`` creates the entries in the opposite order and with other modes/times, none of which may
    change the layer.
    """
    files = [
        ("app.py", b"print('hello')\n", 0o600),
        ("bin/run.sh", b"#!/bin/sh\nexec python3 /app/app.py\n", 0o700),
        ("data/nested/deep.txt", b"deep\n", 0o664),
        ("mod.pyc", b"\x00compiled", 0o644),
        ("__pycache__/app.cpython-311.pyc", b"\x00cached", 0o644),
        (".git/HEAD", b"ref: refs/heads/main\n", 0o644),
    ]
    for name, data, mode in reversed(files) if reverse else files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode | (0o040 if reverse else 0))
        stamp = 1_234_567_890 if reverse else 1_600_000_000
        os.utime(path, (stamp, stamp))
    (root / "link").symlink_to("app.py")
    return root


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return make_source(tmp_path / "src")
