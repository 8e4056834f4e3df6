"""Keys held in this process (key files, env://, ephemeral keyless keys): cosign's default scheme per type.

``LocalSigner``/``LocalVerifier`` implement ``sigward.keys.interfaces.Signer``/``Verifier`` for a
``cryptography`` key object; ``sigward.keys.providers.local`` loads them from cosign key files.

ECDSA signs with the hash that matches its curve (ASN.1 DER signatures), RSA with PKCS#1 v1.5 and
SHA-256, Ed25519 with **Ed25519ph** unless pure Ed25519 is asked for (cosign's ``sign-blob`` without
tlog upload). Verifiers accept a hash override because cosign's legacy verify path passes
``--signature-digest-algorithm`` (default sha256) even for P-384 keys.

``sign_prehashed``/``verify_prehashed`` exist because Sigstore bundles sign a message digest that is
computed elsewhere (streamed blobs): the digest is signed as-is, never hashed again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from sigward.errors import UsageError, VerificationError
from sigward.keys import ed25519ph
from sigward.keys.keytypes import GO_CURVE_NAMES, PrivateKey, PublicKey, default_hash, key_kind

_HASH_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


def _hash_alg(name: str) -> Any:
    from cryptography.hazmat.primitives import hashes

    algs: dict[str, Callable[[], hashes.HashAlgorithm]] = {
        "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
    if name not in algs:
        raise UsageError(f"unsupported hash algorithm {name!r} (allowed: sha256, sha384, sha512)")
    return algs[name]()


def _check_digest(digest: bytes, hash_name: str) -> None:
    _hash_alg(hash_name)
    if len(digest) != _HASH_SIZES[hash_name]:
        raise UsageError(f"a {hash_name} digest is {_HASH_SIZES[hash_name]} bytes, got {len(digest)}")


class LocalVerifier:
    """Checks signatures made with a public key; every failure is a one-line VerificationError."""

    def __init__(self, public_key: PublicKey, *, hash_name: str | None = None, ed25519_pure: bool = False):
        self.kind = key_kind(public_key)
        self.public_key = public_key
        self.ed25519_pure = ed25519_pure
        self.hash_name = hash_name or default_hash(public_key)
        _hash_alg(self.hash_name)
        if self.kind == "ed25519" and self.hash_name != "sha512":
            raise UsageError(f"Ed25519 keys cannot be used with {self.hash_name}")

    def verify(self, signature: bytes, data: bytes) -> None:
        if self.kind == "ed25519":
            self._ed25519(signature, data, prehashed=False)
            return
        self.verify_prehashed(signature, hashlib.new(self.hash_name, data).digest(), self.hash_name)

    def verify_prehashed(self, signature: bytes, digest: bytes, hash_name: str) -> None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

        _check_digest(digest, hash_name)
        if self.kind == "ed25519":
            if self.ed25519_pure or hash_name != "sha512":
                raise VerificationError("a pure Ed25519 signature cannot be checked against a digest"
                                        if self.ed25519_pure else "Ed25519ph needs a sha512 digest")
            self._ed25519(signature, digest, prehashed=True)
            return
        prehashed = utils.Prehashed(_hash_alg(hash_name))
        try:
            if self.kind == "ecdsa":
                self.public_key.verify(signature, digest, ec.ECDSA(prehashed))  # type: ignore[call-arg,arg-type]
            else:
                self.public_key.verify(signature, digest, padding.PKCS1v15(), prehashed)  # type: ignore[call-arg,arg-type]
        except InvalidSignature:
            raise VerificationError(f"invalid signature: {self._label()} signature does not verify") from None

    def _ed25519(self, signature: bytes, msg_or_digest: bytes, *, prehashed: bool) -> None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization

        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if self.ed25519_pure:
            try:
                self.public_key.verify(signature, msg_or_digest)  # type: ignore[call-arg]
                return
            except InvalidSignature:
                ok = False
        elif prehashed:
            ok = ed25519ph.verify_prehashed(raw, msg_or_digest, signature)
        else:
            ok = ed25519ph.verify(raw, msg_or_digest, signature)
        if not ok:
            raise VerificationError(f"invalid signature: {self._label()} signature does not verify")

    def _label(self) -> str:
        if self.kind == "ecdsa":
            return f"ECDSA {GO_CURVE_NAMES[self.public_key.curve.name]}"  # type: ignore[union-attr]
        if self.kind == "rsa":
            return f"RSA-{self.public_key.key_size}"  # type: ignore[union-attr]
        return "Ed25519" if self.ed25519_pure else "Ed25519ph"


class LocalSigner:
    """A private key with cosign's default scheme; ``default_hash`` is the digest it signs over."""

    def __init__(self, private_key: PrivateKey, *, ed25519_pure: bool = False):
        self.kind = key_kind(private_key)
        self.private_key = private_key
        self.public_key: PublicKey = private_key.public_key()
        self.ed25519_pure = ed25519_pure
        self.default_hash = default_hash(private_key)

    def verifier(self) -> LocalVerifier:
        return LocalVerifier(self.public_key, ed25519_pure=self.ed25519_pure)

    def sign(self, data: bytes) -> bytes:
        if self.kind == "ed25519":
            if self.ed25519_pure:
                return self.private_key.sign(data)  # type: ignore[call-arg]
            return ed25519ph.sign(self._ed25519_seed(), data)
        return self.sign_prehashed(hashlib.new(self.default_hash, data).digest(), self.default_hash)

    def sign_prehashed(self, digest: bytes, hash_name: str) -> bytes:
        from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

        _check_digest(digest, hash_name)
        if self.kind == "ed25519":
            if self.ed25519_pure:
                raise UsageError("pure Ed25519 cannot sign a precomputed digest")
            if hash_name != "sha512":
                raise UsageError("Ed25519ph signs a sha512 digest only")
            return ed25519ph.sign_prehashed(self._ed25519_seed(), digest)
        prehashed = utils.Prehashed(_hash_alg(hash_name))
        if self.kind == "ecdsa":
            return self.private_key.sign(digest, ec.ECDSA(prehashed))  # type: ignore[call-arg,arg-type]
        return self.private_key.sign(digest, padding.PKCS1v15(), prehashed)  # type: ignore[call-arg,arg-type]

    def _ed25519_seed(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                              serialization.NoEncryption())
