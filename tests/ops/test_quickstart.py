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


def _fresh_env(venv: Path) -> dict[str, str]:
    """The environment of a shell on a machine with only Python: a new venv activated, nothing else.

    This test's own virtualenv (where sigward is installed editable) is taken off PATH, and nothing
    points Python at this checkout.
    """
    import sys

    own = {str(Path(sys.prefix) / "bin"), str(Path(sys.executable).parent)}
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p not in own]
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DEMO_DIR", "SIGWARD_SKIP_INSTALL"}}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    env["VIRTUAL_ENV"] = str(venv)
    return env


def test_make_demo_from_nothing(tmp_path: Path) -> None:
    """The README's first command on a fresh clone, with a new virtualenv that has no packages.

    Before, quickstart.sh decided nothing needed installing because `import sigward` succeeds from
    the checkout's root, and the demo died on `No module named 'cryptography'`. pip downloads (or
    takes from its cache) sigward's dependencies, as a new user's machine would.
    """
    import sys

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=60)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    env = _fresh_env(venv)
    before = subprocess.run([str(venv / "bin" / "python"), "-c", "import cryptography"], env=env,
                            cwd=tmp_path, capture_output=True)
    assert before.returncode != 0  # really nothing installed

    proc = subprocess.run(["make", "demo"], cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "installing sigward" in proc.stderr
    assert "failed with exit code 10" in proc.stderr
    assert (clone / "demo" / "copy" / "index.json").is_file()
    assert (venv / "bin" / "sigward").is_file()  # installed into the active venv, not elsewhere

    # A second run finds it installed and installs nothing.
    again = subprocess.run(["make", "demo"], cwd=clone, env=env, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "installing sigward" not in again.stderr


def test_install_script_says_what_it_installs() -> None:
    """`make test`'s first step ran ~18 s in silence: each long install step announces itself first."""
    text = (REPO / "scripts" / "install.sh").read_text()
    pip_at = text.index("python3 -m pip install")
    assert "echo \"installing sigward and its Python dependencies" in text[:pip_at]
    npm_at = text.index("npm ci --no-audit")
    assert "installing the local Sigstore stack" in text[text.rindex("\n", 0, npm_at - 200):npm_at]
