"""Large uploads: one streamed PATCH (then PUT ?digest=) instead of a PATCH per chunk, with flat memory,
and a resume in chunks from where the registry stands when that PATCH breaks off or is refused —
against distribution 2.8.2, directly and behind the fault proxy."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from sigward.errors import StoreError
from tests.oci.registry.conftest import open_store
from tests.oci.registry.test_registry_store import blob

SIZE = 200_000


def _chunks(data: bytes, n: int = 7000) -> Iterator[bytes]:
    return (data[i:i + n] for i in range(0, len(data), n))


def _methods(proxy: Any) -> list[str]:
    return [f"{m} {'status' if m == 'GET' else ''}".strip() for m, p, _ in proxy.requests
            if "/blobs/uploads/" in p]


def test_large_blob_goes_up_in_one_streamed_patch(rc_registry: Any, repo_name: str) -> None:
    data = os.urandom(SIZE)
    d = blob(data)
    seen: list[int] = []
    with open_store(rc_registry, repo_name) as s:
        s.stream_threshold = 4096
        s.has_blob(d.digest)  # connect before counting
        before = s.request_count
        assert s.put_blob(d, _chunks(data), progress=seen.append) is True
        assert s.request_count - before == 4  # HEAD + POST + PATCH + PUT, whatever the size
        assert sum(seen) == SIZE
        assert b"".join(s.iter_blob(d)) == data


@pytest.mark.parametrize("fault", [{"kind": "reset"}, {"kind": "status", "status": 413},
                                   {"kind": "status", "status": 502}])
def test_broken_streamed_patch_resumes_in_chunks(rc_registry: Any, rc_proxy: Any, repo_name: str,
                                                 fault: dict[str, Any]) -> None:
    data = os.urandom(SIZE)
    d = blob(data)
    seen: list[int] = []
    with open_store(rc_proxy, repo_name) as s:
        s.stream_threshold, s.chunk_size = 4096, 64_000
        s.has_blob(d.digest)
        rc_proxy.clear()
        rc_proxy.inject(fault["kind"], method="PATCH", path_regex="/blobs/uploads/",
                        **{k: v for k, v in fault.items() if k != "kind"})
        # A factory: the upload can re-read its source to resume.
        assert s.put_blob(d, lambda: _chunks(data), progress=seen.append) is True
        assert rc_proxy.pending() == 0
        # POST, the failed PATCH, GET of the upload status, 4 chunks of 64 000, the PUT.
        assert _methods(rc_proxy) == ["POST", "PATCH", "GET status", *["PATCH"] * 4, "PUT"]
        assert sum(seen) == SIZE  # each byte reported once, though some were sent twice
    with open_store(rc_registry, repo_name) as s:
        assert b"".join(s.iter_blob(d)) == data


def test_one_shot_stream_cannot_resume_and_leaves_nothing(rc_registry: Any, rc_proxy: Any,
                                                           repo_name: str) -> None:
    data = os.urandom(SIZE)
    d = blob(data)
    with open_store(rc_proxy, repo_name) as s:
        s.stream_threshold = 4096
        rc_proxy.inject("status", method="PATCH", path_regex="/blobs/uploads/", status=502)
        with pytest.raises(StoreError):
            s.put_blob(d, _chunks(data))
        assert s.has_blob(d.digest) is False
