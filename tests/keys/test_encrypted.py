"""cosign encrypted key files: the cosign repository's vectors and our own envelopes."""

from __future__ import annotations

import base64
import json
import pathlib

import pytest

from sigward.errors import KeyFileError
from sigward.keys import encrypted, pem

VECTORS = pathlib.Path(__file__).resolve().parent.parent / "vectors" / "cosign"


def vector(name: str) -> bytes:
    return (VECTORS / f"{name}.pem").read_bytes()


def envelope_of(pem_bytes: bytes) -> dict:
    block = pem.decode(pem_bytes)
    assert block is not None
    return json.loads(block.data)


def pem_with(doc: dict, ptype: str = encrypted.SIGSTORE_PEM_TYPE) -> bytes:
    return pem.encode(ptype, json.dumps(doc, separators=(",", ":")).encode())


@pytest.mark.parametrize("name", ["pemcosignkey", "pemsigstorekey"])
def test_decrypts_cosign_vectors(name: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = encrypted.decrypt_private_key(vector(name), b"hello", name)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"


def test_sec1_plaintext_is_rejected_like_cosign() -> None:
    # N=65536 vector: also proves hashlib.scrypt gets enough maxmem.
    with pytest.raises(KeyFileError) as e:
        encrypted.decrypt_private_key(vector("pemcosigneckey"), b"hello", "eck.key")
    assert str(e.value) == ("eck.key: parsing private key: x509: failed to parse private key "
                            "(use ParseECPrivateKey instead for this key format)")


def test_wrong_password_names_the_file() -> None:
    with pytest.raises(KeyFileError) as e:
        encrypted.decrypt_private_key(vector("pemsigstorekey"), b"hello\n", "my.key")
    msg = str(e.value)
    assert msg.startswith("my.key: decrypt: encrypted: decryption failed")
    assert "\n" not in msg


def test_round_trip_and_envelope_shape() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    out = encrypted.encrypt_private_key(key, b"")  # empty password is legal, as in cosign
    lines = out.split(b"\n")
    assert lines[0] == b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"
    assert lines[-2] == b"-----END ENCRYPTED SIGSTORE PRIVATE KEY-----" and lines[-1] == b""
    body = lines[1:-2]
    assert all(len(line) == 64 for line in body[:-1]) and 0 < len(body[-1]) <= 64

    raw_json = base64.b64decode(b"".join(body))
    doc = json.loads(raw_json)
    # Go json.Marshal of go-securesystemslib's struct: this exact key order, compact.
    assert raw_json.startswith(b'{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"')
    assert list(doc) == ["kdf", "cipher", "ciphertext"]
    assert list(doc["kdf"]) == ["name", "params", "salt"]
    assert list(doc["cipher"]) == ["name", "nonce"]
    assert b" " not in raw_json
    assert len(base64.b64decode(doc["kdf"]["salt"])) == 32
    assert len(base64.b64decode(doc["cipher"]["nonce"])) == 24
    # secretbox output = 16-byte tag + PKCS#8 body (138 bytes for P-256)
    assert len(base64.b64decode(doc["ciphertext"])) == 16 + 138

    back = encrypted.decrypt_private_key(out, b"", "k")
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert back.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)


def _cosign_doc() -> dict:
    return envelope_of(vector("pemsigstorekey"))


@pytest.mark.parametrize("params", [
    {"N": 16384, "r": 8, "p": 1},
    {"N": 262144, "r": 8, "p": 1},
    {"N": 32768, "r": 16, "p": 1},
    {"N": 32768, "r": 8, "p": 2},
    {"N": 32768.0, "r": 8, "p": 1},
])
def test_unsupported_scrypt_parameters(params: dict) -> None:
    doc = _cosign_doc()
    doc["kdf"]["params"] = params
    with pytest.raises(KeyFileError, match=r"^k: decrypt: unsupported scrypt parameters$"):
        encrypted.decrypt_private_key(pem_with(doc), b"hello", "k")


def test_unknown_kdf_and_cipher_names() -> None:
    doc = _cosign_doc()
    doc["kdf"]["name"] = "argon2"
    with pytest.raises(KeyFileError, match='unknown kdf name "argon2"'):
        encrypted.decrypt_private_key(pem_with(doc), b"hello", "k")
    doc = _cosign_doc()
    doc["cipher"]["name"] = "aes-gcm"
    with pytest.raises(KeyFileError, match='unknown cipher name "aes-gcm"'):
        encrypted.decrypt_private_key(pem_with(doc), b"hello", "k")


@pytest.mark.parametrize("raw, message", [
    (pem.encode("PRIVATE KEY", b"\x30\x00"), "k: unsupported pem type: PRIVATE KEY"),
    (pem.encode("ENCRYPTED PRIVATE KEY", b"\x30\x00"), "k: unsupported pem type: ENCRYPTED PRIVATE KEY"),
    (b"not a pem file", "k: invalid pem block"),
    (pem.encode(encrypted.SIGSTORE_PEM_TYPE, b"{not json"), "k: decrypt: malformed encrypted key: not JSON"),
    (pem.encode(encrypted.SIGSTORE_PEM_TYPE, b'{"kdf":{}}'),
     "k: decrypt: malformed encrypted key: missing kdf.name"),
])
def test_bad_files_give_one_line(raw: bytes, message: str) -> None:
    with pytest.raises(KeyFileError) as e:
        encrypted.decrypt_private_key(raw, b"hello", "k")
    assert str(e.value) == message


def test_legacy_label_written_by_nobody_but_read() -> None:
    # Re-label the SIGSTORE vector as COSIGN: same envelope, must load (cosign reads both labels).
    block = pem.decode(vector("pemsigstorekey"))
    assert block is not None
    relabelled = pem.encode(encrypted.COSIGN_PEM_TYPE, block.data)
    assert encrypted.is_encrypted_key(relabelled)
    assert encrypted.decrypt_private_key(relabelled, b"hello", "k").curve.name == "secp256r1"
