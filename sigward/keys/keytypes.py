"""The key types sigward signs and verifies with, and the facts cosign attaches to each.

cosign (through sigstore's ``LoadDefaultSignerVerifier``) supports RSA, ECDSA on the NIST curves P-256,
P-384 and P-521, and Ed25519; every other key is refused up front so the failure names the key rather
than surfacing later as an obscure crypto error. The default hash per key follows sigstore's
``GetDefaultPublicKeyDetails``: the hash matches the curve size, RSA uses SHA-256.

Only typing-level imports of ``cryptography`` happen at module level; the checks import lazily.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from sigward.errors import KeyFileError
from sigward.keys import pem

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

    PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
else:
    PrivateKey = object
    PublicKey = object

# cryptography curve name → (Go curve name, default hash).
EC_CURVES = {
    "secp256r1": ("P-256", "sha256"),
    "secp384r1": ("P-384", "sha384"),
    "secp521r1": ("P-521", "sha512"),
}
GO_CURVE_NAMES = {"secp224r1": "P-224", **{k: v[0] for k, v in EC_CURVES.items()}}


def key_kind(key: object) -> str:
    """``"rsa"``, ``"ecdsa"`` or ``"ed25519"`` for a public or private key; KeyFileError otherwise."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_CURVES:
            name = GO_CURVE_NAMES.get(key.curve.name, key.curve.name)
            raise KeyFileError(f"unsupported ECDSA curve {name}")
        return "ecdsa"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "ed25519"
    raise KeyFileError(f"unsupported key type {type(key).__name__}")


def check_private_key(key: object) -> None:
    key_kind(key)


def check_public_key(key: object) -> None:
    key_kind(key)


def default_hash(key: object) -> str:
    """The hash cosign signs with by default for this key (Ed25519ph prehashes with SHA-512)."""
    kind = key_kind(key)
    if kind == "ecdsa":
        return EC_CURVES[key.curve.name][1]  # type: ignore[attr-defined]
    if kind == "rsa":
        return "sha256"
    return "sha512"


def public_key_pem(pub: PublicKey) -> bytes:
    """PKIX ``PUBLIC KEY`` PEM exactly as Go writes it (64-char lines, trailing newline)."""
    return pem.encode("PUBLIC KEY", public_key_der(pub))


def public_key_der(pub: PublicKey | CertificatePublicKeyTypes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_hint(pub: PublicKey) -> str:
    """The Sigstore bundle key hint: standard base64 of SHA-256 over the PKIX DER."""
    return base64.b64encode(hashlib.sha256(public_key_der(pub)).digest()).decode("ascii")
