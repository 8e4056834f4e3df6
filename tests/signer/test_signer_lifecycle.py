"""`sigward signer` on what the REAL lifecycle v0.21.17 exporter wrote, verified with `sigward verify` /
`verify-attestation` (and once with the real cosign): the RFC's behaviour, all-or-nothing.

Registries are real (Debian's distribution 2.8.2, one in read-only maintenance mode for the unwritable
destination); keys are real cosign key files; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.gotools import go_tool
from tests.fixtures.images import push_image
from tests.fixtures.jwt_tokens import GITHUB_ISSUER, GITHUB_WORKFLOW_REF
from tests.fixtures.registries import RegistryServer, start_registry
from tests.signer.buildpacks import CDX, SPDX, Export, export, lay_out, run_exporter, sigward

NOTLOG = "--insecure-ignore-tlog=true"
ANNOTATIONS = {"io.buildpacks.build.id": "build-42", "team": "payments"}
IDENTITY = f"https://github.com/{GITHUB_WORKFLOW_REF}"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two cosign key pairs with different passwords (labelled test keys), and their password files."""
    d = tmp_path_factory.mktemp("signer-keys")
    out: dict[str, Path] = {}
    for name, pw in (("k1", "first-pw"), ("k2", "second-pw")):
        sigward("generate-key-pair", "--output-key-prefix", name, env={"COSIGN_PASSWORD": pw}, cwd=d,
                check=True)
        # as `echo` writes it: the trailing newline is not part of the password
        (d / f"{name}.pw").write_text(pw + "\n")
        out[name] = d / name
    return out


@pytest.fixture(scope="module")
def readonly_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = start_registry(tmp_path_factory.mktemp("ro"), "readonly", read_only=True)
    yield server
    server.stop()


