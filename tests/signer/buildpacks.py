"""What a buildpacks build leaves for the signer, made by the REAL lifecycle v0.21.17 exporter.

``export()`` lays out what the builder phase leaves in ``<layers>`` — a buildpack's launch layer
(``<bp>/<layer>.toml`` + directory), its launch SBOMs under ``sbom/launch/<bp>/…``, ``group.toml``,
``config/metadata.toml``, ``analyzed.toml`` naming a run image in the registry — then runs ``exporter``
(the lifecycle binary under that name, as a builder ships it) into the registry. The image, its labels, its
SBOM layer and ``report.toml`` are therefore exactly the lifecycle's. Invocation: go-oracles.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures.gotools import go_tool
from tests.fixtures.images import make_layer, push_image

PLATFORM_API = "0.14"
BUILDPACK = "example/hello"

CDX = {"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
       "components": [{"type": "library", "name": "left-pad", "version": "1.3.0",
                       "purl": "pkg:npm/left-pad@1.3.0"}]}
SPDX = {"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": "hello",
        "documentNamespace": "https://example.com/spdx/hello-1",
        "creationInfo": {"created": "2024-01-01T00:00:00Z", "creators": ["Tool: example"]},
        "packages": [{"SPDXID": "SPDXRef-left-pad", "name": "left-pad", "versionInfo": "1.3.0",
                      "downloadLocation": "NOASSERTION"}]}
SYFT = {"artifacts": [{"name": "left-pad", "version": "1.3.0", "type": "npm"}],
        "schema": {"version": "16.0.0"}}


def lifecycle_dir() -> Path:
    return go_tool("lifecycle").parent


@dataclass
class Export:
    workdir: Path
    report: Path
    digest: str
    host: str
    repo: str
    tags: list[str]
    stdout: str

    @property
    def name(self) -> str:
        return f"{self.host}/{self.repo}"

    @property
    def by_digest(self) -> str:
        return f"{self.name}@{self.digest}"


def lay_out(workdir: Path, run_ref: str, run_image: str, *, sboms: bool = True) -> Path:
    """The builder phase's output: one buildpack, one launch layer with SBOMs (+ a buildpack-level one)."""
    layers = workdir / "layers"
    esc = BUILDPACK.replace("/", "_")
    (layers / esc / "web").mkdir(parents=True)
    (layers / esc / "web" / "server.txt").write_text("hello from the web layer\n")
    (layers / esc / "web.toml").write_text("[types]\nlaunch = true\n")
    (layers / "config").mkdir()
    (layers / "config" / "metadata.toml").write_text(
        f'[[buildpacks]]\nid = "{BUILDPACK}"\nversion = "0.1.0"\napi = "0.10"\n\n'
        '[[processes]]\ntype = "web"\ncommand = ["/bin/true"]\ndefault = true\n')
    (layers / "group.toml").write_text(f'[[group]]\nid = "{BUILDPACK}"\nversion = "0.1.0"\napi = "0.10"\n')
    (layers / "analyzed.toml").write_text(f'[run-image]\nreference = "{run_ref}"\nimage = "{run_image}"\n')
    if sboms:
        web = layers / "sbom" / "launch" / esc / "web"
        web.mkdir(parents=True)
        (web / "sbom.cdx.json").write_text(json.dumps(CDX))
        (web / "sbom.spdx.json").write_text(json.dumps(SPDX))
        (layers / "sbom" / "launch" / esc / "sbom.syft.json").write_text(json.dumps(SYFT))
    app = workdir / "app"
    app.mkdir()
    (app / "index.txt").write_text("the application\n")
    return layers


def run_exporter(workdir: Path, layers: Path, report: Path, images: list[str], extra: list[str],
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    lc = lifecycle_dir()
    bindir = workdir / "cnb"
    bindir.mkdir(exist_ok=True)
    exporter = bindir / "exporter"
    if not exporter.exists():
        exporter.symlink_to(lc / "lifecycle")
    cmd = [str(exporter), "-app", str(workdir / "app"), "-layers", str(layers), "-group",
           str(layers / "group.toml"), "-analyzed", str(layers / "analyzed.toml"), "-launcher",
           str(lc / "launcher"), "-report", str(report), "-uid", "0", "-gid", "0", *extra, *images]
    full_env = {**os.environ, "CNB_PLATFORM_API": PLATFORM_API, **(env or {})}
    p = subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=workdir, timeout=120)
    assert p.returncode == 0, f"exporter failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p


def push_run_image(registry: object, repo: str = "buildpacks/run") -> str:
    """A tiny run image (its digest); the exporter builds the app image on top of it."""
    return push_image(registry, repo, "v1", [make_layer({"etc/os-release": b"ID=sigward-test\n"})])


def export(registry: object, workdir: Path, repo: str, tags: tuple[str, ...] = ("v1", "latest"), *,
           sboms: bool = True, env: dict[str, str] | None = None) -> Export:
    host = registry.host  # type: ignore[attr-defined]
    run = push_run_image(registry)
    workdir.mkdir(parents=True, exist_ok=True)
    layers = lay_out(workdir, f"{host}/buildpacks/run@{run}", f"{host}/buildpacks/run:v1", sboms=sboms)
    report = workdir / "report.toml"
    images = [t if "/" in t else f"{host}/{repo}:{t}" for t in tags]  # "v1", or a whole name "HOST/r:t"
    p = run_exporter(workdir, layers, report, images, ["-insecure-registry", host], env=env)
    import tomllib

    doc = tomllib.loads(report.read_text())
    return Export(workdir, report, doc["image"]["digest"], host, repo, images, p.stdout)


def sigward(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            check: bool = False) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([sys.executable, "-m", "sigward", *args], capture_output=True, text=True,
                       env={**os.environ, **(env or {})}, cwd=cwd, timeout=300)
    if check:
        assert p.returncode == 0, f"sigward {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p
