"""Signers, verifiers and key loading for every key type cosign supports (real crypto throughout)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import pathlib

import pytest

from sigward.errors import KeyFileError, UsageError, VerificationError
from sigward.keys import algorithms, ed25519ph, keytypes, local, pem, providers
from sigward.keys.importing import parse_import_key

VECTORS = pathlib.Path(__file__).resolve().parent.parent / "vectors" / "cosign"
DATA = b"some-payload"


def vector(name: str) -> bytes:
    return (VECTORS / f"{name}.pem").read_bytes()


def key(name: str):
    return parse_import_key(vector(name))


# name, default hash, KnownSignatureAlgorithm, PublicKeyDetails
KEYS = [
    ("validecp256", "sha256", "ECDSA_SHA2_256_NISTP256", "PKIX_ECDSA_P256_SHA_256"),
    ("validecp384", "sha384", "ECDSA_SHA2_384_NISTP384", "PKIX_ECDSA_P384_SHA_384"),
    ("validecp521", "sha512", "ECDSA_SHA2_512_NISTP521", "PKIX_ECDSA_P521_SHA_512"),
    ("validrsapkcs8", "sha256", "RSA_SIGN_PKCS1_2048_SHA256", "PKIX_RSA_PKCS1V15_2048_SHA256"),
    ("ed25519key", "sha512", "ED25519_PH", "PKIX_ED25519_PH"),
]


def flip(sig: bytes, i: int) -> bytes:
    b = bytearray(sig)
    b[i] ^= 0x01
    return bytes(b)


@pytest.mark.parametrize("name, hash_name, known, details", KEYS)
def test_sign_verify_every_key_type(name: str, hash_name: str, known: str, details: str) -> None:
    s = local.LocalSigner(key(name))
    assert s.default_hash == hash_name
    assert algorithms.signing_algorithm(s.public_key) == known
    assert algorithms.key_details(s.public_key) == details
    sig = s.sign(DATA)
    v = local.LocalVerifier(s.public_key)
    v.verify(sig, DATA)
    with pytest.raises(VerificationError, match=r"^invalid signature: "):
        v.verify(flip(sig, len(sig) // 2), DATA)
    with pytest.raises(VerificationError):
        v.verify(sig, DATA + b"!")
    # A signature over the digest is the same scheme: it verifies against the data and vice versa.
    digest = hashlib.new(hash_name, DATA).digest()
    v.verify(s.sign_prehashed(digest, hash_name), DATA)
    v.verify_prehashed(sig, digest, hash_name)
    with pytest.raises(VerificationError):
        v.verify_prehashed(sig, hashlib.new(hash_name, b"other").digest(), hash_name)


def test_signature_encodings() -> None:
    assert local.LocalSigner(key("validecp256")).sign(DATA)[0] == 0x30  # ASN.1 DER, not r||s
    assert len(local.LocalSigner(key("validrsapkcs8")).sign(DATA)) == 256


def test_ed25519_defaults_to_ed25519ph_with_pure_as_option() -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization

    k = key("ed25519key")
    raw_pub = k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ph_sig = local.LocalSigner(k).sign(DATA)
    assert ed25519ph.verify(raw_pub, DATA, ph_sig)
    with pytest.raises(InvalidSignature):
        k.public_key().verify(ph_sig, DATA)
    pure = local.LocalSigner(k, ed25519_pure=True)
    pure_sig = pure.sign(DATA)
    k.public_key().verify(pure_sig, DATA)  # cryptography's pure Ed25519 accepts it
    local.LocalVerifier(k.public_key(), ed25519_pure=True).verify(pure_sig, DATA)
    with pytest.raises(VerificationError):
        local.LocalVerifier(k.public_key()).verify(pure_sig, DATA)  # ph verifier refuses pure
    assert algorithms.signing_algorithm(k.public_key(), prehash_ed25519=False) == "ED25519"
    with pytest.raises(UsageError):
        pure.sign_prehashed(hashlib.sha512(DATA).digest(), "sha512")


def test_hash_override_for_legacy_verify() -> None:
    # cosign's legacy verify passes --signature-digest-algorithm (sha256) even for P-384 keys.
    s = local.LocalSigner(key("validecp384"))
    sig = s.sign_prehashed(hashlib.sha256(DATA).digest(), "sha256")
    local.LocalVerifier(s.public_key, hash_name="sha256").verify(sig, DATA)
    with pytest.raises(VerificationError):
        local.LocalVerifier(s.public_key).verify(sig, DATA)


def test_bad_digest_and_hash_names() -> None:
    s = local.LocalSigner(key("validecp256"))
    with pytest.raises(UsageError, match="sha256 digest is 32 bytes"):
        s.sign_prehashed(b"\x00" * 31, "sha256")
    with pytest.raises(UsageError, match="unsupported hash algorithm 'md5'"):
        s.sign_prehashed(b"\x00" * 16, "md5")


def test_public_key_pem_is_byte_identical_to_go() -> None:
    # cosign's invalidrsawithpubkey vector is Go's PEM of validrsa's public key.
    out = keytypes.public_key_pem(key("validrsa").public_key())
    assert out == vector("invalidrsawithpubkey")
    lines = out.split(b"\n")
    assert lines[0] == b"-----BEGIN PUBLIC KEY-----" and out.endswith(b"-----END PUBLIC KEY-----\n")
    assert all(len(line) == 64 for line in lines[1:-3])


def test_public_key_hint() -> None:
    pub = key("validecp256").public_key()
    hint = keytypes.public_key_hint(pub)
    assert base64.b64decode(hint) == hashlib.sha256(keytypes.public_key_der(pub)).digest()
    assert len(hint) == 44


def test_generate_private_key_by_flag_name() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    for flag, curve in [("ecdsa-sha2-256-nistp256", "secp256r1"), ("ecdsa-sha2-384-nistp384", "secp384r1"),
                        ("ecdsa-sha2-512-nistp521", "secp521r1")]:
        k = algorithms.generate_private_key(flag)
        assert isinstance(k, ec.EllipticCurvePrivateKey) and k.curve.name == curve
    k = algorithms.generate_private_key("rsa-sign-pkcs1-2048-sha256")
    assert isinstance(k, rsa.RSAPrivateKey) and k.key_size == 2048
    assert algorithms.signing_algorithm(algorithms.generate_private_key("ed25519-ph")) == "ED25519_PH"
    with pytest.raises(UsageError, match="unsupported signing algorithm 'dsa'"):
        algorithms.generate_private_key("dsa")
    assert "ed25519" not in algorithms.SIGN_BLOB_FLAGS and len(algorithms.SIGN_BLOB_FLAGS) == 6


# ---- loading -------------------------------------------------------------------------------------

def _self_signed_cert_pem(k) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sigward test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(k, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_load_verifier_from_every_public_form(tmp_path: pathlib.Path, monkeypatch) -> None:
    from cryptography.hazmat.primitives import serialization

    ec_key = key("validecp256")
    sig = local.LocalSigner(ec_key).sign(DATA)
    (tmp_path / "k.pub").write_bytes(keytypes.public_key_pem(ec_key.public_key()))
    (tmp_path / "c.pem").write_bytes(_self_signed_cert_pem(ec_key))
    for ref in ("k.pub", "c.pem"):
        providers.load_verifier(str(tmp_path / ref)).verify(sig, DATA)
    monkeypatch.setenv("SIGWARD_TEST_PUB", (tmp_path / "k.pub").read_text())
    providers.load_verifier("env://SIGWARD_TEST_PUB").verify(sig, DATA)

    rsa_key = key("validrsapkcs1")
    pkcs1 = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    assert pkcs1.startswith(b"-----BEGIN RSA PUBLIC KEY-----")
    (tmp_path / "rsa.pub").write_bytes(pkcs1)
    providers.load_verifier(str(tmp_path / "rsa.pub")).verify(local.LocalSigner(rsa_key).sign(DATA), DATA)


def test_load_verifier_from_encrypted_key_needs_password() -> None:
    path = str(VECTORS / "pemsigstorekey.pem")
    with pytest.raises(KeyFileError, match="encrypted private key and no password source"):
        providers.load_verifier(path)
    s = providers.load_signer(path, lambda confirm: b"hello")
    providers.load_verifier(path, lambda confirm: b"hello").verify(s.sign(DATA), DATA)


@pytest.mark.parametrize("ref, message", [
    ("awskms://alias/x", "awskms://alias/x: kms specification should be in the format awskms://[ENDPOINT]"),
    ("hashivault://a/b", "hashivault://a/b: kms specification should be in the format hashivault://<key>"),
    ("pkcs11:token=x?module-path=/m", "pkcs11:token=x?module-path=/m: invalid uri: one of object and id"),
    ("gcpkms://projects/p", "gcpkms://projects/p: kms specification should be in the format gcpkms://"),
    ("azurekms://v/k", "azurekms key references are not supported yet: azurekms://v/k"),
    ("env://SIGWARD_SURELY_UNSET", "environment variable SIGWARD_SURELY_UNSET is not set or empty"),
    ("/nonexistent/cosign.pub", "reading key /nonexistent/cosign.pub: no such file"),
])
def test_unusable_references(ref: str, message: str) -> None:
    for load in (lambda: providers.load_verifier(ref), lambda: providers.load_signer(ref, lambda c: b"")):
        with pytest.raises(KeyFileError) as e:
            load()
        assert str(e.value).startswith(message)


def test_load_signer_refuses_unencrypted_keys_without_asking_a_password() -> None:
    asked = []
    with pytest.raises(KeyFileError) as e:
        providers.load_signer(str(VECTORS / "validecp256.pem"), lambda c: asked.append(c) or b"")
    assert str(e.value).endswith("validecp256.pem: unsupported pem type: EC PRIVATE KEY")
    assert asked == []


def test_load_verifier_rejects_private_and_unknown_blocks(tmp_path: pathlib.Path) -> None:
    with pytest.raises(KeyFileError, match="unsupported pem type: EC PRIVATE KEY"):
        providers.load_verifier(str(VECTORS / "validecp256.pem"))
    p = tmp_path / "x.pem"
    p.write_bytes(pem.encode("PUBLIC KEY", b"\x30\x03\x02\x01\x00"))
    with pytest.raises(KeyFileError, match=r"x\.pem: cannot parse PUBLIC KEY"):
        providers.load_verifier(str(p))
    p.write_bytes(b"hello")
    with pytest.raises(KeyFileError, match="no PEM block found"):
        providers.load_verifier(str(p))


@pytest.mark.parametrize("name", ["validecp256", "validrsapkcs8", "ed25519key"])
@pytest.mark.parametrize("pure", [False, True])
def test_garbage_signatures_are_verification_errors(name: str, pure: bool) -> None:
    v = local.LocalVerifier(key(name).public_key(), ed25519_pure=pure)
    for sig in (b"", b"\x30\x02", b"x" * 300):
        with pytest.raises(VerificationError):
            v.verify(sig, DATA)
