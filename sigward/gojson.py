"""JSON bytes the way Go's ``encoding/json`` writes them.

cosign's deterministic artifacts (simple-signing payload, legacy config blob, referrer manifests,
fallback indexes) are Go ``json.Marshal`` output; byte-identical output needs the same rules: compact,
keys in the order given (struct field order; callers sort maps), non-ASCII kept as UTF-8, and
``<``, ``>``, ``&``, U+2028, U+2029 escaped as ``\\u003c`` etc. No trailing newline.
"""

from __future__ import annotations

import json
from typing import Any

_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def marshal(obj: Any) -> bytes:
    """Serialise ``obj`` as Go would; dict order is preserved, so pass maps already sorted."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    # These characters can only occur inside JSON strings, so replacing them is safe.
    for ch, esc in _ESCAPES.items():
        if ch in text:
            text = text.replace(ch, esc)
    return text.encode("utf-8")


def sorted_map(d: dict[str, Any] | None) -> dict[str, Any] | None:
    """A Go map marshals with sorted keys; return ``d`` re-ordered that way (None stays None)."""
    if d is None:
        return None
    return {k: d[k] for k in sorted(d)}
