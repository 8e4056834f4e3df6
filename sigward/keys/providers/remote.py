"""The ``KeyProvider`` for keys held elsewhere (AWS KMS, Vault transit, PKCS#11 tokens, Kubernetes
secrets): an adapter onto ``sigward.keys.remote``, whose per-scheme modules are imported only when a
reference of their scheme is used."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sigward.keys.keyref import KeyRef

if TYPE_CHECKING:
    from sigward.keys.interfaces import PasswordFn, PinPrompt, Signer, Verifier


class RemoteKeyProvider:
    def load_signer(self, ref: KeyRef, *, password: PasswordFn | None, ed25519_pure: bool,
                    pin_prompt: PinPrompt | None = None) -> Signer:
        from sigward.keys.remote import dispatch

        signer: Signer = dispatch.load_signer(ref, password, pin_prompt)
        return signer

    def load_verifier(self, ref: KeyRef, *, password: PasswordFn | None, hash_name: str | None,
                      ed25519_pure: bool) -> Verifier:
        from sigward.keys.remote import dispatch

        verifier: Verifier = dispatch.load_verifier(ref, hash_name)
        return verifier


PROVIDER = RemoteKeyProvider()
