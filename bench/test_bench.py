"""Checks that the benchmark machinery measures what it claims (run: python3 -m pytest -q bench)."""

from __future__ import annotations

import hashlib
import sys

from bench.common import pseudo_random_chunks, run_child, table
from bench.reqlog import kind, repeated, summarize

HEX = "a" * 64


def test_peak_rss_is_per_child() -> None:
    # A big child first, then a small one: RUSAGE_CHILDREN would report the big peak for both.
    big = run_child([sys.executable, "-c", "b = b'x' * (300 << 20)"])
    small = run_child([sys.executable, "-c", "pass"])
    assert big.peak_rss_kb > 300 * 1024
    assert small.peak_rss_kb < 100 * 1024


def test_run_child_reports_failure_without_raising_when_asked() -> None:
    r = run_child([sys.executable, "-c", "import sys; print('out'); sys.exit(3)"], check=False)
    assert (r.returncode, r.stdout.strip()) == (3, "out")


def test_pseudo_random_chunks_repeat_and_sizes() -> None:
    a = list(pseudo_random_chunks(3 * 1024 * 1024 + 5, seed=1))
    b = list(pseudo_random_chunks(3 * 1024 * 1024 + 5, seed=1))
    assert [len(c) for c in a] == [1 << 20] * 3 + [5]
    assert hashlib.sha256(b"".join(a)).digest() == hashlib.sha256(b"".join(b)).digest()
    assert a[0] != a[1]


def test_request_kinds() -> None:
    assert kind("/v2/") == "ping"
    assert kind(f"/v2/a/b/manifests/sha256:{HEX}") == "manifest@digest"
    assert kind(f"/v2/a/manifests/sha256-{HEX}") == "fallback-index"
    assert kind(f"/v2/a/manifests/sha256-{HEX}.att") == "tag .att"
    assert kind("/v2/a/manifests/v1") == "manifest:tag"
    assert kind(f"/v2/a/blobs/uploads/?mount=sha256:{HEX}&from=b") == "upload(mount)"
    assert kind("/v2/a/blobs/uploads/") == "upload"
    assert kind("/v2/a/blobs/uploads/uuid?_state=x&digest=y") == "upload-session"
    assert kind(f"/v2/a/blobs/sha256:{HEX}") == "blob"
    assert kind(f"/v2/a/referrers/sha256:{HEX}") == "referrers"


def test_summarize_and_repeated_ignore_non_http_lines() -> None:
    log = [("GET", "/v2/", 200), ("\x16\x03\x01", "garbage", 400), ("GET", "/v2/", 200),
           ("HEAD", "/v2/a/manifests/v1", 404)]
    assert summarize(log) == "GET ping 200 ×2, HEAD manifest:tag 404"
    assert repeated(log) == ["GET /v2/ ×2"]


def test_table_escapes_pipes() -> None:
    assert table(["a", "b"], [["x|y", 1]]).splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 |"]


def test_copy_peers_bench_runs_small() -> None:
    """bench_copy_peers end to end with tiny images and one run: every case and tool produces a row."""
    import os

    from bench.common import REPO_ROOT, child_env, python

    r = run_child([python(), "-m", "bench.bench_copy_peers", "--runs", "1", "--layer-mib", "1",
                   "--big-mib", "1", "--wide", "2", "--widths", "2,3"],
                  env=child_env(repo_path=True, PATH=os.environ["PATH"]), cwd=REPO_ROOT, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [line for line in r.stdout.splitlines() if line.startswith("| ") and " s |" in line]
    assert len(rows) == 10
    assert all(row.count(" s |") >= 2 for row in rows)  # sigward and skopeo timed in every case
    assert "`sigward version` ÷ `python -c pass`" in r.stdout
