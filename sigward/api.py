"""sigward's public Python API: sign, verify and attest OCI artifacts and blobs, cosign-compatibly.

Everything here takes plain values and returns typed results; nothing prints, prompts or reads the
environment (``COSIGN_REPOSITORY``, ``COSIGN_PASSWORD``… are the CLI's business; pass values instead).
Images are named as on the command line: ``registry.example.com/app@sha256:…`` or ``oci:PATH[:TAG]``.

The defaults are the safe ones, the same for signing and verifying: signatures are Sigstore bundles
(cosign v3's format) and go to the transparency log of the trust configuration (the public-good
Sigstore instance unless ``trust`` names another); verification requires a log entry. Working offline
means saying so on both sides (``tlog=False`` / ``Checks(ignore_tlog=True)``).

>>> import sigward, tempfile, os
>>> work = tempfile.mkdtemp()
>>> from sigward.ops.example import write_demo_image
>>> from sigward.oci.layout import LayoutStore
>>> image = f"oci:{work}/layout@" + write_demo_image(LayoutStore(f"{work}/layout"), "v1").digest
>>> key = sigward.generate_key()
>>> _ = sigward.sign(image, key=key, tlog=False)
>>> policy = sigward.KeyAuthority((key.verifier(),), checks=sigward.Checks(ignore_tlog=True))
>>> [s.authority for s in sigward.verify(image, policy=policy)]
['key']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sigward.keys.interfaces import Signer, Verifier
    from sigward.keys.local import LocalSigner
    from sigward.oci.store import Store, StoreOptions
    from sigward.ops.sign import SignResult
    from sigward.sigstore.pipeline import VerifiedSignature
    from sigward.sigstore.policy import Policy
    from sigward.sigstore.signing import SigningMaterial
    from sigward.sigstore.trust import TrustedRoot

PasswordSource = bytes | Callable[[bool], bytes] | None


@dataclass(frozen=True)
class TrustConfig:
    """Which Sigstore instance to trust and sign with.

    ``trusted_root``/``signing_config`` are paths of ``trusted_root.json`` and
    ``signing_config.v0.2.json`` (a private instance); without them, the public-good instance (through
    TUF; ``offline`` uses the copy embedded in sigstore-python, ``staging`` the staging instance).
    """

    trusted_root: str | None = None
    signing_config: str | None = None
    staging: bool = False
    offline: bool = False

    def root(self) -> TrustedRoot:
        """The trusted root (CAs, logs, CT logs, TSAs) signatures are verified against."""
        from sigward.ops.keyless import load_trust

        return load_trust(self.trusted_root, offline=self.offline, staging=self.staging)[0]


def generate_key() -> LocalSigner:
    """A fresh ECDSA P-256 key held in memory (cosign's default key type)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from sigward.keys.local import LocalSigner

    return LocalSigner(ec.generate_private_key(ec.SECP256R1()))


def load_signer(key: str, password: PasswordSource = None) -> Signer:
    """The signer a key reference names: a cosign key file, ``env://VAR``, or a provider's URI."""
    from sigward.keys.providers import load_signer as load

    return load(key, _password_fn(password))


def _password_fn(password: PasswordSource) -> Callable[[bool], bytes] | None:
    if password is None or callable(password):
        return password
    value = password
    return lambda _confirm: value


def _signer(key: str | Signer | None, password: PasswordSource) -> Signer | None:
    if key is None or not isinstance(key, str):
        return key
    return load_signer(key, password)


def _material(key: str | Signer | None, password: PasswordSource, *, identity_token: str | None,
              trust: TrustConfig | None, tlog: bool) -> SigningMaterial:
    from sigward.ops.keyless import KeylessOptions, signing_material
    from sigward.sigstore.oidc import IdentityOptions

    t = trust or TrustConfig()
    signer = _signer(key, password)
    if signer is None and identity_token is None:
        from sigward.errors import UsageError

        raise UsageError("signing needs a key or an identity token")
    opts = KeylessOptions(
        identity=IdentityOptions(identity_token=identity_token, disable_ambient=True, interactive=False,
                                 skip_confirmation=True),
        trusted_root=t.trusted_root, signing_config=t.signing_config, staging=t.staging, tlog_upload=tlog)
    return signing_material(signer, opts)


class _Opened:
    """An image's store and the store its signatures live in, closed together."""

    def __init__(self, ref: str, options: StoreOptions | None, signatures_repository: str | None) -> None:
        from sigward.oci.reference import parse_reference
        from sigward.oci.store import open_store
        from sigward.ops.attached import attachment_store

        self.ref = parse_reference(ref)
        self.store: Store = open_store(self.ref, options)
        self.attach: Store = attachment_store(self.ref, options, image_store=self.store,
                                              override=signatures_repository)

    @property
    def identifier(self) -> str:
        return str(self.ref.identifier)

    def __enter__(self) -> _Opened:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.attach is not self.store:
            self.attach.close()
        self.store.close()


def sign(ref: str, *, key: str | Signer | None = None, password: PasswordSource = None,
         identity_token: str | None = None, trust: TrustConfig | None = None, tlog: bool = True,
         bundle_format: bool = True, annotations: Mapping[str, str] | None = None,
         recursive: bool = False, signatures_repository: str | None = None,
         registry: StoreOptions | None = None) -> list[SignResult]:
    """Sign the image ``ref`` (by digest; a tag is resolved once) with ``key`` (a key reference or a
    ``Signer``) or keylessly with ``identity_token``; returns one result per signed manifest."""
    from sigward.ops.sign import SignOptions, sign_image

    material = _material(key, password, identity_token=identity_token, trust=trust, tlog=tlog)
    opts = SignOptions(annotations=dict(annotations or {}), new_bundle_format=bundle_format,
                       recursive=recursive)
    with _Opened(ref, registry, signatures_repository) as img:
        return sign_image(img.store, img.identifier, material, attach_store=img.attach, options=opts)


def verify(ref: str, *, policy: Policy, annotations: Mapping[str, str] | None = None,
           check_claims: bool = True, signatures_repository: str | None = None,
           registry: StoreOptions | None = None) -> list[VerifiedSignature]:
    """The signatures of image ``ref`` that satisfy ``policy``; raises ``VerificationError`` (or a
    subclass: ``NoSignaturesError``, ``NoMatchingSignaturesError``…) when the policy is not met."""
    from sigward.ops.verify import VerifyOptions, verify_image

    opts = VerifyOptions(annotations=dict(annotations or {}), check_claims=check_claims)
    with _Opened(ref, registry, signatures_repository) as img:
        result = verify_image(img.store, img.identifier, policy, attach_store=img.attach, options=opts)
    return result.signatures


def attest(ref: str, *, predicate: bytes, predicate_type: str = "custom", key: str | Signer | None = None,
           password: PasswordSource = None, identity_token: str | None = None,
           trust: TrustConfig | None = None, tlog: bool = True, bundle_format: bool = True,
           signatures_repository: str | None = None, registry: StoreOptions | None = None) -> str:
    """Attest image ``ref`` with an in-toto statement of ``predicate`` (JSON bytes) of
    ``predicate_type`` (a URI or cosign's short names: slsaprovenance, spdxjson, cyclonedx, vuln…);
    returns where the attestation went."""
    from sigward.ops.attest import AttestOptions, attest_image

    material = _material(key, password, identity_token=identity_token, trust=trust, tlog=tlog)
    opts = AttestOptions(type_name=predicate_type, predicate=predicate, new_bundle_format=bundle_format)
    with _Opened(ref, registry, signatures_repository) as img:
        return attest_image(img.store, img.identifier, material, attach_store=img.attach, options=opts).where


def verify_attestations(ref: str, *, policy: Policy, predicate_type: str = "custom",
                        check_claims: bool = True, signatures_repository: str | None = None,
                        registry: StoreOptions | None = None) -> list[VerifiedSignature]:
    """The attestations of ``ref`` of ``predicate_type`` that satisfy ``policy`` (each with its
    ``statement``)."""
    from sigward.ops.attest import verify_attestations as verify_atts
    from sigward.ops.verify import VerifyOptions

    with _Opened(ref, registry, signatures_repository) as img:
        return verify_atts(img.store, img.identifier, policy, attach_store=img.attach,
                           options=VerifyOptions(check_claims=check_claims),
                           type_name=predicate_type).attestations


def sign_blob(path: str, *, key: str | Signer | None = None, password: PasswordSource = None,
              identity_token: str | None = None, trust: TrustConfig | None = None,
              tlog: bool = True) -> bytes:
    """A Sigstore bundle (v0.3 JSON bytes) signing the file at ``path``."""
    from sigward.ops.blob import sign_blob_bundle

    material = _material(key, password, identity_token=identity_token, trust=trust, tlog=tlog)
    return sign_blob_bundle(path, material)


def verify_blob(path: str, bundle: bytes, *, policy: Policy) -> VerifiedSignature:
    """Check a Sigstore bundle over the file at ``path`` against ``policy``."""
    from sigward.ops.blob import verify_blob_bundle

    return verify_blob_bundle(path, bundle, policy)


def key_policy(*keys: str | Signer, tlog: bool = True, trust: TrustConfig | None = None,
               name: str = "key") -> Policy:
    """A ``KeyAuthority`` for public key files / key references (or signers' public keys)."""
    from sigward.keys.local import LocalVerifier
    from sigward.keys.providers import load_verifier
    from sigward.sigstore.policy import Checks, KeyAuthority

    def verifier(k: str | Signer) -> Verifier:
        if isinstance(k, str):
            return load_verifier(k)
        own = getattr(k, "verifier", None)  # a signer knows its padding (RSA-PSS KMS keys)
        return own() if callable(own) else LocalVerifier(k.public_key)  # type: ignore[no-any-return]

    verifiers = tuple(verifier(k) for k in keys)
    root = (trust or TrustConfig()).root() if tlog else None
    return KeyAuthority(verifiers, root, Checks(ignore_tlog=not tlog), name)


def identity_policy(*identities: Identity, trust: TrustConfig | None = None, tlog: bool = True,
                    name: str = "keyless") -> Policy:
    """A ``KeylessAuthority`` accepting any of ``identities`` under ``trust``'s root."""
    from sigward.sigstore.policy import Checks, KeylessAuthority

    root = (trust or TrustConfig()).root()
    return KeylessAuthority(tuple(identities), root, Checks(ignore_tlog=not tlog), name)


if TYPE_CHECKING:
    from sigward.sigstore.policy import Identity

__all__ = ["TrustConfig", "attest", "generate_key", "identity_policy", "key_policy", "load_signer", "sign",
           "sign_blob", "verify", "verify_attestations", "verify_blob"]
