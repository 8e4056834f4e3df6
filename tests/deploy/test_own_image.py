"""sigward's own image, end to end: scripts/build-own-image.sh against the real local registry (Debian's
docker-registry) and the local Sigstore stack's Rekor, then what a cluster operator does before deploying it:
`sigward verify --key` by the public key the script documents, `verify-attestation` of the CycloneDX SBOM,
the pushed chart pulled back and rendered by the real Helm with the image's digest in it.

The base plays distroless python3-debian12: `sigward demo-image`, signed with a base key (its signature in
the stack's Rekor) and verified by that key before the build. It has no Python, so the image's /app tree is
run under this machine's Python 3.11 (the base's minor version) with site-packages switched off: sigward and
every dependency must come from the image's layer alone.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sigward.oci.reference import parse_reference
from sigward.oci.store import open_store
from tests.deploy.conftest import KUBE_VERSION, Helm
from tests.fixtures.pki import make_ca

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "build-own-image.sh"
DIGEST_REF = re.compile(r"@sha256:[0-9a-f]{64}$")
ENTRYPOINT = ["python3", "-m", "sigward", "admission", "serve"]


@dataclass
class Build:
    code: int
    out: str
    err: str
    out_dir: Path
    outputs: dict[str, str]


def _sigward(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sigward", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def _run_script(out_dir: Path, **env: str) -> Build:
    full = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHON": sys.executable, "SIGWARD": f"{sys.executable} -m sigward", "OUT_DIR": str(out_dir),
            "SOURCE_DATE_EPOCH": "1700000000", "REVISION": "b" * 40, **env}
    for var in ("COSIGN_PASSWORD", "SIGNING_KEY", "TRUSTED_ROOT", "SIGNING_CONFIG"):
        if var not in env:
            full.pop(var, None)
    p = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=full, timeout=600)
    outputs: dict[str, str] = {}
    env_file = out_dir / "own-image.env"
    if env_file.exists():
        outputs = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    return Build(p.returncode, p.stdout, p.stderr, out_dir, outputs)


@pytest.fixture(scope="module")
def base(registry: Any, sigstore_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The stand-in base in the registry, signed by a base key (its signature logged in the stack's Rekor)."""
    keys = tmp_path_factory.mktemp("base-key")
    env = {"COSIGN_PASSWORD": "base-key-test-password"}
    r = subprocess.run([sys.executable, "-m", "sigward", "generate-key-pair", "--output-key-prefix", "base"],
                       capture_output=True, text=True, cwd=keys, env={**os.environ, **env}, timeout=60)
    assert r.returncode == 0, r.stderr
    r = _sigward("demo-image", "--message", "stand-in for distroless python3-debian12",
                 f"{registry.host}/mirror/python3-debian12:nonroot")
    assert r.returncode == 0, r.stderr
    ref = r.stdout.strip()
    s = _sigward("sign", "--yes", "--key", str(keys / "base.key"),
                 "--trusted-root", str(sigstore_stack.trusted_root),
                 "--signing-config", str(sigstore_stack.signing_config), ref, env=env)
    assert s.returncode == 0, s.stderr
    return ref, keys / "base.pub"


@pytest.fixture(scope="module")
def build(registry: Any, sigstore_stack: Any, base: tuple[str, Path],
          tmp_path_factory: pytest.TempPathFactory) -> Build:
    base_ref, base_key = base
    b = _run_script(tmp_path_factory.mktemp("own-image"), IMAGE_REPO=f"{registry.host}/sigward/sigward",
                    BASE_IMAGE=base_ref, BASE_KEY=str(base_key),
                    TRUSTED_ROOT=str(sigstore_stack.trusted_root),
                    SIGNING_CONFIG=str(sigstore_stack.signing_config),
                    CHART_REPO=f"oci://{registry.host}/charts")
    assert b.code == 0, f"build-own-image.sh failed:\n{b.err[-5000:]}"
    return b


