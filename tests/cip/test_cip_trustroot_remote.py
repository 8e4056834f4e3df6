"""TrustRoot ``remote``: a real TUF repository on a loopback HTTP port (tests/fixtures/tufrepo.py),
verified by python-tuf through sigward.admission.trustroots; the cache in front of every form."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from sigward.admission.trustroots import TrustRootCache, fetch_remote
from sigward.cip.documents import load_documents
from sigward.cip.trustroot import TrustRootError, convert_sigstore_keys, parse_trustroot
from sigward.cip.validate import validate
from tests.fixtures.tufrepo import serve

KEYS = Path(__file__).resolve().parents[1] / "vectors" / "policy-controller" / "trustroot" / "valid"


def trusted_root_json() -> bytes:
    (doc,) = load_documents((KEYS / "valid-sigstore-keys.yaml").read_bytes(), "k.yaml")
    return json.dumps(convert_sigstore_keys(doc.body["spec"]["sigstoreKeys"])).encode()


def remote(mirror: str, root: bytes, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "TrustRoot", "metadata": {"name": "r"},
            "spec": {"remote": {"mirror": mirror, "root": base64.b64encode(root).decode(), **extra}}}


def test_remote_mirror_verified_and_cached(tmp_path: Path) -> None:
    with serve(tmp_path, {"trusted_root.json": trusted_root_json()}) as repo:
        doc = remote(repo.url, repo.root_file.read_bytes())
        assert validate(doc) == []
        tr = parse_trustroot(doc)
        assert fetch_remote(tr) == trusted_root_json()
        cache = TrustRootCache()
        first = cache.resolve(tr)
        assert len(first.tlogs) == 1 and first.tlogs[0].base_url == "https://rekor.example.com"
    # The server is gone: a fresh entry is served from the cache, no fetch.
    assert cache.resolve(tr) is first
    # ...until the resync period has passed: then the failure surfaces (and is not cached).
    stale = TrustRootCache(resync_period=0)
    with pytest.raises(TrustRootError, match="TrustRoot r: TUF mirror"):
        stale.resolve(tr)


def test_remote_mirror_signed_by_another_root_refused(tmp_path: Path) -> None:
    with serve(tmp_path / "a", {"trusted_root.json": trusted_root_json()}) as a, \
            serve(tmp_path / "b", {"trusted_root.json": b"{}"}) as b:
        tr = parse_trustroot(remote(a.url, b.root_file.read_bytes()))
        with pytest.raises(TrustRootError, match="TrustRoot r: TUF mirror"):
            fetch_remote(tr)


def test_remote_tampered_target_refused(tmp_path: Path) -> None:
    with serve(tmp_path, {"trusted_root.json": trusted_root_json()}) as repo:
        (tmp_path / "targets" / "trusted_root.json").write_bytes(trusted_root_json() + b" ")
        with pytest.raises(TrustRootError, match="TUF: "):
            fetch_remote(parse_trustroot(remote(repo.url, repo.root_file.read_bytes())))


def test_remote_unreachable_and_not_http() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tr = parse_trustroot(remote(f"http://127.0.0.1:{port}", b'{"signatures": []}'))
    with pytest.raises(TrustRootError, match=f"TUF mirror http://127.0.0.1:{port}"):
        fetch_remote(tr, timeout=5)
    with pytest.raises(TrustRootError, match="not an http"):
        fetch_remote(parse_trustroot(remote("file:///etc", b'{"signatures": []}')))


def test_cache_shares_entries_by_content_for_inline_keys() -> None:
    (doc,) = load_documents((KEYS / "valid-sigstore-keys.yaml").read_bytes(), "k.yaml")
    a = parse_trustroot(doc.body)
    renamed = json.loads(json.dumps(doc.body))
    renamed["metadata"]["name"] = "other"
    cache = TrustRootCache()
    assert cache.resolve(a) is cache.resolve(parse_trustroot(renamed))
