"""cosign's tag-based storage: the ``.sig`` / ``.att`` / ``.sbom`` images (cosign-wire-formats.md §2.2–2.6).

Everything here reproduces go-containerregistry's ``mutate.Append`` as cosign drives it, because the
manifest and config bytes end up in registries next to cosign's and must be identical: config
re-marshalled with one more diff_id and one zero history entry per layer, existing layers re-emitted
in ggcr's descriptor order, the new layer last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sigward import gojson
from sigward.errors import DigestMismatchError, UsageError
from sigward.formats import rekorbundle
from sigward.formats._common import FormatError, b64decode_std, b64encode, load_object
from sigward.oci import digest as _digest
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import Descriptor, Manifest

# Layer annotations (pkg/oci/static/signature.go, pkg/oci/internal/signature/layer.go).
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
RFC3161_TIMESTAMP_ANNOTATION = "dev.sigstore.cosign/rfc3161timestamp"
PREDICATE_TYPE_ANNOTATION = "predicateType"

COSIGN_SIMPLESIGNING = mt.COSIGN_SIMPLESIGNING
DSSE_ENVELOPE = mt.DSSE_ENVELOPE

MAX_LAYERS = 1000
ZERO_TIME = "0001-01-01T00:00:00Z"

# SBOM media types for `attach sbom --type/--input-format` (cosign pkg/types/media.go).
SPDX = "text/spdx"
SPDX_JSON = "text/spdx+json"
CYCLONEDX_XML = "application/vnd.cyclonedx+xml"
CYCLONEDX_JSON = "application/vnd.cyclonedx+json"
SYFT_JSON = "application/vnd.syft+json"
SBOM_TYPES = ("spdx", "cyclonedx", "syft")


def sbom_media_type(sbom_type: str, input_format: str = "", filename: str = "") -> str:
    """cosign's ``AttachSBOMOptions.MediaType``: a ``.json`` file name implies the JSON variant."""
    looks_json = filename.endswith(".json")
    if sbom_type == "cyclonedx":
        if input_format not in ("", "xml", "json"):
            raise UsageError(f'invalid SBOM input format: "{input_format}", expected (json|xml)')
        return CYCLONEDX_JSON if input_format == "json" or looks_json else CYCLONEDX_XML
    if sbom_type == "spdx":
        if input_format not in ("", "text", "json"):
            raise UsageError(f'invalid SBOM input format: "{input_format}", expected (json|text)')
        return SPDX_JSON if input_format == "json" or looks_json else SPDX
    if sbom_type == "syft":
        if input_format not in ("", "json"):
            raise UsageError(f'invalid SBOM input format: "{input_format}", expected (json)')
        return SYFT_JSON
    raise UsageError(f'unknown SBOM type: "{sbom_type}", expected (spdx|cyclonedx|syft)')


# --- config blob -------------------------------------------------------------------------------------

# ggcr v1.ConfigFile / History / Config field order; unknown fields are dropped on re-marshal, as in Go.
_CONFIG_FIELDS = ("architecture", "author", "container", "created", "docker_version", "history",
                  "os", "rootfs", "config", "os.version", "variant", "os.features")
_ALWAYS = frozenset({"architecture", "created", "os", "rootfs", "config"})
_HISTORY_FIELDS = ("author", "created", "created_by", "comment", "empty_layer")
_CONTAINER_CONFIG_FIELDS = (
    "AttachStderr", "AttachStdin", "AttachStdout", "Cmd", "Healthcheck", "Domainname", "Entrypoint",
    "Env", "Hostname", "Image", "Labels", "OnBuild", "OpenStdin", "StdinOnce", "Tty", "User", "Volumes",
    "WorkingDir", "ExposedPorts", "ArgsEscaped", "NetworkDisabled", "MacAddress", "StopSignal", "Shell",
)

_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.I)


def go_time(value: Any, where: str) -> str:
    """A timestamp as Go re-marshals a parsed ``time.Time`` (RFC3339Nano, zero offset as ``Z``)."""
    if value is None:
        return ZERO_TIME
    if not isinstance(value, str):
        raise FormatError(f"{where}: expected an RFC 3339 time string")
    m = _RFC3339.match(value)
    if not m:
        raise FormatError(f"{where}: invalid RFC 3339 time {value[:40]!r}")
    base, frac, zone = m.group(1), (m.group(2) or "").rstrip("0"), m.group(3).upper()
    if frac == ".":
        frac = ""
    if zone in ("+00:00", "-00:00"):
        zone = "Z"
    try:
        datetime.fromisoformat(base)
    except ValueError:
        raise FormatError(f"{where}: invalid RFC 3339 time {value[:40]!r}")
    return base + frac + zone


