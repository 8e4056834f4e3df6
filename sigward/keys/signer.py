"""Signing and verifying with cosign's default scheme for each key type.

ECDSA signs with the hash that matches its curve (ASN.1 DER signatures), RSA with PKCS#1 v1.5 and
SHA-256, Ed25519 with **Ed25519ph** unless pure Ed25519 is asked for (cosign's ``sign-blob`` without
tlog upload). Verifiers accept a hash override because cosign's legacy verify path passes
``--signature-digest-algorithm`` (default sha256) even for P-384 keys.

``sign_prehashed``/``verify_prehashed`` exist because Sigstore bundles sign a message digest that is
computed elsewhere (streamed blobs): the digest is signed as-is, never hashed again.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

from sigward.errors import KeyFileError, UsageError, VerificationError
from sigward.keys import ed25519ph, pem
from sigward.keys.algorithms import (  # noqa: F401  (re-exported: one import site for callers)
    ALGORITHMS,
    SIGN_BLOB_FLAGS,
    algorithm_for_flag,
    generate_private_key,
    key_details,
    signing_algorithm,
)
from sigward.keys.keyref import KeyRef, not_supported, parse_key_ref
from sigward.keys.keytypes import GO_CURVE_NAMES, PrivateKey, PublicKey, default_hash, key_kind

PasswordFn = Callable[[bool], bytes]
_HASH_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


def _hash_alg(name: str) -> Any:
    from cryptography.hazmat.primitives import hashes

    algs = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
    if name not in algs:
        raise UsageError(f"unsupported hash algorithm {name!r} (allowed: sha256, sha384, sha512)")
    return algs[name]()


def _check_digest(digest: bytes, hash_name: str) -> None:
    _hash_alg(hash_name)
    if len(digest) != _HASH_SIZES[hash_name]:
        raise UsageError(f"a {hash_name} digest is {_HASH_SIZES[hash_name]} bytes, got {len(digest)}")


def public_key_pem(pub: PublicKey) -> bytes:
    """PKIX ``PUBLIC KEY`` PEM exactly as Go writes it (64-char lines, trailing newline)."""
    return pem.encode("PUBLIC KEY", public_key_der(pub))


def public_key_der(pub: PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_hint(pub: PublicKey) -> str:
    """The Sigstore bundle key hint: standard base64 of SHA-256 over the PKIX DER."""
    return base64.b64encode(hashlib.sha256(public_key_der(pub)).digest()).decode("ascii")


class Verifier:
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


class Signer:
    """A private key with cosign's default scheme; ``default_hash`` is the digest it signs over."""

    def __init__(self, private_key: PrivateKey, *, ed25519_pure: bool = False):
        self.kind = key_kind(private_key)
        self.private_key = private_key
        self.public_key: PublicKey = private_key.public_key()
        self.ed25519_pure = ed25519_pure
        self.default_hash = default_hash(private_key)

    def verifier(self) -> Verifier:
        return Verifier(self.public_key, ed25519_pure=self.ed25519_pure)

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


def _as_ref(ref: str | KeyRef) -> KeyRef:
    return ref if isinstance(ref, KeyRef) else parse_key_ref(ref)


def load_private_key(ref: str | KeyRef, password_fn: PasswordFn) -> PrivateKey:
    """Decrypt a cosign encrypted key named by ``ref``; the password is asked only for a real key file."""
    from sigward.keys import encrypted

    kref = _as_ref(ref)
    if kref.kind not in ("file", "env"):
        raise not_supported(kref)
    raw = kref.read()
    block = pem.decode(raw)
    if block is None:
        raise KeyFileError(f"{kref.text}: invalid pem block")
    if block.type not in encrypted.ENCRYPTED_PEM_TYPES:
        raise KeyFileError(f"{kref.text}: unsupported pem type: {block.type}")
    return encrypted.decrypt_private_key(raw, password_fn(False), kref.text)


def load_signer(ref: str | KeyRef, password_fn: PasswordFn, *, ed25519_pure: bool = False,
                pin_prompt: Callable[[str], str] | None = None) -> Any:
    """A signer for any key reference: a key file/env key, or a key held in a KMS, token or secret."""
    kref = _as_ref(ref)
    if kref.kind not in ("file", "env"):
        from sigward.keys.remote import dispatch  # only now: a key file never imports a provider

        if dispatch.handles(kref.kind):
            return dispatch.load_signer(kref, password_fn, pin_prompt)
    return Signer(load_private_key(kref, password_fn), ed25519_pure=ed25519_pure)


def load_public_key(ref: str | KeyRef, password_fn: PasswordFn | None = None) -> PublicKey:
    """A verification key: PKIX or PKCS#1 public key PEM, a certificate, or an encrypted private key."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    from sigward.keys import encrypted

    kref = _as_ref(ref)
    if kref.kind not in ("file", "env"):
        from sigward.keys.remote import dispatch

        if dispatch.handles(kref.kind):
            return dispatch.load_public_key(kref)
        raise not_supported(kref)
    raw = kref.read()
    block = pem.decode(raw)
    if block is None:
        raise KeyFileError(f"{kref.text}: no PEM block found (expected a public key, certificate or "
                           "cosign private key)")
    try:
        if block.type == "PUBLIC KEY":
            pub: Any = serialization.load_der_public_key(block.data)
        elif block.type == "RSA PUBLIC KEY":
            from cryptography.hazmat.primitives.asymmetric import rsa

            pub = serialization.load_der_public_key(block.data)
            if not isinstance(pub, rsa.RSAPublicKey):
                raise KeyFileError("RSA PUBLIC KEY block does not hold an RSA key")
        elif block.type == "CERTIFICATE":
            from cryptography import x509  # only here: it costs ~30 ms of start-up

            pub = x509.load_der_x509_certificate(block.data).public_key()
        elif block.type in encrypted.ENCRYPTED_PEM_TYPES:
            if password_fn is None:
                raise KeyFileError("is an encrypted private key and no password source was given")
            return encrypted.decrypt_private_key(raw, password_fn(False), kref.text).public_key()
        else:
            raise KeyFileError(f"unsupported pem type: {block.type}")
        key_kind(pub)
    except KeyFileError as e:
        raise KeyFileError(f"{kref.text}: {e}") from None
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise KeyFileError(f"{kref.text}: cannot parse {block.type}: {e}") from None
    return pub  # type: ignore[no-any-return]


def load_verifier(ref: str | KeyRef, password_fn: PasswordFn | None = None, *,
                  hash_name: str | None = None, ed25519_pure: bool = False) -> Any:
    kref = _as_ref(ref)
    if kref.kind not in ("file", "env"):
        from sigward.keys.remote import dispatch

        if dispatch.handles(kref.kind):
            return dispatch.load_verifier(kref, hash_name)
    return Verifier(load_public_key(ref, password_fn), hash_name=hash_name, ed25519_pure=ed25519_pure)
