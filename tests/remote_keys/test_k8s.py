"""k8s://: a cosign key pair in a Kubernetes Secret, through the official client and a kubeconfig,
against a wire-level Secrets API stand-in over HTTPS (tests/fixtures/kube_secrets.py)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sigward.errors import KeyFileError
from sigward.keys.remote import k8s
from tests.fixtures.kube_secrets import FORBIDDEN_NAMESPACE, KubeSecrets

NOTLOG = "--insecure-ignore-tlog=true"
SECRET_PASSWORD = "k8s-test-password"  # a test key's password


def test_reference_form() -> None:
    assert k8s.parse("k8s://signing/cosign") == ("signing", "cosign")
    for bad in ("k8s://ns", "k8s://ns/name/extra", "k8s:///name", "k8s://ns/"):
        with pytest.raises(KeyFileError, match="format k8s://<namespace>/<secret>"):
            k8s.parse(bad)


def test_generate_sign_verify(run: Callable[..., Any], kube: KubeSecrets, layout: Callable[..., str],
                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = run("generate-key-pair", "k8s://signing/release", env={"COSIGN_PASSWORD": SECRET_PASSWORD})
    assert r.code == 0, r.err
    assert r.err == ("Successfully created secret release in namespace signing\n"
                     "Public key written to cosign.pub\n")
    secret = kube.secrets[("signing", "release")]
    assert secret["immutable"] is True  # API server 1.31 >= 1.21, as cosign
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    assert sorted(data) == ["cosign.key", "cosign.password", "cosign.pub"]
    assert data["cosign.password"] == SECRET_PASSWORD.encode()
    assert data["cosign.key"].startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    assert (tmp_path / "cosign.pub").read_bytes() == data["cosign.pub"]
    ref = layout("k8s signed")
    # Signing takes the password from the Secret (COSIGN_PASSWORD here is wrong on purpose).
    r = run("sign", "--tlog-upload=false", "--key", "k8s://signing/release", ref,
            env={"COSIGN_PASSWORD": "not-the-password"})
    assert r.code == 0, r.err
    assert run("verify", "--key", str(tmp_path / "cosign.pub"), NOTLOG, ref).code == 0
    assert run("verify", "--key", "k8s://signing/release", NOTLOG, ref).code == 0
    assert run("public-key", "--key", "k8s://signing/release").out == (tmp_path / "cosign.pub").read_text()
    # cosign updates an existing Secret; an immutable one is refused by the API server: one line.
    r = run("generate-key-pair", "k8s://signing/release", env={"COSIGN_PASSWORD": SECRET_PASSWORD})
    assert r.code != 0 and r.err.count("\n") == 1 and "refused" in r.err
    assert SECRET_PASSWORD not in r.err


def test_errors_are_one_line(run: Callable[..., Any], kube: KubeSecrets, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    blob = tmp_path / "b"
    blob.write_text("x")
    sign = ("sign-blob", "--tlog-upload=false", "--new-bundle-format=false", "--key")

    def fails(uri: str, want: str) -> None:
        r = run(*sign, uri, str(blob))
        assert r.code != 0 and r.err.count("\n") == 1 and want in r.err and uri in r.err, r.err

    fails("k8s://signing/missing", "secret not found")
    fails(f"k8s://{FORBIDDEN_NAMESPACE}/x", "access denied")
    kube.secrets[("signing", "partial")] = {"kind": "Secret", "apiVersion": "v1",
                                           "metadata": {"name": "partial", "namespace": "signing"},
                                           "data": {"cosign.pub": base64.b64encode(b"x").decode()}}
    fails("k8s://signing/partial", "the secret has no cosign.key")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    fails("k8s://signing/missing", "no Kubernetes configuration")
