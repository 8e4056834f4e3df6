"""The verification pipeline: one candidate signature checked against one authority, and policies
evaluated over candidates.

Every verification in sigward — ``verify``, ``verify-attestation``, ``verify-blob``,
``verify-blob-attestation``, the base image of ``image build``, the conformance client, the public API
and (next) admission policies — goes through ``check`` and ``evaluate``:

1. a **candidate** is what was found: a Sigstore bundle (``BundleCandidate``) or a cosign v2 signature
   (``LegacyCandidate``: a ``.sig`` layer, a ``.att`` envelope, a detached blob signature). Finding
   candidates is the caller's job (``sigward.ops.verify.discover`` for images);
2. ``check(candidate, authority, target, expect)`` runs every cryptographic check for that authority
   (``sigward.sigstore.verify``: log, times, chain, SCT, signature, identity), then the content checks —
   DSSE payload type, in-toto statement, subject digest, annotations — which live only here;
3. the result is a ``VerifiedSignature``: which authority accepted it, the signer identity (subject,
   issuer, Fulcio extensions) or key, the statement or payload, the log entries and verified times.

``evaluate(policy, candidates, …)`` applies ``AnyOf``/``AllOf`` combinations and reports, per
authority, what matched and why the rest did not.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from sigward.errors import SigwardError, VerificationError
from sigward.sigstore.policy import (
    AllOf,
    AnyOf,
    Authority,
    IdentityMatcher,
    KeyAuthority,
    KeylessAuthority,
    Policy,
    StaticAuthority,
)

if TYPE_CHECKING:
    from datetime import datetime

    from cryptography import x509

    from sigward.formats import dsse
    from sigward.formats.bundle import Bundle, TlogEntry
    from sigward.formats.intoto import Statement
    from sigward.formats.rekorbundle import RekorBundle
    from sigward.keys.keytypes import PublicKey
    from sigward.sigstore.certs import CertIdentity
    from sigward.sigstore.verify import Verified

IN_TOTO = "application/vnd.in-toto+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"

Format = Literal["bundle", "legacy"]
# What a candidate must hold: an image signature (DSSE statement in a bundle, simple signing in
# legacy), an attestation (DSSE in-toto statement), a blob signature (message signature), or either
# of the last two (the conformance client's verify-bundle).
Expect = Literal["image-signature", "attestation", "blob-signature", "blob-any"]


# --- candidates and targets ------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleCandidate:
    """A Sigstore bundle's bytes, exactly as fetched; ``where`` names it in messages (referrer digest)."""

    data: bytes
    where: str = ""
    format: Format = field(default="bundle", init=False)
    # Why it could not be read (blob missing, bytes not matching their digest): checking it fails with
    # this, so the other candidates still count (cosign skips an unreadable bundle).
    error: str | None = None


@dataclass(frozen=True)
class LegacyCandidate:
    """A cosign v2 signature and its annotations, as stored (parsed only when checked, so one bad layer
    fails alone).

    Exactly one of ``payload`` (a ``.sig`` layer's simple-signing payload, signed with
    ``signature_b64``), ``envelope`` (a ``.att`` layer or attest-blob output: DSSE JSON) or
    ``signature_b64`` alone (a detached blob signature over ``Target.artifact``) describes what was
    signed. ``rekor_bundle``/``timestamp`` are the annotation JSON texts or already parsed values.
    """

    where: str = ""
    payload: bytes | None = None
    envelope: bytes | None = None
    signature_b64: str | None = None
    certificate_pem: bytes | None = None
    rekor_bundle: RekorBundle | str | None = None
    timestamp: bytes | str | None = None
    error: str | None = None  # why it could not be fetched; checking it fails with this
    format: Format = field(default="legacy", init=False)

    def parsed_rekor_bundle(self) -> RekorBundle | None:
        if isinstance(self.rekor_bundle, str):
            from sigward.formats import rekorbundle

            return rekorbundle.parse(self.rekor_bundle)
        return self.rekor_bundle

    def parsed_timestamp(self) -> bytes | None:
        if isinstance(self.timestamp, str):
            from sigward.formats import rekorbundle

            return rekorbundle.parse_rfc3161_annotation(self.timestamp)
        return self.timestamp


Candidate = BundleCandidate | LegacyCandidate


@dataclass(frozen=True)
class Target:
    """What a signature must be about.

    ``digest`` is an image manifest digest (``sha256:<hex>``); ``artifact`` a blob's (hash name, raw
    digest). ``check_claims`` false skips the subject comparison (cosign ``--check-claims=false``);
    ``annotations`` must appear with these values on the signed subject (cosign ``-a``).
    """

    digest: str | None = None
    artifact: tuple[str, bytes] | None = None
    check_claims: bool = True
    annotations: Mapping[str, str] = field(default_factory=dict)

    def subject(self) -> tuple[str, str] | None:
        if self.artifact is not None:
            return self.artifact[0], self.artifact[1].hex()
        if self.digest is not None:
            alg, hexd = self.digest.split(":", 1)
            return alg, hexd
        return None