def _empty_value(v: Any) -> bool:
    return v is None or v is False or v == "" or v == 0 or v == [] or v == {}


def _remarshal_config(cfg: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in _CONFIG_FIELDS:
        v = cfg.get(k)
        if k == "created":
            out[k] = go_time(v, "signature image config: created")
        elif k == "history":
            hist = [_remarshal_history(h) for h in (v or [])]
            if hist:
                out[k] = hist
        elif k == "rootfs":
            rootfs = v if isinstance(v, dict) else {}
            diff_ids = rootfs.get("diff_ids")
            out[k] = {"type": rootfs.get("type", ""), "diff_ids": list(diff_ids) if diff_ids else None}
        elif k == "config":
            c = v if isinstance(v, dict) else {}
            out[k] = {f: gojson.sorted_map(c[f]) if isinstance(c[f], dict) else c[f]
                      for f in _CONTAINER_CONFIG_FIELDS if not _empty_value(c.get(f))}
        elif k in _ALWAYS:
            if v is not None and not isinstance(v, str):
                raise FormatError(f"signature image config: {k} must be a string")
            out[k] = v if v is not None else ""
        elif not _empty_value(v):
            out[k] = v
    return out


def _remarshal_history(h: Any) -> dict[str, Any]:
    h = h if isinstance(h, dict) else {}
    out: dict[str, Any] = {}
    for k in _HISTORY_FIELDS:
        if k == "created":
            out[k] = go_time(h.get(k), "signature image config: history created")
        elif not _empty_value(h.get(k)):
            out[k] = h[k]
    return out


def _base_config() -> dict[str, Any]:
    """ggcr ``empty.Image``'s config: only ``rootfs.type`` set."""
    return {"rootfs": {"type": "layers"}}


def _config_with_layers(cfg: dict[str, Any], diff_ids: list[str]) -> bytes:
    cfg = dict(cfg)
    rootfs = dict(cfg.get("rootfs") or {})
    rootfs["diff_ids"] = list(rootfs.get("diff_ids") or []) + diff_ids
    cfg["rootfs"] = rootfs
    cfg["history"] = list(cfg.get("history") or []) + [{"created": ZERO_TIME} for _ in diff_ids]
    return gojson.marshal(_remarshal_config(cfg))


def config_blob(diff_ids: list[str], created: str | None = None) -> bytes:
    """The config of a fresh signatures image holding ``diff_ids`` (233 bytes for one sha256 layer).

    ``created`` is ``--record-creation-timestamp``; history entries stay at Go's zero time.
    """
    cfg = _base_config()
    if created is not None:
        cfg["created"] = created
    return _config_with_layers(cfg, diff_ids)


# --- layers ------------------------------------------------------------------------------------------

def _text(v: str | bytes) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else v


def signature_layer(
    payload: bytes,
    signature_b64: str,
    *,
    certificate_pem: str | bytes | None = None,
    chain_pem: str | bytes | None = None,
    rekor_bundle_json: str | bytes | rekorbundle.RekorBundle | None = None,
    timestamp_json: str | bytes | None = None,
    media_type: str = COSIGN_SIMPLESIGNING,
    extra_annotations: dict[str, str] | None = None,
) -> Descriptor:
    """The descriptor cosign appends for one signature (payload is the layer blob, uncompressed).

    Annotation precedence follows cosign's static options: extras first, then certificate/chain
    (chain written as "" when absent but a certificate is present), bundle, timestamp, and the
    signature annotation last — always present, "" for attestations.
    """
    ann: dict[str, str] = dict(extra_annotations or {})
    if certificate_pem is not None:
        ann[CERTIFICATE_ANNOTATION] = _text(certificate_pem)
        ann[CHAIN_ANNOTATION] = _text(chain_pem) if chain_pem is not None else ""
    if rekor_bundle_json is not None:
        if isinstance(rekor_bundle_json, rekorbundle.RekorBundle):
            rekor_bundle_json = rekor_bundle_json.marshal()
        ann[BUNDLE_ANNOTATION] = _text(rekor_bundle_json)
    if timestamp_json is not None:
        ann[RFC3161_TIMESTAMP_ANNOTATION] = _text(timestamp_json)
    ann[SIGNATURE_ANNOTATION] = signature_b64
    return Descriptor(
        media_type=media_type,
        digest=_digest.compute(payload),
        size=len(payload),
        annotations=gojson.sorted_map(ann),
    )


def attestation_layer(envelope: bytes, **kwargs: Any) -> Descriptor:
    """A ``.att`` layer: DSSE media type and an empty signature annotation (the signature is inside)."""
    return signature_layer(envelope, "", media_type=DSSE_ENVELOPE, **kwargs)


# --- manifests ---------------------------------------------------------------------------------------

def _manifest_bytes(
    media_type: str | None, config: Descriptor, layers: list[Descriptor],
    annotations: dict[str, str] | None, artifact_type: str | None, content_type: str,
) -> Manifest:
    obj: dict[str, Any] = {"schemaVersion": 2}
    if media_type:
        obj["mediaType"] = media_type
    obj["config"] = config.to_json()
    obj["layers"] = [d.to_json() for d in layers]
    if annotations:
        obj["annotations"] = gojson.sorted_map(annotations)
    if artifact_type:
        obj["artifactType"] = artifact_type
    return Manifest(gojson.marshal(obj), content_type)


def append(
    existing: Manifest | None,
    existing_config: bytes | None,
    layer: Descriptor,
    *,
    docker_media_types: bool = False,
    created: str | None = None,
) -> tuple[Manifest, bytes]:
    """The signatures image after appending ``layer``: (manifest, config blob) to upload.

    ``created`` (``--record-creation-timestamp``) becomes the config's ``created``, as ggcr's
    ``mutate.CreatedAt`` sets it; otherwise the config keeps what it had (nothing, for a fresh image).

    ``existing`` None means the tag did not exist (404): start from cosign's empty signatures image,
    OCI types unless ``docker_media_types`` (COSIGN_DOCKER_MEDIA_TYPES). Otherwise its media types,
    layers and manifest annotations are kept, ``subject`` is dropped (as ggcr's mutate does), and
    ``existing_config`` — which must match the config digest — is re-marshalled.
    """
    if existing is None:
        content_type = mt.DOCKER_MANIFEST if docker_media_types else mt.OCI_MANIFEST
        media_type: str | None = content_type
        cfg_media_type = mt.DOCKER_CONFIG if docker_media_types else mt.OCI_CONFIG
        cfg_desc = Descriptor(cfg_media_type, mt.EMPTY_DIGEST, 0)
        layers: list[Descriptor] = []
        annotations: dict[str, str] | None = None
        artifact_type = None
        base_cfg = _base_config()
    else:
        if existing.media_type not in mt.IMAGE_MANIFEST_TYPES:
            raise FormatError(f"signature image {existing.digest}: not an image manifest "
                              f"({existing.media_type})")
        obj = existing.json
        media_type = obj.get("mediaType")
        content_type = existing.media_type
        existing_cfg_desc = existing.config
        if existing_cfg_desc is None:
            raise FormatError(f"signature image {existing.digest}: manifest has no config")
        cfg_desc = existing_cfg_desc
        layers = existing.layers
        annotations = existing.annotations or None
        artifact_type = obj.get("artifactType")
        if existing_config is None:
            raise FormatError(f"signature image {existing.digest}: its config blob is needed to append")
        _digest.check(existing_config, cfg_desc.digest, "signature image config")
        if len(existing_config) != cfg_desc.size:
            raise DigestMismatchError(f"signature image config: expected {cfg_desc.size} bytes, "
                                      f"got {len(existing_config)}")
        base_cfg = load_object(existing_config, "signature image config")
    total = len(layers) + 1
    if total > MAX_LAYERS:
        raise FormatError(f"number of layers ({total}) exceeded the limit ({MAX_LAYERS})")
    if cfg_desc.media_type in (mt.OCI_CONFIG, mt.DOCKER_CONFIG):
        if created is not None:
            base_cfg = {**base_cfg, "created": created}
        cfg = _config_with_layers(base_cfg, [layer.digest])
    else:
        # ggcr leaves a non-image (artifact) config untouched rather than corrupt its digest.
        assert existing_config is not None
        cfg = existing_config
    data = b64encode(cfg) if cfg_desc.data is not None else None
    new_cfg = Descriptor(cfg_desc.media_type, _digest.compute(cfg), len(cfg), cfg_desc.annotations,
                         cfg_desc.artifact_type, cfg_desc.platform, cfg_desc.urls, data)
    manifest = _manifest_bytes(
        media_type, new_cfg, [*layers, layer], annotations, artifact_type, content_type
    )
    return manifest, cfg


def sbom_manifest(sbom: bytes, media_type: str) -> tuple[Manifest, bytes, Descriptor]:
    """The ``.sbom`` image of ``attach sbom``: OCI manifest, OCI config, one bare layer."""
    layer = Descriptor(media_type, _digest.compute(sbom), len(sbom))
    manifest, cfg = append(None, None, layer)
    return manifest, cfg, layer


def duplicate_candidates(existing: Manifest, layer: Descriptor) -> list[Descriptor]:
    """Existing layers cosign's dupe detector would consider the same signature, minus the crypto.

    Same digest and media type, every new annotation except the signature present with an equal
    value, and a non-empty signature annotation. The caller must still verify that layer's signature
    over the payload with the signer's key before skipping the upload.
    """
    new_ann = layer.annotations or {}
    out = []
    for d in existing.layers:
        ann = d.annotations or {}
        if d.digest != layer.digest or d.media_type != layer.media_type:
            continue
        if any(k != SIGNATURE_ANNOTATION and ann.get(k) != v for k, v in new_ann.items()):
            continue
        if not ann.get(SIGNATURE_ANNOTATION):
            continue
        out.append(d)
    return out


def is_duplicate(existing: Manifest, layer: Descriptor) -> bool:
    return bool(duplicate_candidates(existing, layer))


# --- reading -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LegacySignature:
    """One layer of a ``.sig`` / ``.att`` image. Annotation problems surface per layer, when used,
    as in cosign: one bad layer must not hide a good one."""

    layer: Descriptor
    signature_b64: str | None
    certificate_pem: str | None
    chain_pem: str | None
    bundle_json: str | None
    timestamp_json: str | None
    predicate_type: str | None

    @property
    def payload_digest(self) -> str:
        return self.layer.digest

    @property
    def media_type(self) -> str:
        return self.layer.media_type

    def base64_signature(self) -> str:
        if self.signature_b64 is None:
            raise FormatError(
                f'signature layer {self.layer.digest} is missing "{SIGNATURE_ANNOTATION}" annotation'
            )
        return self.signature_b64

    def signature(self) -> bytes:
        """Raw signature bytes (b"" for attestation layers, whose signature is in the envelope)."""
        return b64decode_std(self.base64_signature(), f"signature layer {self.layer.digest}: signature")

    def rekor_bundle(self) -> rekorbundle.RekorBundle | None:
        if self.bundle_json is None:
            return None
        return rekorbundle.parse(self.bundle_json)

    def rfc3161_timestamp(self) -> bytes | None:
        if self.timestamp_json is None:
            return None
        return rekorbundle.parse_rfc3161_annotation(self.timestamp_json)


def parse_signature_layers(manifest: Manifest) -> list[LegacySignature]:
    """The signatures in a ``.sig``/``.att`` manifest; empty cert/chain/bundle/timestamp read as absent."""
    if manifest.media_type not in mt.IMAGE_MANIFEST_TYPES:
        raise FormatError(f"signature image {manifest.digest}: not an image manifest ({manifest.media_type})")
    layers = manifest.layers
    if len(layers) > MAX_LAYERS:
        raise FormatError(f"number of layers ({len(layers)}) exceeded the limit ({MAX_LAYERS})")
    out = []
    for d in layers:
        ann = d.annotations or {}
        out.append(LegacySignature(
            layer=d,
            signature_b64=ann.get(SIGNATURE_ANNOTATION),
            certificate_pem=ann.get(CERTIFICATE_ANNOTATION) or None,
            chain_pem=ann.get(CHAIN_ANNOTATION) or None,
            bundle_json=ann.get(BUNDLE_ANNOTATION) or None,
            timestamp_json=ann.get(RFC3161_TIMESTAMP_ANNOTATION) or None,
            predicate_type=ann.get(PREDICATE_TYPE_ANNOTATION) or None,
        ))
    return out
