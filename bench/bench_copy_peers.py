"""Copy benchmark against the peers: sigward vs skopeo (Debian) and crane (go-containerregistry).

Run from the repository root: ``python3 -m bench.bench_copy_peers`` (prints markdown to stdout).

Same images, same two loopback registries (Debian's distribution 2.8, one source and one destination,
so bytes really move; tests/fixtures/registries.py starts them), same layouts. Every case runs each tool
as a whole process, interleaved (sigward, skopeo, crane, sigward, …) after one untimed warm-up round, so
the ratios come from one run on one machine state; the table shows medians and ratios of medians.
"Cold" cases copy into a new layout, or into a registry restarted empty, each run (skopeo's blob-info
cache would otherwise mount blobs from its previous run); "present" cases copy again into the
destination the warm-up filled. crane has no layout → layout copy, and pushes one image (not an index)
from a layout, so those cells are empty. sigward also discovers and copies attached signatures,
attestations and referrers (there are none here), which the peers do not do: that cost is included.

skopeo (and GNU time) come from Debian: missing ones are installed with apt-get (as root or ``sudo -n``), or
the script says the command to run. crane is built from the Go module proxy (``tests/fixtures/gotools.py``).

Start-up rows compare whole processes with a floor: ``sigward version`` ÷ ``python -c pass``, and a
key-based ``sigward verify`` of a signed layout ÷ a Python script that imports ``cryptography`` and checks
one ECDSA signature.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import MIB, child_env, med, pseudo_random_chunks, python, run_child, table

TOOLS = ("sigward", "skopeo", "crane")
# Children import sigward from this checkout (PYTHONPATH), whatever the interpreter has installed, so a
# snapshot of the tree can be measured while the tree changes.
ENV = child_env(repo_path=True)


@dataclass
class Case:
    label: str
    # tool → (command maker for run i, cleanup after the run); None where the tool cannot do it.
    commands: dict[str, Callable[[int], list[str]] | None]
    cleanup: Callable[[int], None] = lambda i: None
    results: dict[str, list[tuple[float, int]]] = field(default_factory=dict)


def sigward_cmd() -> list[str]:
    candidate = Path(python()).parent / "sigward"
    return [str(candidate)] if candidate.exists() else [python(), "-m", "sigward"]


def crane_path() -> str | None:
    try:
        from tests.fixtures.gotools import go_tool

        return str(go_tool("crane"))
    except Exception as e:  # crane needs Go; the table says so rather than failing the whole run
        print(f"(crane unavailable: {e})", file=sys.stderr)
        return None


# Debian packages the benchmark needs: the peer, and GNU time for the peak RSS of each process.
DEBIAN_TOOLS = {"skopeo": "skopeo", "/usr/bin/time": "time"}


def ensure_debian_tools() -> None:
    """Find skopeo and GNU time, installing the missing ones with apt-get on a fresh Debian machine (as
    root, or through ``sudo -n``), so ``python3 -m bench.bench_copy_peers`` runs anywhere the test suite
    does. Where that is impossible, stop with the command to run."""
    missing = [pkg for tool, pkg in DEBIAN_TOOLS.items()
               if not (os.path.exists(tool) if tool.startswith("/") else shutil.which(tool))]
    if not missing:
        return
    how = f"apt-get install -y {' '.join(missing)}"
    sudo = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if sudo is None or shutil.which("apt-get") is None:
        raise SystemExit(f"missing {', '.join(missing)}: install with `{how}` (Debian) and run again")
    print(f"installing {', '.join(missing)} (apt-get) ...", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in ([*sudo, "apt-get", "update", "-qq"], [*sudo, "apt-get", "install", "-y", "-qq", *missing]):
        if run_child(cmd, env=env, check=False).returncode != 0:
            raise SystemExit(f"`{' '.join(cmd)}` failed: install with `{how}` and run again")
    if shutil.which("skopeo") is None:
        raise SystemExit(f"skopeo still not found after `{how}`")


# -- content -----------------------------------------------------------------------------------------

def push_random_image(host: str, repo: str, tag: str, layer_sizes: list[int], seed: int) -> str:
    """An image whose layers are incompressible pseudo-random bytes, streamed (never held whole)."""
    from sigward.oci import mediatypes as mt
    from sigward.oci.manifest import Descriptor, Manifest
    from sigward.oci.reference import parse_reference
    from sigward.oci.store import open_store

    layers = []
    for i, size in enumerate(layer_sizes):
        h = hashlib.sha256()
        for chunk in pseudo_random_chunks(size, seed + i):
            h.update(chunk)
        layers.append(Descriptor(mt.OCI_LAYER_TAR, "sha256:" + h.hexdigest(), size))
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [d.digest for d in layers]}}).encode()
    cfg = Descriptor(mt.OCI_CONFIG, "sha256:" + hashlib.sha256(config).hexdigest(), len(config))
    manifest = Manifest.from_json({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                                   "config": cfg.to_json(), "layers": [d.to_json() for d in layers]})
    with open_store(parse_reference(f"{host}/{repo}:{tag}")) as store:
        store.put_blob(cfg, config)
        for i, d in enumerate(layers):
            store.put_blob(d, pseudo_random_chunks(d.size, seed + i))
        store.put_manifest(manifest, tag)
    return manifest.digest


def push_wide_index(host: str, repo: str, tag: str, platforms: int) -> str:
    from tests.fixtures.images import push_index_detailed

    plats = tuple(("linux", f"arch{i:03d}") for i in range(platforms))
    return push_index_detailed(host, repo, tag, platforms=plats).digest


class FreshRegistry:
    """A destination registry restarted empty (new storage, new port) after every cold run: skopeo keeps
    a blob-info cache across processes and would otherwise mount blobs from its previous run's
    repository instead of uploading them — not a cold copy."""

    def __init__(self, work: Path, name: str) -> None:
        self.work, self.name = work, name
        self.server = self._start()

    def _start(self) -> Any:
        from tests.fixtures.registries import start_registry

        shutil.rmtree(self.work / self.name, ignore_errors=True)
        return start_registry(self.work, self.name)

    @property
    def host(self) -> str:
        return str(self.server.host)

    def restart(self, _run: int = 0) -> None:
        self.server.stop()
        self.server = self._start()

    def stop(self) -> None:
        self.server.stop()


def sigward_copy(src: str, dst: str) -> None:
    run_child([*sigward_cmd(), "copy", src, dst], env=ENV)


# -- the measurement ---------------------------------------------------------------------------------

TIME = shutil.which("time") or "/usr/bin/time"


def run_measured(cmd: list[str]) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of one command. The RSS comes from GNU time, which forks from its
    own small process: ``wait4`` on a child of this (large) Python would report at least our own RSS,
    because the child's peak includes the address space it shared before ``exec``."""
    with tempfile.NamedTemporaryFile(prefix="bench-rss-") as f:
        wrapped = [TIME, "-f", "%M", "-o", f.name, *cmd] if os.path.exists(TIME) else cmd
        r = run_child(wrapped, env=ENV)
        try:
            rss = int(Path(f.name).read_text().split()[-1])
        except (OSError, ValueError, IndexError):
            rss = r.peak_rss_kb
    return r.seconds, rss


