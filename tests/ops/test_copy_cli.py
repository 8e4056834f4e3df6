"""``sigward copy`` and ``sigward demo-image`` as a user runs them (in-process main, and subprocesses)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_attached import make_legacy, make_referrer

from sigward.cli.main import main
from sigward.cli.progress import Progress, for_terminal, human_bytes
from sigward.oci.layout import LayoutStore
from sigward.ops.attached import attached_tag
from sigward.ops.example import build_demo_image, write_demo_image

REPO = Path(__file__).resolve().parents[2]


def test_demo_image_is_reproducible_across_processes(tmp_path: Path) -> None:
    outs = []
    for name in ("a", "b"):
        proc = subprocess.run([sys.executable, "-m", "sigward", "demo-image", f"oci:{tmp_path}/{name}:hello"],
                              capture_output=True, text=True, cwd=REPO, timeout=60)
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout.strip().split("@")[1])
    assert outs[0] == outs[1] == build_demo_image().manifest.digest
    img = LayoutStore(tmp_path / "a").get_manifest("hello")
    cfg = LayoutStore(tmp_path / "a").get_blob(img.config)  # type: ignore[arg-type]
    assert b'"os":"linux"' in cfg and b'"diff_ids":["sha256:' in cfg
    assert build_demo_image(message="other").manifest.digest != outs[0]


def test_demo_image_layer_is_a_real_gzip_tar() -> None:
    import gzip
    import tarfile

    img = build_demo_image()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(img.layer))) as tar:
        assert tar.getnames() == ["etc", "etc/os-release", "hello.txt"]
        member = tar.getmember("hello.txt")
        assert member.mtime == 1704067200 and member.uid == 0
        assert tar.extractfile(member).read().startswith(b"Hello from sigward!")  # type: ignore[union-attr]


def test_demo_image_multi_platform(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo-image", "--platform", "linux/amd64,linux/arm64/v8", f"oci:{tmp_path}:multi"]) == 0
    idx = LayoutStore(tmp_path).get_manifest("multi")
    assert capsys.readouterr().out == f"oci:{tmp_path}@{idx.digest}\n"
    assert idx.is_index
    assert [d.platform for d in idx.manifests] == [
        {"architecture": "amd64", "os": "linux"}, {"architecture": "arm64", "os": "linux", "variant": "v8"}]


def test_copy_cli_prints_reference_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = LayoutStore(tmp_path / "src")
    desc = write_demo_image(src, "hello")
    make_legacy(src, desc.digest)
    make_referrer(src, desc)
    assert main(["copy", f"oci:{tmp_path}/src:hello", f"oci:{tmp_path}/dst"]) == 0
    cap = capsys.readouterr()
    assert cap.out == f"oci:{tmp_path}/dst@{desc.digest}\n"
    assert cap.err.startswith(
        f"Copied oci:{tmp_path}/src:hello ({desc.digest[7:19]}) to oci:{tmp_path}/dst:hello: "
        "3 manifests, 6 blobs (1017 B) copied, 0 already present; 1 signature, 1 attestation\n"
    )
    assert f"  with {attached_tag(desc.digest, 'sig')}" in cap.err
    assert "  with referrer sha256:" in cap.err
    dst = LayoutStore(tmp_path / "dst")
    assert dst.resolve("hello").digest == desc.digest  # DST without a tag took SRC's tag

    # Again: a no-op, everything already present.
    assert main(["copy", f"oci:{tmp_path}/src:hello", f"oci:{tmp_path}/dst"]) == 0
    assert "0 blobs (0 B) copied, 6 already present" in capsys.readouterr().err


def test_copy_cli_force_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = LayoutStore(tmp_path / "src"), LayoutStore(tmp_path / "dst")
    desc = write_demo_image(src, "hello")
    other = write_demo_image(dst, "hello", message="another image")
    args = [f"oci:{tmp_path}/src:hello", f"oci:{tmp_path}/dst:hello"]
    assert main(["copy", *args]) == 1
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err == f'Error: image "oci:{tmp_path}/dst:hello" already exists. Use `-f` to overwrite\n'
    assert dst.resolve("hello").digest == other.digest
    assert main(["copy", "-f=false", *args]) == 1
    capsys.readouterr()
    assert main(["copy", "-f", *args]) == 0
    assert dst.resolve("hello").digest == desc.digest
    capsys.readouterr()

    assert main(["copy", "--only=sig,img", *args]) == 1
    assert capsys.readouterr().err.startswith("Error: invalid value for --only: img")
    assert main(["copy", f"oci:{tmp_path}/src@{other.digest}", f"oci:{tmp_path}/x"]) == 1
    assert capsys.readouterr().err == f"Error: oci:{tmp_path}/src@{other.digest}: manifest not found\n"
    assert main(["copy", args[0], f"oci:{tmp_path}/y@{other.digest}"]) == 1
    assert "names digest" in capsys.readouterr().err
    assert main(["copy", f"oci:{tmp_path}/missing:hello", f"oci:{tmp_path}/z"]) == 1
    assert "no such OCI image layout" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "z").exists()


def test_copy_cli_platform(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = LayoutStore(tmp_path / "src")
    write_demo_image(src, "multi", platforms=["linux/amd64", "linux/arm64"])
    arm = src.get_manifest("multi").manifests[1]
    rc = main(["copy", "--platform", "linux/arm64", f"oci:{tmp_path}/src:multi", f"oci:{tmp_path}/dst"])
    assert rc == 0
    assert capsys.readouterr().out == f"oci:{tmp_path}/dst@{arm.digest}\n"
    assert LayoutStore(tmp_path / "dst").resolve("multi").digest == arm.digest


def test_progress_display() -> None:
    assert human_bytes(512) == "512 B" and human_bytes(1536) == "1.5 KiB"
    assert human_bytes(3 * 1024 ** 3) == "3.0 GiB"
    now = [0.0]
    out = io.StringIO()
    p = Progress(total=4096, stream=out, label="copying", clock=lambda: now[0])
    now[0] = 1.0
    p(1024)
    now[0] = 2.0
    p(1024)
    assert p.line(2.0) == "copying 2.0 KiB / 4.0 KiB (50%)  1.0 KiB/s"
    assert out.getvalue().endswith("\r\x1b[Kcopying 2.0 KiB / 4.0 KiB (50%)  1.0 KiB/s")
    p.finish()
    assert out.getvalue().endswith("\r\x1b[K")
    assert for_terminal(10, stream=io.StringIO()) is None  # not a TTY: silent


def test_progress_is_drawn_on_a_terminal(tmp_path: Path) -> None:
    """A real pseudo-terminal on stderr gets the progress line; the summary follows on a clean line."""
    import pty

    src = LayoutStore(tmp_path / "src")
    write_demo_image(src, "hello")
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "sigward", "copy", f"oci:{tmp_path}/src:hello", f"oci:{tmp_path}/dst"],
            stdout=subprocess.PIPE, stderr=slave, cwd=REPO, timeout=60,
        )
        os.close(slave)
        err = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
    finally:
        os.close(master)
    assert proc.returncode == 0
    assert b"\r\x1b[Kcopying " in err and b"B/s" in err
    assert b"Copied oci:" in err
