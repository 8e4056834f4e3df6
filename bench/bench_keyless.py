"""Keyless benchmarks: whole-process keyless ``verify`` of an image with a bundle against an offline
trusted root, its import cost, and the requests of keyless ``sign`` and ``verify``.

Run from the repository root: ``python3 -m bench.bench_keyless`` (prints markdown to stdout). Needs node
(the local Sigstore stack, ``tests/fixtures/sigstore_stack``) and docker-registry.

Requests are counted where they arrive: registry requests in the fault proxy's log (distribution 2.8.2
behind it, so the ``sha256-<hex>`` fallback index is used), Sigstore requests in the stack's request log.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.common import child_env, med, ms, python, run_child, table
from bench.reqlog import http_only, summarize

RUNS = 20
TARGET_MS = 500
ISSUER = "https://token.actions.githubusercontent.com"
HEAVY = ["httpx", "sigstore", "pydantic", "requests", "tuf", "rfc3161_client", "cryptography"]


def _stack_counts(lines: list[str]) -> str:
    """'POST /api/v2/signingCert 200' lines → a compact count per endpoint."""
    c = Counter(" ".join(line.split()[:2]) for line in lines if line.strip())
    return ", ".join(f"{k} ×{v}" if v > 1 else k for k, v in sorted(c.items())) or "none"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=RUNS)
    n = ap.parse_args(argv).runs
    from tests.fixtures.faultproxy import FaultProxy
    from tests.fixtures.jwt_tokens import GITHUB_WORKFLOW_REF
    from tests.fixtures.registries import start_plain_registry
    from tests.fixtures.sigstore_stack import SigstoreStack

    identity = f"https://github.com/{GITHUB_WORKFLOW_REF}"
    who = ["--certificate-identity", identity, "--certificate-oidc-issuer", ISSUER]
    sw = [python(), "-m", "sigward"]
    env = child_env()
    with tempfile.TemporaryDirectory(prefix="sigward-bench-") as tmp:
        work = Path(tmp)
        stack = SigstoreStack(work / "stack").start()
        registry = start_plain_registry(work / "registry")
        proxy = FaultProxy(registry.url).start()
        try:
            trust = ["--trusted-root", str(stack.trusted_root)]
            signing = [*trust, "--signing-config", str(stack.signing_config)]
            # 1. start-up: keyless verify of a layout image (no server involved, offline trust root).
            out = run_child([*sw, "demo-image", f"oci:{work / 'layout'}:hello"], env=env).stdout.strip()
            ref = f"oci:{work / 'layout'}@{out.rsplit('@', 1)[1]}"
            run_child([*sw, "sign", "--yes", "--identity-token", stack.minter.mint_github(), *signing, ref],
                      env=env)
            verify = ["verify", *trust, *who, ref]
            cases = [("`python -c pass` (baseline)", [python(), "-c", "pass"]),
                     ("`python -m sigward verify` keyless, bundle, offline trusted root", [*sw, *verify])]
            rows = []
            for label, cmd in cases:
                runs = [run_child(cmd, env=env) for _ in range(n + 1)][1:]
                t = med([r.seconds for r in runs])
                verdict = "" if "verify" not in label else ("ok" if t * 1000 <= TARGET_MS else "**over**")
                rows.append([label, ms(t), ms(min(r.seconds for r in runs)),
                             ms(max(r.seconds for r in runs)), verdict])
            imports = []
            for mod in ("sigward.cli.main", "sigward.sigstore.verify", "cryptography.x509",
                        "rfc3161_client"):
                runs = [run_child([python(), "-c", f"import {mod}"], env=env) for _ in range(6)][1:]
                imports.append([f"`import {mod}`", ms(med([r.seconds for r in runs]))])
            code = ("import io, json, sys, contextlib\nfrom sigward.cli.main import main\n"
                    "with contextlib.redirect_stdout(io.StringIO()), "
                    "contextlib.redirect_stderr(io.StringIO()):\n"
                    f"    rc = main({verify!r})\n"
                    f"print(json.dumps({{'rc': rc, **{{m: m in sys.modules for m in {HEAVY!r}}}}}))\n")
            loaded = json.loads(run_child([python(), "-c", code], env=env).stdout.strip().splitlines()[-1])

            # 2. requests of keyless sign and verify, registry behind the logging proxy.
            from tests.fixtures.images import push_image

            req_rows = []
            for fmt, extra in (("bundle", []), ("legacy", ["--new-bundle-format=false",
                                                           "--use-signing-config=false",
                                                           "--fulcio-url", stack.fulcio_url,
                                                           "--rekor-url", stack.rekor_url])):
                push_image(registry, f"bench/{fmt}", "v1")
                img = f"{proxy.host}/bench/{fmt}:v1"
                for op, cmd in (
                    (f"keyless sign ({fmt})", [*sw, "sign", "--yes", "--allow-http-registry",
                                               "--identity-token", stack.minter.mint_github(),
                                               *(trust if extra else signing), *extra, img]),
                    (f"keyless verify ({fmt})", [*sw, "verify", "--allow-http-registry", *trust, *who, img]),
                ):
                    proxy.clear()
                    before = len(stack.requests_log())
                    r = run_child(cmd, env=env)
                    log = http_only(list(proxy.requests))
                    sig_lines = stack.requests_log()[before:]
                    req_rows.append([op, len(log), summarize(log), len(sig_lines), _stack_counts(sig_lines),
                                     ms(r.seconds)])
        finally:
            proxy.stop()
            registry.stop()
            stack.stop()
    print(f"#### Keyless verify, whole process, {n} runs each (after one warm-up); target ≤ {TARGET_MS} ms\n")
    print(table(["command", "median", "min", "max", f"≤ {TARGET_MS} ms"], rows))
    print("\n#### Import time (median of 5 fresh interpreters, including interpreter start-up)\n")
    print(table(["statement", "median"], imports))
    print("\n#### Heavy modules loaded by an in-process keyless verify with `--trusted-root`\n")
    print(table(["rc", *HEAVY], [[loaded["rc"], *[loaded[m] for m in HEAVY]]]))
    print("\n#### Requests of keyless sign and verify (one run each, fresh image per format)\n")
    print(table(["operation", "registry requests", "registry requests seen", "Sigstore requests",
                 "Sigstore requests seen", "time"], req_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