def test_prints_and_records_digest_references(build: Build, registry: Any, sigstore_stack: Any) -> None:
    image, chart = build.outputs["IMAGE"], build.outputs["CHART"]
    assert image.startswith(f"{registry.host}/sigward/sigward@") and DIGEST_REF.search(image)
    assert chart.startswith(f"{registry.host}/charts/sigward-admission@") and DIGEST_REF.search(chart)
    assert build.out.splitlines() == [f"IMAGE={image}", f"CHART={chart}"]
    # The key is generated for the run (never a committed key): the private half stays in OUT_DIR,
    # encrypted, and the public half is what the printed commands verify with.
    assert build.outputs["PUBLIC_KEY"] == str(build.out_dir / "sigward-image.pub")
    assert b"ENCRYPTED SIGSTORE PRIVATE KEY" in (build.out_dir / "sigward-image.key").read_bytes()
    key = build.outputs["PUBLIC_KEY"]
    printed = f"sigward verify --trusted-root {sigstore_stack.trusted_root} --key {key} {image}"
    assert printed in build.err


def test_verify_by_the_documented_key_passes(build: Build, sigstore_stack: Any) -> None:
    image, pub = build.outputs["IMAGE"], build.outputs["PUBLIC_KEY"]
    r = _sigward("verify", "--key", pub, "--trusted-root", str(sigstore_stack.trusted_root), image)
    assert r.returncode == 0, r.stderr
    verified = json.loads(next(line for line in r.stdout.splitlines() if line.startswith("[")))
    assert verified and all(v["critical"]["image"]["docker-manifest-digest"] == image.rsplit("@", 1)[1]
                            for v in verified)
    assert "The signatures were verified against the specified public key" in r.stderr
    assert "Existence of the claims in the transparency log was verified offline" in r.stderr


def test_verify_by_another_key_fails(build: Build, base: tuple[str, Path], sigstore_stack: Any) -> None:
    r = _sigward("verify", "--key", str(base[1]), "--trusted-root", str(sigstore_stack.trusted_root),
                 build.outputs["IMAGE"])
    assert r.returncode != 0
    assert r.stderr.startswith("Error: ") and "Traceback" not in r.stderr


def test_sbom_attestation_verifies_and_lists_what_the_image_carries(build: Build,
                                                                     sigstore_stack: Any) -> None:
    image = build.outputs["IMAGE"]
    r = _sigward("verify-attestation", "--key", build.outputs["PUBLIC_KEY"], "--trusted-root",
                 str(sigstore_stack.trusted_root), "--type", "cyclonedx", image)
    assert r.returncode == 0, r.stderr
    statement = json.loads(base64.b64decode(json.loads(r.stdout.splitlines()[0])["payload"]))
    assert statement["predicateType"] == "https://cyclonedx.org/bom"
    assert statement["subject"][0]["digest"]["sha256"] == image.rsplit(":", 1)[1]
    sbom = statement["predicate"]
    assert sbom == json.loads(Path(build.outputs["SBOM"]).read_text())
    components = {c["name"].lower(): c["version"] for c in sbom["components"]}
    pinned = dict(line.split("==") for line in (build.out_dir / "image-requirements.txt").read_text().split())
    assert components == pinned
    assert {"sigward", "cryptography", "httpx", "sigstore", "pyyaml"} <= components.keys()


def _image_files(image: str) -> tuple[dict[str, Any], dict[str, Any], list[bytes]]:
    ref = parse_reference(image)
    with open_store(ref) as store:
        manifest = store.get_manifest(str(ref.identifier))
        if manifest.is_index:
            (desc,) = manifest.manifests
            assert desc.platform
            assert (desc.platform["os"], desc.platform["architecture"]) == ("linux", "amd64")
            manifest = store.get_manifest(desc.digest)
        assert manifest.config is not None
        config = json.loads(store.get_blob(manifest.config))
        layers = [b"".join(store.iter_blob(layer)) for layer in manifest.layers]
        return json.loads(manifest.data), config, layers


