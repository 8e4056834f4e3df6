"""Turn a server-side request log into short, comparable summaries.

Counting on the server side (the fault proxy, or the in-memory referrers registry) sees exactly the
HTTP requests that arrived, independent of the client's own ``request_count`` (which also counts the
HTTPS attempt a loopback client makes before falling back to plain HTTP).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}
_KIND = re.compile(r"^/v2/(?:.+?/)?(manifests|blobs/uploads|blobs|referrers|tags)(?:/(.*))?$")


def kind(path: str) -> str:
    """``/v2/`` → ping; ``/v2/repo/manifests/sha256-….sig`` → ``manifest(tag)`` and so on."""
    p = path.split("?", 1)[0]
    query = path.split("?", 1)[1] if "?" in path else ""
    if p in ("/v2/", "/v2"):
        return "ping"
    m = _KIND.match(p)
    if not m:
        return p
    what, rest = m.group(1), m.group(2) or ""
    if what == "manifests":
        if rest.startswith("sha256:"):
            return "manifest@digest"
        if re.match(r"^sha256-[0-9a-f]{64}$", rest):
            return "fallback-index"
        if re.match(r"^sha256-[0-9a-f]{64}\.(sig|att|sbom)$", rest):
            return f"tag .{rest.rsplit('.', 1)[1]}"
        return "manifest:tag"
    if what == "blobs/uploads":
        if "mount=" in query:
            return "upload(mount)"
        return "upload" if not rest else "upload-session"
    if what == "blobs":
        return "blob"
    return what


def http_only(log: Iterable[Sequence[object]]) -> list[tuple[str, str, object]]:
    """Drop anything that is not an HTTP request (a TLS hello read as a request line by a plain server)."""
    return [(str(e[0]), str(e[1]), e[2] if len(e) > 2 else None) for e in log if str(e[0]) in HTTP_METHODS]


def summarize(log: Iterable[Sequence[object]]) -> str:
    """``GET manifest:tag 200, GET tag .sig 404 ×3, …`` in first-seen order."""
    counts: Counter[str] = Counter()
    order: list[str] = []
    for method, path, status in http_only(log):
        key = f"{method} {kind(path)}" + (f" {status}" if status is not None else "")
        if key not in counts:
            order.append(key)
        counts[key] += 1
    return ", ".join(k + (f" ×{counts[k]}" if counts[k] > 1 else "") for k in order)


def repeated(log: Iterable[Sequence[object]]) -> list[str]:
    """Identical (method, path) pairs sent more than once: candidates for waste."""
    c = Counter((m, p) for m, p, _ in http_only(log))
    return [f"{m} {p} ×{n}" for (m, p), n in c.items() if n > 1]
