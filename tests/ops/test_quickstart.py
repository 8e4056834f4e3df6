"""scripts/quickstart.sh (``make demo``) runs end to end offline: build, sign, copy, verify, tamper."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from sigward.oci.layout import LayoutStore
from sigward.ops.example import build_demo_image

REPO = Path(__file__).resolve().parents[2]


def test_quickstart_script(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    (demo / "layout").mkdir(parents=True)
    (demo / "layout" / "stale").write_text("from an earlier run")
    env = {**os.environ, "DEMO_DIR": str(demo)}
    proc = subprocess.run(["bash", "scripts/quickstart.sh"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    digest = build_demo_image().manifest.digest
    for cmd in ("demo-image", "copy", "tree", "verify --key"):
        assert f"$ sigward {cmd} " in proc.stderr
    # The signature travelled with the copy and verifies there; the tampered copy does not verify.
    assert '"optional":{"imageRef":"refs/tags/0.1.0"}' in proc.stdout
    assert "failed with exit code 10" in proc.stderr
    assert "via OCI referrer" in proc.stdout
    assert "\x1b[" not in proc.stderr  # no terminal escapes when stderr is not a terminal
    assert f"oci:{demo}/copy@{digest}\n" in proc.stdout
    assert f"artifacts for an image: oci:{demo}/copy:hello\n" in proc.stdout
    assert LayoutStore(demo / "copy").resolve("hello").digest == digest
    assert not (demo / "layout" / "stale").exists()