# --- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedSignature:
    """One signature that passed every check of one authority.

    ``identity`` is the certificate's signer (subject, issuer, every Fulcio extension by OID) for a
    keyless signature; ``key`` the public key that verified a key-based one. ``payload`` is the signed
    payload exactly as stored (an in-toto statement or a simple-signing document); ``statement`` its
    parsed form when it is a statement. ``log_entries`` and ``verified_times`` are what the
    transparency log and timestamp authorities proved.
    """

    format: Format
    authority: str
    payload: bytes
    payload_type: str
    candidate: Candidate
    identity: CertIdentity | None = None
    matched_identity: IdentityMatcher | None = None
    certificate: x509.Certificate | None = None
    key: PublicKey | None = None
    statement: Statement | None = None
    envelope: dsse.Envelope | None = None
    log_entries: tuple[TlogEntry, ...] = ()
    verified_times: tuple[datetime, ...] = ()

    @property
    def predicate_type(self) -> str | None:
        return self.statement.predicate_type if self.statement is not None else None

    @property
    def signed_by(self) -> str:
        """Who signed, in one line: ``subject (issuer)`` for a certificate, ``key sha256:<hex of the
        public key's DER>`` for a key."""
        if self.identity is not None:
            return f"{self.identity.subject} ({self.identity.issuer})"
        if self.key is not None:
            import hashlib

            from sigward.keys.keytypes import public_key_der

            return f"key sha256:{hashlib.sha256(public_key_der(self.key)).hexdigest()}"
        return "unknown"


@dataclass
class AuthorityResult:
    """How one authority fared over the candidates: what it accepted, and why it refused the rest."""

    authority: Authority
    signatures: list[VerifiedSignature] = field(default_factory=list)
    failures: list[tuple[str, SigwardError]] = field(default_factory=list)  # (where, why)

    @property
    def passed(self) -> bool:
        if isinstance(self.authority, StaticAuthority):
            return self.authority.action == "pass"
        return bool(self.signatures)


@dataclass
class PolicyResult:
    """``passed``: the policy is satisfied; ``results``: every authority evaluated, in policy order."""

    passed: bool
    results: list[AuthorityResult]

    @property
    def signatures(self) -> list[VerifiedSignature]:
        """The signatures accepted by authorities that passed."""
        return [s for r in self.results if r.passed for s in r.signatures]

    def matches(self) -> dict[str, list[VerifiedSignature]]:
        """Authority name → the signatures it accepted (policy-controller's ``authorityMatches``)."""
        return {r.authority.name: list(r.signatures) for r in self.results if r.passed}

    def errors(self, *, include_passed: bool = False) -> list[tuple[str, str]]:
        """(where, reason) for every refusal by an authority that did not pass (or by every authority,
        with ``include_passed``); with several authorities, each reason names its authority."""
        failed = [r for r in self.results if include_passed or not r.passed]
        several = len(self.results) > 1
        out: list[tuple[str, str]] = []
        for r in failed:
            if isinstance(r.authority, StaticAuthority):
                out.append(("", r.authority.message or f"authority {r.authority.name}: static fail"))
                continue
            for where, err in r.failures:
                out.append((where, f"authority {r.authority.name}: {err}" if several else str(err)))
        return out


# --- evaluation ------------------------------------------------------------------------------------


def evaluate(policy: Policy, candidates: Iterable[Candidate], target: Target, expect: Expect, *,
             first_match: bool = False) -> PolicyResult:
    """Check every candidate against every authority of ``policy``; combine with AnyOf/AllOf.

    ``candidates`` may be a lazy iterable: with a single authority it is consumed once, in order, and
    with ``first_match`` no further than the first accepted signature (so nothing more is fetched)."""
    results: list[AuthorityResult] = []
    if not isinstance(policy, KeyAuthority | KeylessAuthority):
        candidates = list(candidates)  # several authorities look at the same candidates
    passed = _evaluate(policy, candidates, target, expect, results, first_match)
    return PolicyResult(passed, results)


def _evaluate(policy: Policy, candidates: Iterable[Candidate], target: Target, expect: Expect,
              out: list[AuthorityResult], first_match: bool) -> bool:
    if isinstance(policy, AnyOf):
        return any([_evaluate(m, candidates, target, expect, out, first_match) for m in policy.members])
    if isinstance(policy, AllOf):
        return all([_evaluate(m, candidates, target, expect, out, first_match) for m in policy.members])
    result = AuthorityResult(policy)
    out.append(result)
    if isinstance(policy, StaticAuthority):
        return result.passed
    for c in candidates:
        try:
            result.signatures.append(check(c, policy, target, expect))
        except SigwardError as e:
            result.failures.append((c.where, e))
            continue
        if first_match:
            break
    return result.passed


