"""``image build`` of a 256 MiB directory on a verified base, against the floor: GNU tar | gzip -6.

Run from the repository root: ``python3 -m bench.bench_build`` (prints markdown to stdout).

A build is one pass over the sources (tar + gzip + two SHA-256 digests) plus a fixed cost: start-up,
verifying the base, writing blobs. The yardstick is the shell pipeline that does the same tar and gzip
work, ``tar --sort=name -cf - DIR | gzip -6 > /dev/null`` (C code, no hashing). Runs alternate. Two
builds of the same inputs into different layouts must give the same digest (reproducibility), and the
second build into the same layout finds every blob present. ``chart package`` of the example chart is
timed as a whole process.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench.common import MIB, child_env, mb, med, ms, pseudo_random_chunks, python, run_child, secs, table

RUNS = 3
RSS_TARGET_MB = 100
ROOT = Path(__file__).resolve().parents[1]


def write_tree(root: Path, total: int) -> int:
    """64 large pseudo-random files (``total`` bytes) plus 2000 small text files, in nested folders."""
    big = total // 64
    for i in range(64):
        d = root / f"data{i % 8}"
        d.mkdir(parents=True, exist_ok=True)
        with open(d / f"blob{i}.bin", "wb") as f:
            for chunk in pseudo_random_chunks(big, seed=i):
                f.write(chunk)
    for i in range(2000):
        d = root / "src" / f"pkg{i % 40}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"module{i}.py").write_text(f"VALUE = {i}\n" * 20)
    return 64 + 2000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256 * MIB)
    ap.add_argument("--runs", type=int, default=RUNS)
    a = ap.parse_args(argv)
    env = child_env(COSIGN_PASSWORD="bench", SOURCE_DATE_EPOCH="1700000000")
    sw = [python(), "-m", "sigward"]
    with tempfile.TemporaryDirectory(prefix="sigward-bench-") as tmp:
        work = Path(tmp)
        run_child([*sw, "generate-key-pair", "--output-key-prefix", str(work / "cosign")], env=env)
        base = run_child([*sw, "demo-image", "--platform", "linux/amd64,linux/arm64",
                          f"oci:{work / 'base'}:latest"], env=env).stdout.strip()
        run_child([*sw, "sign", "--key", str(work / "cosign.key"), "--tlog-upload=false", base], env=env)
        src = work / "src"
        files = write_tree(src, a.size)
        floor_cmd = ["bash", "-c", f"tar --sort=name -C {src} -cf - . | gzip -6 > /dev/null"]

        def build(out: str) -> list[str]:
            return [*sw, "image", "build", "--base", base, "--base-key", str(work / "cosign.pub"),
                    "--insecure-ignore-tlog=true", "--layer", f"{src}:/app", "--entrypoint", "/app/run",
                    f"oci:{work / out}"]

        run_child(floor_cmd, env=env)  # warm-up: sources in the page cache
        floors, builds, digests = [], [], []
        for i in range(a.runs):
            floors.append(run_child(floor_cmd, env=env))
            r = run_child(build(f"out{i}"), env=env)
            builds.append(r)
            digests.append(r.stdout.strip().rsplit("@", 1)[1])
        again = run_child(build("out0"), env=env)
        charts = [run_child([*sw, "chart", "package", str(ROOT / "examples/hello-service/chart"),
                             "-d", str(work / f"chart{i}")], env=env) for i in range(5)]
        chart_bytes = {(work / f"chart{i}" / "hello-service-0.1.0.tgz").read_bytes() for i in range(5)}
    t_floor, t_build = med([r.seconds for r in floors]), med([r.seconds for r in builds])
    rss = max(r.peak_rss_kb for r in builds)
    size = f"{a.size // MIB} MiB in {files} files"
    rows = [
        [f"`tar --sort=name | gzip -6` of {size}", secs(t_floor), "", "1.00×"],
        [f"`sigward image build` (2 platforms, key-verified base) of {size}", secs(t_build), mb(rss),
         f"{t_build / t_floor:.2f}×"],
        ["the same build again into the same layout (every blob present)", secs(again.seconds),
         mb(again.peak_rss_kb), ""],
        ["`sigward chart package` of the example chart (median of 5)", ms(med([r.seconds for r in charts])),
         mb(max(r.peak_rss_kb for r in charts)), ""],
    ]
    print(f"#### image build of {size}, median of {a.runs} alternating runs\n")
    print(table(["command", "wall time (median)", "peak RSS", "relative to tar | gzip"], rows))
    same = len(set(digests)) == 1 and again.stdout.strip().endswith(digests[0])
    ok_rss = "met" if rss / 1024 <= RSS_TARGET_MB else "**not met**"
    print(f"\nReproducible: {a.runs + 1} builds gave {'one digest' if same else 'DIFFERENT digests'} "
          f"(`{digests[0][:19]}…`); 5 chart packages gave {len(chart_bytes)} distinct archive(s). "
          f"Peak RSS ≤ {RSS_TARGET_MB} MB — {ok_rss} ({mb(rss)}): layers stream through a temporary file.")
    return 0 if same and len(chart_bytes) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
