"""DSSE envelopes (cosign-wire-formats.md §2.3, §3.1).

Two byte layouts exist for the same envelope and both are signed-adjacent: the legacy ``.att`` layer
and the Rekor ``envelopeHash`` cover the exact envelope bytes, so parsing keeps ``raw`` and marshalling
offers both field orders — go-securesystemslib (cosign ≤ v3.0, ``"keyid":""`` always written) and Go
``encoding/json`` of the protobuf-specs struct (cosign ≥ v3.1, empty keyid omitted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sigward import gojson
from sigward.formats._common import (
    FormatError,
    b64decode_lenient,
    b64encode,
    load_object,
    type_name,
    want_list,
    want_str,
)

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"

WHAT = "DSSE envelope"


def pae(payload_type: str, payload: bytes) -> bytes:
    """Pre-authentication encoding: what a DSSE signature actually signs.

    Lengths are byte lengths of the UTF-8 type and of the payload, in decimal.
    """
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


@dataclass(frozen=True)
class Signature:
    sig: bytes
    keyid: str = ""


@dataclass(frozen=True)
class Envelope:
    """An envelope; ``raw`` holds the bytes it was parsed from (None when built here)."""

    payload: bytes
    payload_type: str
    signatures: tuple[Signature, ...] = ()
    raw: bytes | None = field(default=None, compare=False)

    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)


Style = Literal["securesystemslib", "protobuf"]


def to_json(env: Envelope, style: Style = "securesystemslib") -> dict[str, Any]:
    """The envelope as a key-ordered dict for ``style`` (see module docstring)."""
    if style == "securesystemslib":
        return {
            "payloadType": env.payload_type,
            "payload": b64encode(env.payload),
            "signatures": [{"keyid": s.keyid, "sig": b64encode(s.sig)} for s in env.signatures],
        }
    if style == "protobuf":
        # Go encoding/json of the generated struct: every field is omitempty.
        out: dict[str, Any] = {}
        if env.payload:
            out["payload"] = b64encode(env.payload)
        if env.payload_type:
            out["payloadType"] = env.payload_type
        sigs = []
        for s in env.signatures:
            d: dict[str, Any] = {}
            if s.sig:
                d["sig"] = b64encode(s.sig)
            if s.keyid:
                d["keyid"] = s.keyid
            sigs.append(d)
        if sigs:
            out["signatures"] = sigs
        return out
    raise ValueError(f"unknown DSSE style {style!r}")


def marshal(env: Envelope, style: Style = "securesystemslib") -> bytes:
    """Compact Go-encoded bytes in the chosen field order."""
    return gojson.marshal(to_json(env, style))


def parse(data: bytes) -> Envelope:
    """Parse envelope bytes (either field order); the payload is base64-decoded, ``raw`` kept."""
    env = from_json(load_object(data, WHAT))
    return Envelope(env.payload, env.payload_type, env.signatures, raw=bytes(data))


def from_json(obj: Any, where: str = WHAT) -> Envelope:
    """Envelope from parsed JSON (also the ``dsseEnvelope`` of a bundle). At least one signature."""
    if not isinstance(obj, dict):
        raise FormatError(f"{where}: expected a JSON object, got {type_name(obj)}")
    payload_b64 = want_str(obj.get("payload"), f"{where}: payload")
    ptype = want_str(obj.get("payloadType", obj.get("payload_type")), f"{where}: payloadType")
    assert payload_b64 is not None and ptype is not None
    sigs_raw = want_list(obj.get("signatures"), f"{where}: signatures")
    if not sigs_raw:
        raise FormatError(f"{where}: no signatures")
    sigs = []
    for i, s in enumerate(sigs_raw):
        sw = f"{where}: signatures[{i}]"
        if not isinstance(s, dict):
            raise FormatError(f"{sw} must be an object, got {type_name(s)}")
        sig_b64 = want_str(s.get("sig"), f"{sw}.sig")
        keyid = want_str(s.get("keyid"), f"{sw}.keyid", required=False) or ""
        assert sig_b64 is not None
        sigs.append(Signature(b64decode_lenient(sig_b64, f"{sw}.sig"), keyid))
    return Envelope(
        payload=b64decode_lenient(payload_b64, f"{where}: payload"),
        payload_type=ptype,
        signatures=tuple(sigs),
    )
