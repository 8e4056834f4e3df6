"""Registry benchmark: HTTP requests and wall time of resolve and copy against a real registry.

Run from the repository root: ``python3 -m bench.bench_registry`` (prints markdown to stdout).

A CNCF distribution 2.8.2 (Debian ``docker-registry``) runs on loopback behind the test fault proxy;
small operations go through the proxy, whose log is the request count (what actually reached the
server), next to the client's own ``request_count``. The 1 GiB cases run in a child process each (peak
RSS via ``wait4``) straight against the registry (a Python proxy would halve the throughput), counted
with ``request_count`` only.

``--child-push`` / ``--child-copy`` are the child-process entry points.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    timed,
)
from bench.reqlog import http_only, repeated, summarize

BIG_SEED = 20260101
SMALL_RUNS = 5
RSS_LIMIT_MB = 100


# -- child processes ---------------------------------------------------------------------------------

def child_push(ref_text: str, size: int) -> dict[str, Any]:
    """Push a ``size``-byte pseudo-random layer image with put_blob from a generator (two passes)."""
    import hashlib

    from sigward.oci import mediatypes as mt
    from sigward.oci.manifest import Descriptor, Manifest
    from sigward.oci.reference import parse_reference
    from sigward.oci.store import open_store

    ref = parse_reference(ref_text)
    t_digest, layer_digest = timed(lambda: _digest_of(size))
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}).encode()
    config_desc = Descriptor(mt.OCI_CONFIG, "sha256:" + hashlib.sha256(config).hexdigest(), len(config))
    layer_desc = Descriptor("application/vnd.oci.image.layer.v1.tar", str(layer_digest), size)
    body = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                       "config": config_desc.to_json(), "layers": [layer_desc.to_json()]}).encode()
    manifest = Manifest.parse(body, mt.OCI_MANIFEST)
    store = open_store(ref)

    def push() -> None:
        store.put_blob(config_desc, config)
        store.put_blob(layer_desc, pseudo_random_chunks(size, BIG_SEED))
        store.put_manifest(manifest, ref.tag)

    t_push, _ = timed(push)
    out = {"digest_seconds": t_digest, "seconds": t_push, "requests": store.request_count,  # type: ignore[attr-defined]
           "digest": manifest.digest}
    store.close()
    return out


def _digest_of(size: int) -> str:
    import hashlib

    h = hashlib.sha256()
    for chunk in pseudo_random_chunks(size, BIG_SEED):
        h.update(chunk)
    return "sha256:" + h.hexdigest()


def child_copy(src_text: str, dst_text: str) -> dict[str, Any]:
    """What ``sigward copy SRC DST`` does (plan, then execute), reporting the client request count."""
    from sigward.oci.reference import parse_reference
    from sigward.oci.store import open_store
    from sigward.ops.copy import execute, plan_copy

    src_ref, dst_ref = parse_reference(src_text), parse_reference(dst_text, default_tag=False)
    with open_store(src_ref) as src, open_store(dst_ref) as dst:
        t, result = timed(lambda: execute(plan_copy(src, src_ref.identifier, dst, dst_ref.tag)))
        count = getattr(src, "request_count", 0) + getattr(dst, "request_count", 0)
    return {"seconds": t, "requests": count, "bytes_copied": result.bytes_copied,  # type: ignore[attr-defined]
            "blobs_copied": result.blobs_copied, "blobs_skipped": result.blobs_skipped}  # type: ignore[attr-defined]


def _child(args: list[str]) -> dict[str, Any]:
    run = run_child([python(), "-m", "bench.bench_registry", *args], env=child_env(repo_path=True))
    out = json.loads(run.stdout.strip().splitlines()[-1])
    out["wall"] = run.seconds
    out["rss_kb"] = run.peak_rss_kb
    return out


# -- in-process measurements (small image, through the proxy) ---------------------------------------

class Bench:
    def __init__(self, work: Path) -> None:
        from tests.fixtures.faultproxy import FaultProxy
        from tests.fixtures.images import make_layer, push_image
        from tests.fixtures.registries import start_plain_registry

        self.work = work
        self.registry = start_plain_registry(work / "registry")
        self.proxy = FaultProxy(self.registry.url).start()
        layer = make_layer({"etc/hello.txt": b"hello\n", "bin/tool": b"\x7fELF" + bytes(200_000)})
        self.small_digest = push_image(self.registry, "bench/small", "v1", [layer])
        self.rows: list[list[object]] = []
        self.notes: list[str] = []
        self._n = 0

    def stop(self) -> None:
        self.proxy.stop()
        self.registry.stop()

    def fresh(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def measure(self, label: str, minimum: int, make: Callable[[str], Callable[[], int]],
                runs: int = SMALL_RUNS) -> None:
        """``make(host)`` prepares one run (untimed) and returns the action, which returns the client's
        request count. Timed runs go straight to the registry (the Python proxy adds tens of ms per
        request); one more run goes through the proxy to log what reaches the server."""
        times = []
        for _ in range(runs):
            action = make(self.registry.host)
            t, _ = timed(action)
            times.append(t)
        action = make(self.proxy.host)
        self.proxy.clear()
        count = action()
        log = http_only(self.proxy.requests)
        self.rows.append([label, len(log), count, minimum, ms(med(times)), summarize(log)])
        waste = repeated(log)
        if waste:
            self.notes.append(f"{label}: {', '.join(waste)}")


def _resolve(warm: bool) -> Callable[[str], Callable[[], int]]:
    from sigward.oci.reference import parse_reference
    from sigward.oci.store import open_store

    def make(host: str) -> Callable[[], int]:
        store = open_store(parse_reference(f"{host}/bench/small:v1"))
        if warm:
            store.resolve("v1")

        def act() -> int:
            before = store.request_count  # type: ignore[attr-defined]
            store.resolve("v1")
            n = int(store.request_count) - before  # type: ignore[attr-defined]
            store.close()
            return n
        return act
    return make


def _copy(src_repo: str, dst: Callable[[str], str], present: bool = False,
          ) -> Callable[[str], Callable[[], int]]:
    """``present``: copy once untimed first, so the measured copy finds everything at the destination."""
    def make(host: str) -> Callable[[], int]:
        dst_text = dst(host)
        if present:
            child_copy(f"{host}/{src_repo}", dst_text)
        return lambda: int(child_copy(f"{host}/{src_repo}", dst_text)["requests"])
    return make


def small_rows(b: Bench) -> None:
    src = "bench/small:v1"
    b.measure("resolve tag (new client)", 2, _resolve(False), 10)
    b.measure("resolve tag (warm client)", 1, _resolve(True), 10)
    b.measure("copy small image reg→reg, new repo (mounts)", 9,
              _copy(src, lambda h: f"{h}/{b.fresh('bench/dst')}:v1"))
    b.measure("copy small image reg→layout, new layout", 7,
              _copy(src, lambda h: f"oci:{b.work / b.fresh('layout')}:v1"))
    b.measure("copy small image reg→reg, all present (d)", 6,
              _copy(src, lambda h: f"{h}/bench/present:v1", present=True))
    b.measure("copy small image reg→layout, all present (d)", 5,
              _copy(src, lambda h: f"oci:{b.work / 'present-layout'}:v1", present=True))


def big_rows(b: Bench, size: int) -> list[list[object]]:
    host = b.registry.host
    lay = b.work / "big-layout"
    rows: list[list[object]] = []
    from sigward.oci.registry.store import STREAM_THRESHOLD

    streamed = size >= STREAM_THRESHOLD  # one streamed PATCH after the POST, then the PUT

    def row(label: str, r: dict[str, Any], minimum: str) -> None:
        rss = r["rss_kb"] / 1024
        verdict = "ok" if rss < RSS_LIMIT_MB else f"**over {RSS_LIMIT_MB} MB**"
        rows.append([label, r["requests"], minimum, secs(r["seconds"]), secs(r["wall"]),
                     f"{mb(r['rss_kb'])} ({verdict})"])

    push = _child(["--child-push", f"{host}/bench/big:v1", str(size)])
    row(f"push {size // MIB} MiB image from a generator (put_blob; digest pass "
        f"{secs(push['digest_seconds'])} not in time)", push,
        "9 (streamed PATCH)" if streamed else "8")
    r = _child(["--child-copy", f"{host}/bench/big:v1", f"oci:{lay}:v1"])
    row("copy big image reg→layout", r, "7")
    r = _child(["--child-copy", f"oci:{lay}:v1", f"{host}/bench/big2:v1"])
    row("copy big image layout→reg (new repo, no mount from a layout)", r,
        "10 (streamed PATCH)" if streamed else "9")
    r = _child(["--child-copy", f"{host}/bench/big:v1", f"oci:{lay}:v1"])
    row("copy big image reg→layout, all present (d)", r, "5")
    r = _child(["--child-copy", f"oci:{lay}:v1", f"{host}/bench/big2:v1"])
    row("copy big image layout→reg, all present (d)", r, "2")
    shutil.rmtree(lay, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big-size", type=int, default=GIB, help="size of the big layer in bytes")
    ap.add_argument("--child-push", nargs=2, metavar=("REF", "SIZE"), help=argparse.SUPPRESS)
    ap.add_argument("--child-copy", nargs=2, metavar=("SRC", "DST"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_push:
        print(json.dumps(child_push(args.child_push[0], int(args.child_push[1]))))
        return 0
    if args.child_copy:
        print(json.dumps(child_copy(*args.child_copy)))
        return 0

    with tempfile.TemporaryDirectory(prefix="sigward-bench-") as tmp:
        b = Bench(Path(tmp))
        try:
            small_rows(b)
            big = big_rows(b, args.big_size)
        finally:
            b.stop()
    print("#### Small image (config + one 200 KB layer), through the request-logging proxy\n")
    print(f"Median of {SMALL_RUNS} runs (10 for resolve); requests of the last run.\n")
    print(table(["operation", "HTTP requests (proxy log)", "client request_count", "counted minimum",
                 "time", "requests seen"], b.rows))
    if b.notes:
        print("\nRepeated identical requests:\n")
        for n in b.notes:
            print(f"- {n}")
    print(f"\n#### {args.big_size // MIB} MiB layer, each operation in its own process\n")
    print(table(["operation", "client request_count", "counted minimum", "operation time",
                 "process wall time", "peak RSS"], big))
    return 0


if __name__ == "__main__":
    sys.exit(main())
