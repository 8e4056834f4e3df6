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
from typing import Any

from sigward import safejson
from sigward.errors import NotFoundError, SigwardError, UsageError, VerificationError
from sigward.formats import dsse, intoto
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import Descriptor, Manifest
from sigward.oci.store import Store

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
    sig = material.sign(dsse.pae(mt.IN_TOTO, statement))
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

    def current() -> tuple[Manifest | None, bytes | None]:
        existing, existing_config = read_legacy_image(dest, tag)
        if opts.replace and existing is not None:
            existing, existing_config = _without_predicate(dest, tag, existing, existing_config, uri,
                                                           ours=layer.digest)
        return existing, existing_config

    existing, existing_config = current()
    push_legacy_layer(dest, tag, existing, existing_config, layer, signed.data, opts.docker_media_types,
                      opts.legacy_created(), reread=current)
    return AttestResult(subject.digest, str(dest.reference(tag)), uri, signed.data)


def _without_predicate(dest: Store, tag: str, existing: Manifest, config: bytes | None,
                       uri: str, ours: str = "") -> tuple[Manifest | None, bytes | None]:
    """``--replace``: the ``.att`` image minus the layers whose statement has predicate type ``uri``
    (except ``ours``: our own new layer, when the image is read back after writing it)."""
    from sigward.formats import legacy

    keep = []
    for d in existing.layers:
        try:
            env = dsse.parse(dest.get_blob(d))
            if d.digest != ours and intoto.parse_statement(env.payload).predicate_type == uri:
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
class VerifiedAttestation:
    statement: intoto.Statement
    output: bytes  # the envelope JSON line cosign prints
    kind: str  # "bundle" or "legacy"
    identity: Any = None


@dataclass
class AttestationResult:
    digest: str
    attestations: list[VerifiedAttestation]
    kind: str


def _statement_of(env: dsse.Envelope, digest: str | None, check_claims: bool) -> intoto.Statement:
    if env.payload_type != mt.IN_TOTO:
        raise VerificationError(f"DSSE payload type is {env.payload_type!r}, expected {mt.IN_TOTO!r}")
    stmt = intoto.parse_statement(env.payload)
    if check_claims and digest is not None:
        alg, hexd = digest.split(":", 1)
        if not stmt.matches_digest(alg, hexd):
            names = ", ".join(f"{a}:{v}" for s in stmt.subjects for a, v in s.digest.items()) or "none"
            raise VerificationError(f"the statement's subject ({names}) is not the image digest {digest}")
    return stmt


def check_bundle_attestation(data: bytes, digest: str | None, verifier: Any, opts: Any,
                             artifact: tuple[str, bytes] | None = None) -> VerifiedAttestation:
    """Everything about one bundle: log, certificate, DSSE signature, payload type, subject."""
    from sigward.formats import bundle as bundle_fmt
    from sigward.sigstore.verify import verify_bundle

    b = bundle_fmt.parse_bundle(data)
    if b.dsse_envelope is None:
        raise VerificationError("the bundle holds a message signature, not an attestation (DSSE envelope)")
    env = b.dsse_envelope
    if env.payload_type != mt.IN_TOTO:
        raise VerificationError(f"DSSE payload type is {env.payload_type!r}, expected {mt.IN_TOTO!r}")
    verified = verify_bundle(b, root=opts.root, key=verifier, policy=opts.policy, options=opts.checks())
    stmt = _statement_of(env, digest, opts.check_claims)
    if artifact is not None and opts.check_claims and not stmt.matches_digest(artifact[0], artifact[1].hex()):
        raise VerificationError(f"the statement's subject does not name the artifact "
                                f"{artifact[0]}:{artifact[1].hex()}")
    return VerifiedAttestation(stmt, dsse.marshal(env, "protobuf"), "bundle", verified.identity)


def check_legacy_envelope(
    data: bytes, verifier: Any, opts: Any, *, certificate_pem: str | bytes | None = None,
    rekor_bundle: Any = None, timestamp: bytes | None = None,
) -> tuple[dsse.Envelope, Any]:
    """A legacy envelope (``.att`` layer or attest-blob output): (envelope, signer identity or None).

    In cosign's order (§4.2): timestamp over the envelope bytes, the Rekor bundle (SET, and the entry
    must log this envelope and signer), the certificate at the verified times, the DSSE signature.
    """
    from sigward.sigstore.verify import verify_legacy

    env = dsse.parse(data)
    if env.payload_type != mt.IN_TOTO:
        raise VerificationError(f"DSSE payload type is {env.payload_type!r}, expected {mt.IN_TOTO!r}")
    verified = verify_legacy(envelope=env, envelope_bytes=data, certificate_pem=certificate_pem,
                             rekor_bundle=rekor_bundle, timestamp=timestamp, root=opts.root, key=verifier,
                             policy=opts.policy, options=opts.checks())
    return env, verified.identity


