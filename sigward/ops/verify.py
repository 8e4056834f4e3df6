"""Verify an image's signatures, the way ``cosign verify`` does: with a public key, or keylessly with
an identity policy and a trusted root.

Path selection follows cosign v3 (cosign-wire-formats.md §4.1): if the digest has at least one Sigstore
bundle referrer, every bundle is checked (any predicate type counts); otherwise the legacy ``.sig`` image.
Success needs one signature that passes every check. Each check is a step with its own reason, so a
failure says which one failed. Bytes are verified exactly as fetched, never re-serialised.

Many signatures: their manifests and blobs are fetched ``FETCH_CONCURRENCY`` at a time, in order, a few
ahead of the checks (round trips dominate a registry verify). ``cosign verify`` prints every signature
that passes, so by default all are checked; ``VerifyOptions.first_match`` (for callers that need only a
yes — ``image build``'s base) stops at the first signature that passes every check, and fetches no more.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sigward import safejson
from sigward.errors import (
    ImageTagNotFoundError,
    InvalidManifestError,
    NoMatchingSignaturesError,
    NoSignaturesError,
    NotFoundError,
    SigwardError,
    StoreError,
    VerificationError,
)
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import Descriptor
from sigward.oci.store import Store
from sigward.ops.fetch import fetch_ahead

_T = TypeVar("_T")

@dataclass
class VerifyOptions:
    annotations: dict[str, str] = field(default_factory=dict)
    check_claims: bool = True
    ignore_tlog: bool = False
    new_bundle_format: bool = True
    ignore_sct: bool = False
    use_signed_timestamps: bool = False
    # Keyless: who may have signed, and the CAs/logs/TSAs to trust (also needed for a key with a tlog).
    policy: Any = None  # sigward.sigstore.identity.IdentityPolicy
    root: Any = None  # sigward.sigstore.trust.TrustedRoot
    # Stop at the first signature passing every check (the result then lists that one only).
    first_match: bool = False

    def checks(self) -> Any:
        from sigward.sigstore.verify import CheckOptions

        return CheckOptions(ignore_tlog=self.ignore_tlog, ignore_sct=self.ignore_sct,
                            use_signed_timestamps=self.use_signed_timestamps)


@dataclass
class VerifiedSignature:
    """One signature that passed; ``output`` is the JSON object cosign prints for it."""

    output: dict[str, Any]
    payload: bytes  # the signed payload (statement or simple-signing JSON), exactly as stored
    kind: str  # "bundle" or "legacy"


@dataclass
class VerifyResult:
    digest: str
    signatures: list[VerifiedSignature]
    kind: str


class Verifier(Protocol):
    """What verification needs of a key (``sigward.keys.signer.Verifier``)."""

    public_key: Any

    def verify(self, signature: bytes, data: bytes) -> None: ...


def resolve_subject(store: Store, identifier: str) -> Descriptor:
    try:
        return store.resolve(identifier)
    except NotFoundError as e:
        raise ImageTagNotFoundError(f"image tag not found: {e}")


def verify_image(
    store: Store,
    identifier: str,
    verifier: Verifier | None,
    *,
    attach_store: Store | None = None,
    options: VerifyOptions | None = None,
    display_name: str | None = None,
) -> VerifyResult:
    """Verify ``identifier`` in ``store``; raises a VerificationError subclass (cosign's exit codes).

    ``verifier`` is the ``--key``; None verifies keylessly with ``options.policy`` and ``options.root``.
    """
    opts = options or VerifyOptions()
    src = attach_store or store
    subject = resolve_subject(store, identifier)
    if opts.new_bundle_format:
        bundles = iter_bundles(src, subject.digest)
        first = next(bundles, None)
        if first is not None:
            return _verify_bundles(_chain(first, bundles), subject, verifier, opts,
                                   display_name or store.name)
    return _verify_legacy(src, subject, verifier, opts)


def _chain(first: _T, rest: Iterator[_T]) -> Iterator[_T]:
    yield first
    yield from rest


# --- bundle path -----------------------------------------------------------------------------------


@dataclass
class FoundBundle:
    where: str  # the referrer manifest digest, for messages
    data: bytes


def find_bundles(src: Store, digest: str, skipped: list[str] | None = None) -> list[FoundBundle]:
    """Every Sigstore bundle attached as a referrer of ``digest`` (never filtered by artifactType).

    A bundle that cannot be read (its blob missing, or bytes that do not match their digest) raises, or with
    ``skipped`` is left out and named there: cosign skips it (a signature that cannot be read is not a
    signature), and the verifiers fail only when nothing else verifies.
    """
    out = []
    for fb in iter_bundles(src, digest):
        if isinstance(fb, SigwardError):
            if skipped is None:
                raise fb
            skipped.append(unreadable(fb))
            continue
        out.append(fb)
    return out


def iter_bundles(src: Store, digest: str) -> Iterator[FoundBundle | SigwardError]:
    """The bundles of ``digest``'s referrers, in referrer order, fetched a few at a time ahead; a
    bundle that cannot be fetched comes as its error. Non-bundle referrers are skipped."""
    descs = [d for d in src.referrers(digest) if not mt.is_index(d.media_type)]
    for got in fetch_ahead(lambda d: _fetch_bundle(src, d), descs):
        if got is not None:
            yield got


def _fetch_bundle(src: Store, desc: Descriptor) -> FoundBundle | None:
    from sigward.formats import referrer

    try:
        m = src.get_manifest(desc.digest)
    except (NotFoundError, InvalidManifestError):
        return None  # listed but gone, or not a manifest: it cannot hold a signature
    if not referrer.is_bundle_referrer(m):
        return None
    try:
        return FoundBundle(m.digest, src.get_blob(m.layers[0]))
    except SigwardError as e:
        raise StoreError(f"referrer {m.digest}: {e}") from None


def unreadable(e: SigwardError) -> str:
    return f"unreadable bundle skipped ({e})"


def _verify_bundles(
    bundles: Iterator[FoundBundle | SigwardError], subject: Descriptor, verifier: Verifier | None,
    opts: VerifyOptions, name: str,
) -> VerifyResult:
    ok: list[VerifiedSignature] = []
    errors: list[str] = []
    for fb in bundles:
        if isinstance(fb, SigwardError):
            errors.append(unreadable(fb))  # skipped, as cosign does; it fails the verify only if alone
            continue
        try:
            ok.append(check_bundle(fb.data, subject.digest, verifier, opts, name))
        except SigwardError as e:
            errors.append(f"{fb.where}: {e}")
            continue
        if opts.first_match:
            break
    if not ok:
        raise VerificationError("no matching signatures: " + "; ".join(errors))
    return VerifyResult(subject.digest, ok, "bundle")


def check_bundle(
    data: bytes, digest: str, verifier: Verifier | None, opts: VerifyOptions, name: str
) -> VerifiedSignature:
    """All checks on one bundle: log, certificate, signature (sigstore.verify), subject, annotations."""
    from sigward.formats import bundle as bundle_fmt
    from sigward.formats import intoto
    from sigward.sigstore.verify import verify_bundle

    b = bundle_fmt.parse_bundle(data)
    if b.dsse_envelope is None:
        raise VerificationError("bundle does not hold a DSSE envelope (an image signature must)")
    env = b.dsse_envelope
    if env.payload_type != mt.IN_TOTO:
        raise VerificationError(f"DSSE payload type is {env.payload_type!r}, expected {mt.IN_TOTO!r}")
    verify_bundle(b, root=opts.root, key=verifier, policy=opts.policy, options=opts.checks())
    stmt = intoto.parse_statement(env.payload)
    alg, hexd = digest.split(":", 1)
    matching = [s for s in stmt.subjects if s.digest.get(alg) == hexd]
    if opts.check_claims and not matching:
        raise VerificationError(f"statement subject does not match the image digest {digest}")
    sub_ann: dict[str, Any] = dict(matching[0].annotations or {}) if matching else {}
    check_annotations(opts.annotations, sub_ann, "statement subject annotations")
    output = {
        "critical": {
            "identity": {"docker-reference": name},
            "image": {"docker-manifest-digest": digest},
            "type": stmt.predicate_type,
        },
        "optional": sub_ann,
    }
    return VerifiedSignature(output, env.payload, "bundle")


def check_annotations(want: dict[str, str], have: dict[str, Any] | None, where: str) -> None:
    """Every ``-a k=v`` must be present with exactly that value (cosign compares strings)."""
    have = have or {}
    for k, v in want.items():
        if k not in have:
            raise VerificationError(f"missing or incorrect annotation: {k}={v} not in {where}")
        got = have[k]
        if (got if isinstance(got, str) else json.dumps(got)) != v:
            raise VerificationError(f"missing or incorrect annotation: {k}={v} (found {k}={got})")


# --- legacy path -----------------------------------------------------------------------------------


def _verify_legacy(
    src: Store, subject: Descriptor, verifier: Verifier | None, opts: VerifyOptions
) -> VerifyResult:
    from sigward.formats import legacy
    from sigward.ops.attached import attached_tag

    tag = attached_tag(subject.digest, "sig")
    try:
        sig_manifest = src.get_manifest(tag)
    except NotFoundError:
        raise NoSignaturesError("no signatures found")
    layers = legacy.parse_signature_layers(sig_manifest)
    if not layers:
        raise NoSignaturesError("no signatures found")
    ok: list[VerifiedSignature] = []
    errors: list[str] = []
    payloads = fetch_ahead(lambda sig: src.get_blob(sig.layer), layers)
    for sig, payload in zip(layers, payloads, strict=True):
        try:
            if isinstance(payload, SigwardError):
                raise payload
            ok.append(check_legacy_signature(src, sig, subject.digest, verifier, opts, payload))
        except SigwardError as e:
            errors.append(str(e))
            continue
        if opts.first_match:
            break
    if not ok:
        raise NoMatchingSignaturesError("no matching signatures: " + "; ".join(errors))
    return VerifyResult(subject.digest, ok, "legacy")


def check_legacy_signature(
    src: Store, sig: Any, digest: str, verifier: Verifier | None, opts: VerifyOptions,
    payload: bytes | None = None,
) -> VerifiedSignature:
    """All checks on one legacy signature; ``payload`` is its layer's bytes when already fetched."""
    from sigward.formats import simplesigning
    from sigward.sigstore.verify import verify_legacy

    if payload is None:
        payload = src.get_blob(sig.layer)
    verified = verify_legacy(
        signature=sig.signature(), message=payload, certificate_pem=sig.certificate_pem,
        rekor_bundle=sig.rekor_bundle(), timestamp=sig.rfc3161_timestamp(),
        root=opts.root, key=verifier, policy=opts.policy, options=opts.checks(),
    )
    ss = simplesigning.parse(payload)
    if opts.check_claims and ss.manifest_digest != digest:
        raise VerificationError(
            f"invalid or missing digest in claim: {ss.manifest_digest} (image is {digest})"
        )
    check_annotations(opts.annotations, ss.optional, "the signature's optional annotations")
    output: dict[str, Any] = safejson.loads(payload)
    extra = certificate_fields(verified.identity)
    if sig.bundle_json is not None:
        extra["Bundle"] = sig.rekor_bundle().to_json()
    if sig.timestamp_json is not None:
        extra["RFC3161Timestamp"] = safejson.loads(sig.timestamp_json)
    if extra:
        output["optional"] = {**(output.get("optional") or {}), **extra}
    return VerifiedSignature(output, payload, "legacy")


def certificate_fields(identity: Any) -> dict[str, Any]:
    """What cosign adds to ``optional`` for a certificate: Subject, Issuer, the GitHub extensions."""
    if identity is None:
        return {}
    from sigward.sigstore.certs import GITHUB_EXTENSIONS, OID_ISSUER_V1

    out: dict[str, Any] = {"Subject": identity.subject}
    issuer = identity.extensions.get(OID_ISSUER_V1) or identity.issuer
    if issuer:
        out["Issuer"] = issuer
        out[OID_ISSUER_V1] = issuer
    for oid, name in GITHUB_EXTENSIONS.items():
        value = identity.extensions.get(oid)
        if value:
            out[oid] = value
            out[name] = value
    return out
