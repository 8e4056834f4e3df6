"""cosign's encrypted private-key file: scrypt + NaCl secretbox around a PKCS#8 key.

Format (cosign-wire-formats.md §1.2): PEM ``ENCRYPTED SIGSTORE PRIVATE KEY`` (legacy ``ENCRYPTED COSIGN
PRIVATE KEY`` is read too) whose body is the compact Go-JSON envelope of go-securesystemslib
``encrypted.data``. We *write* N=32768 although current cosign writes 65536: cosign <= 2.1 reads only
32768, and every later version accepts it, so our keys work everywhere. On reading, only the three
parameter sets cosign accepts are allowed - anything else would let a crafted file make us allocate
gigabytes in scrypt. The plaintext must be PKCS#8 because cosign parses it with
``x509.ParsePKCS8PrivateKey``; a SEC1 plaintext that ``cryptography`` would happily load is refused
with cosign's message, so a file we accept is one cosign accepts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from typing import Any

from sigward import gojson, safejson
from sigward.errors import KeyFileError
from sigward.keys import pem
from sigward.keys.keytypes import PrivateKey, check_private_key

SIGSTORE_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"
ENCRYPTED_PEM_TYPES = (SIGSTORE_PEM_TYPE, COSIGN_PEM_TYPE)

WRITE_SCRYPT_N = 32768
# (N, r, p) sets cosign's go-securesystemslib accepts: Legacy, Standard, OWASP.
_ACCEPTED_PARAMS = {(32768, 8, 1), (65536, 8, 1), (131072, 8, 1)}
_KEY_LEN = 32
_SALT_LEN = 32
_NONCE_LEN = 24


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    # hashlib's default maxmem (32 MiB) is below what N >= 65536 needs (128*r*N bytes).
    maxmem = 128 * r * (n + p + 2) + (1 << 20)
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=_KEY_LEN)


def encrypt(plaintext: bytes, password: bytes, *, n: int = WRITE_SCRYPT_N) -> bytes:
    """The JSON envelope (Go field order, compact) sealing ``plaintext`` under ``password``."""
    from nacl.secret import SecretBox

    if (n, 8, 1) not in _ACCEPTED_PARAMS:
        raise ValueError(f"scrypt N={n} would not be readable by cosign")
    salt = os.urandom(_SALT_LEN)
    nonce = os.urandom(_NONCE_LEN)
    key = _scrypt(password, salt, n, 8, 1)
    sealed = SecretBox(key).encrypt(plaintext, nonce).ciphertext  # tag || body, as Go's secretbox.Seal
    def b64(b: bytes) -> str:
        return base64.b64encode(b).decode("ascii")

    # Field order is go-securesystemslib's struct order; gojson keeps dict order.
    return gojson.marshal({
        "kdf": {"name": "scrypt", "params": {"N": n, "r": 8, "p": 1}, "salt": b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": b64(nonce)},
        "ciphertext": b64(sealed),
    })


def _field(obj: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(obj, dict) or name not in obj:
            raise KeyFileError(f"decrypt: malformed encrypted key: missing {'.'.join(path)}")
        obj = obj[name]
    return obj


def _b64_field(obj: Any, *path: str) -> bytes:
    v = _field(obj, *path)
    if not isinstance(v, str):
        raise KeyFileError(f"decrypt: malformed encrypted key: {'.'.join(path)} is not a string")
    try:
        return base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"decrypt: malformed encrypted key: {'.'.join(path)} is not base64") from None


def decrypt(envelope: bytes, password: bytes) -> bytes:
    """The plaintext inside a JSON envelope; KeyFileError (cosign's texts) on any problem."""
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    try:
        doc = safejson.loads(envelope)
    except (ValueError, UnicodeDecodeError):
        raise KeyFileError("decrypt: malformed encrypted key: not JSON") from None
    kdf_name = _field(doc, "kdf", "name")
    if kdf_name != "scrypt":
        raise KeyFileError(f"decrypt: encrypted: unknown kdf name {json.dumps(kdf_name)}")
    cipher_name = _field(doc, "cipher", "name")
    if cipher_name != "nacl/secretbox":
        raise KeyFileError(f"decrypt: encrypted: unknown cipher name {json.dumps(cipher_name)}")
    params = tuple(_field(doc, "kdf", "params", k) for k in ("N", "r", "p"))
    if not all(type(v) is int for v in params) or params not in _ACCEPTED_PARAMS:
        raise KeyFileError("decrypt: unsupported scrypt parameters")
    salt = _b64_field(doc, "kdf", "salt")
    nonce = _b64_field(doc, "cipher", "nonce")
    sealed = _b64_field(doc, "ciphertext")
    if len(nonce) != _NONCE_LEN:
        raise KeyFileError(f"decrypt: malformed encrypted key: nonce is {len(nonce)} bytes, not 24")
    n, r, p = params
    key = _scrypt(password, salt, n, r, p)
    try:
        return SecretBox(key).decrypt(sealed, nonce)
    except CryptoError:
        raise KeyFileError("decrypt: encrypted: decryption failed (wrong password?)") from None


def encrypt_private_key(key: PrivateKey, password: bytes) -> bytes:
    """PEM ``ENCRYPTED SIGSTORE PRIVATE KEY`` holding ``key`` as PKCS#8, sealed with ``password``."""
    from cryptography.hazmat.primitives import serialization

    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem.encode(SIGSTORE_PEM_TYPE, encrypt(der, password))


def is_encrypted_key(raw: bytes) -> bool:
    block = pem.decode(raw)
    return block is not None and block.type in ENCRYPTED_PEM_TYPES


def decrypt_private_key(raw: bytes, password: bytes, source: str) -> PrivateKey:
    """Load a cosign encrypted key file's contents; errors name ``source`` (a path or env:// ref)."""
    try:
        block = pem.decode(raw)
        if block is None:
            raise KeyFileError("invalid pem block")
        if block.type not in ENCRYPTED_PEM_TYPES:
            raise KeyFileError(f"unsupported pem type: {block.type}")
        der = decrypt(block.data, password)
        key = parse_pkcs8(der)
        check_private_key(key)
        return key
    except KeyFileError as e:
        raise KeyFileError(f"{source}: {e}") from None


def parse_pkcs8(der: bytes) -> PrivateKey:
    """Parse PKCS#8 only, refusing SEC1/PKCS#1 with Go's ``x509.ParsePKCS8PrivateKey`` texts."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    kind = _der_private_key_kind(der)
    if kind == "sec1":
        raise KeyFileError("parsing private key: x509: failed to parse private key "
                           "(use ParseECPrivateKey instead for this key format)")
    if kind == "pkcs1":
        raise KeyFileError("parsing private key: x509: failed to parse private key "
                           "(use ParsePKCS1PrivateKey instead for this key format)")
    if kind != "pkcs8":
        raise KeyFileError("parsing private key: x509: malformed private key")
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise KeyFileError(f"parsing private key: {e}") from None
    return key  # type: ignore[return-value]  # narrowed by check_private_key at the callers


def _der_private_key_kind(der: bytes) -> str:
    """Tell PKCS#8, SEC1 and PKCS#1 apart from the shape of the outer SEQUENCE.

    PKCS#8 is SEQUENCE { INTEGER, SEQUENCE algId, OCTET STRING }, SEC1 is SEQUENCE { INTEGER 1,
    OCTET STRING, ... } and PKCS#1 is SEQUENCE { INTEGER 0, INTEGER n, ... }: the tag of the second
    element is enough.
    """
    try:
        tag, body, _ = _der_tlv(der, 0)
        if tag != 0x30:
            return "other"
        tag1, _, nxt = _der_tlv(body, 0)
        if tag1 != 0x02:
            return "other"
        tag2, _, _ = _der_tlv(body, nxt)
    except IndexError:
        return "other"
    return {0x30: "pkcs8", 0x04: "sec1", 0x02: "pkcs1"}.get(tag2, "other")


def _der_tlv(buf: bytes, pos: int) -> tuple[int, bytes, int]:
    tag = buf[pos]
    length = buf[pos + 1]
    pos += 2
    if length & 0x80:
        nbytes = length & 0x7F
        if nbytes == 0 or nbytes > 4:
            raise IndexError("bad DER length")
        length = int.from_bytes(buf[pos:pos + nbytes], "big")
        pos += nbytes
    if pos + length > len(buf):
        raise IndexError("truncated DER")
    return tag, buf[pos:pos + length], pos + length
