"""Start-up A/B: the same layout verifies run by two checkouts of sigward, alternating, same interpreter.

``python3 -m bench.bench_startup_ab --before /path/to/old/checkout [--after .] [--runs 40]``

``bench_verify`` measures one checkout; on a machine shared with other work its absolute times move
with the load, so a before/after pair taken minutes apart says little. Here each command runs with the
*before* and the *after* checkout in turn (``PYTHONPATH`` selects it, the interpreter and its
site-packages are the same), so both see the same load; the ratio of the medians is the result. CPU
time (user + system, from ``wait4``) is reported next to wall time: it moves far less with the load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import REPO_ROOT, child_env, python


def _setup(work: Path, checkout: str) -> dict[str, str]:
    env = child_env(COSIGN_PASSWORD="bench", PYTHONPATH=checkout)
    sw = [python(), "-m", "sigward"]

    def run(*args: str) -> str:
        return subprocess.run([*sw, *args], env=env, cwd=work, check=True, capture_output=True,
                              text=True).stdout

    run("generate-key-pair", "--output-key-prefix", str(work / "cosign"))
    refs = {}
    for name, extra in (("bundle", []), ("legacy", ["--new-bundle-format=false"])):
        digest = run("demo-image", f"oci:{work / name}:hello").strip().rsplit("@", 1)[1]
        ref = f"oci:{work / name}@{digest}"
        run("sign", "--key", str(work / "cosign.key"), "--tlog-upload=false", *extra, ref)
        refs[name] = ref
    return refs


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True, help="checkout of the old sigward (its repository root)")
    ap.add_argument("--after", default=str(REPO_ROOT), help="checkout of the new sigward (default: this)")
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sigward-ab-"))
    refs = _setup(work, args.after)
    pub = str(work / "cosign.pub")
    cmds = {"python -c pass": ["-c", "pass"], "import sigward.cli.main": ["-c", "import sigward.cli.main"]}
    for name, ref in refs.items():
        cmds[f"sigward verify ({name})"] = ["-m", "sigward", "verify", "--key", pub,
                                           "--insecure-ignore-tlog=true", ref]
    sides = {"before": child_env(PYTHONPATH=args.before), "after": child_env(PYTHONPATH=args.after)}
    wall: dict[tuple[str, str], list[float]] = {(c, s): [] for c in cmds for s in sides}
    cpu: dict[tuple[str, str], list[float]] = {(c, s): [] for c in cmds for s in sides}
    for _ in range(args.runs):
        for c, argv in cmds.items():
            for side, env in sides.items():
                t = time.perf_counter()
                proc = subprocess.Popen([python(), *argv], env=env, cwd=work, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                _pid, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
                wall[(c, side)].append(time.perf_counter() - t)
                cpu[(c, side)].append(usage.ru_utime + usage.ru_stime)
                if proc.returncode != 0:
                    raise SystemExit(f"{side}: {c} failed (exit {proc.returncode})")
    print(f"#### Interleaved start-up, {args.runs} runs each, same interpreter (medians)\n")
    print("| command | wall before | wall after | after / before | CPU before | CPU after | after / before |")
    print("|---|---|---|---|---|---|---|")
    for c in cmds:
        wb, wa = (statistics.median(wall[(c, s)]) * 1000 for s in ("before", "after"))
        cb, ca = (statistics.median(cpu[(c, s)]) * 1000 for s in ("before", "after"))
        print(f"| `{c}` | {wb:.0f} ms | {wa:.0f} ms | {wa / wb:.2f}× "
              f"| {cb:.0f} ms | {ca:.0f} ms | {ca / cb:.2f}× |")
    code = ("import sys; from sigward.cli.main import main; "
            f"rc = main(['verify', '--key', {pub!r}, '--insecure-ignore-tlog=true', {refs['bundle']!r}]); "
            "print(rc, len(sys.modules), len([m for m in sys.modules if m.startswith('sigward')]))")
    print("\n| checkout | modules loaded by an in-process bundle verify (all / sigward.*) |")
    print("|---|---|")
    for side, env in sides.items():
        out = subprocess.run([python(), "-c", code], env=env, cwd=work, capture_output=True, text=True)
        _rc, total, own = out.stdout.split()[-3:]
        print(f"| {side} | {total} / {own} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
