"""The legacy Rekor bundle annotation ``dev.sigstore.cosign/bundle`` (cosign-wire-formats.md §2.5).

It carries a SignedEntryTimestamp (SET) and the fields the SET signs — no inclusion proof — so
verifying it needs only ``set_signed_bytes()`` (RFC 8785 of ``Payload``) and the Rekor key chosen by
``log_id``. The crypto stays with the caller; this module is bytes in, objects out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sigward import gojson
from sigward.formats._common import (
    FormatError,
    b64decode_lenient,
    b64decode_std,
    b64encode,
    load_object,
    type_name,
    want_int,
    want_obj,
    want_str,
)

WHAT = "rekor bundle"


@dataclass(frozen=True)
class RekorBundle:
    """``{"SignedEntryTimestamp":…,"Payload":{"body","integratedTime","logIndex","logID"}}``.

    ``body`` is the base64 text of the canonicalized Rekor entry, kept as the string it was.
    """

    signed_entry_timestamp: bytes
    body: str
    integrated_time: int
    log_index: int
    log_id: str

    def to_json(self) -> dict[str, Any]:
        """Go field order of cosign's ``RekorBundle`` (outer struct has no json tags)."""
        return {
            "SignedEntryTimestamp": b64encode(self.signed_entry_timestamp),
            "Payload": {
                "body": self.body,
                "integratedTime": self.integrated_time,
                "logIndex": self.log_index,
                "logID": self.log_id,
            },
        }

    def marshal(self) -> bytes:
        """Exact bytes cosign stores in the annotation."""
        return gojson.marshal(self.to_json())

    def body_bytes(self) -> bytes:
        """The canonicalized entry the body encodes (hashedrekord, dsse, intoto...)."""
        return b64decode_lenient(self.body, f"{WHAT}: Payload.body")

    def set_signed_bytes(self) -> bytes:
        """RFC 8785 canonical JSON of ``Payload``: the message the SET signs (ECDSA over its SHA-256).

        The shape is fixed (one string, two ints, one string), so the canonicaliser is tiny: keys in
        UTF-16 order (body, integratedTime, logID, logIndex), strings with JSON's minimal escaping
        (which Python's encoder matches with ``ensure_ascii=False``), numbers in ES6 form.
        """
        parts = [
            '"body":' + json.dumps(self.body, ensure_ascii=False),
            '"integratedTime":' + _es6_int(self.integrated_time),
            '"logID":' + json.dumps(self.log_id, ensure_ascii=False),
            '"logIndex":' + _es6_int(self.log_index),
        ]
        return ("{" + ",".join(parts) + "}").encode("utf-8")


def _es6_int(n: int) -> str:
    """How RFC 8785 (ES6 Number.prototype.toString) prints a JSON integer that went through a double."""
    f = float(n)
    if abs(f) < 1e21:
        return str(int(f))
    return repr(f)  # "1e+21" style, as ES6 prints it; far beyond any real log index


def _ci_get(obj: dict[str, Any], key: str) -> Any:
    """Go's json.Unmarshal matches struct field names case-insensitively (exact match preferred)."""
    if key in obj:
        return obj[key]
    low = key.lower()
    for k, v in obj.items():
        if k.lower() == low:
            return v
    return None


def parse(data: bytes | str) -> RekorBundle:
    """Parse the annotation value (or a ``rekorBundle`` object's bytes)."""
    return from_json(load_object(data, WHAT))


def from_json(obj: Any, where: str = WHAT) -> RekorBundle:
    if not isinstance(obj, dict):
        raise FormatError(f"{where}: expected a JSON object, got {type_name(obj)}")
    set_b64 = want_str(_ci_get(obj, "SignedEntryTimestamp"), f"{where}: SignedEntryTimestamp")
    assert set_b64 is not None
    payload = want_obj(_ci_get(obj, "Payload"), f"{where}: Payload")
    assert payload is not None
    body = _ci_get(payload, "body")
    if body is None:
        raise FormatError(f"{where}: Payload.body is missing")
    if not isinstance(body, str):
        # cosign's own wording for this case.
        raise FormatError(f"{where}: bundle payload body is not a string")
    integrated = want_int(_ci_get(payload, "integratedTime"), f"{where}: Payload.integratedTime")
    index = want_int(_ci_get(payload, "logIndex"), f"{where}: Payload.logIndex")
    log_id = want_str(_ci_get(payload, "logID"), f"{where}: Payload.logID")
    assert integrated is not None and index is not None and log_id is not None
    return RekorBundle(
        signed_entry_timestamp=b64decode_std(set_b64, f"{where}: SignedEntryTimestamp"),
        body=body,
        integrated_time=integrated,
        log_index=index,
        log_id=log_id,
    )


def from_tlog_entry(entry: Any) -> RekorBundle:
    """The annotation cosign v3.1 derives from a bundle's tlog entry (needs an inclusion promise).

    ``entry`` is a ``sigward.formats.bundle.TlogEntry``.
    """
    if entry.signed_entry_timestamp is None:
        raise FormatError("tlog entry has no inclusion promise to build a rekor bundle from")
    return RekorBundle(
        signed_entry_timestamp=entry.signed_entry_timestamp,
        body=b64encode(entry.canonicalized_body),
        integrated_time=entry.integrated_time,
        log_index=entry.log_index,
        log_id=entry.log_id.hex(),
    )


def rfc3161_annotation(timestamp_response_der: bytes) -> str:
    """The ``dev.sigstore.cosign/rfc3161timestamp`` value: ``{"SignedRFC3161Timestamp":"<b64>"}``."""
    return gojson.marshal({"SignedRFC3161Timestamp": b64encode(timestamp_response_der)}).decode("utf-8")


def parse_rfc3161_annotation(value: str | bytes) -> bytes:
    """The DER TimeStampResp inside a ``dev.sigstore.cosign/rfc3161timestamp`` value."""
    what = "RFC3161 timestamp annotation"
    obj = load_object(value, what)
    b64 = want_str(_ci_get(obj, "SignedRFC3161Timestamp"), f"{what}: SignedRFC3161Timestamp")
    assert b64 is not None
    return b64decode_std(b64, f"{what}: SignedRFC3161Timestamp")
