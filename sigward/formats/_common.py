"""Shared helpers for the wire-format parsers: strict JSON, typed field access, base64.

Parsers here face bytes from registries and files written by anyone, so every shape check ends in a
``FormatError`` whose message names the document and the field — never a KeyError or a traceback.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from sigward import safejson
from sigward.errors import VerificationError


class FormatError(VerificationError):
    """Bytes that do not have the shape of the format they claim to be (payload, envelope, bundle...)."""


def _reject_constant(name: str) -> Any:
    # Go's encoding/json and protojson both refuse NaN/Infinity; accepting them would let a payload
    # mean different things to sigward and to cosign.
    raise ValueError(f"invalid JSON constant {name}")


def load_json(data: bytes | str, what: str) -> Any:
    """Parse JSON, refusing NaN/Infinity, with a one-line error naming ``what``."""
    try:
        return safejson.loads(data, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise FormatError(f"{what}: not valid JSON ({_short(e)})")


def load_object(data: bytes | str, what: str) -> dict[str, Any]:
    obj = load_json(data, what)
    if not isinstance(obj, dict):
        raise FormatError(f"{what}: expected a JSON object, got {type_name(obj)}")
    return obj


def _short(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def type_name(v: Any) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    return "an object"


def first_of(obj: dict[str, Any], *names: str) -> Any:
    """First present key among ``names`` (protojson accepts both camelCase and the proto field name)."""
    for n in names:
        if n in obj:
            return obj[n]
    return None


def want_str(v: Any, where: str, *, required: bool = True) -> str | None:
    if v is None:
        if required:
            raise FormatError(f"{where} is missing")
        return None
    if not isinstance(v, str):
        raise FormatError(f"{where} must be a string, got {type_name(v)}")
    return v


def want_obj(v: Any, where: str, *, required: bool = True) -> dict[str, Any] | None:
    if v is None:
        if required:
            raise FormatError(f"{where} is missing")
        return None
    if not isinstance(v, dict):
        raise FormatError(f"{where} must be an object, got {type_name(v)}")
    return v


def want_list(v: Any, where: str, *, required: bool = True) -> list[Any]:
    if v is None:
        if required:
            raise FormatError(f"{where} is missing")
        return []
    if not isinstance(v, list):
        raise FormatError(f"{where} must be an array, got {type_name(v)}")
    return v


def want_int(v: Any, where: str, *, required: bool = True, as_string: bool = False) -> int | None:
    """An integer; ``as_string`` also accepts protojson's decimal-string int64 form."""
    if v is None:
        if required:
            raise FormatError(f"{where} is missing")
        return None
    if isinstance(v, bool):
        raise FormatError(f"{where} must be an integer, got a boolean")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if as_string and isinstance(v, str) and v.lstrip("-").isdigit() and v.isascii():
        return int(v)
    raise FormatError(f"{where} must be an integer, got {type_name(v)} {str(v)[:40]!r}")


def b64decode_std(s: str, where: str) -> bytes:
    """Go ``base64.StdEncoding.DecodeString``: padded standard alphabet; CR/LF are ignored."""
    cleaned = s.replace("\r", "").replace("\n", "")
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(f"{where} is not valid base64")


def b64decode_lenient(s: str, where: str) -> bytes:
    """protojson ``bytes`` / securesystemslib DSSE: standard or URL-safe alphabet, padding optional.

    As Go's protojson decides: a string with ``-`` or ``_`` is URL-safe throughout, so a mix of both
    alphabets is refused (as cosign refuses it), not silently read."""
    cleaned = s.replace("\r", "").replace("\n", "")
    if "-" in cleaned or "_" in cleaned:
        if "+" in cleaned or "/" in cleaned:
            raise FormatError(f"{where} is not valid base64")
        cleaned = cleaned.replace("-", "+").replace("_", "/")
    cleaned = cleaned.rstrip("=")
    if len(cleaned) % 4 == 1:
        raise FormatError(f"{where} is not valid base64")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(f"{where} is not valid base64")


def b64encode(b: bytes) -> str:
    """Standard, padded base64 — what Go ``[]byte`` JSON fields and protojson ``bytes`` produce."""
    return base64.b64encode(b).decode("ascii")


def protojson(obj: Any) -> bytes:
    """Compact JSON as protobuf-go's protojson writes it (no spaces variant, no HTML escaping).

    protojson escapes only ``"``, ``\\`` and control characters, which is exactly what Python's
    encoder does with ``ensure_ascii=False``; key order is the caller's (proto declaration order).
    """
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