def measure(cases: list[Case], runs: int) -> None:
    for case in cases:
        tools = [t for t in TOOLS if case.commands.get(t) is not None]
        print(f"  {case.label}: {', '.join(tools)} × {runs}", file=sys.stderr)
        for i in range(runs + 1):  # run 0 warms caches (and fills "present" destinations)
            for tool in tools:
                make = case.commands[tool]
                assert make is not None
                seconds, rss_kb = run_measured(make(i))
                if i > 0:
                    case.results.setdefault(tool, []).append((seconds, rss_kb))
            case.cleanup(i)


def render(cases: list[Case]) -> str:
    rows = [_row(c) for c in cases]
    return table(["case", "sigward", "skopeo", "crane", "sigward ÷ skopeo", "sigward ÷ crane",
                  "peak RSS MB (sigward / skopeo / crane)"], rows)


def _row(c: Case) -> list[object]:
    meds = {t: med([s for s, _ in c.results[t]]) for t in c.results}
    rss = {t: max(k for _, k in c.results[t]) for t in c.results}
    cells = [f"{meds[t]:.2f} s" if t in meds else "—" for t in TOOLS]
    ratios = [f"{meds['sigward'] / meds[t]:.2f}" if t in meds and meds[t] > 0 else "—"
              for t in ("skopeo", "crane")]
    mem = " / ".join(f"{rss[t] / 1024:.0f}" if t in rss else "—" for t in TOOLS)
    return [c.label, *cells, *ratios, mem]