def cosign_toml(path: Path, configs: list[dict[str, object]],
                annotations: dict[str, str] | None = None) -> Path:
    lines = []
    for k, v in (ANNOTATIONS if annotations is None else annotations).items():
        lines += ["[[annotations]]", f"name = {json.dumps(k)}", f"value = {json.dumps(v)}", ""]
    for c in configs:
        lines.append("[[configs]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in c.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def key_config(keys: dict[str, Path], name: str, **extra: object) -> dict[str, object]:
    return {"key": f"{keys[name]}.key", "password": f"{keys[name]}.pw", "tlog-upload": False, **extra}


def run_signer(exp: Export, config: Path, *extra: str, env: dict[str, str] | None = None,
               script: bool = False) -> subprocess.CompletedProcess[str]:
    args = ["-report", str(exp.report), "-cosign-config", str(config), *extra]
    if script:  # the console script a builder installs as /cnb/signer
        exe = shutil.which("signer", path=os.path.dirname(sys.executable))
        assert exe, "the `signer` console script is not installed next to this Python"
        cmd = [exe, *args]
    else:
        cmd = [sys.executable, "-m", "sigward", "signer", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def tags(registry: RegistryServer, repo: str) -> set[str]:
    r = httpx.get(f"{registry.url}/v2/{repo}/tags/list", timeout=10)
    if r.status_code == 404:
        return set()
    r.raise_for_status()
    return set(r.json().get("tags") or [])


def verify(exp: Export, pub: Path, *extra: str, env: dict[str, str] | None = None) -> dict[str, object]:
    p = sigward("verify", "--key", f"{pub}.pub", NOTLOG, "--allow-http-registry", *extra, exp.by_digest,
                env=env)
    assert p.returncode == 0, p.stderr
    sigs = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    return sigs[0][0] if isinstance(sigs[0], list) else sigs[0]


def sbom_predicates(exp: Export, pub: Path, type_name: str,
                    env: dict[str, str] | None = None) -> list[object]:
    p = sigward("verify-attestation", "--key", f"{pub}.pub", NOTLOG, "--type", type_name,
                "--allow-http-registry", exp.by_digest, env=env)
    assert p.returncode == 0, p.stderr
    out = []
    for line in p.stdout.splitlines():
        env_json = json.loads(line)
        import base64

        stmt = json.loads(base64.b64decode(env_json["payload"]))
        assert stmt["subject"][0]["digest"]["sha256"] == exp.digest.split(":")[1]
        out.append(stmt["predicate"])
    return out


# -- the whole RFC, two configs -----------------------------------------------------------------------------


def test_two_configs_sign_attest_and_attach(registry: RegistryServer, unique_repo: str, tmp_path: Path,
                                            keys: dict[str, Path]) -> None:
    exp = export(registry, tmp_path / "build", unique_repo)
    assert "Saving" in exp.stdout and exp.digest.startswith("sha256:")
    sigrepo = f"{registry.host}/{unique_repo}-signatures"
    config = cosign_toml(tmp_path / "cosign.toml", [
        key_config(keys, "k1"),  # export-sbom defaults to attestation
        key_config(keys, "k2", repository=sigrepo, **{"export-sbom": "attachment"}),
    ])
    p = run_signer(exp, config, "-insecure-registry", registry.host, script=True)
    assert p.returncode == 0, p.stderr
    assert "Signed 1 image(s) with 2 config(s)" in p.stdout
    assert "Warning: example_hello/sbom.syft.json: Syft JSON has no attestation predicate type" in p.stdout

    # config 1: signature with every annotation, next to the image; both SBOM formats attested
    payload = verify(exp, keys["k1"], *(f"-a{k}={v}" for k, v in ANNOTATIONS.items()))
    assert payload["optional"] == ANNOTATIONS  # type: ignore[index]
    assert sbom_predicates(exp, keys["k1"], "cyclonedx") == [CDX]
    assert sbom_predicates(exp, keys["k1"], "spdxjson") == [SPDX]
    # config 1's key does not verify config 2's signatures and vice versa
    assert sigward("verify", "--key", f"{keys['k2']}.pub", NOTLOG, exp.by_digest).returncode != 0

    # config 2: the signature lives in the override repository, nothing of it next to the image
    override = {"COSIGN_REPOSITORY": sigrepo}
    verify(exp, keys["k2"], "-a", "team=payments", env=override)
    assert sigward("verify-attestation", "--key", f"{keys['k2']}.pub", NOTLOG, "--type", "cyclonedx",
                   exp.by_digest, env=override).returncode != 0  # attachment, not attestation
    d = sigward("download", "sbom", "--allow-http-registry", exp.by_digest, env=override)
    assert d.returncode == 0, d.stderr
    docs, rest, dec = [], d.stdout.strip(), json.JSONDecoder()
    while rest:  # cosign prints the SBOMs back to back
        doc, end = dec.raw_decode(rest)
        docs.append(doc)
        rest = rest[end:].strip()
    assert CDX in docs and SPDX in docs and len(docs) == 3  # cdx, spdx and syft, one layer each
    sbom_tag = f"sha256-{exp.digest.split(':')[1]}.sbom"
    assert sbom_tag in tags(registry, f"{unique_repo}-signatures")
    assert not any(t.endswith(".sbom") for t in tags(registry, unique_repo))
    # ... and the attachment itself is signed by config 2, with the annotations
    m = httpx.get(f"{registry.url}/v2/{unique_repo}-signatures/manifests/{sbom_tag}",
                  headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}, timeout=10)
    att_digest = m.headers["Docker-Content-Digest"]
    p = sigward("verify", "--key", f"{keys['k2']}.pub", NOTLOG, "-a", "team=payments",
                f"{sigrepo}@{att_digest}")
    assert p.returncode == 0, p.stderr

    # the real cosign agrees about config 1's signature and SBOM attestation
    cosign = str(go_tool("cosign"))
    for cmd in (["verify"], ["verify-attestation", "--type", "cyclonedx"]):
        c = subprocess.run([cosign, *cmd, "--key", f"{keys['k1']}.pub", NOTLOG, "--allow-http-registry",
                            exp.by_digest], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "TUF_ROOT": str(tmp_path / "tuf")})
        assert c.returncode == 0, c.stderr


