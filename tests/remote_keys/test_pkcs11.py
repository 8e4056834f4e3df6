"""pkcs11: keys on a real PKCS#11 token (SoftHSM2), end to end through the CLI and checked independently."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sigward.errors import KeyFileError
from sigward.keys.remote import pkcs11 as p11
from tests.fixtures.softhsm import SoftHsm

NOTLOG = "--insecure-ignore-tlog=true"
LABELS = ("ec-p256", "ec-p384", "rsa-2048")


@pytest.fixture
def pin_env(softhsm: SoftHsm, monkeypatch: pytest.MonkeyPatch) -> SoftHsm:
    """The token, with no PIN in the environment (a test passes ``COSIGN_PKCS11_PIN`` per command)."""
    monkeypatch.delenv("COSIGN_PKCS11_PIN", raising=False)
    monkeypatch.delenv("COSIGN_PKCS11_MODULE_PATH", raising=False)
    return softhsm


def test_uri_parsing_follows_cosign(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COSIGN_PKCS11_MODULE_PATH", raising=False)
    u = p11.parse("pkcs11:token=my%20token;id=%01%ff;object=key?module-path=/lib/p11.so&pin-value=1234")
    assert (u.token, u.key_id, u.label, u.module_path, u.pin) == ("my token", b"\x01\xff", "key",
                                                                   "/lib/p11.so", "1234")
    assert p11.parse("pkcs11:slot-id=7;object=k?module-path=/m.so").slot_id == 7
    for bad, msg in [("pkcs11:object=k?module-path=/m.so", "one of token and slot-id must be set"),
                     ("pkcs11:token=t?module-path=/m.so", "one of object and id must be set"),
                     ("pkcs11:slot-id=x;object=k?module-path=/m.so", "slot-id 'x' is not a valid number"),
                     ("pkcs11:token=t;object=k", "module-path or COSIGN_PKCS11_MODULE_PATH must be set")]:
        with pytest.raises(KeyFileError, match=msg):
            p11.parse(bad)
    monkeypatch.setenv("COSIGN_PKCS11_MODULE_PATH", "/env/module.so")
    assert p11.parse("pkcs11:token=t;object=k").module_path == "/env/module.so"
    # cosign's Construct: id always %-encoded, label kept where RFC 7512 allows; never a PIN here.
    assert p11.construct("/usr/lib/m.so", 3, "tok en", b"my key", b"\x01") == \
        "pkcs11:token=tok%20en;slot-id=3;id=%01;object=my%20key?module-path=/usr/lib/m.so"


@pytest.mark.parametrize("label", LABELS)
def test_sign_image_and_verify_with_uri_and_public_key(run: Callable[..., Any], pin_env: SoftHsm,
                                                       layout: Callable[..., str], tmp_path: Path,
                                                       label: str) -> None:
    uri = pin_env.uri(label)
    pub = tmp_path / "token.pub"
    r = run("public-key", "--key", uri, "--outfile", str(pub))
    assert r.code == 0, r.err
    assert pub.read_text().startswith("-----BEGIN PUBLIC KEY-----\n")
    for fmt in ("--new-bundle-format=true", "--new-bundle-format=false"):
        ref = layout(f"signed with {label} {fmt}")
        r = run("sign", "--tlog-upload=false", fmt, "--key", uri, ref, env={"COSIGN_PKCS11_PIN": pin_env.pin})
        assert r.code == 0, r.err
        # Verified with the exported public key and with the token URI itself (public object, no PIN).
        assert run("verify", "--key", str(pub), NOTLOG, fmt, ref).code == 0
        r = run("verify", "--key", uri, NOTLOG, fmt, ref)
        assert r.code == 0, r.err
        other = layout(f"not signed {label} {fmt}")
        assert run("verify", "--key", str(pub), NOTLOG, fmt, other).code != 0


def test_sign_blob_and_check_independently(run: Callable[..., Any], pin_env: SoftHsm,
                                                         tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(3 * 1024 * 1024))
    for label in LABELS:
        uri = pin_env.uri(label)
        sig = tmp_path / f"{label}.sig"
        bundle = tmp_path / f"{label}.sigstore.json"
        r = run("sign-blob", "--tlog-upload=false", "--key", uri, "--bundle", str(bundle), str(blob),
                env={"COSIGN_PKCS11_PIN": pin_env.pin})
        assert r.code == 0, r.err
        r = run("sign-blob", "--tlog-upload=false", "--new-bundle-format=false", "--key", uri,
                "--output-signature", str(sig), str(blob), env={"COSIGN_PKCS11_PIN": pin_env.pin})
        assert r.code == 0, r.err
        # Independent check with `cryptography`: the key type's hash (SHA-384 for P-384), as a key file.
        pub = serialization.load_pem_public_key(run("public-key", "--key", uri).out.encode())
        raw = base64.b64decode(sig.read_bytes())
        h = hashes.SHA384() if label == "ec-p384" else hashes.SHA256()
        if isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(raw, blob.read_bytes(), ec.ECDSA(h))
        else:
            pub.verify(raw, blob.read_bytes(), padding.PKCS1v15(), h)  # type: ignore[union-attr]
        b = json.loads(bundle.read_bytes())
        assert b["messageSignature"]["messageDigest"]["digest"] == \
            base64.b64encode(hashlib.new(h.name, blob.read_bytes()).digest()).decode()
        assert run("verify-blob", "--key", uri, NOTLOG, "--bundle", str(bundle), str(blob),
).code == 0
        assert run("verify-blob", "--key", uri, NOTLOG, "--signature", str(sig), str(blob)).code == 0
        blob2 = tmp_path / "other.bin"
        blob2.write_bytes(b"tampered")
        assert run("verify-blob", "--key", uri, NOTLOG, "--signature", str(sig), str(blob2)).code != 0


def test_pin_sources_and_errors_are_one_line_without_the_pin(run: Callable[..., Any], softhsm: SoftHsm,
                                                             layout: Callable[..., str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COSIGN_PKCS11_PIN", raising=False)
    ref = layout("pin sources")
    # pin-value in the URI works ...
    assert run("sign", "--tlog-upload=false", "--key", softhsm.uri("ec-p256", pin=True), ref).code == 0
    # ... no PIN and no terminal: one line that says how to give one.
    r = run("sign", "--tlog-upload=false", "--key", softhsm.uri("ec-p256"), ref)
    assert r.code != 0 and r.err.count("\n") == 1 and "COSIGN_PKCS11_PIN" in r.err
    # A wrong PIN: named, with the reference, and the PIN itself redacted from the reference.
    wrong = softhsm.uri("ec-p256").replace("?", "?pin-value=0000-wrong-pin&")
    r = run("sign", "--tlog-upload=false", "--key", wrong, ref)
    assert r.code != 0 and r.err.count("\n") == 1
    assert "PIN incorrect" in r.err and "0000-wrong-pin" not in r.err and "pin-value=***" in r.err
    r = run("sign", "--tlog-upload=false", "--key", softhsm.uri("no-such-key", pin=True), ref)
    assert r.code != 0 and "no key pair found" in r.err and softhsm.pin not in r.err


def test_secrets_stay_out_of_debug_output(softhsm: SoftHsm, tmp_path: Path) -> None:
    """SIGWARD_DEBUG=1 turns internal errors into tracebacks; PINs must not appear in any output."""
    blob = tmp_path / "b.txt"
    blob.write_text("x")
    env = {**os.environ, "SIGWARD_DEBUG": "1", "COSIGN_PKCS11_PIN": softhsm.pin}
    for key in (softhsm.uri("ec-p256", pin=True), softhsm.uri("missing", pin=True),
                softhsm.uri("ec-p256").replace("?", "?pin-value=9999-bad&")):
        p = subprocess.run([sys.executable, "-m", "sigward", "sign-blob", "--tlog-upload=false", "--key", key,
                            str(blob)], env=env, capture_output=True, text=True, timeout=60)
        for secret in (softhsm.pin, "9999-bad"):
            assert secret not in p.stdout + p.stderr
        assert "Traceback" not in p.stderr


def test_missing_module_and_token(run: Callable[..., Any], pin_env: SoftHsm, tmp_path: Path) -> None:
    blob = tmp_path / "b"
    blob.write_text("x")
    r = run("sign-blob", "--new-bundle-format=false", "--tlog-upload=false", "--key",
                "pkcs11:token=t;object=k?module-path=relative.so", str(blob))
    assert r.code != 0 and "absolute path" in r.err
    r = run("sign-blob", "--new-bundle-format=false", "--tlog-upload=false", "--key",
                f"pkcs11:token=t;object=k?module-path={tmp_path}/none.so", str(blob))
    assert r.code != 0 and "no such regular file" in r.err
    r = run("sign-blob", "--new-bundle-format=false", "--tlog-upload=false", "--key",
                f"pkcs11:token=nope;object=k?module-path={pin_env.module}", str(blob))
    assert r.code != 0 and "could not find a slot for the token 'nope'" in r.err


def test_pkcs11_tool_lists_tokens_and_key_uris(run: Callable[..., Any], pin_env: SoftHsm,
                                               tmp_path: Path) -> None:
    r = run("pkcs11-tool", "list-tokens", "--module-path", pin_env.module)
    assert r.code == 0, r.err
    assert f"Listing tokens of PKCS11 module '{pin_env.module}'" in r.out
    assert f"\tLabel: {pin_env.token}\n" in r.out and "\tManufacturer: SoftHSM project\n" in r.out
    slot = int(r.out.split(f"\tLabel: {pin_env.token}")[0].rsplit("Token in slot ", 1)[1].strip())
    r = run("pkcs11-tool", "list-keys-uris", "--module-path", pin_env.module, "--slot-id", str(slot),
            "--pin", pin_env.pin)
    assert r.code == 0, r.err
    assert pin_env.pin not in r.out  # unlike cosign, no pin-value in the listed URIs
    uris = [line.split("URI: ", 1)[1] for line in r.out.splitlines() if "URI: " in line]
    assert len(uris) == 3 and "\tLabel: ec-p256\n\tID: 01\n" in r.out
    # A listed URI is usable as is (with the PIN from the environment).
    blob = tmp_path / "b"
    blob.write_text("listed")
    uri = next(u for u in uris if "object=rsa-2048" in u)
    assert uri.startswith(f"pkcs11:token={pin_env.token};slot-id={slot};id=%03;object=rsa-2048?module-path=")
    r = run("sign-blob", "--new-bundle-format=false", "--tlog-upload=false", "--key", uri, str(blob),
            env={"COSIGN_PKCS11_PIN": pin_env.pin})
    assert r.code == 0, r.err
    r = run("pkcs11-tool", "list-keys-uris", "--module-path", pin_env.module, "--slot-id", str(slot))
    assert r.code != 0 and "COSIGN_PKCS11_PIN" in r.err
    assert run("pkcs11-tool", "list-tokens").code != 0


def test_attest_and_attest_blob_with_a_token_key(run: Callable[..., Any], pin_env: SoftHsm,
                                                 layout: Callable[..., str], tmp_path: Path) -> None:
    uri = pin_env.uri("ec-p256")
    pin = {"COSIGN_PKCS11_PIN": pin_env.pin}
    predicate = tmp_path / "sbom.cdx.json"
    predicate.write_text('{"bomFormat":"CycloneDX","specVersion":"1.5"}')
    img = layout("attested on a token")
    r = run("attest", "--tlog-upload=false", "--key", uri, "--type", "cyclonedx", "--predicate",
            str(predicate), img, env=pin)
    assert r.code == 0, r.err
    r = run("verify-attestation", "--key", uri, NOTLOG, "--type", "cyclonedx", img)
    assert r.code == 0, r.err
    blob = tmp_path / "artifact"
    blob.write_text("artifact")
    bundle = tmp_path / "att.sigstore.json"
    r = run("attest-blob", "--tlog-upload=false", "--key", uri, "--type", "cyclonedx", "--predicate",
            str(predicate), "--bundle", str(bundle), str(blob), env=pin)
    assert r.code == 0, r.err
    r = run("verify-blob-attestation", "--key", uri, NOTLOG, "--type", "cyclonedx", "--bundle", str(bundle),
            str(blob))
    assert r.code == 0, r.err