def verify_one(policy: Policy, candidate: Candidate, target: Target, expect: Expect) -> VerifiedSignature:
    """One candidate (a bundle file, a detached signature) against ``policy``: its first accepted
    signature, else the failure (the very exception when a single authority refused it)."""
    result = evaluate(policy, [candidate], target, expect)
    if result.passed:
        if result.signatures:
            return result.signatures[0]
        raise VerificationError("the policy passed without a signature (static authority); nothing to return")
    failed = [r for r in result.results if not r.passed]
    if len(result.results) == 1 and failed[0].failures:
        raise failed[0].failures[0][1]
    raise VerificationError("; ".join(reason for _w, reason in result.errors()))


def check(candidate: Candidate, authority: KeyAuthority | KeylessAuthority, target: Target,
          expect: Expect) -> VerifiedSignature:
    """Every check of ``authority`` on ``candidate``; raises a VerificationError naming the first failure."""
    if isinstance(candidate, BundleCandidate):
        return _check_bundle(candidate, authority, target, expect)
    return _check_legacy(candidate, authority, target, expect)


def _crypto(authority: KeyAuthority | KeylessAuthority, run: _Run) -> tuple[Verified, PublicKey | None]:
    """Run the Sigstore checks with each key of a key authority (first success wins; with none, the
    first key's failure is the error), or once keylessly with the authority's identities."""
    if isinstance(authority, KeylessAuthority):
        return run(None, authority.root, authority.identities, authority.checks), None
    first: VerificationError | None = None
    for key in authority.keys:
        try:
            return run(key, authority.root, (), authority.checks), key.public_key
        except VerificationError as e:
            first = first or e
    assert first is not None
    raise first


if TYPE_CHECKING:
    from collections.abc import Callable

    from sigward.keys.interfaces import Verifier
    from sigward.sigstore.policy import Checks
    from sigward.sigstore.trust import TrustedRoot

    _Run = Callable[[Verifier | None, TrustedRoot | None, Sequence[IdentityMatcher], Checks], Verified]


def _result(candidate: Candidate, authority: Authority, verified: Verified, key: PublicKey | None, *,
            payload: bytes, payload_type: str, statement: Statement | None = None,
            envelope: dsse.Envelope | None = None) -> VerifiedSignature:
    return VerifiedSignature(
        format=candidate.format, authority=authority.name, payload=payload, payload_type=payload_type,
        candidate=candidate, identity=verified.identity, matched_identity=verified.matched,
        certificate=verified.certificate, key=key, statement=statement, envelope=envelope,
        log_entries=tuple(verified.tlog_entries), verified_times=tuple(verified.times),
    )


# --- bundles ---------------------------------------------------------------------------------------


def _check_bundle(c: BundleCandidate, authority: KeyAuthority | KeylessAuthority, target: Target,
                  expect: Expect) -> VerifiedSignature:
    from sigward.formats import bundle as bundle_fmt
    from sigward.sigstore.verify import verify_bundle

    if c.error is not None:
        raise VerificationError(c.error)
    b = bundle_fmt.parse_bundle(c.data)
    env = _bundle_envelope(b, expect)
    artifact = target.artifact if b.message_signature is not None else None

    def run(key: Verifier | None, root: TrustedRoot | None, identities: Sequence[IdentityMatcher],
            checks: Checks) -> Verified:
        return verify_bundle(b, root=root, key=key, identities=identities, artifact_digest=artifact,
                             options=checks)

    verified, key = _crypto(authority, run)
    if env is None:
        ms = b.message_signature
        assert ms is not None
        return _result(c, authority, verified, key, payload=ms.digest or b"", payload_type="")
    stmt = check_statement(env, target, expect)
    return _result(c, authority, verified, key, payload=env.payload, payload_type=env.payload_type,
                   statement=stmt, envelope=env)


def _bundle_envelope(b: Bundle, expect: Expect) -> dsse.Envelope | None:
    """What the bundle must hold for ``expect``; the payload type is checked before any crypto."""
    if expect == "blob-signature":
        if b.message_signature is None:
            raise VerificationError("the bundle holds a DSSE envelope; use verify-blob-attestation for it")
        return None
    if b.dsse_envelope is None:
        if expect == "blob-any":
            return None
        if expect == "image-signature":
            raise VerificationError("bundle does not hold a DSSE envelope (an image signature must)")
        raise VerificationError("the bundle holds a message signature, not an attestation (DSSE envelope)")
    require_in_toto(b.dsse_envelope)
    return b.dsse_envelope


# --- the content checks, once -----------------------------------------------------------------------


