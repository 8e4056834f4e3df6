"""The cosign "simple signing" payload (cosign-wire-formats.md §2.4).

cosign writes it with Go ``json.Marshal`` and signs those bytes, so building it must be byte-identical
(compact, struct field order, sorted ``optional`` keys, ``<>&`` escaped, no newline). Parsing keeps the
exact bytes: the signature is always checked against ``raw``, never against a re-serialisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sigward import gojson
from sigward.formats._common import FormatError, load_object, want_obj, want_str

COSIGN_SIGNATURE_TYPE = "cosign container image signature"

WHAT = "simple signing payload"


def payload(docker_reference: str, manifest_digest: str, annotations: dict[str, str] | None = None) -> bytes:
    """cosign's payload bytes; ``annotations=None`` gives ``"optional":null`` (no ``-a`` flags).

    An empty dict gives ``"optional":{}``, which is what Go writes for a non-nil empty map.
    """
    obj = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": manifest_digest},
            "type": COSIGN_SIGNATURE_TYPE,
        },
        "optional": gojson.sorted_map(annotations),
    }
    return gojson.marshal(obj)


@dataclass(frozen=True)
class SimpleSigning:
    """A parsed payload; ``raw`` is the exact signed bytes."""

    docker_reference: str
    manifest_digest: str
    type: str
    optional: dict[str, Any] | None
    raw: bytes


def parse(data: bytes) -> SimpleSigning:
    """Parse a payload written by cosign or anyone else.

    Mirrors Go's unmarshal into sigstore's ``SimpleContainerImage``: a missing identity or type reads
    as "" (cosign never checks them), but values of the wrong JSON type are rejected, as Go does. The
    manifest digest is required because it is the one claim every verification checks.
    """
    obj = load_object(data, WHAT)
    crit = want_obj(obj.get("critical"), f"{WHAT}: critical")
    assert crit is not None
    identity = want_obj(crit.get("identity"), f"{WHAT}: critical.identity", required=False) or {}
    ref = want_str(identity.get("docker-reference"), f"{WHAT}: critical.identity.docker-reference",
                   required=False)
    image = want_obj(crit.get("image"), f"{WHAT}: critical.image")
    assert image is not None
    dig = want_str(image.get("docker-manifest-digest"), f"{WHAT}: critical.image.docker-manifest-digest")
    assert dig is not None
    if not dig:
        raise FormatError(f"{WHAT}: critical.image.docker-manifest-digest is empty")
    typ = want_str(crit.get("type"), f"{WHAT}: critical.type", required=False)
    optional = want_obj(obj.get("optional"), f"{WHAT}: optional", required=False)
    return SimpleSigning(
        docker_reference=ref or "",
        manifest_digest=dig,
        type=typ or "",
        optional=optional,
        raw=bytes(data),
    )