def test_export_sbom_none_and_legacy_format(registry: RegistryServer, unique_repo: str, tmp_path: Path,
                                            keys: dict[str, Path]) -> None:
    exp = export(registry, tmp_path / "build", unique_repo, ("v1",))
    config = cosign_toml(tmp_path / "cosign.toml", [
        key_config(keys, "k1", **{"export-sbom": "none", "new-bundle-format": False,
                                  "docker-media-types": True}),
    ], annotations={})
    p = run_signer(exp, config, env={"CNB_INSECURE_REGISTRIES": registry.host, "CNB_PLATFORM_API": "0.14"})
    assert p.returncode == 0, p.stderr
    hexd = exp.digest.split(":")[1]
    assert tags(registry, unique_repo) == {"v1", f"sha256-{hexd}.sig"}  # legacy .sig, no .att, no .sbom
    sig = httpx.get(f"{registry.url}/v2/{unique_repo}/manifests/sha256-{hexd}.sig", timeout=10,
                    headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    assert sig.headers["Content-Type"] == "application/vnd.docker.distribution.manifest.v2+json"
    verify(exp, keys["k1"])


def test_legacy_attestations(registry: RegistryServer, unique_repo: str, tmp_path: Path,
                             keys: dict[str, Path]) -> None:
    exp = export(registry, tmp_path / "build", unique_repo, ("v1",))
    config = cosign_toml(tmp_path / "cosign.toml", [key_config(keys, "k2", **{"new-bundle-format": False})])
    p = run_signer(exp, config, "-insecure-registry", registry.host)
    assert p.returncode == 0, p.stderr
    assert f"sha256-{exp.digest.split(':')[1]}.att" in tags(registry, unique_repo)
    assert sbom_predicates(exp, keys["k2"], "cyclonedx") == [CDX]


# -- all or nothing ---------------------------------------------------------------------------------------


def test_moved_tag_refused_nothing_signed(registry: RegistryServer, unique_repo: str, tmp_path: Path,
                                          keys: dict[str, Path]) -> None:
    exp = export(registry, tmp_path / "build", unique_repo)
    other = push_image(registry, unique_repo, "latest")  # someone pushed :latest after the export
    config = cosign_toml(tmp_path / "cosign.toml", [key_config(keys, "k1")])
    p = run_signer(exp, config, "-insecure-registry", registry.host)
    assert p.returncode == 112, p.stderr
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("Error: ")
    assert f"{exp.host}/{unique_repo}:latest resolves to {other}, not {exp.digest}" in p.stderr
    assert "nothing was signed" in p.stderr
    assert tags(registry, unique_repo) == {"v1", "latest"}


def test_unwritable_repository_refused_nothing_signed(registry: RegistryServer, unique_repo: str,
                                                      tmp_path: Path, keys: dict[str, Path],
                                                      readonly_registry: RegistryServer) -> None:
    exp = export(registry, tmp_path / "build", unique_repo)
    config = cosign_toml(tmp_path / "cosign.toml", [
        key_config(keys, "k1"),  # writable: next to the image — but it must not be written either
        key_config(keys, "k2", repository=f"{readonly_registry.host}/signatures"),
    ])
    p = run_signer(exp, config, "-insecure-registry", registry.host)
    assert p.returncode == 112, p.stderr
    assert f"cannot write signatures to {readonly_registry.host}/signatures (configs[2])" in p.stderr
    assert "nothing was signed" in p.stderr
    assert tags(registry, unique_repo) == {"v1", "latest"}
    assert tags(readonly_registry, "signatures") == set()


def test_wrong_password_refused_nothing_signed(registry: RegistryServer, unique_repo: str, tmp_path: Path,
                                               keys: dict[str, Path]) -> None:
    exp = export(registry, tmp_path / "build", unique_repo)
    config = cosign_toml(tmp_path / "cosign.toml", [
        key_config(keys, "k1"),
        key_config(keys, "k2", password=f"{keys['k1']}.pw"),  # k1's password for k2's key
    ])
    p = run_signer(exp, config)
    assert p.returncode == 112, p.stderr
    assert p.stderr.startswith(f"Error: {config}: configs[2]: key {keys['k2']}.key: ")
    assert p.stderr.count("\n") == 1
    assert tags(registry, unique_repo) == {"v1", "latest"}


def test_report_without_digest_and_daemon_report(tmp_path: Path, keys: dict[str, Path]) -> None:
    config = cosign_toml(tmp_path / "cosign.toml", [key_config(keys, "k1")])
    report = tmp_path / "report.toml"
    report.write_text('[image]\ntags = ["registry.example/app:v1"]\nmanifest-size = 1200\n')
    p = subprocess.run([sys.executable, "-m", "sigward", "signer", "-report", str(report), "-cosign-config",
                        str(config)], capture_output=True, text=True)
    assert p.returncode == 3
    assert p.stderr == f"Error: {report}: image.digest is missing: there is no digest to sign\n"
    report.write_text('[image]\ntags = ["app:v1"]\nimage-id = "sha256:' + "a" * 64 + '"\n')
    p = subprocess.run([sys.executable, "-m", "sigward", "signer", f"-report={report}",
                        f"--cosign-config={config}"], capture_output=True, text=True)
    assert p.returncode == 3
    assert "exported to a Docker daemon" in p.stderr and "-layout" in p.stderr
    p = subprocess.run([sys.executable, "-m", "sigward", "signer", "-daemon", "-report", str(report),
                        "-cosign-config", str(config)], capture_output=True, text=True)
    assert p.returncode == 3 and "Docker daemon" in p.stderr


# -- OCI layout export ------------------------------------------------------------------------------------


def test_layout_export_signed_in_the_layout(registry: RegistryServer, tmp_path: Path,
                                            keys: dict[str, Path]) -> None:
    """`exporter -layout` (experimental in the lifecycle) → `signer -layout`: signed inside the layout."""
    work = tmp_path / "build"
    work.mkdir()
    # the run image, where the exporter looks for it: <layout-dir>/<registry>/<repo>/sha256/<hex>
    run = push_image(registry, "buildpacks/run-layout", "v1")
    hexd = run.split(":")[1]
    run_dir = f"layout/registry.test/run/sha256/{hexd}"
    sigward("copy", "--allow-http-registry", f"{registry.host}/buildpacks/run-layout@{run}",
            f"oci:{work / run_dir}", check=True)
    layers = lay_out(work, f"{run_dir}@{run}", "registry.test/run:v1")
    report = work / "report.toml"
    run_exporter(work, layers, report, ["registry.test/app:v1", "registry.test/app:latest"],
                 ["-layout", "-layout-dir", "layout"], env={"CNB_EXPERIMENTAL_MODE": "silent"})
    assert "digest" not in report.read_text()  # a layout export reports no digest
    config = cosign_toml(tmp_path / "cosign.toml", [key_config(keys, "k1")])
    p = subprocess.run([sys.executable, "-m", "sigward", "signer", "-report", str(report), "-cosign-config",
                        str(config), "-layout", "-layout-dir", "layout"], capture_output=True, text=True,
                       cwd=work)
    assert p.returncode == 0, p.stderr
    # the exporter lists the additional name but writes only the first tag's layout: said, not hidden
    assert "Warning: registry.test/app:latest: no OCI layout at layout/registry.test/app/latest" in p.stdout
    image = f"oci:{work}/layout/registry.test/app/v1:v1"
    v = sigward("verify", "--key", f"{keys['k1']}.pub", NOTLOG, "-a", "team=payments", image)
    assert v.returncode == 0, v.stderr
    a = sigward("verify-attestation", "--key", f"{keys['k1']}.pub", NOTLOG, "--type", "cyclonedx", image)
    assert a.returncode == 0, a.stderr


# -- keyless (an extension: a CI build has an identity token, not a key) -------------------------------------


def test_keyless_config(registry: RegistryServer, unique_repo: str, tmp_path: Path,
                        sigstore_stack: Any) -> None:
    """Fulcio certificate + Rekor entry from the local Sigstore stack; identity token from a file."""
    exp = export(registry, tmp_path / "build", unique_repo, ("v1",))
    token = tmp_path / "token"
    token.write_text(sigstore_stack.minter.mint_github())
    config = cosign_toml(tmp_path / "cosign.toml", [{
        "identity-token": str(token), "signing-config": str(sigstore_stack.signing_config),
        "trusted-root": str(sigstore_stack.trusted_root)}])
    p = run_signer(exp, config, "-insecure-registry", registry.host)
    assert p.returncode == 0, p.stderr
    who = ["--trusted-root", str(sigstore_stack.trusted_root), "--certificate-identity", IDENTITY,
           "--certificate-oidc-issuer", GITHUB_ISSUER, "--allow-http-registry"]
    v = sigward("verify", *who, "-a", "team=payments", exp.by_digest)
    assert v.returncode == 0, v.stderr
    a = sigward("verify-attestation", *who, "--type", "cyclonedx", exp.by_digest)
    assert a.returncode == 0, a.stderr
    v = sigward("verify", *who[:2], "--certificate-identity", "https://github.com/evil/x",
                "--certificate-oidc-issuer", GITHUB_ISSUER, exp.by_digest)
    assert v.returncode != 0


def test_keyless_token_from_the_environment(registry: RegistryServer, unique_repo: str, tmp_path: Path,
                                           sigstore_stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The signer's CLI hands the process environment down (``SIGSTORE_ID_TOKEN``, as ``sign`` reads it);
    ``run_phase`` itself reads none: ``PhaseOptions.environment`` is where it looks."""
    from sigward.oci.store import StoreOptions
    from sigward.signer.config import parse_cosign_config, parse_report
    from sigward.signer.phase import PhaseError, PhaseOptions, run_phase

    exp = export(registry, tmp_path / "build", unique_repo, ("v1",))
    config = cosign_toml(tmp_path / "cosign.toml", [{
        "signing-config": str(sigstore_stack.signing_config),
        "trusted-root": str(sigstore_stack.trusted_root), "export-sbom": "none"}])
    token = sigstore_stack.minter.mint_github()
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", token)
    options = PhaseOptions(store_options=lambda host: StoreOptions(allow_http_registry=True))
    with pytest.raises(PhaseError, match="no identity token for keyless signing"):
        run_phase(parse_report(exp.report.read_text()), parse_cosign_config(config.read_text()), options)
    assert tags(registry, unique_repo) == {"v1"}
    p = run_signer(exp, config, "-insecure-registry", registry.host, env={"SIGSTORE_ID_TOKEN": token})
    assert p.returncode == 0, p.stderr
    v = sigward("verify", "--trusted-root", str(sigstore_stack.trusted_root), "--certificate-identity",
                IDENTITY, "--certificate-oidc-issuer", GITHUB_ISSUER, "--allow-http-registry", exp.by_digest)
    assert v.returncode == 0, v.stderr


def test_credentials_from_cnb_registry_auth(tls_registry: RegistryServer, unique_repo: str, tmp_path: Path,
                                            keys: dict[str, Path]) -> None:
    """A registry with TLS and basic auth: the exporter and the signer both take CNB_REGISTRY_AUTH."""
    import base64

    reg = tls_registry
    basic = base64.b64encode(f"{reg.username}:{reg.password}".encode()).decode()
    auth = {"CNB_REGISTRY_AUTH": json.dumps({reg.host: f"Basic {basic}"}),
            "DOCKER_CONFIG": str(tmp_path / "no-docker-config")}
    exp = export(reg, tmp_path / "build", unique_repo, ("v1",), env=auth)
    config = cosign_toml(tmp_path / "cosign.toml", [key_config(keys, "k1")])
    # -insecure-registry: the test CA is not in the system store (the lifecycle's meaning: skip TLS checks)
    p = run_signer(exp, config, "-insecure-registry", reg.host, env={"DOCKER_CONFIG": auth["DOCKER_CONFIG"]})
    assert p.returncode == 112 and "cannot read" in p.stderr and "nothing was signed" in p.stderr
    p = run_signer(exp, config, "-insecure-registry", reg.host, env=auth)
    assert p.returncode == 0, p.stderr
    v = sigward("verify", "--key", f"{keys['k1']}.pub", NOTLOG, "--registry-username", str(reg.username),
                "--registry-password", str(reg.password), "--registry-cacert", str(reg.ca_file),
                exp.by_digest)
    assert v.returncode == 0, v.stderr


def test_phase_is_a_library_operation(registry: RegistryServer, unique_repo: str, tmp_path: Path,
                                      keys: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """run_phase prints nothing and reads no environment: progress comes back as events, results as values."""
    from sigward.signer.config import parse_cosign_config, parse_report
    from sigward.signer.phase import PhaseOptions, run_phase

    exp = export(registry, tmp_path / "build", unique_repo, ("v1",))
    cfg = parse_cosign_config(cosign_toml(tmp_path / "cosign.toml", [
        {"key": f"{keys['k2']}.key", "tlog-upload": False, "export-sbom": "attachment"}]).read_text())
    monkeypatch.setenv("COSIGN_PASSWORD", "not-this-one")  # ignored: the password comes in through options
    events: list[tuple[str, str]] = []
    result = run_phase(parse_report(exp.report.read_text()), cfg, PhaseOptions(
        default_password=b"second-pw", on_event=lambda level, msg: events.append((level, msg))))
    assert capsys.readouterr() == ("", "")
    assert [(w.kind, w.subject) for w in result.written][:2] == [
        ("signature", exp.by_digest), ("attachment", exp.by_digest)]
    assert [f.path for f in result.sboms] == [
        "example_hello/sbom.syft.json", "example_hello/web/sbom.cdx.json", "example_hello/web/sbom.spdx.json"]
    assert any(level == "info" and msg.startswith(f"Signed {exp.by_digest}") for level, msg in events)


def test_keyless_without_a_token_refused_nothing_signed(registry: RegistryServer, unique_repo: str,
                                                        tmp_path: Path, sigstore_stack: Any) -> None:
    exp = export(registry, tmp_path / "build", unique_repo, ("v1",))
    config = cosign_toml(tmp_path / "cosign.toml", [{
        "signing-config": str(sigstore_stack.signing_config),
        "trusted-root": str(sigstore_stack.trusted_root)}])
    # no token anywhere: a bare environment (no SIGSTORE_ID_TOKEN, no CI ambient credentials)
    bare = {k: os.environ[k] for k in ("PATH", "HOME", "PYTHONPATH", "TMPDIR") if k in os.environ}
    p = subprocess.run([sys.executable, "-m", "sigward", "signer", "-report", str(exp.report),
                        "-cosign-config", str(config)], capture_output=True, text=True, env=bare)
    assert p.returncode == 112, p.stderr
    assert p.stderr.startswith(f"Error: {config}: configs[1]: no identity token for keyless signing: set "
                               "identity-token")
    assert tags(registry, unique_repo) == {"v1"}


def test_tags_in_several_repositories_each_signed(registry: RegistryServer, unique_repo: str, tmp_path: Path,
                                                  keys: dict[str, Path]) -> None:
    """The exporter may name one image in several repositories (same registry): each is signed there."""
    mirror = f"{unique_repo}-mirror"
    exp = export(registry, tmp_path / "build", unique_repo, ("v1", f"{registry.host}/{mirror}:v1"))
    config = cosign_toml(tmp_path / "cosign.toml", [key_config(keys, "k1", **{"export-sbom": "none"})])
    p = run_signer(exp, config)
    assert p.returncode == 0, p.stderr
    assert "Signed 2 image(s) with 1 config(s): 2 signatures" in p.stdout
    for repo in (unique_repo, mirror):
        v = sigward("verify", "--key", f"{keys['k1']}.pub", NOTLOG, "-a", "team=payments",
                    f"{registry.host}/{repo}@{exp.digest}")
        assert v.returncode == 0, v.stderr


# -- keys held elsewhere: the config's key reference goes to sigward's key providers unchanged ---------------


def test_pkcs11_key_in_a_token(registry: RegistryServer, unique_repo: str, tmp_path: Path) -> None:
    """A SoftHSM2 token's EC key signs through `key = "pkcs11:…"`: the private key never leaves the token."""
    from tests.fixtures.softhsm import start_softhsm

    hsm = start_softhsm(tmp_path / "hsm")
    exp = export(registry, tmp_path / "build", unique_repo, ("v1",))
    config = cosign_toml(tmp_path / "cosign.toml", [
        {"key": hsm.uri("ec-p256", pin=True), "tlog-upload": False}])
    p = run_signer(exp, config, env=hsm.env())
    assert p.returncode == 0, p.stderr
    assert "1 signature, 2 attestations" in p.stdout  # CycloneDX and SPDX
    v = sigward("verify", "--key", hsm.uri("ec-p256", pin=True), NOTLOG, "-a", "team=payments", exp.by_digest,
                env=hsm.env())
    assert v.returncode == 0, v.stderr
    a = sigward("verify-attestation", "--key", hsm.uri("ec-p256", pin=True), NOTLOG, "--type", "cyclonedx",
                exp.by_digest, env=hsm.env())
    assert a.returncode == 0, a.stderr
    # the other key on the token did not sign it
    assert sigward("verify", "--key", hsm.uri("ec-p384", pin=True), NOTLOG, exp.by_digest,
                   env=hsm.env()).returncode != 0