def require_in_toto(env: dsse.Envelope) -> None:
    if env.payload_type != IN_TOTO:
        raise VerificationError(f"DSSE payload type is {env.payload_type!r}, expected {IN_TOTO!r}")


def check_statement(env: dsse.Envelope, target: Target, expect: Expect) -> Statement:
    """The envelope's in-toto statement must name the target (unless claims are not checked) and carry
    the required annotations on that subject."""
    from sigward.formats import intoto

    require_in_toto(env)
    stmt = intoto.parse_statement(env.payload)
    want = target.subject()
    if want is None:
        return stmt
    alg, hexd = want
    if target.check_claims and not stmt.matches_digest(alg, hexd):
        if target.artifact is not None:
            raise VerificationError(f"the statement's subject does not name the artifact {alg}:{hexd}")
        names = ", ".join(f"{a}:{v}" for s in stmt.subjects for a, v in s.digest.items()) or "none"
        raise VerificationError(f"statement subject does not match the image: the statement's subject "
                                f"({names}) is not the image digest {alg}:{hexd}")
    if target.annotations:
        subject = stmt.subject_for(alg, hexd)
        have = dict(subject.annotations or {}) if subject is not None else {}
        check_annotations(target.annotations, have, "statement subject annotations")
    return stmt


def check_annotations(want: Mapping[str, str], have: Mapping[str, object] | None, where: str) -> None:
    """Every ``-a k=v`` must be present with exactly that value (cosign compares strings)."""
    have = have or {}
    for k, v in want.items():
        if k not in have:
            raise VerificationError(f"missing or incorrect annotation: {k}={v} not in {where}")
        got = have[k]
        if (got if isinstance(got, str) else json.dumps(got)) != v:
            raise VerificationError(f"missing or incorrect annotation: {k}={v} (found {k}={got})")


def _check_simple_signing(payload: bytes, target: Target) -> None:
    from sigward.formats import simplesigning

    ss = simplesigning.parse(payload)
    if target.check_claims and target.digest is not None and ss.manifest_digest != target.digest:
        raise VerificationError(
            f"invalid or missing digest in claim: {ss.manifest_digest} (image is {target.digest})")
    check_annotations(target.annotations, ss.optional, "the signature's optional annotations")


# --- legacy ----------------------------------------------------------------------------------------


def _check_legacy(c: LegacyCandidate, authority: KeyAuthority | KeylessAuthority, target: Target,
                  expect: Expect) -> VerifiedSignature:
    from sigward.formats import dsse
    from sigward.sigstore.verify import verify_legacy

    if c.error is not None:
        raise VerificationError(c.error)
    rekor_bundle = c.parsed_rekor_bundle()
    timestamp = c.parsed_timestamp()
    if c.envelope is not None:
        env = dsse.parse(c.envelope)
        require_in_toto(env)
        data = c.envelope

        def run_env(key: Verifier | None, root: TrustedRoot | None, identities: Sequence[IdentityMatcher],
                    checks: Checks) -> Verified:
            return verify_legacy(envelope=env, envelope_bytes=data, certificate_pem=c.certificate_pem,
                                 rekor_bundle=rekor_bundle, timestamp=timestamp, root=root, key=key,
                                 identities=identities, options=checks)

        verified, key = _crypto(authority, run_env)
        stmt = check_statement(env, target, expect)
        return _result(c, authority, verified, key, payload=env.payload, payload_type=env.payload_type,
                       statement=stmt, envelope=env)

    from sigward.formats._common import b64decode_std

    if c.signature_b64 is None:
        raise VerificationError(f'signature layer {c.where} is missing "dev.cosignproject.cosign/signature" '
                                "annotation")
    sig = b64decode_std(c.signature_b64, f"signature layer {c.where}: signature")
    payload = c.payload

    def run_sig(key: Verifier | None, root: TrustedRoot | None, identities: Sequence[IdentityMatcher],
                checks: Checks) -> Verified:
        if payload is None:
            if target.artifact is None:
                raise VerificationError("a detached signature needs the artifact's digest to verify")
            return verify_legacy(signature=sig, digest=target.artifact, certificate_pem=c.certificate_pem,
                                 rekor_bundle=rekor_bundle, timestamp=timestamp, root=root, key=key,
                                 identities=identities, options=checks)
        return verify_legacy(signature=sig, message=payload, certificate_pem=c.certificate_pem,
                             rekor_bundle=rekor_bundle, timestamp=timestamp, root=root, key=key,
                             identities=identities, options=checks)

    verified, key = _crypto(authority, run_sig)
    if payload is None:
        return _result(c, authority, verified, key, payload=b"", payload_type="")
    _check_simple_signing(payload, target)
    return _result(c, authority, verified, key, payload=payload, payload_type=SIMPLE_SIGNING)
