"""What every remote-key provider shares: the signer shape, PSS verification, extras, errors, redaction.

A remote key never leaves its backend, so a provider only has to say three things: the public key, the
digest the key signs (hash and padding fixed by the key, as cosign reads them from the backend), and
how to have one digest signed. ``RemoteSigner`` turns that into the signer interface the operations use
(``public_key``, ``default_hash``, ``sign``, ``sign_prehashed``, ``verifier``). The message is hashed
here, locally; only the digest goes to the backend (a 1 GiB blob is never sent anywhere), and every
signature that comes back is checked against the public key before anything is written with it —
a backend that returns garbage must not end up in a registry.

Errors: each provider maps its client's exceptions to one ``KeyFileError`` line that names the key
reference (``ref_label``: PINs and tokens removed) and what went wrong; secrets never appear in a
message, and the client's exception is not chained (``from None``) so ``SIGWARD_DEBUG=1`` shows no
request or response bodies either.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from types import ModuleType
from typing import TYPE_CHECKING

from sigward.errors import KeyFileError, UsageError, VerificationError
from sigward.keys.keytypes import PublicKey, key_kind

if TYPE_CHECKING:
    from sigward.keys.local import LocalVerifier as Verifier

HASH_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}
# The Python package each extra brings, for the "install the extra" line.
EXTRAS = {
    "aws": "boto3",
    "gcp": "google-cloud-kms",
    "azure": "azure-keyvault-keys and azure-identity",
    "vault": "hvac",
    "pkcs11": "python-pkcs11",
    "k8s": "kubernetes",
}
_SECRET_PARAMS = re.compile(r"(?i)([?&;](?:pin-value|pin-source|token|password)=)[^&;]*")


def require(module: str, extra: str, scheme: str) -> ModuleType:
    """Import an optional client library, or fail with one line naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise KeyFileError(f"{scheme} keys need {EXTRAS[extra]}, which is not installed: "
                           f"pip install 'sigward[{extra}]'") from None


def ref_label(text: str) -> str:
    """A key reference fit for messages: secret query parameters (``pin-value``…) replaced by ``***``."""
    return _SECRET_PARAMS.sub(lambda m: m.group(1) + "***", text)


def key_error(ref: str, message: str) -> KeyFileError:
    return KeyFileError(f"{ref_label(ref)}: {message}")


class RemoteVerifier:
    """Local verification with a remote key's public half; RSA-PSS too (AWS KMS's first RSA algorithm)."""

    def __init__(self, public_key: PublicKey, hash_name: str, *, pss: bool = False):
        from sigward.keys.local import LocalVerifier as Verifier

        self._inner: Verifier = Verifier(public_key, hash_name=hash_name)
        self.kind = self._inner.kind
        self.public_key = public_key
        self.hash_name = hash_name
        self.ed25519_pure = False
        self.pss = pss

    def verify(self, signature: bytes, data: bytes) -> None:
        self.verify_prehashed(signature, hashlib.new(self.hash_name, data).digest(), self.hash_name)

    def verify_prehashed(self, signature: bytes, digest: bytes, hash_name: str) -> None:
        if not self.pss:
            self._inner.verify_prehashed(signature, digest, hash_name)
            return
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric import padding, utils

        from sigward.keys.local import _check_digest, _hash_alg

        _check_digest(digest, hash_name)
        alg = _hash_alg(hash_name)
        try:  # Go's rsa.VerifyPSS with nil options: any salt length (PSSSaltLengthAuto)
            self.public_key.verify(signature, digest,  # type: ignore[call-arg]
                                   padding.PSS(padding.MGF1(alg), padding.PSS.AUTO),  # type: ignore[arg-type]
                                   utils.Prehashed(alg))
        except InvalidSignature:
            raise VerificationError(f"invalid signature: RSA-PSS-{self.public_key.key_size} "  # type: ignore[union-attr]
                                    "signature does not verify") from None


class RemoteSigner:
    """A signer whose private key lives in a backend; subclasses implement ``_sign_digest``.

    ``default_hash`` is fixed by the key as the backend describes it (cosign does the same); asking for
    another digest is refused rather than silently mis-signed.
    """

    ed25519_pure = False

    def __init__(self, ref: str, public_key: PublicKey, hash_name: str, *, pss: bool = False):
        self.ref = ref
        self.public_key = public_key
        self.kind = key_kind(public_key)
        if self.kind == "ed25519":
            raise key_error(ref, "Ed25519 keys held in a KMS or token are not supported")
        self.default_hash = hash_name
        self.pss = pss

    def verifier(self) -> RemoteVerifier:
        return RemoteVerifier(self.public_key, self.default_hash, pss=self.pss)

    def sign(self, data: bytes) -> bytes:
        return self.sign_prehashed(hashlib.new(self.default_hash, data).digest(), self.default_hash)

    def sign_prehashed(self, digest: bytes, hash_name: str) -> bytes:
        if hash_name != self.default_hash:
            raise UsageError(f"{ref_label(self.ref)} signs {self.default_hash} digests, not {hash_name}")
        if len(digest) != HASH_SIZES[hash_name]:
            raise UsageError(f"a {hash_name} digest is {HASH_SIZES[hash_name]} bytes, got {len(digest)}")
        signature = self._sign_digest(digest)
        try:
            self.verifier().verify_prehashed(signature, digest, hash_name)
        except VerificationError:
            raise key_error(self.ref, "the signature returned by the key's backend does not verify with "
                                      "its public key; refusing to use it") from None
        return signature

    def _sign_digest(self, digest: bytes) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        """Release sessions or connections (PKCS#11); a no-op for HTTP backends."""


def load_der_public_key(der: bytes, ref: str) -> PublicKey:
    from cryptography.hazmat.primitives import serialization

    try:
        pub = serialization.load_der_public_key(der)
        key_kind(pub)
    except (ValueError, TypeError) as e:
        raise key_error(ref, f"the backend returned an unusable public key: {e}") from None
    except KeyFileError as e:
        raise key_error(ref, str(e)) from None
    return pub  # type: ignore[return-value]


def load_pem_public_key(pem: bytes, ref: str) -> PublicKey:
    from sigward.keys import pem as pemmod

    block = pemmod.decode(pem)
    if block is None or block.type != "PUBLIC KEY":
        raise key_error(ref, "the backend returned no PEM public key")
    return load_der_public_key(block.data, ref)
