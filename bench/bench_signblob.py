"""``sign-blob`` of a 1 GiB file against the floor: Python's hashlib.sha256 over the same file.

Run from the repository root: ``python3 -m bench.bench_signblob`` (prints markdown to stdout).

Signing a blob is hashing it plus one signature, so the honest yardstick is a plain Python loop reading
1 MiB chunks into ``hashlib.sha256``, run as its own process the same way (interpreter start included).
Runs alternate between the two so page-cache or CPU-frequency drift hits both alike. The file is
written to a temporary directory first and removed afterwards.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench.common import (
    GIB,
    MIB,
    child_env,
    mb,
    med,
    ms,
    pseudo_random_chunks,
    python,
    run_child,
    secs,
    table,
)

RUNS = 3
RATIO_TARGET = 1.15
RSS_TARGET_MB = 100

HASH_SCRIPT = """\
import hashlib, sys, time
t = time.perf_counter()
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    while chunk := f.read(1 << 20):
        h.update(chunk)
print(h.hexdigest(), time.perf_counter() - t)
"""


def write_file(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        for chunk in pseudo_random_chunks(size, seed=7):
            f.write(chunk)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=GIB)
    ap.add_argument("--runs", type=int, default=RUNS)
    a = ap.parse_args(argv)
    env = child_env(COSIGN_PASSWORD="bench")
    with tempfile.TemporaryDirectory(prefix="sigward-bench-") as tmp:
        work = Path(tmp)
        run_child([python(), "-m", "sigward", "generate-key-pair", "--output-key-prefix",
                   str(work / "cosign")], env=env)
        big, empty = work / "big.bin", work / "empty.bin"
        write_file(big, a.size)
        empty.write_bytes(b"")
        sign = [python(), "-m", "sigward", "sign-blob", "--key", str(work / "cosign.key"),
                "--tlog-upload=false", "--bundle", str(work / "out.sigstore.json")]
        hash_cmd = [python(), "-c", HASH_SCRIPT, str(big)]
        fixed = [run_child([*sign, str(empty)], env=env) for _ in range(a.runs)]
        run_child(hash_cmd, env=env)  # warm-up: file in page cache, .pyc written
        hashes, signs = [], []
        for _ in range(a.runs):
            hashes.append(run_child(hash_cmd, env=env))
            signs.append(run_child([*sign, str(big)], env=env))
        # The last bundle written is the big file's: check it really verifies.
        verify = run_child([python(), "-m", "sigward", "verify-blob", "--key", str(work / "cosign.pub"),
                            "--insecure-ignore-tlog=true", "--bundle", str(work / "out.sigstore.json"),
                            str(big)], env=env, check=False)
        big.unlink()
    loop = med([float(r.stdout.split()[1]) for r in hashes])
    t_hash, t_sign = med([r.seconds for r in hashes]), med([r.seconds for r in signs])
    ratio = t_sign / t_hash
    rss = max(r.peak_rss_kb for r in signs)
    size = f"{a.size // MIB} MiB"
    rows = [
        [f"hashlib.sha256 script over {size} (whole process)", secs(t_hash),
         mb(max(r.peak_rss_kb for r in hashes)), "1.00×"],
        ["… of which the read+hash loop", secs(loop), "", f"{loop / t_hash:.2f}×"],
        [f"`sigward sign-blob --bundle` {size}", secs(t_sign), mb(rss), f"{ratio:.2f}×"],
        ["`sigward sign-blob --bundle` empty file (fixed cost: start-up, key decryption)",
         ms(med([r.seconds for r in fixed])), mb(max(r.peak_rss_kb for r in fixed)), ""],
    ]
    print(f"#### sign-blob of {size}, median of {a.runs} alternating runs\n")
    print(table(["command", "wall time (median)", "peak RSS", "relative to hashlib script"], rows))
    ok_ratio = "met" if ratio <= RATIO_TARGET else "**not met**"
    ok_rss = "met" if rss / 1024 <= RSS_TARGET_MB else "**not met**"
    print(f"\nTargets: time ≤ {RATIO_TARGET}× hashlib — {ok_ratio} ({ratio:.2f}×); "
          f"peak RSS ≤ {RSS_TARGET_MB} MB — {ok_rss} ({mb(rss)}). "
          "The bundle written was checked with `sigward verify-blob`: "
          f"exit code {verify.returncode} {verify.stderr.strip().splitlines()[-1:]}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
