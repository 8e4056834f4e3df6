"""in-toto Statements: cosign's sign statement, attestation statements, and a tolerant parser.

Writers follow cosign byte for byte where that is fixed (§3.1: protojson field order, compact, Struct
keys sorted); readers accept Statement v0.1 (cosign ``attest`` ≤ v3.0 and many tools) and v1, subjects
with or without ``name``, and keep ``raw`` since the statement is the signed payload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from sigward import gojson
from sigward.errors import UsageError
from sigward.formats._common import (
    FormatError,
    load_object,
    protojson,
    type_name,
    want_list,
    want_str,
)

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
STATEMENT_V01 = "https://in-toto.io/Statement/v0.1"
STATEMENT_TYPES = frozenset({STATEMENT_V1, STATEMENT_V01})

# Predicate types (cosign pkg/types/predicate.go, cmd/cosign/cli/options/predicate.go).
COSIGN_SIGN_V1 = "https://sigstore.dev/cosign/sign/v1"
COSIGN_CUSTOM = "https://cosign.sigstore.dev/attestation/v1"
COSIGN_VULN = "https://cosign.sigstore.dev/attestation/vuln/v1"
SLSA_PROVENANCE_V02 = "https://slsa.dev/provenance/v0.2"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
SPDX = "https://spdx.dev/Document"
CYCLONEDX = "https://cyclonedx.org/bom"
LINK_V1 = "https://in-toto.io/Link/v1"
OPENVEX = "https://openvex.dev/ns"

# `--type` short names accepted by attest / verify-attestation.
PREDICATE_SHORT_NAMES: dict[str, str] = {
    "custom": COSIGN_CUSTOM,
    "slsaprovenance": SLSA_PROVENANCE_V02,
    "slsaprovenance02": SLSA_PROVENANCE_V02,
    "slsaprovenance1": SLSA_PROVENANCE_V1,
    "spdx": SPDX,
    "spdxjson": SPDX,
    "cyclonedx": CYCLONEDX,
    "link": LINK_V1,
    "vuln": COSIGN_VULN,
    "openvex": OPENVEX,
}

_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S*$")

WHAT = "in-toto statement"


def predicate_type_for(name: str) -> str:
    """A ``--type`` value to its URI; anything not in the table must look like a request URI.

    Go's ``url.ParseRequestURI`` accepts an absolute URI or an absolute path; so do we.
    """
    if name in PREDICATE_SHORT_NAMES:
        return PREDICATE_SHORT_NAMES[name]
    if (_URI_SCHEME.match(name) or name.startswith("/")) and not any(c.isspace() for c in name):
        return name
    raise UsageError(f"invalid predicate type: {name}")


@dataclass(frozen=True)
class Subject:
    digest: dict[str, str]
    name: str | None = None
    annotations: dict[str, Any] | None = None


def cosign_sign_statement(digest_hex: str, annotations: dict[str, Any] | None = None) -> bytes:
    """What ``cosign sign`` (v3.0.5+) puts in the DSSE envelope for an image digest.

    ``annotations`` is always written (``{}`` without ``-a``) and so is ``predicate:{}``.
    """
    subject = {"digest": {"sha256": digest_hex}, "annotations": _sorted_deep(annotations or {})}
    return protojson({
        "_type": STATEMENT_V1,
        "subject": [subject],
        "predicateType": COSIGN_SIGN_V1,
        "predicate": {},
    })


def statement(
    subjects: list[Subject],
    predicate_type: str,
    predicate: Any,
    version: Literal["v1", "v0.1"] = "v1",
) -> bytes:
    """A statement shaped like cosign writes it for ``version``.

    v1: protojson order (_type, subject, predicateType, predicate), subject fields name, digest,
    annotations, no HTML escaping. v0.1: in-toto-golang struct order (_type, predicateType, subject,
    predicate) through Go encoding/json (HTML characters escaped).
    """
    subs = []
    for s in subjects:
        d: dict[str, Any] = {}
        if s.name:
            d["name"] = s.name
        d["digest"] = {k: s.digest[k] for k in sorted(s.digest)}
        if version == "v1" and s.annotations:
            d["annotations"] = _sorted_deep(s.annotations)
        subs.append(d)
    if version == "v1":
        return protojson({
            "_type": STATEMENT_V1,
            "subject": subs,
            "predicateType": predicate_type,
            "predicate": _sorted_deep(predicate),
        })
    if version == "v0.1":
        return gojson.marshal({
            "_type": STATEMENT_V01,
            "predicateType": predicate_type,
            "subject": subs,
            "predicate": _sorted_deep(predicate),
        })
    raise ValueError(f"unknown statement version {version!r}")


def _sorted_deep(v: Any) -> Any:
    """protojson Struct and Go maps both sort keys at every level."""
    if isinstance(v, dict):
        return {k: _sorted_deep(v[k]) for k in sorted(v)}
    if isinstance(v, list):
        return [_sorted_deep(x) for x in v]
    return v


@dataclass(frozen=True)
class Statement:
    """A parsed statement; ``raw`` is the exact payload bytes."""

    type: str
    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: Any
    raw: bytes = field(repr=False, compare=False)

    def matches_digest(self, alg: str, hex_digest: str) -> bool:
        """True if some subject lists ``alg`` with this value (hex compared case-insensitively)."""
        want = hex_digest.lower()
        return any(
            isinstance(s.digest.get(alg), str) and s.digest[alg].lower() == want for s in self.subjects
        )

    def subject_for(self, alg: str, hex_digest: str) -> Subject | None:
        want = hex_digest.lower()
        for s in self.subjects:
            if s.digest.get(alg, "").lower() == want:
                return s
        return None


def parse_statement(data: bytes) -> Statement:
    """Parse a statement of type v0.1 or v1; other ``_type`` values are refused."""
    obj = load_object(data, WHAT)
    typ = want_str(obj.get("_type"), f"{WHAT}: _type")
    if typ not in STATEMENT_TYPES:
        raise FormatError(f"{WHAT}: unsupported _type {typ!r}")
    ptype = want_str(obj.get("predicateType", obj.get("predicate_type")), f"{WHAT}: predicateType")
    assert typ is not None and ptype is not None
    subjects = []
    for i, s in enumerate(want_list(obj.get("subject"), f"{WHAT}: subject")):
        where = f"{WHAT}: subject[{i}]"
        if not isinstance(s, dict):
            raise FormatError(f"{where} must be an object, got {type_name(s)}")
        name = want_str(s.get("name"), f"{where}.name", required=False)
        dig = s.get("digest")
        if not isinstance(dig, dict) or not all(isinstance(v, str) for v in dig.values()):
            raise FormatError(f"{where}.digest must be an object of strings")
        ann = s.get("annotations")
        if ann is not None and not isinstance(ann, dict):
            raise FormatError(f"{where}.annotations must be an object, got {type_name(ann)}")
        subjects.append(Subject(digest=dict(dig), name=name, annotations=ann))
    return Statement(
        type=typ,
        subjects=tuple(subjects),
        predicate_type=ptype,
        predicate=obj.get("predicate"),
        raw=bytes(data),
    )
