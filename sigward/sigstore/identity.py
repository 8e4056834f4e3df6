"""Who may have signed: cosign's ``--certificate-identity[-regexp]``,
``--certificate-oidc-issuer[-regexp]`` and ``--certificate-github-workflow-*`` checks against a Fulcio
certificate.

Regular expressions are unanchored, as Go's ``regexp.MatchString`` is in cosign:
``--certificate-identity-regexp '@example\\.com'`` matches any address at
example.com. Anchor with ``^…$`` for an exact match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sigward.errors import UsageError, VerificationError
from sigward.sigstore.certs import CertIdentity

# cosign flag suffix → the legacy Fulcio extension it compares (raw string values).
GITHUB_FLAGS = {
    "trigger": "1.3.6.1.4.1.57264.1.2",
    "sha": "1.3.6.1.4.1.57264.1.3",
    "name": "1.3.6.1.4.1.57264.1.4",
    "repository": "1.3.6.1.4.1.57264.1.5",
    "ref": "1.3.6.1.4.1.57264.1.6",
}


def _compile(pattern: str, flag: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise UsageError(f"{flag}: invalid regular expression {pattern!r}: {e}")


@dataclass(frozen=True)
class IdentityPolicy:
    identity: str | None = None
    identity_regexp: str | None = None
    issuer: str | None = None
    issuer_regexp: str | None = None
    github: tuple[tuple[str, str], ...] = ()  # (flag suffix, expected value)

    def __post_init__(self) -> None:
        if self.identity_regexp is not None:
            _compile(self.identity_regexp, "--certificate-identity-regexp")
        if self.issuer_regexp is not None:
            _compile(self.issuer_regexp, "--certificate-oidc-issuer-regexp")

    def require_complete(self) -> None:
        """cosign's keyless rule: both an identity and an issuer constraint are required."""
        if self.identity is None and self.identity_regexp is None:
            raise UsageError("--certificate-identity or --certificate-identity-regexp is required for "
                             "verification in keyless mode")
        if self.issuer is None and self.issuer_regexp is None:
            raise UsageError("--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required for "
                             "verification in keyless mode")

    def check(self, who: CertIdentity) -> None:
        if self.issuer is not None and who.issuer != self.issuer:
            raise VerificationError(
                f"certificate identity: expected OIDC issuer {self.issuer!r}, got {who.issuer!r}")
        if self.issuer_regexp is not None and (
                who.issuer is None or not _compile(self.issuer_regexp, "").search(who.issuer)):
            raise VerificationError(
                f"certificate identity: OIDC issuer {who.issuer!r} does not match the regular expression "
                f"{self.issuer_regexp!r}")
        if self.identity is not None and self.identity not in who.sans:
            raise VerificationError(
                f"certificate identity: expected {self.identity!r}, got {_sans(who)}")
        if self.identity_regexp is not None:
            rx = _compile(self.identity_regexp, "")
            if not any(rx.search(s) for s in who.sans):
                raise VerificationError(
                    f"certificate identity: {_sans(who)} does not match the regular expression "
                    f"{self.identity_regexp!r}")
        for flag, want in self.github:
            got = who.extensions.get(GITHUB_FLAGS[flag])
            if got != want:
                raise VerificationError(
                    f"certificate identity: expected GitHub workflow {flag} {want!r}, got {got!r}")


def _sans(who: CertIdentity) -> str:
    return ", ".join(repr(s) for s in who.sans) or "a certificate without subject alternative names"
