"""Admission webhook: warm-cache latency under load with wrk, and cold decisions.

Run from the repository root: ``python3 -m bench.bench_admission`` (prints markdown to stdout). Needs
docker-registry, node (the local Sigstore stack), wrk and redis-server (Debian packages; scripts/install.sh
installs them).

What runs: ``sigward admission serve`` as its own process on 127.0.0.1 with a key policy and a keyless
policy (TrustRoot of the local Sigstore stack); images in a local registry signed by sigward (key, and
keyless with a bundle). Warm: ``wrk -t2 -c8 -d10s --latency`` POSTing one AdmissionReview (a Deployment
with a key-signed and a keyless-signed image) to /validations after one request warmed the cache — once
with the in-process cache, once with the in-process tier off and Redis as the only cache. Cold: the first
decision for a freshly signed keyless image (full verification: registry round trips, bundle, certificate
chain, log entry, timestamp), timed at the client over a new TLS connection.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import table

TARGET_P99_MS = 20.0
TARGET_COLD_S = 1.0


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"unparsable wrk latency {text!r}")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m.group(2)]


def parse_wrk(out: str) -> dict[str, float]:
    res: dict[str, float] = {}
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        if m:
            res[f"p{pct}"] = _ms(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non2xx"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Socket errors: (.*)", out)
    res["socket_errors"] = float(sum(int(x) for x in re.findall(r"\d+", m.group(1)))) if m else 0.0
    return res


def run_wrk(url: str, body: Path, work: Path, seconds: int, connections: int) -> tuple[dict[str, float], str]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("Error: wrk is not installed (Debian package wrk; scripts/install.sh)")
    lua = work / "post.lua"
    lua.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                   f'local f = io.open("{body}", "rb"); wrk.body = f:read("*all"); f:close()\n')
    cmd = [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(lua), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    return parse_wrk(out), " ".join(["wrk", *cmd[1:5], "-s", "post.lua", "https://…/validations"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--cold", type=int, default=5, help="cold keyless decisions to time")
    args = ap.parse_args(argv)

    from tests.fixtures.images import push_image
    from tests.fixtures.redis_server import RedisServer
    from tests.fixtures.registries import start_plain_registry
    from tests.fixtures.sigstore_stack import SigstoreStack
    from tests.webhook.reviews import body, pod_spec, workload
    from tests.webhook.world import (
        ServerProcess,
        key_cip,
        keyless_cip,
        make_keys,
        sign_key,
        sign_keyless,
        sigward,
        trustroot,
        write_policies,
    )

    with tempfile.TemporaryDirectory(prefix="bench-admission-") as tmp:
        work = Path(tmp)
        registry = start_plain_registry(work / "registry")
        stack = SigstoreStack(work / "stack").start()
        redis = RedisServer(work / "redis").start()
        servers: list[ServerProcess] = []
        try:
            key, pub = make_keys(work / "keys")
            host = registry.host
            key_img = f"{host}/bench/key/app@{push_image(registry, 'bench/key/app', 'v1')}"
            keyless_img = f"{host}/bench/keyless/app@{push_image(registry, 'bench/keyless/app', 'v1')}"
            sign_key(key_img, key)
            sign_keyless(keyless_img, stack)
            cold_imgs = []
            for i in range(args.cold):
                repo = f"bench/keyless/cold{i}"
                img = f"{host}/{repo}@{push_image(registry, repo, 'v1')}"
                sign_keyless(img, stack)
                cold_imgs.append(img)
            policies = write_policies(work / "policies", [
                trustroot("local-stack", stack),
                key_cip("key-policy", f"{host}/bench/key/**", pub),
                keyless_cip("keyless-policy", f"{host}/bench/keyless/**", "local-stack"),
            ]).parent
            certs = work / "certs"
            sigward("admission", "certs", "--out", certs, "--host", "127.0.0.1")
            memory = ServerProcess(policies, certs, "--allow-http-registry")
            servers.append(memory)
            shared = ServerProcess(policies, certs, "--allow-http-registry", "--cache-size", "0",
                                   "--redis", redis.url)
            servers.append(shared)
            memory.wait_ready()
            shared.wait_ready()

            cold = []
            for img in cold_imgs:
                t0 = time.perf_counter()
                out = memory.review("/validations", body(workload("Pod", pod_spec(img))))
                cold.append(time.perf_counter() - t0)
                assert out["response"]["allowed"] is True, out
            review = work / "review.json"
            review.write_bytes(body(workload("Deployment", pod_spec(key_img, keyless_img))))
            rows = []
            cmd = ""
            for label, server in (("in-process cache", memory), ("Redis only (--cache-size 0)", shared)):
                first = server.review("/validations", review.read_bytes())
                assert first["response"]["allowed"] is True, first
                res, cmd = run_wrk(f"{server.url}/validations", review, work, args.seconds, args.connections)
                if res["non2xx"] or res["socket_errors"]:
                    raise SystemExit(f"wrk saw errors against {label}: {res}")
                rows.append([label, f"{res['p50']:.2f} ms", f"{res['p75']:.2f} ms", f"{res['p90']:.2f} ms",
                             f"{res['p99']:.2f} ms", f"{res['rps']:.0f}", f"{res['requests']:.0f}",
                             "yes" if res["p99"] <= TARGET_P99_MS else "**no**"])
            hits = memory.metric("sigward_admission_cache_hits_total")
        finally:
            for s in servers:
                s.stop()
            redis.stop()
            stack.stop()
            registry.stop()

    print("## 10. Admission webhook (`bench/bench_admission.py`)\n")
    print(f"`python3 -m bench.bench_admission` — `{cmd}`; the body is one AdmissionReview of a Deployment "
          "with a key-signed and a keyless-signed image (both admitted). Server and wrk share the machine's "
          f"CPUs. Target: p99 ≤ {TARGET_P99_MS:g} ms warm.\n")
    headers = ["cache", "p50", "p75", "p90", "p99", "requests/s", "requests", f"p99 ≤ {TARGET_P99_MS:g} ms"]
    print(table(headers, rows))
    print()
    print(table(["cold decision, keyless bundle (new image each)", "median", "max", "runs",
                 f"≤ {TARGET_COLD_S:g} s"],
                [["POST /validations, new TLS connection", f"{statistics.median(cold) * 1000:.0f} ms",
                  f"{max(cold) * 1000:.0f} ms", len(cold),
                  "yes" if max(cold) <= TARGET_COLD_S else "**no**"]]))
    print(f"\n(in-process cache hits counted by the first server during its run: {hits:.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
