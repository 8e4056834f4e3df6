"""The seed pipeline end to end, offline: examples/hello-service/pipeline.sh against the real local registry
and the local Sigstore stack, then a consumer's checks, tampering, a moved tag, and refused bases.

The base image plays distroless: a two-platform image signed keylessly as
``keyless@distroless.iam.gserviceaccount.com`` by ``https://accounts.google.com`` (tokens from the stack's
minter), verified exactly as the seed README verifies distroless.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sigward.oci.reference import parse_reference
from sigward.oci.store import open_store
from tests.fixtures.jwt_tokens import GITHUB_REPOSITORY, GITHUB_WORKFLOW_REF

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "examples" / "hello-service" / "pipeline.sh"
BASE_IDENTITY = "keyless@distroless.iam.gserviceaccount.com"
BASE_ISSUER = "https://accounts.google.com"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
DIGEST_REF = re.compile(r"@sha256:[0-9a-f]{64}$")


@dataclass
class Release:
    code: int
    out: str
    err: str
    out_dir: Path
    artifacts: dict[str, str]


def _sigward(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sigward", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def _base_image(registry: Any, stack: Any, repo: str, *, sign_as: str | None,
                issuer: str = BASE_ISSUER) -> str:
    """A two-platform base image in the registry, signed keylessly as ``sign_as`` (or not at all)."""
    r = _sigward("demo-image", "--message", f"base {repo}", "--platform", "linux/amd64,linux/arm64",
                 f"{registry.host}/{repo}:latest")
    assert r.returncode == 0, r.stderr
    ref = r.stdout.strip()
    assert DIGEST_REF.search(ref), ref
    if sign_as:
        token = stack.minter.mint(sign_as, email=sign_as, issuer=issuer)
        s = _sigward("sign", "--yes", "--identity-token", token, "--trusted-root", str(stack.trusted_root),
                     "--signing-config", str(stack.signing_config), ref)
        assert s.returncode == 0, s.stderr
    return ref


def _run_pipeline(registry: Any, stack: Any, base: str, out_dir: Path, org: str) -> Release:
    bindir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHON": sys.executable,
        "REGISTRY": f"{registry.host}/{org}",
        "BASE_IMAGE": base,
        "BASE_IDENTITY": BASE_IDENTITY,
        "BASE_OIDC_ISSUER": BASE_ISSUER,
        "TRUSTED_ROOT": str(stack.trusted_root),
        "SIGNING_CONFIG": str(stack.signing_config),
        "SIGSTORE_ID_TOKEN": stack.minter.mint_github(lifetime=3600),
        # What GitHub Actions sets for a tag build of release.yml; the pipeline derives the identity from it.
        "GITHUB_REF": "refs/tags/0.5.0",
        "GITHUB_REPOSITORY": GITHUB_REPOSITORY,
        "GITHUB_WORKFLOW_REF": GITHUB_WORKFLOW_REF,
        "GITHUB_SHA": "a" * 40,
        "OUT_DIR": str(out_dir),
        "SOURCE_DATE_EPOCH": "1700000000",
    }
    env.pop("EXPECTED_IDENTITY_REGEXP", None)
    p = subprocess.run(["bash", str(PIPELINE)], capture_output=True, text=True, env=env, timeout=300)
    artifacts: dict[str, str] = {}
    env_file = out_dir / "artifacts.env"
    if env_file.exists():
        artifacts = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    return Release(p.returncode, p.stdout, p.stderr, out_dir, artifacts)


@pytest.fixture(scope="module")
def release(registry: Any, sigstore_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Release:
    base = _base_image(registry, sigstore_stack, "mirror/distroless-python", sign_as=BASE_IDENTITY)
    rel = _run_pipeline(registry, sigstore_stack, base, tmp_path_factory.mktemp("release"), "example-org")
    assert rel.code == 0, f"pipeline failed:\n{rel.err[-4000:]}\n{rel.out}"
    rel.artifacts["BASE"] = base
    return rel


def _consumer_commands(rel: Release) -> list[str]:
    return [line for line in rel.out.splitlines() if line.startswith("sigward verify")]


def _shell(cmd: str) -> subprocess.CompletedProcess[str]:
    """Run a printed consumer command as a user would, with this interpreter's sigward."""
    argv = shlex.split(cmd)
    assert argv[0] == "sigward"
    return _sigward(*argv[1:])


# --- the release ------------------------------------------------------------------------


def test_every_printed_or_written_reference_is_a_digest(release: Release, registry: Any) -> None:
    image, chart = release.artifacts["IMAGE"], release.artifacts["CHART"]
    assert DIGEST_REF.search(image) and DIGEST_REF.search(chart)
    assert image.startswith(f"{registry.host}/example-org/hello-service@")
    assert chart.startswith(f"{registry.host}/example-org/charts/hello-service@")
    # Anything that names the registry, in what the pipeline printed (both streams) or wrote.
    text = release.out + release.err + (release.out_dir / "artifacts.env").read_text()
    refs = re.findall(re.escape(registry.host) + r"/[A-Za-z0-9._/-]+(?:[:@][A-Za-z0-9._:-]+)?", text)
    assert refs, "the pipeline printed no references at all"
    not_digest = sorted({r for r in refs if not DIGEST_REF.search(r)})
    assert not not_digest, f"non-digest references printed: {not_digest}"


