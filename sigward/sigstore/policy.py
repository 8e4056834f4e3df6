"""Who may have signed: identities, authorities and policies, as plain values.

An **authority** is one way a signature can be trusted, as a ClusterImagePolicy authority is:

- ``KeyAuthority``: signed by one of these keys (any ``sigward.keys.interfaces.Verifier``: a key file,
  a KMS key…), optionally also logged in a transparency log of ``root``;
- ``KeylessAuthority``: a Fulcio certificate chaining to ``root`` whose identity matches one of
  ``identities`` (``Identity``: subject and issuer, exact or regular expression, plus GitHub workflow
  claims);
- ``StaticAuthority``: passes or fails without looking at signatures (CIP ``static: {action: pass}``).

A **policy** combines authorities: ``AnyOf`` (one member must be satisfied — the authorities of one
ClusterImagePolicy) and ``AllOf`` (every member — several matching policies). The verification
pipeline (``sigward.sigstore.pipeline``) reports which authority matched with which signer identity.

An ``Identity`` always constrains both subject and issuer: an identity with neither cannot be built.
Accepting any certificate from the trusted CA is possible only by naming ``UNSAFE_ANY_IDENTITY``.

Regular expressions are unanchored, as Go's ``regexp.MatchString`` is in cosign: ``@example\\.com``
matches any address at example.com. Anchor with ``^…$`` for an exact match.

>>> Identity(subject="dev@example.com", issuer="https://accounts.example.com").describe()
'subject dev@example.com, issuer https://accounts.example.com'
>>> Identity(subject="dev@example.com")
Traceback (most recent call last):
...
sigward.errors.UsageError: an identity needs an issuer (exact or regular expression)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from sigward.errors import UsageError, VerificationError

if TYPE_CHECKING:
    from sigward.keys.interfaces import Verifier
    from sigward.sigstore.certs import CertIdentity
    from sigward.sigstore.trust import TrustedRoot

# GitHub workflow claim → the legacy Fulcio extension OID holding it (raw string values).
GITHUB_CLAIMS: Final = {
    "trigger": "1.3.6.1.4.1.57264.1.2",
    "sha": "1.3.6.1.4.1.57264.1.3",
    "name": "1.3.6.1.4.1.57264.1.4",
    "repository": "1.3.6.1.4.1.57264.1.5",
    "ref": "1.3.6.1.4.1.57264.1.6",
}


class InvalidPatternError(UsageError):
    """A regular expression in an identity does not compile; ``field`` names which one."""

    def __init__(self, field_name: str, pattern: str, reason: str) -> None:
        super().__init__(f"{field_name}: invalid regular expression {pattern!r}: {reason}")
        self.field = field_name
        self.pattern = pattern
        self.reason = reason


def _compile(pattern: str, field_name: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise InvalidPatternError(field_name, pattern, str(e)) from None


@dataclass(frozen=True)
class Checks:
    """Which Sigstore checks an authority requires (cosign's ``--insecure-ignore-*`` flags turn them off).

    The defaults are the safe ones: a transparency log entry and an embedded SCT are required.
    """

    ignore_tlog: bool = False
    ignore_sct: bool = False
    use_signed_timestamps: bool = False  # require an RFC 3161 timestamp (cosign --use-signed-timestamps)


@dataclass(frozen=True)
class Identity:
    """A keyless signer: subject (a SAN: email, URI…) and OIDC issuer, each exact or a regexp.

    ``github`` adds exact GitHub workflow claims, e.g.
    ``(("repository", "org/repo"), ("ref", "refs/heads/main"))``.
    """

    subject: str | None = None
    issuer: str | None = None
    subject_regexp: str | None = None
    issuer_regexp: str | None = None
    github: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.subject is None and self.subject_regexp is None:
            raise UsageError("an identity needs a subject (exact or regular expression)")
        if self.issuer is None and self.issuer_regexp is None:
            raise UsageError("an identity needs an issuer (exact or regular expression)")
        if self.subject_regexp is not None:
            _compile(self.subject_regexp, "subject_regexp")
        if self.issuer_regexp is not None:
            _compile(self.issuer_regexp, "issuer_regexp")
        for claim, _value in self.github:
            if claim not in GITHUB_CLAIMS:
                raise UsageError(f"unknown GitHub workflow claim {claim!r} "
                                 f"(known: {', '.join(GITHUB_CLAIMS)})")

    def describe(self) -> str:
        subject = self.subject if self.subject is not None else f"~{self.subject_regexp}"
        issuer = self.issuer if self.issuer is not None else f"~{self.issuer_regexp}"
        return f"subject {subject}, issuer {issuer}"

    def check(self, who: CertIdentity) -> None:
        """Raise VerificationError naming the first constraint ``who`` does not meet."""
        if self.issuer is not None and who.issuer != self.issuer:
            raise VerificationError(
                f"certificate identity: expected OIDC issuer {self.issuer!r}, got {who.issuer!r}")
        if self.issuer_regexp is not None and (
                who.issuer is None or not _compile(self.issuer_regexp, "issuer_regexp").search(who.issuer)):
            raise VerificationError(
                f"certificate identity: OIDC issuer {who.issuer!r} does not match the regular expression "
                f"{self.issuer_regexp!r}")
        if self.subject is not None and self.subject not in who.sans:
            raise VerificationError(f"certificate identity: expected {self.subject!r}, got {_sans(who)}")
        if self.subject_regexp is not None:
            rx = _compile(self.subject_regexp, "subject_regexp")
            if not any(rx.search(s) for s in who.sans):
                raise VerificationError(
                    f"certificate identity: {_sans(who)} does not match the regular expression "
                    f"{self.subject_regexp!r}")
        for claim, want in self.github:
            got = who.extensions.get(GITHUB_CLAIMS[claim])
            if got != want:
                raise VerificationError(
                    f"certificate identity: expected GitHub workflow {claim} {want!r}, got {got!r}")


@dataclass(frozen=True)
class UnsafeAnyIdentity:
    """Matches every certificate the trusted CA issued. Only ``UNSAFE_ANY_IDENTITY`` should exist."""

    def describe(self) -> str:
        return "any identity (unsafe)"

    def check(self, who: CertIdentity) -> None:
        return None


UNSAFE_ANY_IDENTITY: Final = UnsafeAnyIdentity()
IdentityMatcher = Identity | UnsafeAnyIdentity


def _sans(who: CertIdentity) -> str:
    return ", ".join(repr(s) for s in who.sans) or "a certificate without subject alternative names"


def check_identities(who: CertIdentity, identities: Sequence[IdentityMatcher]) -> IdentityMatcher:
    """The first of ``identities`` that ``who`` matches; else the first one's failure is raised."""
    if not identities:
        raise VerificationError("a certificate-signed signature needs an identity to verify against")
    first: VerificationError | None = None
    for ident in identities:
        try:
            ident.check(who)
        except VerificationError as e:
            first = first or e
            continue
        return ident
    assert first is not None
    raise first


# --- authorities -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyAuthority:
    """Signed by one of ``keys``. ``root`` is needed when the log (or a timestamp) is checked."""

    keys: tuple[Verifier, ...]
    root: TrustedRoot | None = None
    checks: Checks = field(default_factory=Checks)
    name: str = "key"

    def __post_init__(self) -> None:
        if not self.keys:
            raise UsageError(f"authority {self.name}: a key authority needs at least one key")


@dataclass(frozen=True)
class KeylessAuthority:
    """A Fulcio certificate chaining to ``root`` whose identity matches one of ``identities``."""

    identities: tuple[IdentityMatcher, ...]
    root: TrustedRoot
    checks: Checks = field(default_factory=Checks)
    name: str = "keyless"

    def __post_init__(self) -> None:
        if not self.identities:
            raise UsageError(f"authority {self.name}: a keyless authority needs at least one identity "
                             "(or UNSAFE_ANY_IDENTITY)")


@dataclass(frozen=True)
class StaticAuthority:
    """Passes (``action="pass"``) or fails without looking at any signature."""

    action: Literal["pass", "fail"]
    message: str = ""
    name: str = "static"


Authority = KeyAuthority | KeylessAuthority | StaticAuthority


@dataclass(frozen=True)
class AnyOf:
    """Satisfied when at least one member is."""

    members: tuple[Policy, ...]
    name: str = "any-of"


@dataclass(frozen=True)
class AllOf:
    """Satisfied when every member is."""

    members: tuple[Policy, ...]
    name: str = "all-of"


Policy = KeyAuthority | KeylessAuthority | StaticAuthority | AnyOf | AllOf


def authorities(policy: Policy) -> list[Authority]:
    """Every authority in ``policy``, depth first."""
    if isinstance(policy, AnyOf | AllOf):
        return [a for m in policy.members for a in authorities(m)]
    return [policy]
