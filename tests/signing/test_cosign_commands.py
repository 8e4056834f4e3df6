"""cosign v3.1 flags and commands a CI script uses (issue 12 item 6): each one works or refuses clearly."""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SIGN = ("sign", "--tlog-upload=false")
LEGACY = "--new-bundle-format=false"
NOTLOG = "--insecure-ignore-tlog=true"


def _sigward(*argv: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sigward", *argv], capture_output=True, text=True,
                          timeout=60, **kw)


def test_global_flags(run: Callable[..., Any], keys: Any, layout: Callable[..., str], tmp_path: Path) -> None:
    """-t/--timeout, -d/--verbose and --output-file, before or after the command, as cobra takes them."""
    img = layout()
    out = tmp_path / "out.json"
    assert run(*SIGN, "--key", keys.key, img).code == 0
    r = run("--output-file", str(out), "verify", "--key", keys.pub, NOTLOG, img, "-t", "2m")
    assert r.code == 0, r.err
    assert r.out == ""
    assert json.loads(out.read_text())[0]["critical"]["image"]["docker-manifest-digest"] == img.split("@")[1]
    r = run("verify", "--timeout=1h30m", "-d", "--key", keys.pub, NOTLOG, img)
    assert r.code == 0, r.err
    r = run("-t", "3x", "version")
    assert r.code == 1 and 'invalid argument "3x" for "-t, --timeout" flag' in r.err
    # A deadline that passes while the command runs: cosign's message, exit 1, no traceback.
    proc = _sigward("-t", "1ms", "verify", "--key", keys.pub, NOTLOG, img)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("Error: context deadline exceeded")
    assert "Traceback" not in proc.stderr
    # --verbose logs the HTTP conversation (here: none, a layout) and the debug lines of libraries.
    proc = _sigward("--verbose", "version")
    assert proc.returncode == 0


def test_env_version_completion(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "COSIGN_PASSWORD": "secret", "COSIGN_REPOSITORY": "r.example/sigs",
           "SIGSTORE_EXTRA": "x", "HOME": str(tmp_path)}
    proc = _sigward("env", env=env)
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert "COSIGN_PASSWORD=******" in lines and "COSIGN_REPOSITORY=r.example/sigs" in lines
    assert "SIGSTORE_EXTRA=******" in lines
    assert any(line.startswith("# COSIGN_REPOSITORY ") for line in lines)
    proc = _sigward("env", "--show-descriptions=false", "--show-sensitive-values", env=env)
    assert "COSIGN_PASSWORD=secret" in proc.stdout.splitlines() and "# " not in proc.stdout

    proc = _sigward("version", "--json")
    info = json.loads(proc.stdout)
    assert list(info) == ["gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler",
                          "platform"]

    script = tmp_path / "c.bash"
    script.write_text(_sigward("completion", "bash").stdout)
    probe = ('source "$1"; COMP_WORDS=(sigward attach si); COMP_CWORD=2; _sigward; echo "${COMPREPLY[@]}";'
             ' COMP_WORDS=(sigward sign --output-sig); COMP_CWORD=2; _sigward; echo "${COMPREPLY[@]}"')
    got = subprocess.run(["bash", "-c", probe, "bash", str(script)], capture_output=True, text=True)
    assert got.stdout.splitlines() == ["signature", "--output-signature"], got.stderr
    fish = _sigward("completion", "fish").stdout
    assert "__fish_seen_subcommand_from verify' -l certificate-identity" in fish
    assert _sigward("completion", "zsh").stdout.startswith("#compdef sigward")
    proc = _sigward("completion", "powershell")
    assert proc.returncode == 1 and "not supported yet" in proc.stderr


