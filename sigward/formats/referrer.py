"""The OCI 1.1 referrer manifest cosign v3 pushes for a bundle (cosign-wire-formats.md §3.3).

Byte-identical to cosign's Go ``json.Marshal`` of ggcr's Manifest plus an ``artifactType``, including
the non-standard ``config.artifactType`` that ``cosign clean`` uses to recognise what it may delete.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sigward import gojson
from sigward.formats.intoto import COSIGN_SIGN_V1
from sigward.oci import digest as _digest
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import Descriptor, Manifest

BUNDLE_MEDIA_TYPE = mt.SIGSTORE_BUNDLE_V03
CONTENT_ANNOTATION = "dev.sigstore.bundle.content"
PREDICATE_TYPE_ANNOTATION = "dev.sigstore.bundle.predicateType"
CREATED_ANNOTATION = "org.opencontainers.image.created"
CONTENT_DSSE = "dsse-envelope"

# The config blob uploaded with every referrer: the OCI empty JSON "{}".
CONFIG_BLOB = mt.EMPTY_JSON
CONFIG_DIGEST = mt.EMPTY_DIGEST


def created_now(now: datetime | None = None) -> str:
    """``time.Now().UTC().Format(time.RFC3339)``: second precision, ``Z``."""
    t = (now or datetime.now(UTC)).astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def referrer_manifest(
    bundle: bytes | Descriptor,
    subject: Descriptor,
    predicate_type: str = COSIGN_SIGN_V1,
    created: str | None = None,
) -> Manifest:
    """The manifest to PUT by digest; ``bundle`` is its bytes or an already-computed layer descriptor.

    Only mediaType/size/digest of ``subject`` are written, as cosign takes them from a HEAD.
    """
    if isinstance(bundle, Descriptor):
        layer = Descriptor(bundle.media_type or BUNDLE_MEDIA_TYPE, bundle.digest, bundle.size)
    else:
        layer = Descriptor(BUNDLE_MEDIA_TYPE, _digest.compute(bundle), len(bundle))
    obj: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": mt.OCI_EMPTY,
            "size": len(CONFIG_BLOB),
            "digest": CONFIG_DIGEST,
            "artifactType": BUNDLE_MEDIA_TYPE,
        },
        "layers": [layer.to_json()],
        "annotations": gojson.sorted_map({
            CONTENT_ANNOTATION: CONTENT_DSSE,
            PREDICATE_TYPE_ANNOTATION: predicate_type,
            CREATED_ANNOTATION: created if created is not None else created_now(),
        }),
        "subject": Descriptor(subject.media_type, subject.digest, subject.size).to_json(),
        "artifactType": BUNDLE_MEDIA_TYPE,
    }
    return Manifest(gojson.marshal(obj), mt.OCI_MANIFEST)


def bundle_layer(manifest: Manifest) -> Descriptor | None:
    """The bundle layer if ``manifest`` is a bundle referrer, else None.

    cosign's rule: exactly one layer whose media type starts with the bundle prefix. artifactType is
    deliberately not consulted (it differs between cosign versions and fallback indexes).
    """
    if manifest.is_index:
        return None
    layers = manifest.layers
    if len(layers) != 1 or not layers[0].media_type.startswith(mt.SIGSTORE_BUNDLE_PREFIX):
        return None
    return layers[0]


def is_bundle_referrer(manifest: Manifest) -> bool:
    return bundle_layer(manifest) is not None
