"""Verify an image's signatures against a policy, the way ``cosign verify`` does.

Discovery follows cosign v3 (cosign-wire-formats.md §4.1): if the digest has at least one Sigstore
bundle referrer, every bundle is a candidate (any predicate type counts); otherwise the layers of the
legacy ``.sig`` image. Each candidate is then checked against the policy's authorities by the one
pipeline (``sigward.sigstore.pipeline``); success needs the policy satisfied (for a single authority:
one signature that passes every check). Bytes are verified exactly as fetched, never re-serialised.

The signatures repository (cosign's ``COSIGN_REPOSITORY``) is the ``attach_store`` the caller passes;
nothing here reads the environment.

Many signatures: their manifests and blobs are fetched ``FETCH_CONCURRENCY`` at a time, in order, a few
ahead of the checks (round trips dominate a registry verify). ``cosign verify`` prints every signature
that passes, so by default all are checked; ``VerifyOptions.first_match`` (for callers that need only a
yes — ``image build``'s base) stops at the first signature that passes every check, and fetches no more.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

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
from sigward.ops.fetch import fetch_ahead, limit_for

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
    # Stop at the first signature passing the policy (the result then lists that one only).
    first_match: bool = False


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
    result = evaluate(policy, candidates, target, "image-signature", first_match=opts.first_match)
    if not result.passed:
        errors = result.errors()
        if fmt == "bundle":
            # Exit 1 (a plain VerificationError), not 12: cosign v3's bundle path has no dedicated code.
            raise VerificationError(f"no matching signatures among {_count(len(errors), 'Sigstore bundle')}: "
                                    + summarise_failures(errors))
        raise NoMatchingSignaturesError("no matching signatures: " + summarise_failures(
            [(None, e) for _w, e in errors]))
    return VerifyResult(subject.digest, result.signatures, fmt, result)


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def summarise_failures(errors: Sequence[tuple[str | None, str]]) -> str:
    """Each distinct reason once, in first-seen order, with how many signatures failed that way.

    An image signed seven times with the same key fails seven times for the same reason; repeating it
    seven times on one line hides the one thing the user needs to read.
    """
    order: dict[str, list[str | None]] = {}
    for where, reason in errors:
        order.setdefault(reason, []).append(where)
    parts = []
    for reason, wheres in order.items():
        if len(wheres) == 1:
            parts.append(f"{wheres[0]}: {reason}" if wheres[0] else reason)
        else:
            parts.append(f"{reason} ({len(wheres)} signatures)")
    return "; ".join(parts)


# --- discovery -------------------------------------------------------------------------------------


class Candidates:
    """The candidates of one digest, fetched ahead and yielded in order; a non-empty ``Sized`` so a
    caller can tell "none" from "some" without fetching them all (the first is fetched to know)."""

    def __init__(self, first: Candidate | None, rest: Iterator[Candidate]) -> None:
        self._first = first
        self._rest = rest

    def __bool__(self) -> bool:
        return self._first is not None

    def __iter__(self) -> Iterator[Candidate]:
        if self._first is not None:
            yield self._first
            yield from self._rest


def discover(src: Store, digest: str, kind: Literal["sig", "att"], *,
             new_bundle_format: bool = True) -> tuple[Format, Candidates]:
    """The candidates attached to ``digest`` in ``src``: bundle referrers if there is any (and
    ``new_bundle_format``), else the layers of the legacy ``.sig``/``.att`` image (none if absent).
    Fetched lazily, a few ahead: stopping early fetches no more."""
    if new_bundle_format:
        bundles = iter_bundles(src, digest)
        first = next(bundles, None)
        if first is not None:
            return "bundle", Candidates(first, bundles)
    legacy = iter(legacy_candidates(src, digest, kind))
    return "legacy", Candidates(next(legacy, None), legacy)


def find_bundles(src: Store, digest: str) -> list[BundleCandidate]:
    """Every Sigstore bundle attached as a referrer of ``digest`` (never filtered by artifactType); a
    bundle that cannot be read raises (it is not silently dropped)."""
    out = list(iter_bundles(src, digest))
    for c in out:
        if c.error is not None:
            raise StoreError(c.error)
    return out


def iter_bundles(src: Store, digest: str) -> Iterator[BundleCandidate]:
    """The bundles of ``digest``'s referrers, in referrer order, fetched a few at a time ahead. A bundle
    that cannot be read comes as a candidate that fails with why (cosign skips it: the others still
    count, and the verify fails, naming it, only if nothing else verifies). Non-bundle referrers are
    skipped."""
    from sigward.sigstore.pipeline import BundleCandidate

    descs = [d for d in src.referrers(digest) if not mt.is_index(d.media_type)]
    for got in fetch_ahead(lambda d: _fetch_bundle(src, d), descs, limit_for(src)):
        if isinstance(got, SigwardError):
            yield BundleCandidate(b"", "", error=f"unreadable bundle skipped ({got})")
        elif got is not None:
            yield got


def _fetch_bundle(src: Store, desc: Descriptor) -> BundleCandidate | None:
    from sigward.formats import referrer
    from sigward.sigstore.pipeline import BundleCandidate

    try:
        m = src.get_manifest(desc.digest)
    except (NotFoundError, InvalidManifestError):
        return None  # listed but gone, or not a manifest: it cannot hold a signature
    if not referrer.is_bundle_referrer(m):
        return None
    try:
        return BundleCandidate(src.get_blob(m.layers[0]), m.digest)
    except SigwardError as e:
        raise StoreError(f"referrer {m.digest}: {e}") from None


def legacy_candidates(src: Store, digest: str, kind: Literal["sig", "att"], *,
                      tag_prefix: str = "") -> Iterator[LegacyCandidate]:
    """The layers of the ``sha256-<hex>.sig`` (or ``.att``) image, their payloads fetched a few ahead; a
    payload that cannot be fetched makes a candidate that fails with that error. ``tag_prefix`` goes
    before the tag (cosign ``WithPrefix``; a ClusterImagePolicy's ``source.tagPrefix``)."""
    from sigward.formats import legacy
    from sigward.ops.attached import attached_tag
    from sigward.sigstore.pipeline import LegacyCandidate

    try:
        manifest = src.get_manifest(tag_prefix + attached_tag(digest, kind))
    except NotFoundError:
        return
    layers = legacy.parse_signature_layers(manifest)
    fetched = fetch_ahead(lambda s: src.get_blob(s.layer), layers, limit_for(src))
    for sig, data in zip(layers, fetched, strict=True):
        if isinstance(data, SigwardError):
            yield LegacyCandidate(sig.layer.digest, error=str(data))
            continue
        cert = sig.certificate_pem.encode() if sig.certificate_pem else None
        if kind == "sig":
            yield LegacyCandidate(sig.layer.digest, payload=data, signature_b64=sig.signature_b64,
                                  certificate_pem=cert, rekor_bundle=sig.bundle_json,
                                  timestamp=sig.timestamp_json)
        else:
            yield LegacyCandidate(sig.layer.digest, envelope=data, certificate_pem=cert,
                                  rekor_bundle=sig.bundle_json, timestamp=sig.timestamp_json)