def test_sign_legacy_outputs(run: Callable[..., Any], keys: Any, layout: Callable[..., str],
                             tmp_path: Path) -> None:
    """--output-signature/--output-payload/--output-certificate/--sign-container-identity/--payload."""
    img = layout()
    sig, payload, cert = tmp_path / "sig", tmp_path / "payload", tmp_path / "cert.pem"
    r = run(*SIGN, LEGACY, "--key", keys.key, "--output-signature", str(sig),
            "--output-payload", str(payload), "--output-certificate", str(cert),
            "--sign-container-identity", "registry.example/app", img)
    assert r.code == 0, r.err
    body = json.loads(payload.read_bytes())
    assert body["critical"]["identity"]["docker-reference"] == "registry.example/app"
    assert cert.read_bytes() == Path(keys.pub).read_bytes()
    from sigward.keys.providers import load_verifier

    load_verifier(keys.pub, lambda *_: b"").verify(base64.b64decode(sig.read_bytes()), payload.read_bytes())
    r = run("verify", "--key", keys.pub, NOTLOG, img)
    assert r.code == 0 and '"docker-reference":"registry.example/app"' in r.out
    # A given payload is signed as is.
    own = tmp_path / "own.json"
    own.write_bytes(payload.read_bytes().replace(b'"optional":null', b'"optional":{"by":"hand"}'))
    assert run(*SIGN, LEGACY, "--key", keys.key, "--payload", str(own), img).code == 0
    r = run("verify", "--key", keys.pub, NOTLOG, "-a", "by=hand", img)
    assert r.code == 0, r.err
    # On the bundle format these flags would silently do nothing in cosign v3: refused, with the way out.
    r = run(*SIGN, "--key", keys.key, "--output-signature", str(sig), img)
    assert r.code == 1 and "legacy format only" in r.err and "--bundle FILE" in r.err


@pytest.mark.parametrize(("argv", "fragment"), [
    (("sign", "--sk"), "--sk: hardware security keys"),
    (("sign", "--slot", "9c"), "--slot: hardware security keys"),
    (("verify", "--k8s-keychain"), "--k8s-keychain: the Kubernetes keychain is not available"),
    (("copy", "--registry-server-name", "x"), "--registry-server-name: overriding the TLS server name"),
    (("sign", "--timestamp-client-cert", "c.pem"), "--timestamp-client-cert: TLS client settings"),
    (("sign", "--issue-certificate"), "--issue-certificate: a Fulcio certificate for a --key"),
    (("sign", "--attachment", "sbom"), "--attachment: signing attachments is not supported"),
    (("upload", "blob", "-f", "x"), "upload is not supported (deprecated in cosign)"),
    (("piv-tool", "reset"), "piv-tool is not supported"),
])
def test_refusals_are_one_clear_line(run: Callable[..., Any], argv: tuple[str, ...], fragment: str) -> None:
    r = run(*argv, "oci:/nonexistent@sha256:" + "0" * 64)
    assert r.code == 1
    assert r.err.startswith("Error: ") and fragment in r.err, r.err
    assert len(r.err.strip().splitlines()) <= 2  # the error, and for usage errors the --help hint


def test_false_booleans_of_refused_flags_are_fine(run: Callable[..., Any], keys: Any,
                                                  layout: Callable[..., str]) -> None:
    img = layout()
    assert run(*SIGN, "--sk=false", "--k8s-keychain=false", "--key", keys.key, img).code == 0


