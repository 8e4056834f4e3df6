"""awskms: AWS KMS's real API (local-kms behind HTTPS), reached through boto3 with a custom endpoint."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sigward.errors import KeyFileError
from sigward.keys.remote import awskms
from tests.fixtures.awskms import LocalKms
from tests.fixtures.gotools import go_tool
from tests.fixtures.images import make_layer, push_image

NOTLOG = "--insecure-ignore-tlog=true"


def test_reference_forms_follow_sigstore() -> None:
    uuid = "1234abcd-12ab-34cd-56ef-1234567890ab"
    arn = f"arn:aws:kms:us-east-2:111122223333:key/{uuid}"
    alias_arn = "arn:aws:kms:us-east-2:111122223333:alias/Example"
    cases = {
        f"awskms:///{uuid}": ("", uuid, ""),
        f"awskms://localhost:4566/{uuid}": ("localhost:4566", uuid, ""),
        f"awskms:///{arn}": ("", arn, ""),
        "awskms:///alias/Example": ("", "alias/Example", "alias/Example"),
        "awskms://localhost:4566/alias/Example": ("localhost:4566", "alias/Example", "alias/Example"),
        f"awskms://localhost:4566/{alias_arn}": ("localhost:4566", alias_arn, "alias/Example"),
    }
    for text, want in cases.items():
        r = awskms.parse(text)
        assert (r.endpoint, r.key_id, r.alias) == want, text
    for bad in ("awskms://alias/x", "awskms:///not-a-key", "awskms://host/arn:aws:kms:x:1:key/abc"):
        with pytest.raises(KeyFileError, match=r"format awskms://\[ENDPOINT\]"):
            awskms.parse(bad)


@pytest.mark.parametrize("spec", ["ECC_NIST_P256", "ECC_NIST_P384", "RSA_2048"])
def test_sign_image_in_registry_and_verify(run: Callable[..., Any], aws_env: dict[str, str],
                                           local_kms: LocalKms, registry: Any, unique_repo: str,
                                           tmp_path: Path, spec: str) -> None:
    alias = f"alias/release-{spec.lower()}"
    local_kms.create_key(spec, alias)
    uri = f"awskms://{local_kms.host}/{alias}"
    digest = push_image(registry, unique_repo, "1.0")
    ref = f"{registry.host}/{unique_repo}@{digest}"
    pub = tmp_path / "kms.pub"
    assert run("public-key", "--key", uri, "--outfile", str(pub)).code == 0
    for fmt in ("--new-bundle-format=true", "--new-bundle-format=false"):
        r = run("sign", "--tlog-upload=false", fmt, "--key", uri, ref)
        assert r.code == 0, r.err
        r = run("verify", "--key", uri, NOTLOG, fmt, ref)
        assert r.code == 0, r.err
        assert json.loads(r.out)[0]["critical"]["image"]["docker-manifest-digest"] == digest
        r = run("verify", "--key", str(pub), NOTLOG, fmt, ref)
        if spec.startswith("RSA"):
            # AWS lists RSASSA_PSS_SHA_256 first, so cosign (and sigward) sign RSA-PSS; a bare .pub means
            # PKCS#1 v1.5 to cosign's verifier and to sigward's alike (docs/keys.md).
            assert r.code != 0 and "RSA-2048 signature does not verify" in r.err
        else:
            assert r.code == 0, r.err
    # Only digests went to KMS: Sign was called once per signature, with MessageType DIGEST (the front
    # forwards to local-kms, which rejects a DIGEST of the wrong length for the algorithm).
    assert local_kms.front.calls["Sign"] == 2


def test_sign_blob_rsa_pss_checked_independently(run: Callable[..., Any], aws_env: dict[str, str],
                                                 local_kms: LocalKms, tmp_path: Path) -> None:
    """An RSA KMS key signs RSASSA_PSS_SHA_256 (its first algorithm), as cosign; check with cryptography."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    local_kms.create_key("RSA_3072", "alias/pss")
    uri = f"awskms://{local_kms.host}/alias/pss"
    blob = tmp_path / "big.bin"
    blob.write_bytes(os.urandom(4 * 1024 * 1024))
    sig = tmp_path / "blob.sig"
    r = run("sign-blob", "--tlog-upload=false", "--new-bundle-format=false", "--key", uri,
            "--output-signature", str(sig), str(blob))
    assert r.code == 0, r.err
    pub = serialization.load_der_public_key(local_kms.client().get_public_key(KeyId="alias/pss")["PublicKey"])
    pub.verify(base64.b64decode(sig.read_bytes()), blob.read_bytes(),  # type: ignore[union-attr,call-arg]
               padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO), hashes.SHA256())  # type: ignore[arg-type]
    assert run("verify-blob", "--key", uri, NOTLOG, "--signature", str(sig), str(blob)).code == 0
    blob.write_bytes(b"changed")
    assert run("verify-blob", "--key", uri, NOTLOG, "--signature", str(sig), str(blob)).code != 0


