"""Keyless signing and the trust material every Sigstore operation needs.

Signing: identity token → ephemeral P-256 key → Fulcio certificate → signature → Rekor entry (v1 or v2)
→ optional RFC 3161 timestamps → a v0.3 bundle. The services come from a signing config (the
public-good one by default, ``--signing-config``, or one built from ``--fulcio-url``/``--rekor-url``/
``--timestamp-server-url`` as cosign does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sigward.sigstore.trust import SigningConfig, TrustedRoot


def load_trust(trusted_root: str | None = None, signing_config: str | None = None, *,
               staging: bool = False, offline: bool = False) -> tuple[TrustedRoot, SigningConfig | None]:
    """The trusted root (``--trusted-root`` or public good) and the signing config, if any is known."""
    from sigward.sigstore import trust

    if trusted_root:
        root = trust.load_trusted_root(trusted_root)
        cfg = trust.load_signing_config(signing_config) if signing_config else None
        return root, cfg
    root, cfg = trust.public_good(offline=offline, staging=staging)
    if signing_config:
        cfg = trust.load_signing_config(signing_config)
    return root, cfg


@dataclass
class KeylessOptions:
    identity: Any = None  # sigward.sigstore.oidc.IdentityOptions
    trusted_root: str | None = None
    signing_config: str | None = None
    staging: bool = False
    fulcio_url: str | None = None
    rekor_url: str | None = None
    rekor_version: int | None = None
    timestamp_urls: list[str] = field(default_factory=list)
    tlog_upload: bool = True
