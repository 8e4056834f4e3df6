"""Progress on a terminal (issue 12 item 10): `image build` while it builds a layer, and `load`.

The commands run as real processes with stderr on a pseudo-terminal, as a user at a shell has it;
on a pipe they stay silent (the other tests check that no escape codes reach logs).
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.build.helpers import demo_base, sign


def _run_on_pty(*argv: str) -> tuple[int, str, str]:
    """Run ``sigward ARGV`` with stderr on a pty; returns (exit code, stdout, what the terminal saw)."""
    master, slave = pty.openpty()
    env = {**os.environ, "COSIGN_PASSWORD": "test-password"}
    proc = subprocess.Popen([sys.executable, "-m", "sigward", *argv], stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    seen = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    out = proc.stdout.read().decode() if proc.stdout else ""
    code = proc.wait(timeout=120)
    os.close(master)
    return code, out, seen.decode("utf-8", "replace")


def test_image_build_and_load_show_progress(run: Callable[..., Any], keys: Any, tmp_path: Path) -> None:
    base = demo_base(run, f"oci:{tmp_path}/base:v1")
    sign(run, keys.key, base)
    # Incompressible data, so compressing it takes a few redraw intervals even on a fast machine.
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(48 << 20))
    code, out, tty = _run_on_pty("image", "build", "--base", base, "--base-key", keys.pub,
                                 "--insecure-ignore-tlog=true", "--layer", f"{src}:/data",
                                 f"oci:{tmp_path}/out")
    assert code == 0, tty
    assert "building layers " in tty and "MiB" in tty
    assert out.startswith(f"oci:{tmp_path}/out@sha256:")
    # load: a saved image pushed into a layout, with a progress line like save's and copy's.
    assert run("save", "--dir", str(tmp_path / "saved"), out.strip()).code == 0
    code, out, tty = _run_on_pty("load", "--dir", str(tmp_path / "saved"), f"oci:{tmp_path}/loaded:v1")
    assert code == 0, tty
    assert "\x1b[Kloading " in tty  # (a layout-to-layout load links blobs, so few bytes are streamed)
