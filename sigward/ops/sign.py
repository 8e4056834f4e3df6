"""Sign an image (or any OCI artifact) by digest, in cosign v3's format or the legacy ``.sig`` format.

The reference is resolved to a digest once; everything after works on that digest. The signature is
built completely (and, with ``--bundle``, written atomically) before anything is pushed, so a failure
never leaves a half-written signature: blobs go first, the manifest that makes them visible goes last.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sigward.errors import NotFoundError, SigwardError, UsageError, VerificationError
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import Descriptor, Manifest
from sigward.oci.store import Store

if TYPE_CHECKING:
    from sigward.keys.interfaces import Signer
    from sigward.sigstore.signing import SigningMaterial

SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"


@dataclass
class SignOptions:
    annotations: dict[str, str] = field(default_factory=dict)
    new_bundle_format: bool = True
    upload: bool = True
    recursive: bool = False
    docker_media_types: bool = False  # COSIGN_DOCKER_MEDIA_TYPES, legacy format only
    # Written into the referrer manifest's org.opencontainers.image.created; tests pin it.
    created: str | None = None
    # --record-creation-timestamp: the legacy signatures image config gets ``created`` (now, or ``created``).
    record_creation_timestamp: bool = False
    # Legacy format: sign these bytes instead of the generated simple-signing payload (``sign --payload``).
    payload: bytes | None = None

    def legacy_created(self) -> str | None:
        return (self.created or now_rfc3339()) if self.record_creation_timestamp else None


@dataclass
class SignResult:
    digest: str  # what was signed
    signature_ref: str  # where the signature went (tag or referrer digest), for messages
    bundle: bytes | None = None  # new format: the Sigstore bundle bytes
    pushed: bool = True
    # Legacy format: what was signed and the raw signature (``sign --output-payload/--output-signature``).
    payload: bytes | None = None
    signature: bytes | None = None


def as_material(signer: Signer | SigningMaterial) -> SigningMaterial:
    """A ``SigningMaterial``: a bare key signer becomes one with no certificate, log or timestamps."""
    from sigward.sigstore.signing import SigningMaterial

    return signer if isinstance(signer, SigningMaterial) else SigningMaterial(signer)


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def targets(store: Store, identifier: str, recursive: bool) -> list[Descriptor]:
    """The digests to sign: the artifact, plus every child of an index with ``recursive``."""
    root = store.resolve(identifier)
    out = [root]
    if recursive and mt.is_index(root.media_type):
        idx = store.get_manifest(root.digest)
        out.extend(idx.manifests)
    return out


def sign_image(
    store: Store,
    identifier: str,
    signer: Signer | SigningMaterial,
    *,
    attach_store: Store | None = None,
    options: SignOptions | None = None,
    docker_reference: str | None = None,
    on_bundle: Callable[[SignResult], None] | None = None,
) -> list[SignResult]:
    """Sign ``identifier`` (tag or digest) in ``store``; signatures go to ``attach_store``.

    ``signer`` is a key signer or a ``SigningMaterial`` (keyless, or a key with a transparency log).
    ``docker_reference`` is the repository name recorded in legacy payloads (defaults to the store's name).
    """
    opts = options or SignOptions()
    material = as_material(signer)
    dest = attach_store or store
    if not opts.upload and opts.new_bundle_format and on_bundle is None:
        raise UsageError("a bundle-format signature that is not uploaded needs on_bundle to keep it")
    results = []
    for desc in targets(store, identifier, opts.recursive):
        if opts.new_bundle_format:
            res = _sign_bundle(dest, desc, material, opts)
        else:
            res = _sign_legacy(dest, desc, material, opts, docker_reference or store.name)
        if on_bundle is not None:
            on_bundle(res)
        results.append(res)
    return results


def _sign_bundle(dest: Store, subject: Descriptor, material: SigningMaterial,
                 opts: SignOptions) -> SignResult:
    from sigward.formats import intoto, referrer

    statement = intoto.cosign_sign_statement(subject.digest.split(":", 1)[1], opts.annotations)
    _env, bundle_bytes = material.sign_dsse(statement, mt.IN_TOTO)
    if not opts.upload:
        return SignResult(subject.digest, "", bundle_bytes, pushed=False)
    manifest = referrer.referrer_manifest(
        bundle_bytes, Descriptor(subject.media_type, subject.digest, subject.size),
        SIGN_PREDICATE, opts.created or now_rfc3339(),
    )
    push_referrer(dest, manifest, bundle_bytes)
    return SignResult(subject.digest, str(dest.reference(manifest.digest)), bundle_bytes)


def push_referrer(dest: Store, manifest: Manifest, bundle_bytes: bytes) -> None:
    """Blobs first, manifest last: a reader never sees a referrer whose bundle is missing."""
    dest.put_blob(Descriptor(mt.OCI_EMPTY, mt.EMPTY_DIGEST, 2), mt.EMPTY_JSON)
    layer = manifest.layers[0]
    dest.put_blob(layer, bundle_bytes)
    dest.put_manifest(manifest)


def _sign_legacy(
    dest: Store, subject: Descriptor, material: SigningMaterial, opts: SignOptions, docker_reference: str
) -> SignResult:
    from sigward.formats import legacy, simplesigning
    from sigward.ops.attached import attached_tag

    payload = opts.payload if opts.payload is not None else simplesigning.payload(
        docker_reference, subject.digest, opts.annotations or None)
    sig, extra = material.legacy_signature(payload)
    layer = legacy.signature_layer(payload, base64.b64encode(sig).decode(), **extra)
    tag = attached_tag(subject.digest, "sig")
    existing, existing_config = read_legacy_image(dest, tag)
    if existing is not None and _is_duplicate(dest, existing, layer, payload, material):
        return SignResult(subject.digest, str(dest.reference(tag)), pushed=False, payload=payload,
                          signature=sig)
    if not opts.upload:
        return SignResult(subject.digest, "", pushed=False, payload=payload, signature=sig)
    push_legacy_layer(dest, tag, existing, existing_config, layer, payload, opts.docker_media_types,
                      opts.legacy_created())
    return SignResult(subject.digest, str(dest.reference(tag)), payload=payload, signature=sig)


def read_legacy_image(dest: Store, tag: str) -> tuple[Manifest | None, bytes | None]:
    """The current ``.sig``/``.att`` image under ``tag`` and its config, or (None, None)."""
    try:
        existing = dest.get_manifest(tag)
    except NotFoundError:
        return None, None
    if existing.is_index or existing.config is None:
        raise SigwardError(
            f"{dest.reference(tag)} is not a signature image (unexpected {existing.media_type})"
        )
    return existing, dest.get_blob(existing.config)


def push_legacy_layer(
    dest: Store, tag: str, existing: Manifest | None, existing_config: bytes | None,
    layer: Descriptor, payload: bytes, docker_media_types: bool, created: str | None = None,
    reread: Callable[[], tuple[Manifest | None, bytes | None]] | None = None,
) -> None:
    """Append ``layer`` to the legacy image at ``tag``: payload and config blobs, then the manifest.

    ``existing``/``existing_config`` is the image as the caller read it. After the write the tag is read
    back (``reread``, default ``read_legacy_image``) until the layer is seen to hold, and the append is
    redone on what is there when a concurrent signer replaced it (``oci/optimistic.py``): N concurrent
    signers leave N signatures.
    """
    from sigward.formats import legacy
    from sigward.oci.optimistic import merge_until_visible

    dest.put_blob(layer, payload)
    first: list[tuple[Manifest | None, bytes | None]] = [(existing, existing_config)]

    seen: dict[tuple[str, str], Descriptor] = {}  # layers seen while we work: restored if overwritten

    def read() -> tuple[Manifest | None, bytes | None]:
        state = first.pop() if first else (reread() if reread is not None else read_legacy_image(dest, tag))
        for d in state[0].layers if state[0] is not None else []:
            seen.setdefault(_layer_key(d), d)
        return state

    def has(state: tuple[Manifest | None, bytes | None]) -> bool:
        m = state[0]
        return m is not None and any(d.digest == layer.digest and d.annotations == layer.annotations
                                     for d in m.layers)

    def write(state: tuple[Manifest | None, bytes | None]) -> bool:
        manifest, config = state
        have = {_layer_key(d) for d in manifest.layers} if manifest is not None else set()
        for key, d in seen.items():
            if key not in have and key != _layer_key(layer):
                manifest, config = legacy.append(manifest, config, d, docker_media_types=docker_media_types)
        manifest, config = legacy.append(manifest, config, layer, docker_media_types=docker_media_types,
                                         created=created)
        cfg = manifest.config
        assert cfg is not None
        dest.put_blob(cfg, config)
        dest.put_manifest(manifest, tag)
        return True

    def fingerprint(state: tuple[Manifest | None, bytes | None]) -> object:
        return state[0].digest if state[0] is not None else None

    if not merge_until_visible(read, has, write, f"signature image {dest.reference(tag)}",
                               fingerprint=fingerprint):
        # Already there (attach appends duplicates, as cosign): write once without waiting for it to hold.
        write((existing, existing_config))


def _layer_key(d: Descriptor) -> tuple[str, str]:
    import json

    return d.digest, json.dumps(d.annotations or {}, sort_keys=True)


def _is_duplicate(dest: Store, existing: Manifest, layer: Descriptor, payload: bytes,
                  material: SigningMaterial) -> bool:
    """cosign's dedupe: same layer and annotations, and the existing signature verifies under our key."""
    from sigward.formats import legacy
    from sigward.keys.local import LocalVerifier

    if not legacy.is_duplicate(existing, layer):
        return False
    for old in legacy.parse_signature_layers(existing):
        if old.layer.digest != layer.digest:
            continue
        try:
            LocalVerifier(material.public_key).verify(old.signature(), payload)
        except (VerificationError, ValueError):
            continue
        return True
    return False
