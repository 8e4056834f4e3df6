"""The registry of key providers: a ``--key`` reference's scheme selects who loads it.

``load_signer("cosign.key", password)``, ``load_verifier("awskms:///alias/x")``: the reference is
parsed once (``sigward.keys.keyref``), its kind picks a provider, and the provider returns a
``sigward.keys.interfaces.Signer``/``Verifier``. File paths and ``env://`` are the built-in
``local`` provider; every other kind is the module ``sigward.keys.providers.<kind>`` (its ``PROVIDER``),
imported only when such a reference is used. A kind without a module fails with one line
("awskms key references are not supported yet: …"). See ``KeyProvider`` in ``sigward.keys.interfaces``
for the contract a provider module fulfils; ``register_provider`` adds one at run time (tests, plugins).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from sigward.keys.keyref import KeyRef, not_supported, parse_key_ref

if TYPE_CHECKING:
    from sigward.keys.interfaces import KeyProvider, PasswordFn, PinPrompt, Signer, Verifier

# Kinds served by a module whose name differs from the kind: files and env:// are local keys; the AWS and
# Google KMS, Vault, PKCS#11 and Kubernetes providers live in sigward.keys.remote (one module per scheme),
# adapted here.
_MODULES = {"file": "sigward.keys.providers.local", "env": "sigward.keys.providers.local",
            **dict.fromkeys(("awskms", "gcpkms", "hashivault", "pkcs11", "k8s"),
                            "sigward.keys.providers.remote")}
_registered: dict[str, KeyProvider] = {}


def register_provider(kind: str, provider: KeyProvider) -> None:
    """Serve references of ``kind`` (a ``KeyRef.kind``) with ``provider``, ahead of any module."""
    _registered[kind] = provider


def unregister_provider(kind: str) -> None:
    _registered.pop(kind, None)


def provider_for(ref: KeyRef) -> KeyProvider:
    """The provider for ``ref``'s kind: registered, else ``sigward.keys.providers.<kind>``."""
    if ref.kind in _registered:
        return _registered[ref.kind]
    name = _MODULES.get(ref.kind, f"{__name__}.{ref.kind}")
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
        raise not_supported(ref) from None
    provider: KeyProvider = module.PROVIDER
    return provider


def as_ref(ref: str | KeyRef) -> KeyRef:
    return ref if isinstance(ref, KeyRef) else parse_key_ref(ref)


def load_signer(ref: str | KeyRef, password: PasswordFn | None = None, *,
                ed25519_pure: bool = False, pin_prompt: PinPrompt | None = None) -> Signer:
    """The signer a key reference names (a cosign key file, ``env://VAR``, a KMS key, a PKCS#11 token…).

    ``password`` is asked for an encrypted key file; ``pin_prompt`` for a token PIN (never otherwise)."""
    kref = as_ref(ref)
    return provider_for(kref).load_signer(kref, password=password, ed25519_pure=ed25519_pure,
                                          pin_prompt=pin_prompt)


def load_verifier(ref: str | KeyRef, password: PasswordFn | None = None, *, hash_name: str | None = None,
                  ed25519_pure: bool = False) -> Verifier:
    """The verifier a key reference names: a public key, certificate, encrypted private key, KMS key…"""
    kref = as_ref(ref)
    return provider_for(kref).load_verifier(kref, password=password, hash_name=hash_name,
                                            ed25519_pure=ed25519_pure)