def verify_attestations(
    store: Store, identifier: str, verifier: Any, *, attach_store: Store | None = None,
    options: Any = None, type_name: str = "custom", policies: list[Any] | None = None,
) -> AttestationResult:
    """``verify-attestation``: every check of ``verify``, then predicate type, then the policies.

    ``options`` is an ``ops.verify.VerifyOptions``; ``policies`` come from ``sigward.policy.load_policies``.
    """
    from sigward.ops.verify import VerifyOptions, find_bundles, resolve_subject

    opts = options or VerifyOptions()
    want = intoto.predicate_type_for(type_name)
    src = attach_store or store
    subject = resolve_subject(store, identifier)
    ok: list[VerifiedAttestation] = []
    errors: list[str] = []
    bundles = find_bundles(src, subject.digest, errors) if opts.new_bundle_format else []
    kind = "bundle" if bundles or errors else "legacy"
    if kind == "bundle":
        for fb in bundles:
            try:
                ok.append(check_bundle_attestation(fb.data, subject.digest, verifier, opts))
            except SigwardError as e:
                errors.append(f"{fb.where}: {e}")
    else:
        for where, sig in _legacy_layers(src, subject.digest):
            try:
                data = src.get_blob(sig.layer)  # unreadable: this one is skipped, the others still count
                env, identity = check_legacy_envelope(
                    data, verifier, opts, certificate_pem=sig.certificate_pem,
                    rekor_bundle=sig.rekor_bundle(), timestamp=sig.rfc3161_timestamp())
                stmt = _statement_of(env, subject.digest, opts.check_claims)
                ok.append(VerifiedAttestation(stmt, data, "legacy", identity))
            except SigwardError as e:
                errors.append(f"{where}: {e}")
    if not ok:
        raise VerificationError("no matching attestations: " + "; ".join(errors))
    matched = [a for a in ok if a.statement.predicate_type == want]
    if not matched:
        found = ",".join(a.statement.predicate_type for a in ok)
        msg = f"none of the attestations matched the predicate type: {type_name}, found: {found}"
        if errors:
            msg += f" ({len(errors)} more failed verification: {'; '.join(errors)})"
        raise VerificationError(msg)
    if policies:
        from sigward.formats.predicates import policy_input
        from sigward.policy import PolicyDeniedError, evaluate

        failures = []
        for a in matched:
            failures.extend(evaluate(policies, policy_input(a.statement)))
        if failures:
            raise PolicyDeniedError(f"{len(failures)} validation errors occurred: " + "; ".join(failures))
    return AttestationResult(subject.digest, matched, kind)


def _legacy_layers(src: Store, digest: str) -> Iterator[tuple[str, Any]]:
    """(layer digest, parsed annotations) of each ``.att`` layer."""
    from sigward.formats import legacy
    from sigward.ops.attached import attached_tag

    try:
        m = src.get_manifest(attached_tag(digest, "att"))
    except NotFoundError:
        raise VerificationError(f"no attestations found for {src.reference(digest)}")
    layers = legacy.parse_signature_layers(m)
    if not layers:
        raise VerificationError(f"no attestations found for {src.reference(digest)}")
    for sig in layers:
        yield sig.layer.digest, sig


# --- blobs ------------------------------------------------------------------------------------------


def attest_blob_statement(opts: AttestOptions, name: str, digest_hex: str) -> tuple[str, bytes]:
    return statement_for(opts, name, digest_hex)


def verify_blob_attestation(
    data: bytes, verifier: Any, opts: Any, *, artifact: tuple[str, bytes] | None, type_name: str | None,
    legacy_bundle: Any = None, certificate_pem: bytes | None = None,
) -> VerifiedAttestation:
    """A bundle (``data`` parses as one) or a legacy envelope (with an optional LocalSignedPayload)."""
    from sigward.formats import bundle as bundle_fmt

    if bundle_fmt.is_bundle(data):
        va = check_bundle_attestation(data, None, verifier, opts, artifact=artifact)
    else:
        env, identity = check_legacy_envelope(
            data, verifier, opts, certificate_pem=certificate_pem,
            rekor_bundle=getattr(legacy_bundle, "rekor_bundle", None))
        stmt = _statement_of(env, None, False)
        if artifact is not None and opts.check_claims and not stmt.matches_digest(artifact[0],
                                                                                   artifact[1].hex()):
            raise VerificationError(f"the statement's subject does not name the artifact "
                                    f"{artifact[0]}:{artifact[1].hex()}")
        va = VerifiedAttestation(stmt, data, "legacy", identity)
    if type_name is not None:
        want = intoto.predicate_type_for(type_name)
        if va.statement.predicate_type != want:
            raise VerificationError(f"invalid predicate type, expected {want} got "
                                    f"{va.statement.predicate_type}")
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
    out, i = [], 0
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
