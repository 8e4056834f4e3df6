"""Admission: one image against ten ClusterImagePolicies, warm connection; peer: policy-controller's
``policy-tester`` v0.13.1 on the same image and policies.

Run from the repository root: ``python3 -m bench.bench_policy`` (prints markdown to stdout).

The image sits in a local registry (distribution), signed with a key in the legacy format (the one
policy-tester can read) and as a cosign v3 bundle. Ten policies all match it, each with one key
authority, so every evaluation verifies ten times. Three ways are timed:

- ``Engine.evaluate`` in-process, warm: the engine keeps the registry connection (and its ``GET /v2/``)
  between images, as the admission webhook runs it; the first evaluation is untimed;
- ``sigward policy test`` as a process (start-up, one cold connection), as a CI step runs it;
- ``policy-tester`` as a process, the same image and the ten policies in one file (it takes one file).

The ratio column compares each row with policy-tester measured in the same run, interleaved.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from bench.common import child_env, med, ms, python, run_child, table

RUNS = 20
PROCESS_RUNS = 5
POLICIES = 10


def policy_tester() -> Path | None:
    try:
        from tests.fixtures.gotools import go_tool

        return go_tool("policy-tester")
    except Exception:  # scripts/go-tools.sh may not know it yet: its cache, else not built here
        cached = Path.home() / ".cache/sigward/go-tools/policy-tester-v0.13.1/policy-tester"
        return cached if cached.exists() else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=RUNS)
    a = ap.parse_args(argv)
    from sigward.admission import Engine, EngineOptions, PolicySet
    from sigward.oci.reference import parse_reference
    from sigward.oci.store import StoreOptions, open_store
    from sigward.ops.example import write_demo_image
    from tests.fixtures.registries import start_plain_registry

    env = child_env(COSIGN_PASSWORD="bench")
    sw = [python(), "-m", "sigward"]
    with tempfile.TemporaryDirectory(prefix="sigward-bench-policy-") as tmp:
        work = Path(tmp)
        registry = start_plain_registry(work / "registry")
        try:
            run_child([*sw, "generate-key-pair", "--output-key-prefix", str(work / "cosign")], env=env)
            ref = parse_reference(f"{registry.host}/bench/app:v1")
            with open_store(ref, StoreOptions(allow_http_registry=True)) as store:
                write_demo_image(store, "v1")
                image = str(ref.with_digest(store.resolve("v1").digest))
            for extra in (["--new-bundle-format=false"], []):
                run_child([*sw, "sign", "--key", str(work / "cosign.key"), "--tlog-upload=false",
                           "--allow-http-registry", *extra, image], env=env)
            pem = (work / "cosign.pub").read_text()
            docs = [{"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
                     "metadata": {"name": f"policy-{i}"},
                     "spec": {"images": [{"glob": f"{registry.host}/bench/**"}],
                              "authorities": [{"key": {"data": pem}}]}} for i in range(POLICIES)]
            cips = work / "cips.yaml"
            cips.write_text(yaml.safe_dump_all(docs))

            engine = Engine(PolicySet.load([cips]), EngineOptions(StoreOptions(allow_http_registry=True)))
            first = engine.evaluate(image)
            assert first.allowed and len(first.policies) == POLICIES, first
            warm = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                v = engine.evaluate(image)
                warm.append(time.perf_counter() - t0)
                assert v.allowed
            engine.close()  # a live client must not outlive its user (forked children would share it)

            ours = [*sw, "policy", "test", "--policy", str(cips), "--allow-http-registry", image]
            tester = policy_tester()
            theirs = [str(tester), "-policy", str(cips), "-image", image] if tester else None
            run_child(ours, env=env)
            if theirs:
                run_child(theirs, env=env)
            ours_t, theirs_t = [], []
            for _ in range(PROCESS_RUNS):
                ours_t.append(run_child(ours, env=env).seconds)
                if theirs:
                    theirs_t.append(run_child(theirs, env=env).seconds)
        finally:
            registry.stop()

    peer = med(theirs_t) if theirs_t else None

    def ratio(x: float) -> str:
        return f"{x / peer:.2f}×" if peer else "n/a"

    print(f"#### One image, {POLICIES} matching policies (one key authority each), local registry\n")
    rows = [
        [f"`Engine.evaluate` in-process, warm connection ({a.runs} runs)", ms(med(warm)), ms(min(warm)),
         ms(max(warm)), ratio(med(warm))],
        [f"`sigward policy test` process ({PROCESS_RUNS} runs)", ms(med(ours_t)), ms(min(ours_t)),
         ms(max(ours_t)), ratio(med(ours_t))],
    ]
    if theirs_t:
        rows.append([f"`policy-tester` v0.13.1 process ({PROCESS_RUNS} runs)", ms(med(theirs_t)),
                     ms(min(theirs_t)), ms(max(theirs_t)), "1.00×"])
    else:
        rows.append(["`policy-tester` v0.13.1", "not built here", "", "", ""])
    print(table(["evaluation", "median", "min", "max", "vs policy-tester"], rows))
    print(f"\nPer policy, warm: {ms(med(warm) / POLICIES)}. policy-tester checks the legacy `.sig` only; "
          "sigward reads the bundle referrer and the `.sig` image (both formats present here).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
