"""HTTP requests of ``sign`` and ``verify`` against a registry, compared with a counted minimum.

Run from the repository root: ``python3 -m bench.bench_sign_requests`` (prints markdown to stdout).

Two servers: distribution 2.8.2 (no referrers API, so signatures go through the ``sha256-<hex>``
fallback index), behind the request-logging fault proxy; and the in-memory registry *with* the
referrers API from ``tests/fixtures``. The count is what the server saw (its request log). Every
operation runs on a freshly pushed image so earlier runs cannot make it cheaper.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import child_env, ms, python, run_child, table, timed
from bench.reqlog import http_only, repeated, summarize

# Counted minimum per (operation, registry kind); how they add up is spelled out in docs/benchmarks.md.
MINIMUM = {
    ("sign (bundle)", "fallback"): 11,
    ("sign (bundle)", "api"): 9,
    ("sign (bundle), second signature", "fallback"): 9,
    ("sign (bundle), second signature", "api"): 7,
    ("sign (legacy)", "fallback"): 10,
    ("sign (legacy)", "api"): 10,
    ("verify (bundle)", "fallback"): 8,  # two signatures by now: 2 × (GET manifest + GET blob)
    ("verify (bundle)", "api"): 7,
    ("verify (legacy image, default flags)", "fallback"): 6,
    ("verify (legacy image, default flags)", "api"): 5,
    ("verify --new-bundle-format=false (legacy)", "fallback"): 4,
    ("verify --new-bundle-format=false (legacy)", "api"): 4,
}


class Target:
    """A registry plus a way to read and clear what it received."""

    def __init__(self, label: str, kind: str, host: str, seed_target: Any, log: Callable[[], list[Any]],
                 clear: Callable[[], None]) -> None:
        self.label, self.kind, self.host, self.seed_target = label, kind, host, seed_target
        self.log, self.clear = log, clear
        self.n = 0

    def new_image(self) -> str:
        from tests.fixtures.images import push_image

        self.n += 1
        repo = f"bench/img{self.n}"
        push_image(self.seed_target, repo, "v1")
        return f"{self.host}/{repo}:v1"


def run_ops(t: Target, signer: Any, verifier: Any,
            timing: Target | None = None) -> tuple[list[list[object]], list[str]]:
    """Counted pass on ``t``; if ``timing`` is given, the same sequence again there for the times."""
    rows, notes = _ops(t, signer, verifier)
    if timing is not None:
        timed_rows, _ = _ops(timing, signer, verifier)
        for row, trow in zip(rows, timed_rows, strict=True):
            row[4] = trow[4]
    return rows, notes


def _ops(t: Target, signer: Any, verifier: Any) -> tuple[list[list[object]], list[str]]:
    from sigward.oci.reference import parse_reference
    from sigward.oci.store import open_store
    from sigward.ops.sign import SignOptions, sign_image
    from sigward.ops.verify import VerifyOptions, verify_image

    rows: list[list[object]] = []
    notes: list[str] = []

    def op(label: str, ref: str, fn: Callable[[Any], object]) -> None:
        r = parse_reference(ref)
        t.clear()
        with open_store(r) as store:
            sec, _ = timed(lambda: fn(store))
        log = http_only(t.log())
        rows.append([label, t.label, len(log), MINIMUM[(label, t.kind)], ms(sec), summarize(log)])
        waste = [w for w in repeated(log) if not w.startswith(("POST", "PUT", "PATCH"))]
        if waste:
            notes.append(f"{label} on {t.label}: {', '.join(waste)}")

    def sign(fmt_bundle: bool) -> Callable[[Any], object]:
        return lambda s: sign_image(s, "v1", signer, options=SignOptions(new_bundle_format=fmt_bundle,
                                                                            created="2026-01-01T00:00:00Z"))

    from sigward.sigstore.policy import Checks, KeyAuthority

    policy = KeyAuthority((verifier,), checks=Checks(ignore_tlog=True))

    def verify(new_format: bool) -> Callable[[Any], object]:
        return lambda s: verify_image(s, "v1", policy, options=VerifyOptions(new_bundle_format=new_format))

    bundle_img, legacy_img = t.new_image(), t.new_image()
    op("sign (bundle)", bundle_img, sign(True))
    op("sign (bundle), second signature", bundle_img, sign(True))
    op("sign (legacy)", legacy_img, sign(False))
    op("verify (bundle)", bundle_img, verify(True))
    op("verify (legacy image, default flags)", legacy_img, verify(True))
    op("verify --new-bundle-format=false (legacy)", legacy_img, verify(False))
    return rows, notes


def main() -> int:
    from tests.fixtures.faultproxy import FaultProxy
    from tests.fixtures.referrers_registry import ReferrersRegistry
    from tests.fixtures.registries import start_plain_registry

    with tempfile.TemporaryDirectory(prefix="sigward-bench-") as tmp:
        work = Path(tmp)
        os.environ["COSIGN_PASSWORD"] = "bench"
        run_child([python(), "-m", "sigward", "generate-key-pair", "--output-key-prefix",
                   str(work / "cosign")], env=child_env(COSIGN_PASSWORD="bench"))
        from sigward.cli.common import password_fn
        from sigward.keys.providers import load_signer, load_verifier

        signer = load_signer(str(work / "cosign.key"), password_fn(confirm=False))
        verifier = load_verifier(str(work / "cosign.pub"))
        registry = start_plain_registry(work / "registry")
        proxy = FaultProxy(registry.url).start()
        native = ReferrersRegistry().start()
        try:
            counted = Target("distribution 2.8.2 (fallback)", "fallback", proxy.host, registry,
                             lambda: list(proxy.requests), proxy.clear)
            direct = Target("distribution 2.8.2 (fallback)", "fallback", registry.host, registry,
                            list, lambda: None)
            direct.n = 100  # its own fresh repositories
            rows, notes = run_ops(counted, signer, verifier, timing=direct)
            api = Target("referrers API registry", "api", native.host, native,
                         lambda: list(native.requests), native.clear_requests)
            r, n = run_ops(api, signer, verifier)
            rows += r
            notes += n
        finally:
            native.stop()
            proxy.stop()
            registry.stop()
    print("#### Requests per operation (server-side log), one run each on a fresh image\n")
    print("Times for distribution come from a second, identical pass straight to the registry (not through"
          " the proxy); times for the in-memory referrers registry include its Python HTTP server.\n")
    print(table(["operation", "registry", "requests", "counted minimum", "time", "requests seen"], rows))
    if notes:
        print("\nRepeated identical requests:\n")
        for n in notes:
            print(f"- {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
