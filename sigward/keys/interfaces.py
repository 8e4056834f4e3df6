"""The two key interfaces every signing and verifying path uses: ``Signer`` and ``Verifier``.

There is exactly one notion of "signer" in sigward: an object holding (or fronting) a private key that
signs bytes or a digest computed elsewhere. Local key files are one implementation
(``sigward.keys.local.LocalSigner``); KMS keys, PKCS#11 tokens and Vault transit keys are others,
loaded through ``sigward.keys.providers`` by key-reference scheme. Everything above ``keys/`` — the
Sigstore signing material, ops, the CLI, the public API — takes these protocols, never a concrete class,
so a new key store plugs in without touching them.

Hash names are ``"sha256"``, ``"sha384"`` or ``"sha512"``. Signature bytes are what a Sigstore bundle
carries: ASN.1 DER for ECDSA, PKCS#1 v1.5 for RSA, 64 bytes for Ed25519(ph).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from sigward.keys.keyref import KeyRef
    from sigward.keys.keytypes import PublicKey

# Asked for a key's password; the argument says whether to confirm it (True when creating a key).
PasswordFn = Callable[[bool], bytes]
# Asked for a token PIN (PKCS#11); the argument is the question to show.
PinPrompt = Callable[[str], str]


@runtime_checkable
class Signer(Protocol):
    """Signs with one private key.

    ``public_key`` is a ``cryptography`` public key (RSA, ECDSA P-256/384/521 or Ed25519): it goes into
    bundles (as a key hint), Fulcio CSRs and Rekor entries. ``default_hash`` is the digest algorithm
    the key signs over when the caller does not choose (the curve's hash for ECDSA, sha256 for RSA,
    sha512 for Ed25519ph).
    """

    @property
    def public_key(self) -> PublicKey: ...

    @property
    def default_hash(self) -> str: ...

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` (hashing it with ``default_hash`` first, or pure Ed25519 where configured)."""
        ...

    def sign_prehashed(self, digest: bytes, hash_name: str) -> bytes:
        """Sign a digest computed elsewhere (streamed blobs); the digest is never hashed again."""
        ...


@runtime_checkable
class Verifier(Protocol):
    """Checks signatures made by one key; every failure raises ``sigward.errors.VerificationError``."""

    @property
    def public_key(self) -> PublicKey: ...

    @property
    def hash_name(self) -> str:
        """The digest algorithm ``verify`` hashes data with (a detached blob signature is checked over
        the file's digest in this algorithm)."""
        ...

    def verify(self, signature: bytes, data: bytes) -> None: ...

    def verify_prehashed(self, signature: bytes, digest: bytes, hash_name: str) -> None: ...


class KeyProvider(Protocol):
    """Loads signers and verifiers for the key references of one or more schemes.

    The contract (what ``sigward.keys.providers`` relies on):

    - A provider is a module ``sigward.keys.providers.<kind>`` exposing ``PROVIDER`` (an object with
      these two methods), where ``<kind>`` is the ``KeyRef.kind`` that ``sigward.keys.keyref``
      assigns (``awskms``, ``gcpkms``, ``azurekms``, ``hashivault``, ``pkcs11``, ``k8s``, ``gitlab``,
      ``url``); or an object passed to ``sigward.keys.providers.register_provider(kind, provider)``.
      The module is imported only when a reference of that kind is used, so its SDK costs nothing
      elsewhere (import SDKs inside the methods or at module level of the provider module, never in
      ``keys/`` itself).
    - ``load_signer`` returns an object satisfying ``Signer``; ``load_verifier`` one satisfying
      ``Verifier``. ``password`` is how to ask for a password when the reference needs one (a local
      encrypted key), ``pin_prompt`` how to ask for a token PIN; providers that do not need them ignore
      them (never prompt any other way). ``hash_name`` overrides the digest
      algorithm the verifier expects (cosign's ``--signature-digest-algorithm``); ``ed25519_pure``
      asks for pure Ed25519 instead of Ed25519ph.
    - Failures are ``sigward.errors.SigwardError`` subclasses with one line naming the reference
      (``KeyFileError`` for an unusable key, ``VerificationError`` from ``verify``); never print,
      prompt or read stdin. Reading the provider's own standard environment (``AWS_REGION``,
      ``VAULT_ADDR``…) is the provider's business, as in cosign.
    - Remote signing happens in ``sign``/``sign_prehashed``; ``public_key`` must be available without a
      signing round trip (fetch it once in ``load_signer``).
    """

    def load_signer(self, ref: KeyRef, *, password: PasswordFn | None, ed25519_pure: bool,
                    pin_prompt: PinPrompt | None = None) -> Signer: ...

    def load_verifier(self, ref: KeyRef, *, password: PasswordFn | None, hash_name: str | None,
                      ed25519_pure: bool) -> Verifier: ...
