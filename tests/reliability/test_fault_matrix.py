"""Fault × command matrix through the fault-injecting proxy (``tests/fixtures/faultproxy.py``) in front of
the real docker-registry: each registry fault once, at the request that matters most to each command.

Every cell must end "retried and succeeded" (exit 0, and the result checked directly against the registry,
not through the proxy) or "refused with a clear error" (one ``Error:`` line, non-zero exit). Never
"accepted wrong bytes" (a success whose stored signature or copy does not verify) and never "left a broken
tag" (a tag in the destination whose manifest or blobs are missing).

The suite runs one cell per fault (each command at least once, ~7 cells); the whole 7 × 4 matrix runs with
``SIGWARD_FAULT_MATRIX=FILE`` set, which also writes the table recorded in docs/reliability.md::

    SIGWARD_FAULT_MATRIX=/tmp/matrix.md python -m pytest -q tests/reliability/test_fault_matrix.py
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sigward.oci import mediatypes as mt
from tests.fixtures.images import push_image

NOTLOG = "--insecure-ignore-tlog=true"
# (kind, params): 5xx, 429 + Retry-After, TCP reset, truncated body, flipped byte, slow answer.
FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("status", {"status": 503}),
    ("status", {"status": 500}),
    ("retry_after", {"seconds": 1}),
    ("reset", {}),
    ("truncate", {}),
    ("corrupt", {}),
    ("delay", {"seconds": 1}),
]
# command → (method, path regex) of the request the fault hits; bodies only exist on GET answers.
TARGETS = {
    "sign": {"write": ("PUT", "/manifests/"), "read": ("GET", "/manifests/sha256-")},
    "sign (legacy)": {"write": ("PUT", "/manifests/"), "read": ("GET", "/manifests/sha256-")},
    "verify": {"write": ("GET", "/blobs/"), "read": ("GET", "/blobs/")},
    "copy": {"write": ("PUT", "/manifests/"), "read": ("GET", "/blobs/")},
}
RESULTS: dict[tuple[str, str], str] = {}
FULL = bool(os.environ.get("SIGWARD_FAULT_MATRIX"))
CELLS = (
    [(c, k, p) for k, p in FAULTS for c in TARGETS]
    if FULL
    else [(list(TARGETS)[i % len(TARGETS)], k, p) for i, (k, p) in enumerate(FAULTS)]
)


def _label(kind: str, params: dict[str, Any]) -> str:
    if kind == "status":
        return f"HTTP {params['status']}"
    if kind == "retry_after":
        return "429 + Retry-After"
    if kind == "delay":
        return f"slow answer ({params['seconds']} s)"
    return {"reset": "connection reset", "truncate": "truncated body", "corrupt": "wrong bytes"}[kind]


def _get(server: Any, repo: str, ref: str) -> httpx.Response:
    return httpx.get(f"{server.url}/v2/{repo}/manifests/{ref}", headers={"Accept": mt.MANIFEST_ACCEPT})


def _no_broken_tags(server: Any, repo: str) -> None:
    """Every tag of ``repo`` resolves, and everything its manifest names is there."""
    tags = httpx.get(f"{server.url}/v2/{repo}/tags/list").json().get("tags") or []
    for tag in tags:
        r = _get(server, repo, tag)
        assert r.status_code == 200, f"tag {tag} is broken"
        m = r.json()
        for d in [m.get("config"), *(m.get("layers") or [])]:
            if d:
                assert httpx.head(f"{server.url}/v2/{repo}/blobs/{d['digest']}").status_code == 200, (
                    f"tag {tag} points at missing blob {d['digest']}"
                )
        for d in m.get("manifests") or []:
            assert _get(server, repo, d["digest"]).status_code == 200, f"tag {tag}: missing {d['digest']}"


@pytest.mark.parametrize(
    ("command", "kind", "params"), CELLS, ids=[f"{_label(k, p)}-{c}" for c, k, p in CELLS]
)
def test_fault_matrix(
    command: str,
    kind: str,
    params: dict[str, Any],
    run: Callable[..., Any],
    keys: Any,
    registry: Any,
    fault_proxy: Any,
    unique_repo: str,
) -> None:
    proxy = fault_proxy(registry)
    via = proxy.url.split("://", 1)[1]
    digest = push_image(registry, unique_repo, "v1")
    if command in ("verify", "copy"):
        ref = f"{registry.host}/{unique_repo}@{digest}"
        assert run("sign", "--key", keys.key, "--tlog-upload=false", ref).code == 0
    method, path = TARGETS[command]["read" if kind in ("truncate", "corrupt", "delay") else "write"]
    proxy.inject(kind, times=1, method=method, path_regex=path, **params)

    image = f"{via}/{unique_repo}@{digest}"
    if command == "sign":
        r = run("sign", "--key", keys.key, "--tlog-upload=false", image)
    elif command == "sign (legacy)":
        r = run("sign", "--key", keys.key, "--tlog-upload=false", "--new-bundle-format=false", image)
    elif command == "verify":
        r = run("verify", "--key", keys.pub, NOTLOG, image)
    else:
        r = run("copy", image, f"{via}/{unique_repo}-copy:v1")

    if r.code == 0:
        outcome = "retried and succeeded"
        # Checked directly against the registry: the signature verifies, the copy is whole.
        direct = f"{registry.host}/{unique_repo}@{digest}"
        if command == "copy":
            direct = f"{registry.host}/{unique_repo}-copy@{digest}"
            _no_broken_tags(registry, f"{unique_repo}-copy")
        flags = ("--new-bundle-format=false",) if command == "sign (legacy)" else ()
        v = run("verify", "--key", keys.pub, NOTLOG, *flags, direct)
        assert v.code == 0, f"accepted wrong bytes? {v.err}"
        assert len(json.loads(v.out)) == 1
    else:
        outcome = "refused with a clear error"
        lines = r.err.strip().splitlines()
        assert lines[-1].startswith("Error: ") and "internal error" not in r.err, r.err
    _no_broken_tags(registry, unique_repo)
    assert proxy.pending() == 0, "the fault was never hit: the matrix cell tests nothing"
    RESULTS[(_label(kind, params), command)] = outcome
    out = os.environ.get("SIGWARD_FAULT_MATRIX")
    if out and len(RESULTS) == len(CELLS):
        cols = list(TARGETS)
        rows = ["| fault | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        for k, p in FAULTS:
            rows.append(f"| {_label(k, p)} | " + " | ".join(RESULTS[(_label(k, p), c)] for c in cols) + " |")
        with open(out, "w") as f:
            f.write("\n".join(rows) + "\n")
