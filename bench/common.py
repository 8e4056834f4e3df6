"""Shared helpers for the benchmark scripts: timing child processes, peak RSS, markdown tables.

Benchmarks run from the repository root (``python3 -m bench.bench_x``) so they can reuse the real test
servers in ``tests/fixtures``. Peak RSS comes from ``wait4`` on the one child measured, not from
``RUSAGE_CHILDREN``: the latter is a running maximum over every child ever reaped, so a big earlier
child (or the registry) would leak into a later measurement.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MIB = 1 << 20
GIB = 1 << 30


@dataclass
class ChildRun:
    returncode: int
    seconds: float
    peak_rss_kb: int  # ru_maxrss of this child alone (Linux reports KiB)
    stdout: str
    stderr: str


def run_child(cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | Path | None = None,
              check: bool = True) -> ChildRun:
    """Run ``cmd`` to completion; wall time from just before spawn to reaping, and its own peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        run = ChildRun(proc.returncode, seconds, usage.ru_maxrss, out.read().decode(errors="replace"),
                       err.read().decode(errors="replace"))
    if check and run.returncode != 0:
        raise SystemExit(f"benchmark step failed ({run.returncode}): {' '.join(cmd)}\n{run.stderr[-2000:]}")
    return run


def median_runs(cmd: Sequence[str], n: int, **kw: object) -> list[ChildRun]:
    """``n`` runs after one untimed warm-up (page cache, .pyc files)."""
    run_child(cmd, **kw)  # type: ignore[arg-type]
    return [run_child(cmd, **kw) for _ in range(n)]  # type: ignore[arg-type]


def med(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s"


def mb(kib: int) -> str:
    return f"{kib / 1024:.0f} MB"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; cells are str()-ed and pipes escaped."""
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def pseudo_random_chunks(total: int, seed: int, chunk: int = MIB) -> Iterator[bytes]:
    """Reproducible incompressible bytes, one chunk at a time: the same seed gives the same stream, so
    a digest pass and an upload pass agree without the content ever being held whole."""
    import random

    rnd = random.Random(seed)
    left = total
    while left > 0:
        n = min(chunk, left)
        yield rnd.randbytes(n)
        left -= n


def python() -> str:
    return sys.executable


def child_env(*, repo_path: bool = False, **extra: str) -> dict[str, str]:
    """The environment for measured children, without inherited debug switches (SIGWARD_DEBUG,
    PYTHONDEVMODE…) that would distort timings; ``repo_path`` makes ``bench``/``tests`` importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGWARD_", "PYTHON"))}
    if repo_path:
        env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(extra)
    return env
