"""The ``SimpleContainerImage`` objects ``verify -o json`` prints (cosign-wire-formats.md §4.4).

cosign unmarshals each verified payload into a Go struct, adds fields to ``optional`` and marshals the
list again, so the output is a *re-serialisation* (unlike the signed bytes): struct order for
``critical``, Go-sorted maps everywhere, and numbers the way Go prints a float64.
"""

from __future__ import annotations

from typing import Any

from sigward import gojson
from sigward.formats.simplesigning import SimpleSigning


def _go_value(v: Any) -> Any:
    """A value as Go re-marshals ``interface{}``: maps key-sorted, integral floats without ``.0``."""
    if isinstance(v, dict):
        return {k: _go_value(v[k]) for k in sorted(v)}
    if isinstance(v, list):
        return [_go_value(x) for x in v]
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return int(v)
    return v


def simple_container_image(
    docker_reference: str,
    manifest_digest: str,
    type_: str,
    optional: dict[str, Any] | None,
) -> dict[str, Any]:
    """One output element in cosign's key order; ``optional=None`` prints as ``null``."""
    return {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": manifest_digest},
            "type": type_,
        },
        "optional": None if optional is None else _go_value(optional),
    }


def from_payload(signed: SimpleSigning, extra_optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """Legacy path: the payload as parsed, ``optional`` augmented (Subject, Issuer, Bundle...).

    Extra keys win over the payload's own, as in cosign, which assigns them into the parsed map.
    """
    optional = dict(signed.optional) if signed.optional is not None else None
    if extra_optional:
        optional = {**(optional or {}), **extra_optional}
    return simple_container_image(signed.docker_reference, signed.manifest_digest, signed.type, optional)


def from_statement(
    docker_reference: str, subject_digest: str, predicate_type: str, annotations: dict[str, Any] | None
) -> dict[str, Any]:
    """Bundle path: cosign synthesises the payload; ``type`` is the statement's predicateType."""
    return simple_container_image(docker_reference, subject_digest, predicate_type, annotations or {})


def verify_output(images: list[dict[str, Any]]) -> bytes:
    """The stdout of ``verify -o json``: a newline, the Go-marshalled array, a newline."""
    return b"\n" + gojson.marshal(images) + b"\n"
