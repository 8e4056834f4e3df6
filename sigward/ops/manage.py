"""Operations on what is attached to an image: attach and download signatures, clean, generate.

All of them resolve the image to a digest first and work on that digest, in any store.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sigward import safejson
from sigward.errors import NotFoundError, SigwardError, StoreError, UsageError
from sigward.oci import mediatypes as mt
from sigward.oci.store import Store

CLEAN_TYPES = ("signature", "attestation", "sbom", "referrer", "all")
_SUFFIX = {"signature": "sig", "attestation": "att", "sbom": "sbom"}


def generate_payload(store: Store, identifier: str, docker_reference: str,
                     annotations: dict[str, str] | None) -> bytes:
    """The simple-signing payload ``cosign generate`` prints (what a legacy signature signs)."""
    from sigward.formats import simplesigning

    desc = store.resolve(identifier)
    return simplesigning.payload(docker_reference, desc.digest, annotations or None)


# --- download --------------------------------------------------------------------------------------


def download_signatures(store: Store, identifier: str, attach_store: Store | None = None) -> Iterator[bytes]:
    """One JSON document per signature: bundles if any exist, else legacy ``.sig`` layers (cosign §5.3)."""
    from sigward.formats import legacy
    from sigward.ops.attached import attached_tag
    from sigward.ops.verify import find_bundles

    src = attach_store or store
    digest = store.resolve(identifier).digest
    bundles = find_bundles(src, digest)
    if bundles:
        for b in bundles:
            yield json.dumps(safejson.loads(b.data), separators=(",", ":")).encode()
        return
    try:
        sig_manifest = src.get_manifest(attached_tag(digest, "sig"))
    except NotFoundError:
        raise SigwardError(f"no signatures associated with {store.reference(digest)}")
    for sig in legacy.parse_signature_layers(sig_manifest)[:100]:
        payload = src.get_blob(sig.layer)
        bundle = _json_annotation(sig.bundle_json, "dev.sigstore.cosign/bundle")
        ts = _json_annotation(sig.timestamp_json, "dev.sigstore.cosign/rfc3161timestamp")
        yield json.dumps({
            "Base64Signature": sig.signature_b64 or "",
            "Payload": base64.b64encode(payload).decode(),
            "Cert": sig.certificate_pem,
            "Chain": sig.chain_pem,
            "Bundle": bundle,
            "RFC3161Timestamp": ts,
        }, separators=(",", ":")).encode()


def _json_annotation(value: str | None, name: str) -> Any:
    if not value:
        return None
    try:
        return safejson.loads(value)
    except ValueError:
        raise SigwardError(f"the {name} annotation of a signature layer is not valid JSON")


# --- attach signature ------------------------------------------------------------------------------


@dataclass
class AttachedSignature:
    digest: str
    where: str


def attach_signature(
    store: Store, identifier: str, signature_b64: str, *, attach_store: Store | None = None,
    payload: bytes | None = None, docker_reference: str = "", certificate_pem: str | None = None,
    chain_pem: str | None = None, rekor_bundle_json: str | None = None, timestamp_json: str | None = None,
) -> AttachedSignature:
    """Append a signature made elsewhere to the ``.sig`` image (no dedupe, as cosign).

    A ``payload`` that is a Sigstore bundle is pushed as a referrer instead.
    """
    from sigward.formats import legacy, simplesigning
    from sigward.ops.attached import attached_tag
    from sigward.ops.sign import push_legacy_layer, push_referrer, read_legacy_image

    dest = attach_store or store
    subject = store.resolve(identifier)
    from sigward.formats.bundle import is_bundle

    if payload is not None and is_bundle(payload):
        return _attach_bundle(dest, subject, payload, push_referrer)
    if payload is None:
        payload = simplesigning.payload(docker_reference, subject.digest, None)
    try:
        base64.b64decode(signature_b64, validate=True)
    except ValueError:
        raise UsageError("the signature must be base64 (base64 of the raw signature bytes)")
    layer = legacy.signature_layer(
        payload, signature_b64, certificate_pem=certificate_pem, chain_pem=chain_pem,
        rekor_bundle_json=rekor_bundle_json, timestamp_json=timestamp_json,
    )
    tag = attached_tag(subject.digest, "sig")
    existing, existing_config = read_legacy_image(dest, tag)
    push_legacy_layer(dest, tag, existing, existing_config, layer, payload, docker_media_types=False)
    return AttachedSignature(subject.digest, str(dest.reference(tag)))


def _attach_bundle(dest: Store, subject: Any, data: bytes, push_referrer: Any) -> AttachedSignature:
    import time

    from sigward.formats import bundle as bundle_fmt
    from sigward.formats import intoto, referrer
    from sigward.oci.manifest import Descriptor

    b = bundle_fmt.parse_bundle(data)
    if b.dsse_envelope is None:
        raise UsageError("only a bundle with a DSSE envelope can be attached to an image")
    predicate_type = intoto.parse_statement(b.dsse_envelope.payload).predicate_type
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    m = referrer.referrer_manifest(data, Descriptor(subject.media_type, subject.digest, subject.size),
                                   predicate_type, created)
    push_referrer(dest, m, data)
    return AttachedSignature(subject.digest, str(dest.reference(m.digest)))


# --- clean -----------------------------------------------------------------------------------------


def bundle_referrers(store: Store, identifier: str, attach_store: Store | None = None) -> list[str]:
    """Digests of the Sigstore bundle referrers of an image (what ``clean --type referrer`` removes)."""
    from sigward.formats import referrer

    src = attach_store or store
    digest = store.resolve(identifier).digest
    out = []
    for desc in src.referrers(digest):
        try:
            m = src.get_manifest(desc.digest)
        except NotFoundError:
            continue
        cfg = m.json.get("config") or {}
        if referrer.is_bundle_referrer(m) or cfg.get("artifactType") == mt.SIGSTORE_BUNDLE_V03:
            out.append(desc.digest)
    return out


def clean(store: Store, identifier: str, clean_type: str = "all",
          attach_store: Store | None = None) -> list[str]:
    """Delete attached signatures/attestations/SBOMs/bundle referrers; returns what was removed."""
    from sigward.ops.attached import attached_tag

    if clean_type not in CLEAN_TYPES:
        raise UsageError(f"invalid clean_type {clean_type!r}: one of {', '.join(CLEAN_TYPES)}")
    src = attach_store or store
    digest = store.resolve(identifier).digest
    removed: list[str] = []
    kinds = list(_SUFFIX) if clean_type in ("all", "referrer") else [clean_type]
    if clean_type == "referrer":
        kinds = []
    for kind in kinds:
        tag = attached_tag(digest, _SUFFIX[kind])
        try:
            src.delete(tag)
        except NotFoundError:
            continue
        removed.append(tag)
    if clean_type in ("referrer", "all"):
        for dig in bundle_referrers(store, digest, attach_store):
            try:
                src.delete(dig)
            except NotFoundError:
                continue
            except StoreError as e:
                raise StoreError(f"cannot delete referrer {dig}: {e}")
            removed.append(dig)
    return removed
