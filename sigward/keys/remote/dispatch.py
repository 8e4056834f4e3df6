"""Scheme → provider module, imported on first use so a key-file command never loads any of them."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from sigward.keys.keyref import KeyRef
from sigward.keys.keytypes import PublicKey

# Schemes without a provider here keep keyref's one-line "not supported yet" error; docs/keys.md says
# which and why.
PROVIDERS = {
    "awskms": "sigward.keys.remote.awskms",
    "gcpkms": "sigward.keys.remote.gcpkms",
    "hashivault": "sigward.keys.remote.hashivault",
    "pkcs11": "sigward.keys.remote.pkcs11",
    "k8s": "sigward.keys.remote.k8s",
}
KMS_SCHEMES = ("awskms", "gcpkms", "azurekms", "hashivault")


def handles(kind: str) -> bool:
    return kind in PROVIDERS


def provider(kind: str) -> ModuleType:
    return importlib.import_module(PROVIDERS[kind])


def load_signer(ref: KeyRef, password_fn: Callable[[bool], bytes] | None,
                pin_prompt: Callable[[str], str] | None = None) -> Any:
    mod = provider(ref.kind)
    if ref.kind == "pkcs11":
        return mod.load(ref.text, pin_prompt)
    if ref.kind == "k8s":
        return mod.load_signer(ref.text)
    return mod.load(ref.text)


def load_public_key(ref: KeyRef) -> PublicKey:
    mod = provider(ref.kind)
    if ref.kind in ("pkcs11", "k8s"):
        return mod.load_public_key(ref.text)  # type: ignore[no-any-return]
    return mod.load(ref.text).public_key  # type: ignore[no-any-return]


def load_verifier(ref: KeyRef, hash_name: str | None) -> Any:
    """A verifier as cosign builds one for the scheme (the key's own hash, or the flag's for Vault/k8s)."""
    from sigward.keys.keytypes import default_hash
    from sigward.keys.local import LocalVerifier as Verifier
    from sigward.keys.remote.base import RemoteVerifier

    mod = provider(ref.kind)
    if ref.kind == "k8s":
        return Verifier(mod.load_public_key(ref.text), hash_name=hash_name)
    if ref.kind == "pkcs11":
        pub = mod.load_public_key(ref.text)
        return RemoteVerifier(pub, hash_name or default_hash(pub))
    key = mod.load(ref.text)
    if ref.kind == "hashivault" and hash_name:
        return RemoteVerifier(key.public_key, hash_name)
    return key.verifier()


def create_kms_key(uri: str) -> PublicKey:
    """``generate-key-pair --kms URI``: create (or reuse) the key in its KMS; the public key."""
    from sigward.keys.keyref import parse_key_ref
    from sigward.keys.remote.base import key_error

    ref = parse_key_ref(uri)
    if ref.kind not in KMS_SCHEMES:
        raise key_error(uri, "create_kms_key needs a KMS key reference (awskms://, gcpkms://, azurekms://, "
                             "hashivault://)")
    if not handles(ref.kind):
        from sigward.keys.keyref import not_supported

        raise not_supported(ref)
    return provider(ref.kind).create(uri)  # type: ignore[no-any-return]