def test_consumer_commands_are_the_seed_readme_commands_and_pass(release: Release) -> None:
    cmds = _consumer_commands(release)
    assert len(cmds) == 2
    image_cmd, chart_cmd = cmds
    assert "-a imageRef=refs/tags/0.5.0" in image_cmd and release.artifacts["IMAGE"] in image_cmd
    assert "-a chartVersion=0.1.0" in chart_cmd and release.artifacts["CHART"] in chart_cmd
    for cmd in cmds:
        assert "--certificate-identity-regexp" in cmd
        assert f"--certificate-oidc-issuer {GITHUB_ISSUER}" in cmd
        r = _shell(cmd)
        assert r.returncode == 0, r.stderr
        (sig,) = json.loads(r.stdout)
        assert sig["critical"]["image"]["docker-manifest-digest"] == cmd.rsplit("@", 1)[1]


def test_identity_regexp_is_anchored_and_escaped(release: Release) -> None:
    cmd = _consumer_commands(release)[0]
    regexp = shlex.split(cmd)[shlex.split(cmd).index("--certificate-identity-regexp") + 1]
    assert regexp == r"^https://github\.com/example-org/hello-service/\.github/workflows/release\.yml@refs/"


def test_image_is_built_on_the_verified_base(release: Release) -> None:
    image, base = release.artifacts["IMAGE"], release.artifacts["BASE"]
    ref = parse_reference(image)
    with open_store(ref) as store:
        index = store.get_manifest(str(ref.identifier))
        assert index.is_index
        platforms = sorted(f"{d.platform['os']}/{d.platform['architecture']}" for d in index.manifests
                           if d.platform)
        assert platforms == ["linux/amd64", "linux/arm64"]
        assert index.annotations["org.opencontainers.image.base.digest"] == base.rsplit("@", 1)[1]
        assert index.annotations["org.opencontainers.image.version"] == "0.5.0"
        assert index.annotations["org.opencontainers.image.revision"] == "a" * 40
        for desc in index.manifests:
            m = store.get_manifest(desc.digest)
            assert m.annotations["org.opencontainers.image.source"] == \
                f"https://github.com/{GITHUB_REPOSITORY}"
            cfg_desc = m.config
            assert cfg_desc is not None
            cfg = json.loads(store.get_blob(cfg_desc))
            assert cfg["config"]["Entrypoint"] == ["python3", "-m", "hello_service"]
            assert "HELLO_SERVICE_VERSION=0.5.0" in cfg["config"]["Env"]
            assert cfg["config"]["User"] == "65532:65532"
            assert len(cfg["rootfs"]["diff_ids"]) == len(m.layers) == 2  # base layer + the service


