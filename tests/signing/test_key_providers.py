"""The key-provider registry: a provider registered for a scheme signs and verifies through the CLI and
ops without either knowing it (the way KMS and PKCS#11 modules plug in).

The provider here is an in-process stand-in for a token (a P-384 key that never leaves its object and
signs only digests, as a KMS does); everything around it is the real code path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sigward.keys import interfaces, providers
from sigward.keys.keyref import KeyRef


class TokenKey:
    """A Signer that signs digests only and counts its operations."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self._key = ec.generate_private_key(ec.SECP384R1())
        self.operations = 0

    @property
    def public_key(self) -> Any:
        return self._key.public_key()

    @property
    def default_hash(self) -> str:
        return "sha384"

    def sign(self, data: bytes) -> bytes:
        return self.sign_prehashed(hashlib.sha384(data).digest(), "sha384")

    def sign_prehashed(self, digest: bytes, hash_name: str) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, utils

        self.operations += 1
        alg = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384()}[hash_name]
        return self._key.sign(digest, ec.ECDSA(utils.Prehashed(alg)))


class TokenProvider:
    def __init__(self) -> None:
        self.keys: dict[str, TokenKey] = {}
        self.loaded: list[str] = []

    def load_signer(self, ref: KeyRef, *, password: Any, ed25519_pure: bool,
                    pin_prompt: Any = None) -> interfaces.Signer:
        self.loaded.append(ref.text)
        return self.keys.setdefault(ref.text, TokenKey())

    def load_verifier(self, ref: KeyRef, *, password: Any, hash_name: str | None,
                      ed25519_pure: bool) -> interfaces.Verifier:
        from sigward.keys.local import LocalVerifier

        self.loaded.append(ref.text)
        return LocalVerifier(self.keys[ref.text].public_key, hash_name=hash_name)


@pytest.fixture
def token() -> Iterator[TokenProvider]:
    provider = TokenProvider()
    providers.register_provider("pkcs11", provider)
    try:
        yield provider
    finally:
        providers.unregister_provider("pkcs11")


REF = "pkcs11:token=test;object=release"


def test_registered_provider_signs_and_verifies_through_the_cli(
        run: Callable[..., Any], layout: Callable[..., str], token: TokenProvider) -> None:
    img = layout()
    for legacy in ("true", "false"):
        r = run("sign", "--tlog-upload=false", f"--new-bundle-format={legacy}", "--key", REF, img)
        assert r.code == 0, r.err
    r = run("verify", "--insecure-ignore-tlog=true", "--key", REF, img)
    assert r.code == 0, r.err
    key = token.keys[REF]
    assert key.operations == 2 and isinstance(key, interfaces.Signer)
    assert token.loaded.count(REF) == 3
    # Another token key does not verify what this one signed.
    token.keys["pkcs11:token=test;object=other"] = TokenKey()
    r = run("verify", "--insecure-ignore-tlog=true", "--key", "pkcs11:token=test;object=other", img)
    assert r.code != 0 and r.err.splitlines()[-1].startswith("Error: ")
    assert "signature does not verify" in r.err


def test_unregistered_scheme_is_one_clear_error() -> None:
    from sigward.errors import KeyFileError

    with pytest.raises(KeyFileError, match=r"^azurekms key references are not supported yet: azurekms://v/k$"):
        providers.load_signer("azurekms://v/k")
    with pytest.raises(KeyFileError, match="azurekms key references are not supported yet"):
        providers.load_verifier("azurekms://vault.example/key")


def test_local_signer_is_the_protocol() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from sigward.keys.local import LocalSigner, LocalVerifier

    s = LocalSigner(ed25519.Ed25519PrivateKey.generate())
    assert isinstance(s, interfaces.Signer) and isinstance(s.verifier(), interfaces.Verifier)
    assert isinstance(LocalVerifier(s.public_key), interfaces.Verifier)
    assert s.default_hash == "sha512"
