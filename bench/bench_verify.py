"""Start-up benchmark: whole-process time of a key-based verify of an image in an OCI layout.

Run from the repository root: ``python3 -m bench.bench_verify`` (prints markdown to stdout).

A layout verify is the command a CI step runs many times, so its cost is nearly all interpreter start-up
and imports; the table compares it with ``python -c pass`` and lists what ``-X importtime`` says the
biggest imports are. It also checks, in a fresh interpreter running the CLI in-process, that the HTTP
client was never imported (a layout verify has no business loading httpx).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import child_env, med, ms, python, run_child, table

RUNS = 20
TARGET_MS = 150


def setup(work: Path) -> dict[str, str]:
    """Keys, and two one-image layouts: one signed in the bundle format, one in the legacy format."""
    env = child_env(COSIGN_PASSWORD="bench")
    sw = [python(), "-m", "sigward"]
    run_child([*sw, "generate-key-pair", "--output-key-prefix", str(work / "cosign")], env=env, cwd=work)
    refs = {}
    for name, extra in (("bundle", []), ("legacy", ["--new-bundle-format=false"])):
        out = run_child([*sw, "demo-image", f"oci:{work / name}:hello"], env=env).stdout.strip()
        digest = out.rsplit("@", 1)[1]
        ref = f"oci:{work / name}@{digest}"
        key = str(work / "cosign.key")
        run_child([*sw, "sign", "--key", key, "--tlog-upload=false", *extra, ref], env=env)
        refs[name] = ref
    return refs


def console_script() -> str | None:
    """The installed ``sigward`` entry point next to this interpreter (not a pyenv shim, which adds a
    bash script and a second Python start of its own)."""
    candidate = Path(python()).parent / "sigward"
    return str(candidate) if candidate.exists() else shutil.which("sigward")


def importtime(cmd: list[str], top: int = 8) -> list[tuple[str, int]]:
    """Top-level imports by cumulative microseconds, from ``-X importtime`` (stderr); ``certifi`` is
    added wherever it sits, because on some machines ``site`` pulls it in through a ``.pth`` file."""
    run = run_child([python(), "-X", "importtime", *cmd], env=child_env())
    out: list[tuple[str, int]] = []
    certifi: list[tuple[str, int]] = []
    for line in run.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cum, name = line[len("import time:"):].split("|")
        if name.strip() == "certifi" and name.startswith("  "):
            certifi.append(("certifi (inside site, from a .pth file)", int(cum.strip())))
        if name.startswith("  "):  # nested import: already inside a parent's cumulative time
            continue
        out.append((name.strip(), int(cum.strip())))
    return sorted(out, key=lambda x: -x[1])[:top] + certifi


def in_process_modules(args: list[str]) -> dict[str, object]:
    """Run the CLI inside a fresh interpreter and report which heavy modules it loaded."""
    code = (
        "import io, json, sys, contextlib\n"
        "from sigward.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        f"    rc = main({args!r})\n"
        "mods = ['httpx', 'httpcore', 'cryptography', 'nacl', 'ssl', 'certifi']\n"
        "print(json.dumps({'rc': rc, **{m: m in sys.modules for m in mods}, 'total': len(sys.modules)}))\n"
    )
    run = run_child([python(), "-c", code], env=child_env())
    return json.loads(run.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=RUNS)
    n = ap.parse_args(argv).runs
    with tempfile.TemporaryDirectory(prefix="sigward-bench-") as tmp:
        work = Path(tmp)
        refs = setup(work)
        pub = str(work / "cosign.pub")
        env = child_env()
        cases: list[tuple[str, list[str]]] = [("`python -c pass` (baseline)", [python(), "-c", "pass"])]
        cases.append(("`python -c 'import sigward.cli.main'`", [python(), "-c", "import sigward.cli.main"]))
        for fmt, ref in refs.items():
            verify = ["verify", "--key", pub, "--insecure-ignore-tlog=true", ref]
            cases.append((f"`python -m sigward verify` ({fmt})", [python(), "-m", "sigward", *verify]))
            script = console_script()
            if script:
                cases.append((f"`sigward verify` console script ({fmt})", [script, *verify]))
        rows = []
        for label, cmd in cases:
            runs = [run_child(cmd, env=env) for _ in range(n + 1)][1:]  # first run warms caches
            t = med([r.seconds for r in runs])
            verdict = "" if "verify" not in label else ("ok" if t * 1000 <= TARGET_MS else "**over**")
            rows.append([label, ms(t), ms(min(r.seconds for r in runs)), ms(max(r.seconds for r in runs)),
                         verdict])
        verify_bundle = ["verify", "--key", pub, "--insecure-ignore-tlog=true", refs["bundle"]]
        imports = importtime(["-m", "sigward", *verify_bundle])
        mods = {fmt: in_process_modules(["verify", "--key", pub, "--insecure-ignore-tlog=true", ref])
                for fmt, ref in refs.items()}
    print(f"#### Whole-process time, {n} runs each (after one warm-up run); target ≤ {TARGET_MS} ms median\n")
    print(table(["command", "median", "min", "max", f"≤ {TARGET_MS} ms"], rows))
    print("\n#### Largest top-level imports of `python -X importtime -m sigward verify …` (bundle)\n")
    print(table(["module", "cumulative import time"], [[f"`{m}`", ms(us / 1e6)] for m, us in imports]))
    print("\n#### Modules loaded by an in-process layout verify (fresh interpreter, `main([...])`)\n")
    keys = ["rc", "httpx", "httpcore", "ssl", "certifi", "cryptography", "nacl", "total"]
    print(table(["format", *keys], [[fmt, *[m[k] for k in keys]] for fmt, m in mods.items()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
