"""``json.loads`` with a nesting limit, for every JSON that comes from outside.

Python's decoder recurses per nesting level: a few thousand ``[`` make it raise ``RecursionError``, and a
deep document costs stack and time before that. sigstore-go (protojson) refuses nesting beyond 100 levels;
no manifest, bundle, key envelope or policy input needs more than a handful. Too deep is a ``ValueError``,
which every parser here already turns into its one-line format error.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 100


class JSONDepthError(ValueError):
    """JSON nested deeper than ``MAX_DEPTH``."""


def loads(data: bytes | bytearray | str, **kw: Any) -> Any:
    """``json.loads(data, **kw)``, refusing documents nested deeper than ``MAX_DEPTH``."""
    opens = data.count("[") + data.count("{") if isinstance(data, str) else \
        data.count(b"[") + data.count(b"{")
    try:
        obj = json.loads(data, **kw)
    except RecursionError:
        raise JSONDepthError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    if opens > MAX_DEPTH:
        check_depth(obj)
    return obj


def check_depth(obj: Any, limit: int = MAX_DEPTH) -> None:
    """Raise ``JSONDepthError`` if ``obj`` (parsed JSON) nests deeper than ``limit`` (iterative walk)."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            raise JSONDepthError(f"JSON nested deeper than {limit} levels")
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
