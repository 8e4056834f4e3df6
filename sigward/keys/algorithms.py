"""Signature algorithm names: protobuf-specs enums and cosign's ``--signing-algorithm`` flag values.

Three vocabularies name the same things: ``KnownSignatureAlgorithm`` (``ECDSA_SHA2_256_NISTP256``,
used by signing configs), ``PublicKeyDetails`` (``PKIX_ECDSA_P256_SHA_256``, written into bundles as
``keyDetails``) and the flag spelling (``ecdsa-sha2-256-nistp256``, sigstore's algorithm registry).
One table keeps them consistent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sigward.errors import KeyFileError, UsageError
from sigward.keys.keytypes import EC_CURVES, PrivateKey, PublicKey, key_kind


@dataclass(frozen=True)
class Algorithm:
    flag: str  # cosign --signing-algorithm value
    known: str  # protobuf-specs KnownSignatureAlgorithm
    details: str  # protobuf-specs PublicKeyDetails
    kind: str  # rsa | ecdsa | ed25519
    param: str | int  # EC curve (cryptography name) or RSA bits; "" for Ed25519
    hash: str
    prehash: bool = True  # Ed25519 only: Ed25519ph vs pure


ALGORITHMS: tuple[Algorithm, ...] = (
    Algorithm("ecdsa-sha2-256-nistp256", "ECDSA_SHA2_256_NISTP256", "PKIX_ECDSA_P256_SHA_256",
              "ecdsa", "secp256r1", "sha256"),
    Algorithm("ecdsa-sha2-384-nistp384", "ECDSA_SHA2_384_NISTP384", "PKIX_ECDSA_P384_SHA_384",
              "ecdsa", "secp384r1", "sha384"),
    Algorithm("ecdsa-sha2-512-nistp521", "ECDSA_SHA2_512_NISTP521", "PKIX_ECDSA_P521_SHA_512",
              "ecdsa", "secp521r1", "sha512"),
    Algorithm("rsa-sign-pkcs1-2048-sha256", "RSA_SIGN_PKCS1_2048_SHA256", "PKIX_RSA_PKCS1V15_2048_SHA256",
              "rsa", 2048, "sha256"),
    Algorithm("rsa-sign-pkcs1-3072-sha256", "RSA_SIGN_PKCS1_3072_SHA256", "PKIX_RSA_PKCS1V15_3072_SHA256",
              "rsa", 3072, "sha256"),
    Algorithm("rsa-sign-pkcs1-4096-sha256", "RSA_SIGN_PKCS1_4096_SHA256", "PKIX_RSA_PKCS1V15_4096_SHA256",
              "rsa", 4096, "sha256"),
    Algorithm("ed25519", "ED25519", "PKIX_ED25519", "ed25519", "", "sha512", prehash=False),
    Algorithm("ed25519-ph", "ED25519_PH", "PKIX_ED25519_PH", "ed25519", "", "sha512", prehash=True),
)
BY_FLAG = {a.flag: a for a in ALGORITHMS}
DEFAULT_FLAG = "ecdsa-sha2-256-nistp256"
# What cosign sign-blob --signing-algorithm accepts (Ed25519 is excluded: Fulcio does not issue for it).
SIGN_BLOB_FLAGS = tuple(a.flag for a in ALGORITHMS if a.kind != "ed25519")


def algorithm_for_flag(flag: str, allowed: tuple[str, ...] | None = None) -> Algorithm:
    names = allowed if allowed is not None else tuple(BY_FLAG)
    if flag not in names:
        raise UsageError(f"unsupported signing algorithm {flag!r} (allowed: {', '.join(names)})")
    return BY_FLAG[flag]


def algorithm_for_key(key: PublicKey | PrivateKey, *, prehash_ed25519: bool = True) -> Algorithm:
    """cosign's default algorithm for a key; RSA sizes outside 2048/3072/4096 have no registry entry."""
    kind = key_kind(key)
    for a in ALGORITHMS:
        if a.kind != kind:
            continue
        if kind == "ecdsa" and a.param == key.curve.name:  # type: ignore[union-attr]
            return a
        if kind == "rsa" and a.param == key.key_size:  # type: ignore[union-attr]
            return a
        if kind == "ed25519" and a.prehash == prehash_ed25519:
            return a
    raise KeyFileError(f"no Sigstore signing algorithm for a {key.key_size}-bit RSA key")  # type: ignore[union-attr]


def signing_algorithm(pub: PublicKey | PrivateKey, *, prehash_ed25519: bool = True) -> str:
    """The protobuf-specs ``KnownSignatureAlgorithm`` name for this key's default scheme."""
    return algorithm_for_key(pub, prehash_ed25519=prehash_ed25519).known


def key_details(pub: PublicKey | PrivateKey, *, prehash_ed25519: bool = True) -> str:
    """The protobuf-specs ``PublicKeyDetails`` name (a bundle's ``keyDetails``)."""
    return algorithm_for_key(pub, prehash_ed25519=prehash_ed25519).details


def generate_private_key(algorithm_flag_name: str = DEFAULT_FLAG) -> PrivateKey:
    """A fresh key for a ``--signing-algorithm`` value."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    a = algorithm_for_flag(algorithm_flag_name)
    if a.kind == "ecdsa":
        curves: dict[str, Callable[[], ec.EllipticCurve]] = {
            "secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1, "secp521r1": ec.SECP521R1}
        curve = curves[str(a.param)]
        assert str(a.param) in EC_CURVES
        return ec.generate_private_key(curve())
    if a.kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=int(a.param))
    return ed25519.Ed25519PrivateKey.generate()