def test_image_runs_sigward_admission_serve_from_its_own_layer(build: Build, base: tuple[str, Path],
                                                                tmp_path: Path) -> None:
    manifest, config, layers = _image_files(build.outputs["IMAGE"])
    assert manifest["annotations"]["org.opencontainers.image.base.digest"] == base[0].rsplit("@", 1)[1]
    assert manifest["annotations"]["org.opencontainers.image.revision"] == "b" * 40
    assert config["config"]["Entrypoint"] == ENTRYPOINT
    assert config["config"]["User"] == "65532:65532"
    assert "PYTHONPATH=/app/site-packages" in config["config"]["Env"]
    assert "8443/tcp" in config["config"]["ExposedPorts"]
    assert len(layers) == 2  # the base's, then sigward's
    rootfs = tmp_path / "rootfs"
    layer = tmp_path / "layer.tar.gz"
    layer.write_bytes(layers[1])
    with tarfile.open(layer) as tar:
        names = tar.getnames()
        tar.extractall(rootfs, filter="data")
    site = rootfs / "app" / "site-packages"
    assert (site / "sigward" / "cli" / "main.py").is_file()
    assert not any(n.endswith(".pyc") or "/bin/" in n or n.endswith("direct_url.json") for n in names)
    # The entrypoint, run as the image would run it (python3 -m sigward ...), with -S: no site-packages of
    # this machine, only the layer's. The image's own interpreter is the base's Python 3.11.
    env = {"PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(tmp_path),
           "PATH": "/usr/bin:/bin"}
    code = ("import sigward.cli.main, cryptography.hazmat.primitives.asymmetric.ec, httpx, yaml, sigstore; "
            "print(sigward.__file__, cryptography.__file__, sigstore.__file__)")
    run = tmp_path / "cwd"  # not the checkout: `-c` and `-m` put the working directory on sys.path
    run.mkdir()
    r = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env,
                       timeout=120, cwd=run)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(site / p / "__init__.py") for p in ("sigward", "cryptography",
                                                                        "sigstore")]
    r = subprocess.run([sys.executable, "-S", "-m", "sigward", "version"], capture_output=True, text=True,
                       env=env, timeout=120, cwd=run)
    assert r.returncode == 0 and "0.1.0" in r.stdout + r.stderr, r.stderr
    # The entrypoint's own command and the server's dependencies (sigward's `admission` extra).
    server = ("import aiohttp, prometheus_client, redis, sigward.webhook.server; "
              "print(aiohttp.__file__, prometheus_client.__file__, redis.__file__)")
    r = subprocess.run([sys.executable, "-S", "-c", server], capture_output=True, text=True, env=env,
                       timeout=120, cwd=run)
    assert r.returncode == 0, r.stderr
    assert all(path.startswith(str(site)) for path in r.stdout.split()), r.stdout
    r = subprocess.run([sys.executable, "-S", "-m", *ENTRYPOINT[2:], "--help"], capture_output=True,
                       text=True, env=env, timeout=120, cwd=run)
    assert r.returncode == 0 and "--tls-cert" in r.stdout, r.stderr


