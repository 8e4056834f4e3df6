"""Ed25519ph from RFC 8032, checked against the RFC's vector and against ``cryptography``."""

from __future__ import annotations

import hashlib
import os

import pytest

from sigward.keys import ed25519ph

# RFC 8032 §7.3, "TEST abc" (Ed25519ph), test data quoted from the RFC.
RFC_SECRET = bytes.fromhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
RFC_PUBLIC = bytes.fromhex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
RFC_SIG = bytes.fromhex(
    "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
    "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
)


def test_rfc8032_ed25519ph_vector() -> None:
    assert ed25519ph.public_key(RFC_SECRET) == RFC_PUBLIC
    assert ed25519ph.sign(RFC_SECRET, b"abc") == RFC_SIG
    assert ed25519ph.sign_prehashed(RFC_SECRET, hashlib.sha512(b"abc").digest()) == RFC_SIG
    assert ed25519ph.verify(RFC_PUBLIC, b"abc", RFC_SIG)
    assert ed25519ph.verify_prehashed(RFC_PUBLIC, hashlib.sha512(b"abc").digest(), RFC_SIG)


def test_rejects_other_message_flipped_bits_and_pure_signature() -> None:
    assert not ed25519ph.verify(RFC_PUBLIC, b"abd", RFC_SIG)
    for i in (0, 31, 32, 63):
        bad = bytearray(RFC_SIG)
        bad[i] ^= 0x01
        assert not ed25519ph.verify(RFC_PUBLIC, b"abc", bytes(bad))
    # A pure Ed25519 signature over the same bytes is a different scheme (dom2 prefix).
    assert not ed25519ph.verify(RFC_PUBLIC, b"abc", ed25519ph.sign_pure(RFC_SECRET, b"abc"))


def test_rejects_non_canonical_s() -> None:
    s = int.from_bytes(RFC_SIG[32:], "little") + ed25519ph._L
    forged = RFC_SIG[:32] + s.to_bytes(32, "little")
    assert not ed25519ph.verify(RFC_PUBLIC, b"abc", forged)


def test_pure_arithmetic_matches_cryptography() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    for _ in range(3):
        seed = os.urandom(32)
        msg = os.urandom(50)
        key = Ed25519PrivateKey.from_private_bytes(seed)
        pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert ed25519ph.public_key(seed) == pub
        assert ed25519ph.sign_pure(seed, msg) == key.sign(msg)  # Ed25519 is deterministic
        assert ed25519ph.verify_pure(pub, msg, key.sign(msg))


@pytest.mark.parametrize("digest", [b"", b"\x00" * 32, b"\x00" * 65])
def test_prehashed_needs_a_sha512_digest(digest: bytes) -> None:
    with pytest.raises(ValueError):
        ed25519ph.sign_prehashed(RFC_SECRET, digest)
    assert not ed25519ph.verify_prehashed(RFC_PUBLIC, digest, RFC_SIG)
