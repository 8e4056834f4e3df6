"""``import-key-pair``: turn an unencrypted PEM private key into a cosign key pair.

Accepted inputs are what cosign's ``ImportKeyPair`` accepts - ``RSA PRIVATE KEY`` (PKCS#1), ``EC PRIVATE
KEY`` (SEC1) and ``PRIVATE KEY`` (PKCS#8 RSA/ECDSA/Ed25519) - and keys are checked like sigstore's
``goodkey``: weak or exotic keys are refused at import time rather than producing signatures nobody
can verify. The error texts are cosign's (``TestImportPrivateKey``) so scripts matching on them keep
working; the DER shape is checked first because ``cryptography`` would load a PKCS#8 body inside an
``EC PRIVATE KEY`` block that Go refuses.
"""

from __future__ import annotations

from typing import Any

from sigward.errors import KeyFileError
from sigward.keys import pem
from sigward.keys.encrypted import _der_private_key_kind, encrypt_private_key
from sigward.keys.keytypes import EC_CURVES, GO_CURVE_NAMES, PrivateKey

_RSA_SIZES = (2048, 3072, 4096)


def _small_primes_product() -> int:
    # goodkey (from Let's Encrypt's boulder) rejects moduli with a prime factor below 752.
    sieve = bytearray([1]) * 752
    sieve[0:2] = b"\0\0"
    product = 1
    for i in range(2, 752):
        if sieve[i]:
            product *= i
            sieve[i * i::i] = bytearray(len(sieve[i * i::i]))
    return product


def validate_rsa(key: object) -> None:
    """sigstore goodkey's RSA rules (private or public key): 2048/3072/4096 bits, e = 65537, no small factors.

    goodkey's ROCA and Fermat-factorisation checks are not reproduced.
    """
    import math

    k: Any = key
    pub: Any = k.public_key() if hasattr(k, "private_numbers") else k
    nums = pub.public_numbers()
    bits = nums.n.bit_length()
    if bits not in _RSA_SIZES:
        raise KeyFileError(f"error validating rsa key: key size not supported: {bits}")
    if nums.e != 65537:
        raise KeyFileError("error validating rsa key: key exponent must be 65537")
    if math.gcd(nums.n, _small_primes_product()) != 1:
        raise KeyFileError("error validating rsa key: key divisible by small prime")


def _ecdsa(key: object, parse_error: str) -> PrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFileError(parse_error)
    name = key.curve.name
    if name not in GO_CURVE_NAMES:  # Go's x509 cannot even parse non-NIST curves
        raise KeyFileError(parse_error)
    if name not in EC_CURVES:
        raise KeyFileError(f"error validating ecdsa key: ECDSA curve {GO_CURVE_NAMES[name]} not allowed")
    return key


def parse_import_key(raw: bytes) -> PrivateKey:
    """The validated private key in an importable PEM file; KeyFileError with cosign's texts."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

    block = pem.decode(raw)
    if block is None:
        raise KeyFileError("invalid pem block")
    kind = _der_private_key_kind(block.data)

    def load(err: str) -> object:
        # RSA consistency checks are slow for big keys (seconds at 5120 bits), so the size and exponent
        # rules run on an unchecked load first and the full check only for keys we would accept.
        try:
            k = serialization.load_der_private_key(block.data, password=None,
                                                   unsafe_skip_rsa_key_validation=True)
            if isinstance(k, rsa.RSAPrivateKey):
                validate_rsa(k)
                k = serialization.load_der_private_key(block.data, password=None)
            return k
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise KeyFileError(err) from None

    if block.type == "RSA PRIVATE KEY":
        if kind != "pkcs1":
            raise KeyFileError("error parsing rsa private key: x509: failed to parse private key "
                               "(use ParsePKCS8PrivateKey instead for this key format)"
                               if kind == "pkcs8" else
                               "error parsing rsa private key: x509: malformed private key")
        key = load("error parsing rsa private key")
        if not isinstance(key, rsa.RSAPrivateKey):
            raise KeyFileError("error parsing rsa private key")
        validate_rsa(key)
        return key
    if block.type == "EC PRIVATE KEY":
        if kind != "sec1":
            raise KeyFileError("error parsing ecdsa private key")
        return _ecdsa(load("error parsing ecdsa private key"), "error parsing ecdsa private key")
    if block.type == "PRIVATE KEY":
        err = "error parsing pkcs #8 private key"
        if kind != "pkcs8":
            raise KeyFileError(err)
        key = load(err)
        if isinstance(key, rsa.RSAPrivateKey):
            validate_rsa(key)
            return key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return _ecdsa(key, err)
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key
        if isinstance(key, x25519.X25519PrivateKey):  # Go parses it (as ECDH) and cosign then refuses
            raise KeyFileError("unexpected private key")
        raise KeyFileError(err)
    raise KeyFileError("unsupported private key")


def import_key_pair(raw: bytes, password: bytes, source: str) -> tuple[bytes, bytes]:
    """(encrypted private key PEM, public key PEM) for the key in ``raw``; errors name ``source``."""
    from sigward.keys.keytypes import public_key_pem

    try:
        key = parse_import_key(raw)
    except KeyFileError as e:
        raise KeyFileError(f"{source}: {e}") from None
    return encrypt_private_key(key, password), public_key_pem(key.public_key())
