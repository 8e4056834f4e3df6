"""Verify an image's signatures, the way ``cosign verify`` does: with a public key, or keylessly with
an identity policy and a trusted root.

Path selection follows cosign v3 (cosign-wire-formats.md §4.1): if the digest has at least one Sigstore
bundle referrer, every bundle is checked (any predicate type counts); otherwise the legacy ``.sig`` image.
Success needs one signature that passes every check. Each check is a step with its own reason, so a
failure says which one failed. Bytes are verified exactly as fetched, never re-serialised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from sigward import safejson
from sigward.errors import (
    DigestMismatchError,
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
        skipped: list[str] = []
        bundles = find_bundles(src, subject.digest, skipped)
        if bundles or skipped:
            return _verify_bundles(bundles, subject, verifier, opts, display_name or store.name, skipped)
    return _verify_legacy(src, subject, verifier, opts)


# --- bundle path -----------------------------------------------------------------------------------


@dataclass
class FoundBundle:
    where: str  # the referrer manifest digest, for messages
    data: bytes


def find_bundles(src: Store, digest: str, skipped: list[str] | None = None) -> list[FoundBundle]:
    """Every Sigstore bundle attached as a referrer of ``digest`` (never filtered by artifactType).

    A bundle that cannot be read (its blob missing, or bytes that do not match their digest) is skipped,
    as cosign does (a signature that cannot be read is not a signature), and named in ``skipped``; the
    caller fails only when nothing else verifies.
    """
    from sigward.formats import referrer

    out = []
    for desc in src.referrers(digest):
        if mt.is_index(desc.media_type):
            continue
        try:
            m = src.get_manifest(desc.digest)
        except (NotFoundError, InvalidManifestError):
            continue  # listed but gone, or not a manifest: it cannot hold a signature
        if not referrer.is_bundle_referrer(m):
            continue
        try:
            out.append(FoundBundle(m.digest, src.get_blob(m.layers[0])))
        except (StoreError, DigestMismatchError, InvalidManifestError) as e:
            if skipped is not None:
                skipped.append(f"{m.digest}: unreadable bundle skipped ({e})")
    return out


def _verify_bundles(
    bundles: list[FoundBundle], subject: Descriptor, verifier: Verifier | None, opts: VerifyOptions,
    name: str, skipped: list[str] | None = None,
) -> VerifyResult:
    ok: list[VerifiedSignature] = []
    errors: list[str] = list(skipped or [])
    for fb in bundles:
        try:
            ok.append(check_bundle(fb.data, subject.digest, verifier, opts, name))
        except SigwardError as e:
            errors.append(f"{fb.where}: {e}")
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
    for sig in layers:
        try:
            ok.append(check_legacy_signature(src, sig, subject.digest, verifier, opts))
        except SigwardError as e:
            errors.append(str(e))
    if not ok:
        raise NoMatchingSignaturesError("no matching signatures: " + "; ".join(errors))
    return VerifyResult(subject.digest, ok, "legacy")


def check_legacy_signature(
    src: Store, sig: Any, digest: str, verifier: Verifier | None, opts: VerifyOptions
) -> VerifiedSignature:
    from sigward.formats import simplesigning
    from sigward.sigstore.verify import verify_legacy

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
