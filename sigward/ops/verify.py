"""Verify an image's signatures against a policy, the way ``cosign verify`` does.

Discovery follows cosign v3 (cosign-wire-formats.md §4.1): if the digest has at least one Sigstore
bundle referrer, every bundle is a candidate (any predicate type counts); otherwise the layers of the
legacy ``.sig`` image. Each candidate is then checked against the policy's authorities by the one
pipeline (``sigward.sigstore.pipeline``); success needs the policy satisfied (for a single authority:
one signature that passes every check). Bytes are verified exactly as fetched, never re-serialised.

The signatures repository (cosign's ``COSIGN_REPOSITORY``) is the ``attach_store`` the caller passes;
nothing here reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from sigward.errors import (
    ImageTagNotFoundError,
    InvalidManifestError,
    NoMatchingSignaturesError,
    NoSignaturesError,
    NotFoundError,
    VerificationError,
)
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import Descriptor
from sigward.oci.store import Store

if TYPE_CHECKING:
    from sigward.sigstore.pipeline import (
        BundleCandidate,
        Candidate,
        Format,
        LegacyCandidate,
        PolicyResult,
        VerifiedSignature,
    )
    from sigward.sigstore.policy import Policy


@dataclass
class VerifyOptions:
    """What the signed payload must say: the image digest (``check_claims``) and ``annotations``.
    ``new_bundle_format`` false looks only at the legacy ``.sig``/``.att`` images."""

    annotations: dict[str, str] = field(default_factory=dict)
    check_claims: bool = True
    new_bundle_format: bool = True


@dataclass
class VerifyResult:
    digest: str
    signatures: list[VerifiedSignature]
    format: Format
    policy: PolicyResult

    @property
    def kind(self) -> Format:
        return self.format


def resolve_subject(store: Store, identifier: str) -> Descriptor:
    try:
        return store.resolve(identifier)
    except NotFoundError as e:
        raise ImageTagNotFoundError(f"image tag not found: {e}")


def verify_image(
    store: Store,
    identifier: str,
    policy: Policy,
    *,
    attach_store: Store | None = None,
    options: VerifyOptions | None = None,
) -> VerifyResult:
    """Verify ``identifier`` in ``store`` against ``policy``; raises a VerificationError subclass
    (cosign's exit codes) when the policy is not satisfied. ``attach_store`` holds the signatures
    (default: ``store``)."""
    from sigward.sigstore.pipeline import Target, evaluate

    opts = options or VerifyOptions()
    src = attach_store or store
    subject = resolve_subject(store, identifier)
    fmt, candidates = discover(src, subject.digest, "sig", new_bundle_format=opts.new_bundle_format)
    if fmt == "legacy" and not candidates:
        raise NoSignaturesError("no signatures found")
    target = Target(digest=subject.digest, check_claims=opts.check_claims, annotations=opts.annotations)
    result = evaluate(policy, candidates, target, "image-signature")
    if not result.passed:
        errors = result.errors()
        if fmt == "bundle":
            raise VerificationError("no matching signatures: " + "; ".join(f"{w}: {e}" if w else e
                                                                        for w, e in errors))
        raise NoMatchingSignaturesError("no matching signatures: " + "; ".join(e for _w, e in errors))
    return VerifyResult(subject.digest, result.signatures, fmt, result)


# --- discovery -------------------------------------------------------------------------------------


def discover(src: Store, digest: str, kind: Literal["sig", "att"], *,
             new_bundle_format: bool = True) -> tuple[Format, list[Candidate]]:
    """The candidates attached to ``digest`` in ``src``: bundle referrers if there is any (and
    ``new_bundle_format``), else the layers of the legacy ``.sig``/``.att`` image (none if absent)."""
    if new_bundle_format:
        bundles: list[Candidate] = list(find_bundles(src, digest))
        if bundles:
            return "bundle", bundles
    return "legacy", list(legacy_candidates(src, digest, kind))


def find_bundles(src: Store, digest: str) -> list[BundleCandidate]:
    """Every Sigstore bundle attached as a referrer of ``digest`` (never filtered by artifactType)."""
    from sigward.formats import referrer
    from sigward.sigstore.pipeline import BundleCandidate

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
        out.append(BundleCandidate(src.get_blob(m.layers[0]), m.digest))
    return out


def legacy_candidates(src: Store, digest: str, kind: Literal["sig", "att"]) -> list[LegacyCandidate]:
    """The layers of the ``sha256-<hex>.sig`` (or ``.att``) image, with their payloads fetched."""
    from sigward.formats import legacy
    from sigward.ops.attached import attached_tag
    from sigward.sigstore.pipeline import LegacyCandidate

    try:
        manifest = src.get_manifest(attached_tag(digest, kind))
    except NotFoundError:
        return []
    out = []
    for sig in legacy.parse_signature_layers(manifest):
        try:
            data = src.get_blob(sig.layer)
        except NotFoundError as e:
            out.append(LegacyCandidate(sig.layer.digest, error=str(e)))
            continue
        cert = sig.certificate_pem.encode() if sig.certificate_pem else None
        if kind == "sig":
            out.append(LegacyCandidate(sig.layer.digest, payload=data, signature_b64=sig.signature_b64,
                                       certificate_pem=cert, rekor_bundle=sig.bundle_json,
                                       timestamp=sig.timestamp_json))
        else:
            out.append(LegacyCandidate(sig.layer.digest, envelope=data, certificate_pem=cert,
                                       rekor_bundle=sig.bundle_json, timestamp=sig.timestamp_json))
    return out
