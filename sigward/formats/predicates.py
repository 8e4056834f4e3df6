"""The in-toto statements ``cosign attest`` / ``attest-blob`` write, and the policy input they become.

cosign (cosign-wire-formats.md §5.2) builds a Statement **v0.1** with one subject ``{name, digest}``, the
predicate body depending on ``--type``, and (v3.1) serialises it with protojson: field order ``_type,
subject, predicateType, predicate``, Struct keys sorted at every level, numbers as float64. A predicate
that is not an object (plain-text ``spdx``) cannot be a Struct; it is written as a Go map instead (every
key sorted, HTML characters escaped). Readers never rely on any of this: signed bytes stay opaque.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sigward import gojson, safejson
from sigward.errors import UsageError
from sigward.formats import intoto
from sigward.formats._common import protojson

# Fields cosign requires (Go struct fields without ``omitempty``) before it accepts a predicate file.
_REQUIRED = {
    "slsaprovenance": ("builder", "buildType"),
    "slsaprovenance02": ("builder", "buildType"),
    "slsaprovenance1": ("buildDefinition", "runDetails"),
    "link": ("_type", "name", "materials", "products", "byproducts", "command", "environment"),
}
_ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339_now(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(raw: bytes, what: str) -> Any:
    try:
        return safejson.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise UsageError(f"{what}: the predicate is not valid JSON ({e})")


def predicate_body(type_name: str, raw: bytes, *, now: datetime | None = None) -> tuple[str, Any]:
    """(predicate type URI, predicate) for ``--type type_name`` and the ``--predicate`` file bytes."""
    uri = intoto.predicate_type_for(type_name)
    if uri == intoto.COSIGN_CUSTOM:
        # Any bytes: the file is carried as a string (Go string([]byte) replaces invalid UTF-8).
        return uri, {"Data": raw.decode("utf-8", "replace"), "Timestamp": rfc3339_now(now)}
    if type_name == "spdx":
        return uri, raw.decode("utf-8", "replace")
    if type_name == "vuln":
        return uri, _vuln(_json(raw, "vuln"))
    body = _json(raw, type_name)
    if type_name in _REQUIRED:
        if not isinstance(body, dict):
            raise UsageError(f"{type_name} predicate: expected a JSON object")
        for f in _REQUIRED[type_name]:
            if f not in body:
                what = "link statement" if type_name == "link" else "provenance predicate"
                raise UsageError(f"{what}: required field {f} missing")
        if type_name == "slsaprovenance1":
            body = _slsa1_fixups(body)
    elif type_name not in PREDICATE_ANY_JSON and not isinstance(body, dict):
        raise UsageError(f"invalid JSON payload for predicate type {uri}: expected a JSON object")
    return uri, body


# Types whose predicate is any JSON document (cosign unmarshals into interface{}).
PREDICATE_ANY_JSON = frozenset({"spdxjson", "cyclonedx"})


def _slsa1_fixups(body: dict[str, Any]) -> dict[str, Any]:
    """Go's case-insensitive unmarshal into the v1 structs renames ``invocationID`` to ``invocationId``."""
    rd = body.get("runDetails")
    if isinstance(rd, dict) and isinstance(rd.get("metadata"), dict):
        md = dict(rd["metadata"])
        for k in list(md):
            if k.lower() == "invocationid" and k != "invocationId":
                md.setdefault("invocationId", md.pop(k))
        body = {**body, "runDetails": {**rd, "metadata": md}}
    return body


def _vuln(obj: Any) -> dict[str, Any]:
    """cosign's CosignVulnPredicate struct: every field present, zero values for missing ones."""
    if not isinstance(obj, dict):
        raise UsageError("vuln predicate: expected a JSON object")

    def sub(o: Any, key: str) -> dict[str, Any]:
        v = o.get(key) if isinstance(o, dict) else None
        return v if isinstance(v, dict) else {}

    inv, sc, md = sub(obj, "invocation"), sub(obj, "scanner"), sub(obj, "metadata")
    db = sub(sc, "db")
    return {
        "invocation": {"parameters": inv.get("parameters"), "uri": inv.get("uri", ""),
                       "event_id": inv.get("event_id", ""), "builder.id": inv.get("builder.id", "")},
        "scanner": {"uri": sc.get("uri", ""), "version": sc.get("version", ""),
                    "db": {"uri": db.get("uri", ""), "version": db.get("version", "")},
                    "result": sc.get("result")},
        "metadata": {"scanStartedOn": md.get("scanStartedOn") or _ZERO_TIME,
                     "scanFinishedOn": md.get("scanFinishedOn") or _ZERO_TIME},
    }


def _struct(v: Any) -> Any:
    """A value as protobuf Struct holds it: keys sorted, numbers float64 (integral ones print bare)."""
    if isinstance(v, dict):
        return {k: _struct(v[k]) for k in sorted(v)}
    if isinstance(v, list):
        return [_struct(x) for x in v]
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int | float):
        f = float(v)
        if math.isfinite(f) and f.is_integer() and abs(f) < 1e21:
            return int(f)
        return f
    return v


def attestation_statement(subject_name: str, digest_hex: str, predicate_type: str, predicate: Any) -> bytes:
    """The statement bytes cosign v3.1 signs for ``attest`` / ``attest-blob``."""
    subject = {"name": subject_name, "digest": {"sha256": digest_hex}}
    if isinstance(predicate, dict):
        return protojson({
            "_type": intoto.STATEMENT_V01,
            "subject": [subject],
            "predicateType": predicate_type,
            "predicate": _struct(predicate),
        })
    return gojson.marshal({
        "_type": intoto.STATEMENT_V01,
        "predicate": _struct(predicate),
        "predicateType": predicate_type,
        "subject": [{"digest": {"sha256": digest_hex}, "name": subject_name}],
    })


def policy_input(stmt: intoto.Statement) -> dict[str, Any]:
    """What a policy sees: the statement as cosign re-marshals it through in-toto-golang's struct
    (``_type, predicateType, subject[{name, digest}], predicate``; other subject fields dropped)."""
    return {
        "_type": stmt.type,
        "predicateType": stmt.predicate_type,
        "subject": [{"name": s.name or "", "digest": dict(s.digest)} for s in stmt.subjects],
        "predicate": stmt.predicate,
    }
