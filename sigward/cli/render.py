"""cosign's output for verified signatures, in one place: the JSON objects ``verify`` prints, the envelope
lines ``verify-attestation`` prints, and the verification header.

Ops return typed ``VerifiedSignature`` values; only this module turns them into cosign's bytes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sigward.sigstore.certs import CertIdentity
    from sigward.sigstore.pipeline import VerifiedSignature


def signature_object(vs: VerifiedSignature, docker_reference: str, digest: str) -> dict[str, Any]:
    """The object cosign prints for one verified image signature (before struct ordering)."""
    from sigward.sigstore.pipeline import LegacyCandidate

    if vs.format == "bundle":
        alg, hexd = digest.split(":", 1)
        subject = vs.statement.subject_for(alg, hexd) if vs.statement is not None else None
        return {
            "critical": {
                "identity": {"docker-reference": docker_reference},
                "image": {"docker-manifest-digest": digest},
                "type": vs.predicate_type,
            },
            "optional": dict(subject.annotations or {}) if subject is not None else {},
        }
    output: dict[str, Any] = json.loads(vs.payload)
    extra = certificate_fields(vs.identity)
    c = vs.candidate
    if isinstance(c, LegacyCandidate):
        rb = c.parsed_rekor_bundle()
        if rb is not None:
            extra["Bundle"] = rb.to_json()
        if isinstance(c.timestamp, str):
            extra["RFC3161Timestamp"] = json.loads(c.timestamp)
    if extra:
        output["optional"] = {**(output.get("optional") or {}), **extra}
    return output


def simple_container_image(obj: dict[str, Any]) -> dict[str, Any]:
    """cosign's SimpleContainerImage struct order; ``optional`` is a Go map (sorted keys, or null)."""
    from sigward import gojson

    crit = obj.get("critical") or {}
    opt = obj.get("optional")
    return {
        "critical": {
            "identity": {"docker-reference": (crit.get("identity") or {}).get("docker-reference", "")},
            "image": {"docker-manifest-digest": (crit.get("image") or {}).get("docker-manifest-digest", "")},
            "type": crit.get("type", ""),
        },
        "optional": gojson.sorted_map(opt) if isinstance(opt, dict) else None,
    }


def signatures_json(signatures: list[VerifiedSignature], docker_reference: str, digest: str) -> str:
    """``cosign verify -o json``: one JSON array of every verified signature."""
    from sigward import gojson

    objs = [simple_container_image(signature_object(s, docker_reference, digest)) for s in signatures]
    return gojson.marshal(objs).decode()


def attestation_line(vs: VerifiedSignature) -> bytes:
    """What ``verify-attestation`` prints per attestation: the DSSE envelope JSON (a bundle's envelope in
    protobuf JSON form, a legacy layer's bytes as stored)."""
    from sigward.formats import dsse
    from sigward.sigstore.pipeline import LegacyCandidate

    c = vs.candidate
    if isinstance(c, LegacyCandidate) and c.envelope is not None:
        return c.envelope
    assert vs.envelope is not None
    return dsse.marshal(vs.envelope, "protobuf")


def certificate_fields(identity: CertIdentity | None) -> dict[str, Any]:
    """What cosign adds to ``optional`` for a certificate: Subject, Issuer, the GitHub extensions."""
    if identity is None:
        return {}
    from sigward.sigstore.certs import GITHUB_EXTENSIONS, OID_ISSUER_V1

    out: dict[str, Any] = {"Subject": identity.subject}
    issuer = identity.extensions.get(OID_ISSUER_V1) or identity.issuer
    if issuer:
        out["Issuer"] = issuer
        out[OID_ISSUER_V1] = issuer
    for oid, name in GITHUB_EXTENSIONS.items():
        value = identity.extensions.get(oid)
        if value:
            out[oid] = value
            out[name] = value
    return out


def verification_header(ref: object, *, check_claims: bool, annotations: bool, tlog: bool, key: bool) -> str:
    """cosign's ``PrintVerificationHeader``: the checks made, never one that was skipped."""
    lines = ["", f"Verification for {ref} --",
             "The following checks were performed on each of these signatures:"]
    if check_claims:
        lines.append("  - The cosign claims were validated")
    if annotations:
        lines.append("  - The specified annotations were verified.")
    if tlog:
        lines.append("  - Existence of the claims in the transparency log was verified offline")
    if key:
        lines.append("  - The signatures were verified against the specified public key")
    else:
        lines.append("  - The code-signing certificate was verified using trusted certificate authority "
                     "certificates")
    return "\n".join(lines)
