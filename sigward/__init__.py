"""sigward: sign and verify OCI artifacts, wire-compatible with cosign.

The public API (see ``docs/library.md``)::

    import sigward

    key = sigward.load_signer("cosign.key", password=b"…")
    sigward.sign("oci:./layout:app", key=key, tlog=False)
    policy = sigward.key_policy("cosign.pub", tlog=False)
    for sig in sigward.verify("oci:./layout:app", policy=policy):
        print(sig.authority, sig.identity, sig.key)

Names are loaded on first use, so ``import sigward`` stays cheap (the CLI's start-up depends on it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name → module defining it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("TrustConfig", "attest", "generate_key", "identity_policy", "key_policy", "load_signer",
                     "sign", "sign_blob", "verify", "verify_attestations", "verify_blob"), "sigward.api"),
    **dict.fromkeys(("AllOf", "AnyOf", "Checks", "Identity", "KeyAuthority", "KeylessAuthority",
                     "StaticAuthority", "UNSAFE_ANY_IDENTITY", "Policy", "Authority"),
                    "sigward.sigstore.policy"),
    **dict.fromkeys(("VerifiedSignature", "PolicyResult", "AuthorityResult"), "sigward.sigstore.pipeline"),
    **dict.fromkeys(("Signer", "Verifier", "KeyProvider"), "sigward.keys.interfaces"),
    "CertIdentity": "sigward.sigstore.certs",
    "SignResult": "sigward.ops.sign",
    "StoreOptions": "sigward.oci.store",
    **dict.fromkeys(("SigwardError", "UsageError", "VerificationError", "NoSignaturesError",
                     "NoMatchingSignaturesError", "ImageTagNotFoundError", "NoCertificateError",
                     "KeyFileError", "NotFoundError", "AuthError"), "sigward.errors"),
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sigward' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from sigward.api import TrustConfig as TrustConfig
    from sigward.api import attest as attest
    from sigward.api import generate_key as generate_key
    from sigward.api import identity_policy as identity_policy
    from sigward.api import key_policy as key_policy
    from sigward.api import load_signer as load_signer
    from sigward.api import sign as sign
    from sigward.api import sign_blob as sign_blob
    from sigward.api import verify as verify
    from sigward.api import verify_attestations as verify_attestations
    from sigward.api import verify_blob as verify_blob
    from sigward.errors import AuthError as AuthError
    from sigward.errors import ImageTagNotFoundError as ImageTagNotFoundError
    from sigward.errors import KeyFileError as KeyFileError
    from sigward.errors import NoCertificateError as NoCertificateError
    from sigward.errors import NoMatchingSignaturesError as NoMatchingSignaturesError
    from sigward.errors import NoSignaturesError as NoSignaturesError
    from sigward.errors import NotFoundError as NotFoundError
    from sigward.errors import SigwardError as SigwardError
    from sigward.errors import UsageError as UsageError
    from sigward.errors import VerificationError as VerificationError
    from sigward.keys.interfaces import KeyProvider as KeyProvider
    from sigward.keys.interfaces import Signer as Signer
    from sigward.keys.interfaces import Verifier as Verifier
    from sigward.oci.store import StoreOptions as StoreOptions
    from sigward.ops.sign import SignResult as SignResult
    from sigward.sigstore.certs import CertIdentity as CertIdentity
    from sigward.sigstore.pipeline import AuthorityResult as AuthorityResult
    from sigward.sigstore.pipeline import PolicyResult as PolicyResult
    from sigward.sigstore.pipeline import VerifiedSignature as VerifiedSignature
    from sigward.sigstore.policy import UNSAFE_ANY_IDENTITY as UNSAFE_ANY_IDENTITY
    from sigward.sigstore.policy import AllOf as AllOf
    from sigward.sigstore.policy import AnyOf as AnyOf
    from sigward.sigstore.policy import Authority as Authority
    from sigward.sigstore.policy import Checks as Checks
    from sigward.sigstore.policy import Identity as Identity
    from sigward.sigstore.policy import KeyAuthority as KeyAuthority
    from sigward.sigstore.policy import KeylessAuthority as KeylessAuthority
    from sigward.sigstore.policy import Policy as Policy
    from sigward.sigstore.policy import StaticAuthority as StaticAuthority