def test_generate_key_pair_kms_creates_the_key(run: Callable[..., Any], aws_env: dict[str, str],
                                               local_kms: LocalKms, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    uri = f"awskms://{local_kms.host}/alias/generated"
    r = run("generate-key-pair", "--kms", uri)
    assert r.code == 0, r.err
    assert r.err == "Public key written to cosign.pub\n"
    assert not (tmp_path / "cosign.key").exists()
    meta = local_kms.client().describe_key(KeyId="alias/generated")["KeyMetadata"]
    assert (meta["KeySpec"], meta["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    assert run("public-key", "--key", uri).out == (tmp_path / "cosign.pub").read_text()
    # Again: the existing key is reused, not replaced.
    assert run("generate-key-pair", "--kms", uri).code == 0
    assert local_kms.client().describe_key(KeyId="alias/generated")["KeyMetadata"]["KeyId"] == meta["KeyId"]
    r = run("generate-key-pair", "--kms", f"awskms://{local_kms.host}/{meta['KeyId']}")
    assert r.code != 0 and "must use alias key format" in r.err


def test_errors_are_one_line_with_the_key(run: Callable[..., Any], aws_env: dict[str, str],
                                          local_kms: LocalKms, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # the failures below are not transient: fail fast
    blob = tmp_path / "b"
    blob.write_text("x")
    sign = ("sign-blob", "--tlog-upload=false", "--new-bundle-format=false", "--key")

    def fails(uri: str, want: str) -> None:
        r = run(*sign, uri, str(blob))
        assert r.code != 0 and r.err.count("\n") == 1 and want in r.err and uri in r.err, r.err

    fails(f"awskms://{local_kms.host}/alias/does-not-exist", "key not found")
    enc = local_kms.create_key("SYMMETRIC_DEFAULT", "alias/encrypt-only", usage="ENCRYPT_DECRYPT")
    assert enc
    fails(f"awskms://{local_kms.host}/alias/encrypt-only", "wrong key usage ENCRYPT_DECRYPT")
    key_id = local_kms.create_key("ECC_NIST_P256", "alias/disabled")
    local_kms.client().disable_key(KeyId=key_id)
    fails(f"awskms://{local_kms.host}/alias/disabled", "disabled")
    fails("awskms://127.0.0.1:1/alias/x", "cannot reach AWS KMS")
    monkeypatch.delenv("AWS_CA_BUNDLE")
    fails(f"awskms://{local_kms.host}/alias/disabled", "TLS error")
    monkeypatch.setenv("AWS_TLS_INSECURE_SKIP_VERIFY", "1")  # cosign's escape hatch, honoured the same way
    fails(f"awskms://{local_kms.host}/alias/disabled", "disabled")


def test_throttling_is_retried(run: Callable[..., Any], aws_env: dict[str, str], local_kms: LocalKms,
                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local_kms.create_key("ECC_NIST_P256", "alias/busy")
    uri = f"awskms://{local_kms.host}/alias/busy"
    blob = tmp_path / "b"
    blob.write_text("x")
    local_kms.front.throttle("Sign", 2)
    r = run("sign-blob", "--tlog-upload=false", "--new-bundle-format=false", "--key", uri, str(blob))
    assert r.code == 0, r.err
    assert local_kms.front.calls["Sign"] == 3
    local_kms.front.throttle("Sign", 50)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    r = run("sign-blob", "--tlog-upload=false", "--new-bundle-format=false", "--key", uri, str(blob))
    assert r.code != 0 and "throttled" in r.err and r.err.count("\n") == 1


def test_cosign_interop(run: Callable[..., Any], aws_env: dict[str, str], local_kms: LocalKms,
                        registry: Any, unique_repo: str, tmp_path: Path) -> None:
    """Real cosign v3.1.2 and sigward on the same KMS key: each verifies what the other signed."""
    local_kms.create_key("ECC_NIST_P256", "alias/interop")
    uri = f"awskms://{local_kms.host}/alias/interop"
    cosign = str(go_tool("cosign"))
    env = {**os.environ, **aws_env}
    a = push_image(registry, unique_repo, "a")
    b = push_image(registry, unique_repo, "b", [make_layer({"b.txt": b"b"})])
    ref_a, ref_b = f"{registry.host}/{unique_repo}@{a}", f"{registry.host}/{unique_repo}@{b}"
    assert run("sign", "--tlog-upload=false", "--key", uri, ref_a).code == 0
    p = subprocess.run([cosign, "verify", "--key", uri, "--insecure-ignore-tlog", "--allow-http-registry",
                        ref_a], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([cosign, "sign", "--key", uri, "--tlog-upload=false", "--use-signing-config=false",
                        "--allow-http-registry",
                        "--yes", ref_b], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    r = run("verify", "--key", uri, NOTLOG, ref_b)
    assert r.code == 0, r.err
