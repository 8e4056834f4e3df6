"""Attestations, attached attestations and SBOMs: write them, find them, verify them (cosign §5.2, §5.3).

Writing: ``attest`` signs an in-toto statement (``formats.predicates``) in a DSSE envelope and stores it
as a Sigstore bundle referrer (cosign v3's default) or appends the envelope to the legacy ``.att`` image.
In the legacy format the layer holds exactly the envelope bytes submitted to Rekor (a ``dsse`` entry
whose ``envelopeHash`` covers them), and the RFC 3161 timestamp covers the whole envelope JSON.

Verifying follows ``verify``: the bundle path if the digest has bundle referrers, else ``.att``. Every
candidate is signature-checked before anything else looks at it — an attestation that arrived through
the referrers API is never trusted for being there. Only then is the predicate type selected, the subject
compared with the image digest, and the policies applied to the statement.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sigward import safejson
from sigward.errors import NotFoundError, SigwardError, UsageError, VerificationError
from sigward.formats import dsse, intoto
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import Descriptor, Manifest
from sigward.oci.store import Store

if TYPE_CHECKING:
    from sigward.formats.rekorbundle import RekorBundle
    from sigward.ops.verify import VerifyOptions
    from sigward.sigstore.pipeline import Format, VerifiedSignature
    from sigward.sigstore.policy import Policy
    from sigward.sigstore.signing import SigningMaterial

# cosign's experimental OCI 1.1 attachment types (internal/pkg/oci/remote/remote.go).
SBOM_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sbom.v1+json"


# --- writing ----------------------------------------------------------------------------------------


@dataclass
class AttestOptions:
    type_name: str = "custom"  # --type: a short name or a predicate type URI
    predicate: bytes = b""
    new_bundle_format: bool = True
    upload: bool = True
    replace: bool = False
    docker_media_types: bool = False
    created: str | None = None  # referrer manifest org.opencontainers.image.created (tests pin it)
    now: datetime | None = None  # the custom predicate's Timestamp
    record_creation_timestamp: bool = False  # legacy .att image config gets ``created``

    def legacy_created(self) -> str | None:
        from sigward.ops.sign import now_rfc3339

        return (self.created or now_rfc3339()) if self.record_creation_timestamp else None


@dataclass
class AttestResult:
    digest: str
    where: str  # referrer digest reference or .att tag reference; "" when not pushed
    predicate_type: str
    envelope: bytes  # the DSSE envelope JSON (what --no-upload prints)
    bundle: bytes | None = None
    pushed: bool = True


def statement_for(opts: AttestOptions, subject_name: str, digest_hex: str) -> tuple[str, bytes]:
    """(predicate type URI, statement bytes) for the options and subject."""
    from sigward.formats.predicates import attestation_statement, predicate_body

    uri, body = predicate_body(opts.type_name, opts.predicate, now=opts.now)
    return uri, attestation_statement(subject_name, digest_hex, uri, body)


def attest_image(
    store: Store, identifier: str, signer: Any, *, attach_store: Store | None = None,
    options: AttestOptions | None = None, subject_name: str | None = None,
) -> AttestResult:
    """Attest ``identifier``; ``signer`` is a key signer or a ``SigningMaterial`` (keyless, or with a log).

    ``subject_name`` is the statement subject's name (cosign: the repository, without tag or digest).
    """
    from sigward.ops.sign import as_material

    opts = options or AttestOptions()
    material = as_material(signer)
    dest = attach_store or store
    subject = store.resolve(identifier)
    uri, statement = statement_for(opts, subject_name or store.name, subject.digest.split(":", 1)[1])
    if opts.new_bundle_format:
        return _attest_bundle(dest, subject, material, statement, uri, opts)
    return _attest_legacy(dest, subject, material, statement, uri, opts)


def _attest_bundle(dest: Store, subject: Descriptor, material: Any, statement: bytes, uri: str,
                   opts: AttestOptions) -> AttestResult:
    from sigward.formats import referrer
    from sigward.ops.sign import now_rfc3339, push_referrer

    env, bundle_bytes = material.sign_dsse(statement, mt.IN_TOTO)
    env_json = dsse.marshal(env, "protobuf")
    if not opts.upload:
        return AttestResult(subject.digest, "", uri, env_json, bundle_bytes, pushed=False)
    manifest = referrer.referrer_manifest(
        bundle_bytes, Descriptor(subject.media_type, subject.digest, subject.size), uri,
        opts.created or now_rfc3339(),
    )
    push_referrer(dest, manifest, bundle_bytes)
    return AttestResult(subject.digest, str(dest.reference(manifest.digest)), uri, env_json, bundle_bytes)


@dataclass
class LegacyEnvelope:
    """A signed envelope in the legacy layout: its bytes and the layer annotations that go with it."""

    envelope: dsse.Envelope
    data: bytes  # exactly what Rekor logged and what the .att layer holds
    annotations: dict[str, Any] = field(default_factory=dict)  # kwargs of legacy.attestation_layer
    rekor_bundle: Any = None  # formats.rekorbundle.RekorBundle when logged


def sign_legacy_envelope(material: Any, statement: bytes) -> LegacyEnvelope:
    """Sign ``statement`` as cosign's legacy attest does: a ``dsse`` log entry over the envelope bytes,
    the RFC 3161 timestamp over the same bytes, certificate and chain annotations when keyless."""
    sig = material.signer.sign(dsse.pae(mt.IN_TOTO, statement))
    env = dsse.Envelope(statement, mt.IN_TOTO, (dsse.Signature(sig),))
    data = dsse.marshal(env)  # the byte layout SigningMaterial.log_envelope submits
    extra = material.legacy_annotations(data, material.log_envelope(env))
    return LegacyEnvelope(env, data, extra, extra.get("rekor_bundle_json"))


def _attest_legacy(dest: Store, subject: Descriptor, material: Any, statement: bytes, uri: str,
                   opts: AttestOptions) -> AttestResult:
    from sigward.formats import legacy
    from sigward.ops.attached import attached_tag
    from sigward.ops.sign import push_legacy_layer, read_legacy_image

    signed = sign_legacy_envelope(material, statement)
    if not opts.upload:
        return AttestResult(subject.digest, "", uri, signed.data, pushed=False)
    layer = legacy.attestation_layer(signed.data, extra_annotations={legacy.PREDICATE_TYPE_ANNOTATION: uri},
                                     **signed.annotations)
    tag = attached_tag(subject.digest, "att")
    existing, existing_config = read_legacy_image(dest, tag)
    if opts.replace and existing is not None:
        existing, existing_config = _without_predicate(dest, tag, existing, existing_config, uri)
    push_legacy_layer(dest, tag, existing, existing_config, layer, signed.data, opts.docker_media_types,
                      opts.legacy_created())
    return AttestResult(subject.digest, str(dest.reference(tag)), uri, signed.data)


def _without_predicate(dest: Store, tag: str, existing: Manifest, config: bytes | None,
                       uri: str) -> tuple[Manifest | None, bytes | None]:
    """``--replace``: the ``.att`` image minus the layers whose statement has predicate type ``uri``."""
    from sigward.formats import legacy

    keep = []
    for d in existing.layers:
        try:
            env = dsse.parse(dest.get_blob(d))
            if intoto.parse_statement(env.payload).predicate_type == uri:
                continue
        except SigwardError:
            pass  # not ours to judge: keep what we cannot read
        keep.append(d)
    if len(keep) == len(existing.layers):
        return existing, config
    docker = existing.media_type == mt.DOCKER_MANIFEST
    m: Manifest | None = None
    cfg: bytes | None = None
    for d in keep:
        m, cfg = legacy.append(m, cfg, d, docker_media_types=docker)
    return m, cfg


# --- verifying --------------------------------------------------------------------------------------


@dataclass
class AttestationResult:
    digest: str
    attestations: list[VerifiedSignature]  # each with its ``statement``
    format: Format

    @property
    def kind(self) -> Format:
        return self.format


def verify_attestations(
    store: Store, identifier: str, policy: Policy, *, attach_store: Store | None = None,
    options: VerifyOptions | None = None, type_name: str = "custom", policies: list[Any] | None = None,
) -> AttestationResult:
    """``verify-attestation``: every check of ``verify`` (the same pipeline, expecting in-toto statements
    about the image), then the predicate type, then the Rego policies (``sigward.policy.load_policies``)."""
    from sigward.ops.verify import VerifyOptions, discover, resolve_subject
    from sigward.sigstore.pipeline import Target, evaluate

    opts = options or VerifyOptions()
    want = intoto.predicate_type_for(type_name)
    src = attach_store or store
    subject = resolve_subject(store, identifier)
    fmt, candidates = discover(src, subject.digest, "att", new_bundle_format=opts.new_bundle_format)
    if not candidates:
        raise VerificationError(f"no attestations found for {src.reference(subject.digest)}")
    target = Target(digest=subject.digest, check_claims=opts.check_claims)
    result = evaluate(policy, candidates, target, "attestation")
    errors = [f"{where}: {e}" for where, e in result.errors(include_passed=True)]
    if not result.passed:
        raise VerificationError("no matching attestations: " + "; ".join(errors))
    ok = result.signatures
    matched = [a for a in ok if a.predicate_type == want]
    if not matched:
        found = ",".join(a.predicate_type or "" for a in ok)
        msg = f"none of the attestations matched the predicate type: {type_name}, found: {found}"
        if errors:
            msg += f" ({len(errors)} more failed verification: {'; '.join(errors)})"
        raise VerificationError(msg)
    if policies:
        from sigward.formats.predicates import policy_input
        from sigward.policy import PolicyDeniedError
        from sigward.policy import evaluate as evaluate_rego

        failures = []
        for a in matched:
            assert a.statement is not None
            failures.extend(evaluate_rego(policies, policy_input(a.statement)))
        if failures:
            raise PolicyDeniedError(f"{len(failures)} validation errors occurred: " + "; ".join(failures))
    return AttestationResult(subject.digest, matched, fmt)


# --- blobs ------------------------------------------------------------------------------------------


def attest_blob_statement(opts: AttestOptions, name: str, digest_hex: str) -> tuple[str, bytes]:
    return statement_for(opts, name, digest_hex)


@dataclass
class BlobAttestation:
    """A signed statement about a blob: the DSSE envelope JSON, and the bundle to write (a Sigstore v0.3
    bundle, or in the legacy format cosign's LocalSignedPayload with certificate and Rekor bundle)."""

    envelope: bytes
    bundle: bytes | None


def attest_blob(material: SigningMaterial, statement: bytes, *,
                bundle_format: bool = True) -> BlobAttestation:
    """Sign ``statement`` (logged and timestamped as ``material`` says) in the format asked for."""
    if bundle_format:
        env, bundle = material.sign_dsse(statement, mt.IN_TOTO)
        return BlobAttestation(dsse.marshal(env), bundle)
    from sigward.formats import blobbundle

    signed = sign_legacy_envelope(material, statement)
    legacy = blobbundle.build(signed.data, cert_pem=material.verifier_pem(), rekor_bundle=signed.rekor_bundle)
    return BlobAttestation(signed.data, legacy)


def verify_blob_attestation(
    data: bytes, policy: Policy, *, artifact: tuple[str, bytes] | None, type_name: str | None,
    check_claims: bool = True, rekor_bundle: RekorBundle | None = None, certificate_pem: bytes | None = None,
) -> VerifiedSignature:
    """A bundle (``data`` parses as one) or a legacy envelope (with the Rekor bundle and certificate of a
    LocalSignedPayload), checked against ``policy`` and the artifact's digest."""
    from sigward.formats import bundle as bundle_fmt
    from sigward.sigstore.pipeline import BundleCandidate, LegacyCandidate, Target, verify_one

    candidate: BundleCandidate | LegacyCandidate
    if bundle_fmt.is_bundle(data):
        candidate = BundleCandidate(data)
    else:
        candidate = LegacyCandidate(envelope=data, certificate_pem=certificate_pem, rekor_bundle=rekor_bundle)
    va = verify_one(policy, candidate, Target(artifact=artifact, check_claims=check_claims), "attestation")
    if type_name is not None:
        want = intoto.predicate_type_for(type_name)
        if va.predicate_type != want:
            raise VerificationError(f"invalid predicate type, expected {want} got {va.predicate_type}")
    return va


# --- attach / download ------------------------------------------------------------------------------


def attach_attestation(store: Store, identifier: str, data: bytes,
                       attach_store: Store | None = None) -> str:
    """``attach attestation``: a bundle becomes a referrer; envelopes (a JSON stream) go to ``.att``."""
    from sigward.formats import bundle as bundle_fmt
    from sigward.formats import legacy, referrer
    from sigward.ops.attached import attached_tag
    from sigward.ops.sign import now_rfc3339, push_legacy_layer, push_referrer, read_legacy_image

    dest = attach_store or store
    subject = store.resolve(identifier)
    if bundle_fmt.is_bundle(data):
        b = bundle_fmt.parse_bundle(data)
        if b.dsse_envelope is None:
            raise UsageError("the bundle holds a message signature; only a DSSE attestation can be attached")
        uri = intoto.parse_statement(b.dsse_envelope.payload).predicate_type
        m = referrer.referrer_manifest(data, Descriptor(subject.media_type, subject.digest, subject.size),
                                       uri, now_rfc3339())
        push_referrer(dest, m, data)
        return str(dest.reference(m.digest))
    envelopes = _json_stream(data)
    if not envelopes:
        raise UsageError("the attestation file holds no DSSE envelope")
    tag = attached_tag(subject.digest, "att")
    for obj in envelopes:
        env = dsse.from_json(obj)
        if env.payload_type != mt.IN_TOTO:
            raise UsageError(f"invalid payloadType {env.payload_type} on envelope. Expected {mt.IN_TOTO}")
        payload = dsse.marshal(env)  # go-securesystemslib order, as cosign re-marshals it
        existing, existing_config = read_legacy_image(dest, tag)
        push_legacy_layer(dest, tag, existing, existing_config, legacy.attestation_layer(payload), payload,
                          docker_media_types=False)
    return str(dest.reference(tag))


def _json_stream(data: bytes) -> list[Any]:
    dec = json.JSONDecoder()
    text = data.decode("utf-8", "replace")
    out: list[Any] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        try:
            obj, i = dec.raw_decode(text, i)
        except ValueError as e:
            raise UsageError(f"the attestation file is not a stream of JSON envelopes ({e})")
        out.append(obj)


def download_attestations(store: Store, identifier: str, attach_store: Store | None = None,
                          type_name: str | None = None) -> Iterator[bytes]:
    """Bundle referrers (compact bundle JSON) then ``.att`` layers (re-serialised envelopes), one per
    line, filtered by statement predicate type. Nothing is verified: this is a download."""
    from sigward.formats import bundle as bundle_fmt
    from sigward.formats import legacy
    from sigward.ops.attached import attached_tag
    from sigward.ops.verify import find_bundles

    want = intoto.predicate_type_for(type_name) if type_name else None
    src = attach_store or store
    digest = store.resolve(identifier).digest
    found = 0

    def matches(payload: bytes) -> bool:
        if want is None:
            return True
        try:
            return intoto.parse_statement(payload).predicate_type == want
        except SigwardError:
            return False

    for fb in find_bundles(src, digest):
        try:
            b = bundle_fmt.parse_bundle(fb.data)
        except SigwardError:
            continue
        if b.dsse_envelope is None or not matches(b.dsse_envelope.payload):
            continue
        found += 1
        yield json.dumps(safejson.loads(fb.data), separators=(",", ":")).encode()
    try:
        m = src.get_manifest(attached_tag(digest, "att"))
    except NotFoundError:
        m = None
    if m is not None:
        for sig in legacy.parse_signature_layers(m):
            try:
                env = dsse.parse(src.get_blob(sig.layer))
            except SigwardError:
                continue
            if not matches(env.payload):
                continue
            found += 1
            yield dsse.marshal(env)
    if not found:
        what = f" with predicate type {type_name}" if type_name else ""
        raise SigwardError(f"no attestations{what} found for {store.reference(digest)}")


@dataclass
class SBOM:
    media_type: str
    data: bytes


def attach_sbom(store: Store, identifier: str, sbom: bytes, media_type: str,
                attach_store: Store | None = None) -> str:
    """``attach sbom``: the ``.sbom`` image (OCI manifest, image config, one bare layer), replaced whole."""
    from sigward.formats import legacy
    from sigward.ops.attached import attached_tag

    dest = attach_store or store
    subject = store.resolve(identifier)
    manifest, config, layer = legacy.sbom_manifest(sbom, media_type)
    dest.put_blob(layer, sbom)
    cfg = manifest.config
    assert cfg is not None
    dest.put_blob(cfg, config)
    tag = attached_tag(subject.digest, "sbom")
    dest.put_manifest(manifest, tag)
    return str(dest.reference(tag))


def download_sbom(store: Store, identifier: str, attach_store: Store | None = None) -> list[SBOM]:
    """OCI 1.1 SBOM attachments first (cosign's experimental mode), then the ``.sbom`` tag's layers."""
    from sigward.ops.attached import attached_tag

    src = attach_store or store
    digest = store.resolve(identifier).digest
    out: list[SBOM] = []
    for desc in src.referrers(digest):
        if desc.artifact_type != SBOM_ARTIFACT_TYPE or mt.is_index(desc.media_type):
            continue
        m = src.get_manifest(desc.digest)
        out.extend(SBOM(d.media_type, src.get_blob(d, max_size=128 << 20)) for d in m.layers)
    if out:
        return out
    try:
        m = src.get_manifest(attached_tag(digest, "sbom"))
    except NotFoundError:
        raise SigwardError(f"no SBOMs found for {store.reference(digest)}")
    if m.is_index or not m.layers:
        raise SigwardError(f"no SBOMs found for {store.reference(digest)}")
    return [SBOM(d.media_type, src.get_blob(d, max_size=128 << 20)) for d in m.layers]


def decode_envelope_file(data: bytes) -> bytes:
    """An envelope given to ``--signature``: JSON as written by attest-blob, or base64 of it."""
    stripped = data.strip()
    if stripped.startswith(b"{"):
        return stripped
    try:
        return base64.b64decode(stripped, validate=True)
    except ValueError:
        raise UsageError("the signature file is neither a DSSE envelope nor base64 of one")
