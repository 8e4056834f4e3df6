"""gcpkms: the official google-cloud-kms client (REST transport, real Google service-account auth) against
a wire-level Cloud KMS REST stand-in over HTTPS (tests/fixtures/gcp_kms.py)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sigward.errors import KeyFileError
from sigward.keys.remote import gcpkms
from tests.fixtures.gcp_kms import FORBIDDEN_RING, GcpKms

NOTLOG = "--insecure-ignore-tlog=true"


def test_reference_form() -> None:
    base = "gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k"
    assert gcpkms.parse(base) == ("p", "global", "r", "k", "")
    assert gcpkms.parse(base + "/cryptoKeyVersions/3")[4] == "3"
    assert gcpkms.parse(base + "/versions/3")[4] == "3"
    for bad in ("gcpkms://projects/p/keyRings/r/cryptoKeys/k", base + "/cryptoKeyVersions/", base + "/x/1"):
        with pytest.raises(KeyFileError, match="format gcpkms://projects/"):
            gcpkms.parse(bad)


@pytest.mark.parametrize("algorithm", ["EC_SIGN_P256_SHA256", "EC_SIGN_P384_SHA384",
                                       "RSA_SIGN_PKCS1_2048_SHA256", "RSA_SIGN_PSS_2048_SHA256"])
def test_sign_and_verify(run: Callable[..., Any], gcp: GcpKms, layout: Callable[..., str], tmp_path: Path,
                         algorithm: str) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    name = gcp.create_key("release", algorithm.lower().replace("_", "-"), algorithm)
    uri = f"gcpkms://{name}"
    pub = tmp_path / "gcp.pub"
    assert run("public-key", "--key", uri, "--outfile", str(pub)).code == 0
    ref = layout(algorithm)
    r = run("sign", "--tlog-upload=false", "--key", uri, ref)
    assert r.code == 0, r.err
    assert run("verify", "--key", uri, NOTLOG, ref).code == 0
    if "PSS" not in algorithm:  # a bare .pub means PKCS#1 v1.5 for RSA, as in cosign
        assert run("verify", "--key", str(pub), NOTLOG, ref).code == 0
    blob = tmp_path / "blob"
    blob.write_bytes(b"gcp" * 100000)
    sig = tmp_path / "blob.sig"
    r = run("sign-blob", "--tlog-upload=false", "--new-bundle-format=false", "--key", uri,
            "--output-signature", str(sig), str(blob))
    assert r.code == 0, r.err
    # The request carried only the digest; the signature verifies with the public key the server returns.
    [sign_body] = [b for m, p, b in gcp.requests if p.endswith(":asymmetricSign")][-1:]
    h = hashes.SHA384() if "SHA384" in algorithm else hashes.SHA256()
    assert list(sign_body["digest"]) == [h.name] and len(base64.b64decode(sign_body["digest"][h.name])) == \
        h.digest_size
    key = gcp.public_key(name, 1)
    assert key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo) == \
        pub.read_bytes()
    raw = base64.b64decode(sig.read_bytes())
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(raw, blob.read_bytes(), ec.ECDSA(h))
    elif "PSS" in algorithm:
        key.verify(raw, blob.read_bytes(), padding.PSS(padding.MGF1(h), padding.PSS.AUTO), h)
    else:
        key.verify(raw, blob.read_bytes(), padding.PKCS1v15(), h)


def test_versions_generate_and_errors(run: Callable[..., Any], gcp: GcpKms, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives import serialization

    def pem(key: Any) -> str:
        return key.public_bytes(serialization.Encoding.PEM,
                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    name = gcp.create_key("rotating", "k")
    gcp.add_version(name)
    uri = f"gcpkms://{name}"
    # No version: the newest enabled one; an explicit version; a disabled version is refused.
    assert run("public-key", "--key", uri).out == pem(gcp.public_key(name, 2))
    assert run("public-key", "--key", f"{uri}/cryptoKeyVersions/1").out == pem(gcp.public_key(name, 1))
    gcp.set_state(name, 2, "DISABLED")
    assert run("public-key", "--key", uri).out == pem(gcp.public_key(name, 1))
    blob = tmp_path / "b"
    blob.write_text("x")
    sign = ("sign-blob", "--tlog-upload=false", "--new-bundle-format=false", "--key")

    def fails(ref: str, want: str) -> None:
        r = run(*sign, ref, str(blob))
        assert r.code != 0 and r.err.count("\n") == 1 and want in r.err and ref in r.err, r.err

    fails(f"{uri}/cryptoKeyVersions/2", "DISABLED")
    fails(f"gcpkms://{gcp.ring_name('rotating')}/cryptoKeys/missing", "key not found")
    enc = gcp.create_key("rotating", "enc", purpose="ENCRYPT_DECRYPT")
    fails(f"gcpkms://{enc}", "wrong key usage")
    locked = gcp.create_key(FORBIDDEN_RING, "k")
    fails(f"gcpkms://{locked}", "access denied")
    # Transient 503s are retried; a persistent one gives up in one line.
    gcp.fail_next(2, 503)
    assert run(*sign, uri, str(blob)).code == 0
    gcp.fail_next(100, 429)
    fails(uri, "gave up after retries")
    gcp.reset()
    # generate-key-pair --kms creates the key ring and an EC P-256 key, and writes cosign.pub.
    monkeypatch.chdir(tmp_path)
    new = f"gcpkms://{gcp.ring_name('made')}/cryptoKeys/signing"
    r = run("generate-key-pair", "--kms", new)
    assert r.code == 0, r.err
    made = gcp.keys[f"{gcp.ring_name('made')}/cryptoKeys/signing"]
    assert (made["purpose"], made["algorithm"]) == ("ASYMMETRIC_SIGN", "EC_SIGN_P256_SHA256")
    assert (tmp_path / "cosign.pub").read_text() == run("public-key", "--key", new).out
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "none.json"))
    fails(uri, "no Google credentials")
