"""hashivault: Vault transit through hvac, against a wire-level transit stand-in
(tests/fixtures/vault_transit.py) that real cosign (Vault's own Go API client) also signs and verifies
against."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sigward.errors import KeyFileError
from sigward.keys.remote import hashivault
from tests.fixtures.gotools import go_tool
from tests.fixtures.images import make_layer, push_image
from tests.fixtures.vault_transit import VaultTransit

NOTLOG = "--insecure-ignore-tlog=true"


def test_reference_form() -> None:
    assert hashivault.parse("hashivault://release-key.v2") == "release-key.v2"
    assert hashivault.parse("openbao://k") == "k"
    for bad in ("hashivault://", "hashivault://a/b", "hashivault://-x", "hashivault://x-"):
        with pytest.raises(KeyFileError, match="format hashivault://<key>"):
            hashivault.parse(bad)


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "ecdsa-p384", "rsa-2048"])
def test_sign_and_verify_image_and_blob(run: Callable[..., Any], vault: VaultTransit,
                                        layout: Callable[..., str], tmp_path: Path, key_type: str) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    name = f"release-{key_type}"
    vault.create_key(name, key_type)
    uri = f"hashivault://{name}"
    pub = tmp_path / "vault.pub"
    assert run("public-key", "--key", uri, "--outfile", str(pub)).code == 0
    for fmt in ("--new-bundle-format=true", "--new-bundle-format=false"):
        ref = layout(f"{key_type} {fmt}")
        r = run("sign", "--tlog-upload=false", fmt, "--key", uri, ref)
        assert r.code == 0, r.err
        assert run("verify", "--key", str(pub), NOTLOG, fmt, ref).code == 0
        assert run("verify", "--key", uri, NOTLOG, fmt, ref).code == 0
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(2 * 1024 * 1024))
    sig = tmp_path / "blob.sig"
    r = run("sign-blob", "--tlog-upload=false", "--new-bundle-format=false", "--key", uri,
            "--output-signature", str(sig), str(blob))
    assert r.code == 0, r.err
    # Only the digest went to Vault, marked prehashed, with the key type's hash.
    h = hashes.SHA384() if key_type == "ecdsa-p384" else hashes.SHA256()
    [last] = [b for m, p, b in vault.requests if p == f"/v1/transit/sign/{name}"][-1:]
    assert last["prehashed"] is True and last["hash_algorithm"] == f"sha2-{h.digest_size * 8}"
    assert len(base64.b64decode(last["input"])) == h.digest_size
    key = serialization.load_pem_public_key(pub.read_bytes())
    raw = base64.b64decode(sig.read_bytes())
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(raw, blob.read_bytes(), ec.ECDSA(h))
    else:
        key.verify(raw, blob.read_bytes(), padding.PKCS1v15(), h)  # type: ignore[union-attr]


def test_generate_key_pair_kms(run: Callable[..., Any], vault: VaultTransit, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = run("generate-key-pair", "--kms", "hashivault://generated")
    assert r.code == 0, r.err
    assert vault.keys["generated"]["type"] == "ecdsa-p256"
    assert run("public-key", "--key", "hashivault://generated").out == (tmp_path / "cosign.pub").read_text()


def test_errors_and_retries(run: Callable[..., Any], vault: VaultTransit, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    blob = tmp_path / "b"
    blob.write_text("x")
    sign = ("sign-blob", "--tlog-upload=false", "--new-bundle-format=false", "--key")
    vault.create_key("ok")
    vault.create_key("aes", "aes256-gcm96")

    def fails(uri: str, want: str) -> str:
        r = run(*sign, uri, str(blob))
        assert r.code != 0 and r.err.count("\n") == 1 and want in r.err and uri in r.err, r.err
        return str(r.err)

    fails("hashivault://missing", "key not found")
    fails("hashivault://aes", "wrong key usage")
    monkeypatch.setenv("VAULT_TOKEN", "hvs.wrong-token-value")
    assert "hvs.wrong-token-value" not in fails("hashivault://ok", "access denied")
    monkeypatch.setenv("VAULT_TOKEN", vault.env()["VAULT_TOKEN"])
    # A sealed Vault answering 503 twice, then recovering: retried, and the signature made.
    vault.fail_next(2, 503)
    assert run(*sign, "hashivault://ok", str(blob)).code == 0
    vault.fail_next(20, 429)
    fails("hashivault://ok", "throttled")
    vault.reset()
    monkeypatch.delenv("VAULT_ADDR")
    fails("hashivault://ok", "VAULT_ADDR is not set")
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:1")
    fails("hashivault://ok", "cannot reach Vault")


def test_cosign_interop(run: Callable[..., Any], vault: VaultTransit, registry: Any,
                        unique_repo: str) -> None:
    """Real cosign v3.1.2 (Vault's Go API client) against the same transit key, both directions."""
    vault.create_key("interop")
    uri = "hashivault://interop"
    cosign = str(go_tool("cosign"))
    env = {**os.environ, **vault.env()}
    a = push_image(registry, unique_repo, "a")
    b = push_image(registry, unique_repo, "b", [make_layer({"b.txt": b"b"})])
    ref_a, ref_b = f"{registry.host}/{unique_repo}@{a}", f"{registry.host}/{unique_repo}@{b}"
    assert run("sign", "--tlog-upload=false", "--key", uri, ref_a).code == 0
    p = subprocess.run([cosign, "verify", "--key", uri, "--insecure-ignore-tlog", "--allow-http-registry",
                        ref_a], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([cosign, "sign", "--key", uri, "--tlog-upload=false", "--use-signing-config=false",
                        "--allow-http-registry", "--yes", ref_b], env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert run("verify", "--key", uri, NOTLOG, ref_b).code == 0


def test_image_build_verifies_its_base_with_a_vault_key(run: Callable[..., Any], vault: VaultTransit,
                                                        tmp_path: Path) -> None:
    from tests.build.helpers import built_ref, demo_base

    vault.create_key("base-publisher")
    uri = "hashivault://base-publisher"
    source = tmp_path / "app"
    source.mkdir()
    (source / "app.py").write_text("print('hi')\n")
    base = demo_base(run, f"oci:{tmp_path}/base:v1")
    unsigned = run("image", "build", "--base", base, "--base-key", uri, NOTLOG, "--layer", str(source),
                   f"oci:{tmp_path}/out")
    assert unsigned.code != 0
    assert run("sign", "--tlog-upload=false", "--key", uri, base).code == 0
    built_ref(run("image", "build", "--base", base, "--base-key", uri, NOTLOG, "--layer", str(source),
                  f"oci:{tmp_path}/out"))