def test_sbom_is_generated_attested_and_selectable(release: Release, sigstore_stack: Any) -> None:
    sbom = json.loads((release.out_dir / "sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    assert sbom["metadata"]["component"]["name"] == "hello-service"
    r = _sigward("verify-attestation", "--trusted-root", str(sigstore_stack.trusted_root),
                 "--certificate-identity", f"https://github.com/{GITHUB_WORKFLOW_REF}",
                 "--certificate-oidc-issuer", GITHUB_ISSUER, "--type", "cyclonedx",
                 release.artifacts["IMAGE"])
    assert r.returncode == 0, r.stderr
    envelope = json.loads(r.stdout.splitlines()[0])
    import base64

    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["predicateType"] == "https://cyclonedx.org/bom"
    assert statement["predicate"] == sbom
    assert statement["subject"][0]["digest"]["sha256"] == release.artifacts["IMAGE"].rsplit(":", 1)[1]


def test_chart_deploys_the_image_by_digest(release: Release, tmp_path: Path) -> None:
    r = _sigward("chart", "pull", f"oci://{release.artifacts['CHART']}", "-d", str(tmp_path), "--untar")
    assert r.returncode == 0, r.stderr
    import yaml

    values = yaml.safe_load((tmp_path / "hello-service" / "values.yaml").read_text())
    image_repo, image_digest = release.artifacts["IMAGE"].split("@")
    assert values["image"] == {**values["image"], "repository": image_repo, "digest": image_digest}
    chart = yaml.safe_load((tmp_path / "hello-service" / "Chart.yaml").read_text())
    assert (chart["version"], chart["appVersion"]) == ("0.1.0", "0.5.0")
    if shutil.which("helm"):  # what Kubernetes would get: the image by digest
        rendered = subprocess.run(["helm", "template", "rel", str(tmp_path / "hello-service")],
                                  capture_output=True, text=True, timeout=60)
        assert rendered.returncode == 0, rendered.stderr
        assert f'image: "{release.artifacts["IMAGE"]}"' in rendered.stdout
    # The repository stays pristine: the digest went into the packaged copy only.
    source = yaml.safe_load((ROOT / "examples/hello-service/chart/values.yaml").read_text())
    assert source["image"]["digest"] == ""


# --- what a consumer must catch ------------------------------------------------------------------------


def _image_cmd(release: Release) -> list[str]:
    return shlex.split(_consumer_commands(release)[0])[1:]


def test_wrong_semver_annotation_or_identity_is_refused(release: Release) -> None:
    argv = _image_cmd(release)
    wrong_version = [a.replace("refs/tags/0.5.0", "refs/tags/0.6.0") for a in argv]
    r = _sigward(*wrong_version)
    # Bundle signatures: exit 1 as cosign v3 (10/12/13 come only from its legacy path).
    assert r.returncode == 1 and "annotation" in r.stderr.lower(), r.stderr
    other_repo = [a.replace("example-org/hello-service", "evil-org/hello-service")
                  if a.startswith("^") else a for a in argv]
    r = _sigward(*other_repo)
    assert r.returncode != 0 and "identity" in r.stderr.lower(), r.stderr


def test_moved_tag_is_caught(release: Release, registry: Any) -> None:
    """Someone moves the chart's version tag to another chart: the digest still verifies, the tag does not."""
    chart_repo = release.artifacts["CHART"].split("@")[0]
    r = _sigward("demo-image", "--message", "not the chart", f"{chart_repo}:0.1.0")
    assert r.returncode == 0, r.stderr
    argv = shlex.split(_consumer_commands(release)[1])[1:]
    by_tag = [*argv[:-1], f"{chart_repo}:0.1.0"]
    r = _sigward(*by_tag)
    assert r.returncode == 10, r.stderr  # no signatures on what the tag now names
    assert _sigward(*argv).returncode == 0  # the signed digest is unaffected


@pytest.mark.parametrize("artifact", ["IMAGE", "CHART"])
@pytest.mark.parametrize("target", ["manifest", "signature"])
def test_tampering_is_caught(release: Release, tmp_path: Path, artifact: str, target: str) -> None:
    """Copy the signed artifact to a layout, then flip one byte: in its manifest (every read by digest
    fails) or in its signature bundles (verify fails)."""
    argv = shlex.split(_consumer_commands(release)[0 if artifact == "IMAGE" else 1])[1:]
    digest = release.artifacts[artifact].rsplit("@", 1)[1]
    layout = tmp_path / "copy"
    r = _sigward("copy", release.artifacts[artifact], f"oci:{layout}")
    assert r.returncode == 0, r.stderr
    local = [*argv[:-1], f"oci:{layout}@{digest}"]
    assert _sigward(*local).returncode == 0
    store = open_store(parse_reference(f"oci:{layout}"))
    if target == "manifest":
        blobs = [digest]
    else:  # the signature (and, for the image, the SBOM attestation) bundles
        blobs = [store.get_manifest(d.digest).layers[0].digest for d in store.referrers(digest)]
        assert blobs
    for blob_digest in blobs:
        blob = layout / "blobs" / "sha256" / blob_digest.split(":")[1]
        data = bytearray(blob.read_bytes())
        i = data.index(b'"', len(data) // 2)  # a byte inside the JSON, not its framing
        data[i + 1] ^= 0x01
        blob.chmod(0o644)
        blob.write_bytes(bytes(data))
    if target == "manifest":
        r = _sigward("copy", f"oci:{layout}@{digest}", f"oci:{tmp_path / 'again'}")
    else:
        r = _sigward(*local)
    assert r.returncode != 0, f"tampered {target} accepted"
    assert re.search(r"(?i)digest|mismatch|signature|invalid", r.stderr), r.stderr


# --- bases that must be refused ------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["unsigned", "wrong-identity"])
def test_build_on_unverified_base_is_refused(case: str, registry: Any, sigstore_stack: Any,
                                             tmp_path: Path, unique_repo: str) -> None:
    sign_as = None if case == "unsigned" else "someone@attacker.example"
    base = _base_image(registry, sigstore_stack, f"{unique_repo}/base", sign_as=sign_as)
    org = unique_repo.replace("/", "-")
    rel = _run_pipeline(registry, sigstore_stack, base, tmp_path / "out", org)
    assert rel.code != 0
    assert "does not verify" in rel.err and "refusing to build" in rel.err, rel.err[-2000:]
    assert rel.artifacts == {}
    # Nothing was pushed: the image repository does not exist.
    with open_store(parse_reference(f"{registry.host}/{org}/hello-service:x")) as store, \
            pytest.raises(Exception, match=r"(?i)not found|unknown"):
        store.tags()