def test_pushed_chart_is_signed_and_deploys_the_image_by_digest(build: Build, sigstore_stack: Any, helm: Helm,
                                                                 tmp_path: Path) -> None:
    chart = build.outputs["CHART"]
    r = _sigward("verify", "--key", build.outputs["PUBLIC_KEY"],
                 "--trusted-root", str(sigstore_stack.trusted_root),
                 "-a", f"chartVersion={build.outputs['CHART_SEMVER']}", chart)
    assert r.returncode == 0, r.stderr
    r = _sigward("chart", "pull", f"oci://{chart}", "-d", str(tmp_path), "--untar")
    assert r.returncode == 0, r.stderr
    pulled = tmp_path / "sigward-admission"
    repo, digest = build.outputs["IMAGE"].split("@")
    assert yaml.safe_load((pulled / "values.yaml").read_text())["image"] == {
        "repository": repo, "digest": digest, "pullPolicy": "IfNotPresent"}
    ca = base64.b64encode(make_ca(tmp_path / "ca").cert_file.read_bytes()).decode()
    rendered = helm("template", "rel", str(pulled), *KUBE_VERSION, "--set", f"tls.caBundle={ca}",
                    "--set", "tls.existingSecret=t")
    assert rendered.returncode == 0, rendered.stderr
    deployment = next(d for d in yaml.safe_load_all(rendered.stdout) if d and d["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == build.outputs["IMAGE"]
    # The checkout's chart keeps no digest: it went into the packaged copy only.
    source = yaml.safe_load((ROOT / "deploy/helm/sigward-admission/values.yaml").read_text())
    assert source["image"]["digest"] == ""


def test_offline_build_into_a_layout_is_reproducible(build: Build, base: tuple[str, Path],
                                                     tmp_path: Path) -> None:
    """No registry and no transparency log (air-gapped), and the same sigward layer as the registry build."""
    again = _run_script(tmp_path / "out", IMAGE_REPO=f"oci:{tmp_path}/layout/sigward", BASE_IMAGE=base[0],
                        BASE_KEY=str(base[1]), BASE_IGNORE_TLOG="true", TLOG_UPLOAD="false")
    assert again.code == 0, again.err[-5000:]
    image = again.outputs["IMAGE"]
    assert image.startswith(f"oci:{tmp_path}/layout/sigward@")
    r = _sigward("verify", "--key", again.outputs["PUBLIC_KEY"], "--insecure-ignore-tlog=true", image)
    assert r.returncode == 0, r.stderr
    printed = f"sigward verify --insecure-ignore-tlog=true --key {again.outputs['PUBLIC_KEY']} {image}"
    assert printed in again.err
    first, second = _image_files(build.outputs["IMAGE"])[0], _image_files(image)[0]
    assert first["layers"] == second["layers"]  # same base layer, byte-identical sigward layer


GOOD = {"IMAGE_REPO": "localhost:5000/x", "BASE_IMAGE": "localhost:5000/b@sha256:" + "0" * 64}


@pytest.mark.parametrize("env,message", [
    ({"IMAGE_REPO": ""}, "Error: set IMAGE_REPO"),
    ({"BASE_IMAGE": ""}, "Error: set BASE_IMAGE to the base by digest"),
    ({"BASE_IMAGE": "localhost:5000/base:latest"},
     "Error: BASE_IMAGE must be named by digest (a tag can move): localhost:5000/base:latest"),
    ({"PLATFORM": "windows/amd64"}, "Error: PLATFORM must be linux/amd64 or linux/arm64"),
    ({"PYTHON_VERSION": "3.12"}, "but the image's Python is 3.12"),
    ({"BASE_KEY": "/nonexistent.pub"}, "Error: BASE_KEY: no such file: /nonexistent.pub"),
    ({"CHART_REPO": "https://x"}, "Error: CHART_REPO must be oci://REGISTRY/NAMESPACE or oci:DIR/NAME"),
    ({"SIGNING_CONFIG": "/etc/hostname"}, "Error: SIGNING_CONFIG needs TRUSTED_ROOT"),
])
def test_bad_input_is_one_clear_error_before_anything_is_built(env: dict[str, str], message: str,
                                                                tmp_path: Path) -> None:
    unset = {"BASE_KEY": "", "PLATFORM": "", "PYTHON_VERSION": "", "CHART_REPO": ""}
    b = _run_script(tmp_path / "out", **{**unset, **GOOD, **env})
    assert b.code == 1
    assert b.err.splitlines() == [b.err.splitlines()[0]] and message in b.err, b.err
    assert not (tmp_path / "out").exists()