def startup_rows(work: Path, runs: int) -> list[list[object]]:
    """``sigward version`` and a key-based layout verify against their floors, interleaved."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    env = child_env(repo_path=True, COSIGN_PASSWORD="bench")
    sw = sigward_cmd()
    run_child([*sw, "generate-key-pair", "--output-key-prefix", str(work / "cosign")], env=env, cwd=work)
    out = run_child([*sw, "demo-image", f"oci:{work / 'signed'}:hello"], env=env).stdout.strip()
    ref = f"oci:{work / 'signed'}@{out.rsplit('@', 1)[1]}"
    run_child([*sw, "sign", "--key", str(work / "cosign.key"), "--tlog-upload=false", ref], env=env)
    key = ec.generate_private_key(ec.SECP256R1())
    payload = b'{"critical":{}}'
    (work / "floor.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (work / "floor.sig").write_bytes(key.sign(payload, ec.ECDSA(hashes.SHA256())))
    floor = (
        "import sys\n"
        "from cryptography.hazmat.primitives import hashes, serialization\n"
        "from cryptography.hazmat.primitives.asymmetric import ec\n"
        f"k = serialization.load_pem_public_key(open({str(work / 'floor.pub')!r}, 'rb').read())\n"
        f"k.verify(open({str(work / 'floor.sig')!r}, 'rb').read(), {payload!r}, ec.ECDSA(hashes.SHA256()))\n"
    )
    pairs = [
        ("`sigward version` ÷ `python -c pass`", [*sw, "version"], [python(), "-c", "pass"]),
        ("`sigward verify --key` of a layout ÷ (python + cryptography + one ECDSA verify)",
         [*sw, "verify", "--key", str(work / "cosign.pub"), "--insecure-ignore-tlog=true", ref],
         [python(), "-c", floor]),
    ]
    rows: list[list[object]] = []
    for label, cmd, base in pairs:
        a: list[float] = []
        b: list[float] = []
        for i in range(max(runs, 10) + 1):
            ta, tb = run_child(cmd, env=ENV).seconds, run_child(base, env=ENV).seconds
            if i:
                a.append(ta)
                b.append(tb)
        rows.append([label, f"{med(a) * 1000:.0f} ms", f"{med(b) * 1000:.0f} ms", f"{med(a) / med(b):.2f}"])
    return rows


# What the CLI's entry point keeps out of the process (sigward/cli/main.py, _NEVER_IMPORTED), then the HTTP
# stack that sigward.transport composes: the floor of any registry command made through it.
HTTP_STACK_IMPORT = ("import sys\n"
                     "for m in ('trio', 'anyio', 'httpx._main'): sys.modules.setdefault(m, None)\n"
                     "import httpx, httpcore\n")


def stdlib_present_copy(src: str, src_repo: str, dst: str, dst_repo: str) -> str:
    """A Python script making the 6 requests of sigward's present copy with nothing but the standard
    library (``http.client``, one keep-alive connection per registry; no retries, auth, TLS set-up or
    error handling): the floor of *any* Python registry client doing this copy."""
    accept = ",".join(["application/vnd.oci.image.index.v1+json",
                       "application/vnd.oci.image.manifest.v1+json",
                       "application/vnd.docker.distribution.manifest.list.v2+json",
                       "application/vnd.docker.distribution.manifest.v2+json"])
    return (
        "import hashlib, http.client, json\n"
        f"s, d = http.client.HTTPConnection({src!r}), http.client.HTTPConnection({dst!r})\n"
        "def req(c, m, p, h={}):\n"
        "    c.request(m, p, headers=h); r = c.getresponse(); return r, r.read()\n"
        "req(s, 'GET', '/v2/')\n"
        f"r, body = req(s, 'GET', '/v2/{src_repo}/manifests/v1', {{'Accept': {accept!r}}})\n"
        "digest = 'sha256:' + hashlib.sha256(body).hexdigest(); json.loads(body)\n"
        "req(d, 'GET', '/v2/')\n"
        f"r, _ = req(d, 'HEAD', '/v2/{dst_repo}/manifests/v1', {{'Accept': {accept!r}}})\n"
        "assert r.headers['Docker-Content-Digest'] == digest\n"
        f"req(s, 'GET', '/v2/{src_repo}/tags/list')\n"
        f"req(s, 'GET', '/v2/{src_repo}/referrers/' + digest)\n"
    )


def present_floor_rows(src: str, dst: str, runs: int) -> list[list[object]]:
    """Where the time of "reg→reg, everything already present" goes, against skopeo's whole copy: the
    interpreter alone, the interpreter with the HTTP stack imported (no request made), a standard-library
    script making the same requests, and the copy. Interleaved, medians of at least 10; the destination
    already holds the image (the copy cases ran)."""
    sk = ["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false", "--dest-tls-verify=false"]
    five = f"{src}/bench/five:v1"
    cmds = [
        ("`python -c pass`", [python(), "-c", "pass"]),
        ("python + `import httpx, httpcore` (sigward.transport's stack; no request)",
         [python(), "-c", HTTP_STACK_IMPORT]),
        ("python + `http.client` making the same 6 requests (stdlib only: any Python client's floor)",
         [python(), "-c", stdlib_present_copy(src, "bench/five", dst, "present-sw/five")]),
        ("`sigward copy` (6 requests, stops at the destination tag)",
         [*sigward_cmd(), "copy", five, f"{dst}/present-sw/five:v1"]),
        ("`skopeo copy` (the peer)", [*sk, f"docker://{five}", f"docker://{dst}/present-sk/five:v1"]),
    ]
    times: list[list[float]] = [[] for _ in cmds]
    for i in range(max(runs, 10) + 1):
        for k, (_, cmd) in enumerate(cmds):
            t = run_child(cmd, env=ENV).seconds
            if i:
                times[k].append(t)
    peer = med(times[-1])
    return [[label, f"{med(t) * 1000:.0f} ms", f"{med(t) / peer:.2f}"]
            for (label, _), t in zip(cmds, times, strict=True)]


def build_cases(src: str, dst: str, cold: FreshRegistry, work: Path, crane: str | None, layer_mib: int,
                big_mib: int, wide: int, widths: list[int]) -> list[Case]:
    sk = ["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false", "--dest-tls-verify=false"]
    sw = [*sigward_cmd(), "copy"]
    cr = [crane] if crane else []

    def c(make: Callable[[int], list[str]]) -> Callable[[int], list[str]] | None:
        return make if crane else None

    def d(path: str) -> str:
        return f"docker://{path}"

    def layout(name: str) -> Callable[[int], str]:
        return lambda i: str(work / f"{name}-{i}")

    def rm_layouts(*names: str) -> Callable[[int], None]:
        def clean(i: int) -> None:
            for n in names:
                shutil.rmtree(work / f"{n}-{i}", ignore_errors=True)
        return clean

    five, big, idx = f"{src}/bench/five:v1", f"{src}/bench/big:v1", f"{src}/bench/wide:v1"
    lay_five = str(work / "src-five")
    cases = [
        Case(f"reg→reg, 5 × {layer_mib} MB layers, cold", {
            "sigward": lambda i: [*sw, five, f"{cold.host}/cold-sw/five:v1"],
            "skopeo": lambda i: [*sk, d(five), d(f"{cold.host}/cold-sk/five:v1")],
            "crane": c(lambda i: [*cr, "copy", "--insecure", five, f"{cold.host}/cold-cr/five:v1"]),
        }, cold.restart),
        Case("reg→layout, cold", {
            "sigward": lambda i: [*sw, five, f"oci:{layout('l-sw')(i)}:v1"],
            "skopeo": lambda i: [*sk, d(five), f"oci:{layout('l-sk')(i)}:v1"],
            "crane": c(lambda i: [*cr, "pull", "--insecure", "--format=oci", five, layout("l-cr")(i)]),
        }, rm_layouts("l-sw", "l-sk", "l-cr")),
        Case("layout→reg, cold", {
            "sigward": lambda i: [*sw, f"oci:{lay_five}:v1", f"{cold.host}/up-sw/five:v1"],
            "skopeo": lambda i: [*sk, f"oci:{lay_five}:v1", d(f"{cold.host}/up-sk/five:v1")],
            "crane": c(lambda i: [*cr, "push", "--insecure", lay_five, f"{cold.host}/up-cr/five:v1"]),
        }, cold.restart),
        Case("reg→reg, everything already present", {
            "sigward": lambda i: [*sw, five, f"{dst}/present-sw/five:v1"],
            "skopeo": lambda i: [*sk, d(five), d(f"{dst}/present-sk/five:v1")],
            "crane": c(lambda i: [*cr, "copy", "--insecure", five, f"{dst}/present-cr/five:v1"]),
        }),
        Case("reg→layout, everything present", {
            "sigward": lambda i: [*sw, five, f"oci:{work / 'p-sw'}:v1"],
            "skopeo": lambda i: [*sk, d(five), f"oci:{work / 'p-sk'}:v1"],
            "crane": None,  # crane pull into an existing layout appends a second entry: not a re-copy
        }),
        Case(f"{wide}-platform index reg→reg, present", {
            "sigward": lambda i: [*sw, idx, f"{dst}/wide-sw/wide:v1"],
            "skopeo": lambda i: [*sk, "--all", d(idx), d(f"{dst}/wide-sk/wide:v1")],
            "crane": c(lambda i: [*cr, "copy", "--insecure", idx, f"{dst}/wide-cr/wide:v1"]),
        }),
        Case(f"{wide}-platform index reg→layout, cold", {
            "sigward": lambda i: [*sw, idx, f"oci:{layout('w-sw')(i)}:v1"],
            "skopeo": lambda i: [*sk, "--all", d(idx), f"oci:{layout('w-sk')(i)}:v1"],
            "crane": c(lambda i: [*cr, "pull", "--insecure", "--format=oci", idx, layout("w-cr")(i)]),
        }, rm_layouts("w-sw", "w-sk", "w-cr")),
    ]
    for n in widths:
        lay = str(work / f"src-wide{n}")
        cases.append(Case(f"index copy layout→layout, {n} platforms", {
            "sigward": lambda i, lay=lay, n=n: [*sw, f"oci:{lay}:v1", f"oci:{layout(f'll{n}-sw')(i)}:v1"],
            "skopeo": lambda i, lay=lay, n=n: [*sk, "--all", f"oci:{lay}:v1",
                                               f"oci:{layout(f'll{n}-sk')(i)}:v1"],
            "crane": None,
        }, rm_layouts(f"ll{n}-sw", f"ll{n}-sk")))
    cases.append(Case(f"one {big_mib} MB layer reg→reg, cold", {
        "sigward": lambda i: [*sw, big, f"{cold.host}/big-sw/big:v1"],
        "skopeo": lambda i: [*sk, d(big), d(f"{cold.host}/big-sk/big:v1")],
        "crane": c(lambda i: [*cr, "copy", "--insecure", big, f"{cold.host}/big-cr/big:v1"]),
    }, cold.restart))
    return cases


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs per tool and case (median)")
    ap.add_argument("--layer-mib", type=int, default=50, help="size of each of the 5 layers")
    ap.add_argument("--big-mib", type=int, default=300, help="size of the one-layer image")
    ap.add_argument("--wide", type=int, default=20, help="platforms of the registry index")
    ap.add_argument("--widths", default="20,50,100,200", help="platforms of the layout→layout cases")
    ap.add_argument("--no-crane", action="store_true", help="skip crane (no Go toolchain)")
    args = ap.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",") if w]
    ensure_debian_tools()
    crane = None if args.no_crane else crane_path()
    load_before = os.getloadavg()
    from tests.fixtures.registries import start_registry

    with tempfile.TemporaryDirectory(prefix="sigward-bench-peers-") as tmp:
        work = Path(tmp)
        src_reg = start_registry(work, "src")
        dst_reg = start_registry(work, "dst")
        cold = FreshRegistry(work, "cold")
        try:
            src, dst = src_reg.host, dst_reg.host
            print("setting up images ...", file=sys.stderr)
            push_random_image(src, "bench/five", "v1", [args.layer_mib * MIB] * 5, seed=5)
            push_random_image(src, "bench/big", "v1", [args.big_mib * MIB], seed=300)
            push_wide_index(src, "bench/wide", "v1", args.wide)
            sigward_copy(f"{src}/bench/five:v1", f"oci:{work / 'src-five'}:v1")
            for n in widths:
                push_wide_index(src, f"bench/wide{n}", "v1", n)
                sigward_copy(f"{src}/bench/wide{n}:v1", f"oci:{work / f'src-wide{n}'}:v1")
            cases = build_cases(src, dst, cold, work, crane, args.layer_mib, args.big_mib, args.wide, widths)
            measure(cases, args.runs)
            floor = present_floor_rows(src, dst, args.runs)
            start = startup_rows(work, args.runs)
        finally:
            src_reg.stop()
            dst_reg.stop()
            cold.stop()
    ncpu = os.cpu_count()
    load_after = os.getloadavg()
    print(f"#### Copy: sigward vs skopeo {_version(['skopeo', '--version'])} and crane "
          f"{_crane_version(crane)}, {args.runs} interleaved runs each, medians\n")
    print(f"Whole processes on {ncpu} CPUs; lower ratios are better (≤ 1.0: sigward is as fast or faster). "
          f"Load average (1/5/15 min) at the start {_load(load_before)}, at the end {_load(load_after)}.\n")
    print(render(cases))
    print("\n#### reg→reg, everything already present: the floor under the copy (interleaved, medians)\n")
    print(table(["process", "wall", "÷ skopeo"], floor))
    print("\n#### Start-up against its floor (interleaved, medians)\n")
    print(table(["comparison", "sigward", "floor", "ratio"], start))
    return 0


def _load(avg: tuple[float, float, float]) -> str:
    return " / ".join(f"{x:.1f}" for x in avg)


def _version(cmd: list[str]) -> str:
    try:
        return run_child(cmd, check=False).stdout.split()[-1]
    except (OSError, IndexError):
        return "?"


def _crane_version(crane: str | None) -> str:
    return _version([crane, "version"]) if crane else "(not available)"


if __name__ == "__main__":
    sys.exit(main())
