"""The ``file`` and ``env://`` key provider: cosign key files held in this process.

A signing reference must name a cosign encrypted private key (scrypt + secretbox); the password is
asked only once the file is known to be one. A verification reference may be a PKIX or PKCS#1 public
key PEM, a certificate, or an encrypted private key (then the password is asked).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sigward.errors import KeyFileError
from sigward.keys import pem
from sigward.keys.keyref import KeyRef, not_supported
from sigward.keys.keytypes import PrivateKey, PublicKey, key_kind
from sigward.keys.local import LocalSigner, LocalVerifier

if TYPE_CHECKING:
    from sigward.keys.interfaces import PasswordFn, PinPrompt


def _read(ref: KeyRef) -> bytes:
    if ref.kind not in ("file", "env"):
        raise not_supported(ref)
    return ref.read()


def load_private_key(ref: KeyRef, password: PasswordFn | None) -> PrivateKey:
    """Decrypt the cosign encrypted key named by ``ref``."""
    from sigward.keys import encrypted

    raw = _read(ref)
    block = pem.decode(raw)
    if block is None:
        raise KeyFileError(f"{ref.text}: invalid pem block")
    if block.type not in encrypted.ENCRYPTED_PEM_TYPES:
        raise KeyFileError(f"{ref.text}: unsupported pem type: {block.type}")
    if password is None:
        raise KeyFileError(f"{ref.text}: is an encrypted private key and no password source was given")
    return encrypted.decrypt_private_key(raw, password(False), ref.text)


def load_public_key(ref: KeyRef, password: PasswordFn | None = None) -> PublicKey:
    """A verification key: PKIX or PKCS#1 public key PEM, a certificate, or an encrypted private key."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    from sigward.keys import encrypted

    raw = _read(ref)
    block = pem.decode(raw)
    if block is None:
        raise KeyFileError(f"{ref.text}: no PEM block found (expected a public key, certificate or "
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
            if password is None:
                raise KeyFileError("is an encrypted private key and no password source was given")
            return encrypted.decrypt_private_key(raw, password(False), ref.text).public_key()
        else:
            raise KeyFileError(f"unsupported pem type: {block.type}")
        key_kind(pub)
    except KeyFileError as e:
        raise KeyFileError(f"{ref.text}: {e}") from None
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise KeyFileError(f"{ref.text}: cannot parse {block.type}: {e}") from None
    result: PublicKey = pub
    return result


class LocalKeyProvider:
    """``KeyProvider`` for ``file`` and ``env`` references."""

    def load_signer(self, ref: KeyRef, *, password: PasswordFn | None, ed25519_pure: bool,
                    pin_prompt: PinPrompt | None = None) -> LocalSigner:
        return LocalSigner(load_private_key(ref, password), ed25519_pure=ed25519_pure)

    def load_verifier(self, ref: KeyRef, *, password: PasswordFn | None, hash_name: str | None,
                      ed25519_pure: bool) -> LocalVerifier:
        return LocalVerifier(load_public_key(ref, password), hash_name=hash_name, ed25519_pure=ed25519_pure)


PROVIDER = LocalKeyProvider()