def _code_signing_ca(tmp_path: Path, key: Any) -> tuple[Path, Path, Path, Path]:
    """A private CA (root → intermediate) and a code-signing certificate for ``key``'s public key, with
    the e-mail identity and OIDC issuer extension verifiers check."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def ca(subject: str, issuer_name: x509.Name, public: Any, signer: Any) -> Any:
        return (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(issuer_name)
                .public_key(public).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                               critical=True)
                .sign(signer, hashes.SHA256()))

    root_key, inter_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = ca("corp root", name("corp root"), root_key.public_key(), root_key)
    inter = ca("corp intermediate", root.subject, inter_key.public_key(), root_key)
    issuer_der = b"\x0c" + bytes([len(b"https://sso.corp.example")]) + b"https://sso.corp.example"
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(inter.subject)
            .public_key(key).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("builder@corp.example")]),
                           critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"),
                                                      issuer_der), critical=False)
            .sign(inter_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    paths = (tmp_path / "leaf.pem", tmp_path / "chain.pem", tmp_path / "root.pem", tmp_path / "inter.pem")
    paths[0].write_bytes(leaf.public_bytes(pem))
    paths[1].write_bytes(inter.public_bytes(pem) + root.public_bytes(pem))
    paths[2].write_bytes(root.public_bytes(pem))
    paths[3].write_bytes(inter.public_bytes(pem))
    return paths


@pytest.mark.parametrize("legacy", [False, True])
def test_private_ca_certificate_sign_and_verify(run: Callable[..., Any], keys: Any, other_keys: Any,
                                                layout: Callable[..., str], tmp_path: Path,
                                                legacy: bool) -> None:
    """sign --key --certificate --certificate-chain (your own CA), verify --ca-roots/--ca-intermediates or
    --certificate-chain with the identity flags, in both signature formats."""
    from sigward.keys.providers import load_verifier

    pub = load_verifier(keys.pub, lambda *_: b"").public_key
    leaf, chain, root, inter = _code_signing_ca(tmp_path, pub)
    img = layout()
    fmt = (LEGACY,) if legacy else ()
    r = run(*SIGN, *fmt, "--key", keys.key, "--certificate", str(leaf), "--certificate-chain", str(chain),
            img)
    assert r.code == 0, r.err
    ident = ("--certificate-identity", "builder@corp.example", "--certificate-oidc-issuer",
             "https://sso.corp.example", NOTLOG, "--insecure-ignore-sct=true")
    r = run("verify", "--ca-roots", str(root), "--ca-intermediates", str(inter), *ident, img)
    assert r.code == 0, r.err
    r = run("verify", "--certificate-chain", str(chain), *ident, img)
    assert r.code == 0, r.err
    # Another CA: refused; the public-good CAs do not vouch for the private one either.
    (tmp_path / "other").mkdir()
    other_root = _code_signing_ca(tmp_path / "other", pub)[2]
    r = run("verify", "--ca-roots", str(other_root), *ident, img)
    assert r.code != 0 and "does not chain" in r.err
    r = run("verify", *ident, img)
    assert r.code != 0
    # The certificate must be for --key.
    r = run(*SIGN, "--key", other_keys.key, "--certificate", str(leaf), img)
    assert r.code == 1 and "is not for the public key of --key" in r.err
    assert run("verify", "--key", keys.pub, "--ca-roots", str(root), NOTLOG, img).code == 1


def test_manifest_and_dockerfile_verify(run: Callable[..., Any], keys: Any, layout: Callable[..., str],
                                        tmp_path: Path) -> None:
    signed, unsigned = layout(), layout(message="unsigned")
    assert run(*SIGN, "--key", keys.key, signed).code == 0
    manifest = tmp_path / "app.yaml"
    manifest.write_text(f"""\
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      initContainers: [{{name: init, image: "{signed}"}}]
      containers: [{{name: app, image: "{signed}"}}]
---
apiVersion: batch/v1
kind: CronJob
spec:
  jobTemplate: {{spec: {{template: {{spec: {{containers: [{{name: job, image: "{signed}"}}]}}}}}}}}
""")
    r = run("manifest", "verify", "--key", keys.pub, NOTLOG, str(manifest))
    assert r.code == 0, r.err
    assert f"Extracted image(s): {signed}, {signed}, {signed}" in r.err
    assert r.out.count("docker-manifest-digest") == 3
    manifest.write_text(manifest.read_text().replace(f'job, image: "{signed}"', f'job, image: "{unsigned}"'))
    assert run("manifest", "verify", "--key", keys.pub, NOTLOG, str(manifest)).code == 10
    assert "only [.yaml .yml]" in run("manifest", "verify", "--key", keys.pub, str(tmp_path / "x.json")).err

    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"""\
ARG BASE={signed}
FROM {unsigned} AS build
FROM scratch AS empty
COPY --from=build /a /a
FROM ${{BASE}}
""")
    r = run("dockerfile", "verify", "--key", keys.pub, NOTLOG, str(dockerfile))
    assert r.code == 10  # the build stage's image is unsigned
    assert f"Extracted image(s): {unsigned}, {signed}" in r.err and "scratch image ignored" in r.err
    r = run("dockerfile", "verify", "--base-image-only", "--key", keys.pub, NOTLOG, str(dockerfile))
    assert r.code == 0, r.err
    assert f"Extracted image(s): {signed}\n" in r.err
