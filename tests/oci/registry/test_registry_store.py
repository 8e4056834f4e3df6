"""RegistryStore against real registries: distribution 2.8.2 (plain, TLS, token), the referrers-capable
registry, and the fault proxy in front of distribution."""

from __future__ import annotations

import os
from typing import Any

import pytest

from sigward import gojson
from sigward.errors import DigestMismatchError, NotFoundError, StoreError
from sigward.oci import digest as dg
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import Descriptor, Manifest
from sigward.oci.registry.store import RegistryStore, fallback_tag
from tests.fixtures.images import RegistrySession
from tests.oci.registry.conftest import open_store

ART = "application/vnd.example.sig"


def blob(data: bytes, media_type: str = mt.OCI_LAYER_TAR_GZIP) -> Descriptor:
    return Descriptor(media_type, dg.compute(data), len(data))


def push_image(store: RegistryStore, tag: str | None = "v1", media_type: str = mt.OCI_MANIFEST,
               layer: bytes | None = None) -> Manifest:
    cfg = b'{"architecture":"amd64","os":"linux"}'
    layer = layer if layer is not None else os.urandom(512)
    docker = media_type == mt.DOCKER_MANIFEST
    cd = blob(cfg, mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG)
    ld = blob(layer, mt.DOCKER_LAYER if docker else mt.OCI_LAYER_TAR_GZIP)
    store.put_blob(cd, cfg)
    store.put_blob(ld, layer)
    m = Manifest.from_json({"schemaVersion": 2, "mediaType": media_type, "config": cd.to_json(),
                            "layers": [ld.to_json()]})
    store.put_manifest(m, tag)
    return m


def push_referrer(store: RegistryStore, subject: Manifest, note: str = "1",
                  artifact_type: str = ART) -> Manifest:
    store.put_blob(blob(mt.EMPTY_JSON, mt.OCI_EMPTY), mt.EMPTY_JSON)
    payload = f"sig-{note}".encode()
    store.put_blob(blob(payload, "application/octet-stream"), payload)
    m = Manifest.from_json({
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "artifactType": artifact_type,
        "config": {"mediaType": mt.OCI_EMPTY, "size": 2, "digest": mt.EMPTY_DIGEST},
        "layers": [blob(payload, "application/octet-stream").to_json()],
        "subject": subject.descriptor().to_json(), "annotations": {"note": note}})
    store.put_manifest(m)
    return m


# -- manifests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("media_type", [mt.OCI_MANIFEST, mt.DOCKER_MANIFEST])
def test_manifest_roundtrip_by_tag_and_digest(rc_registry: Any, repo_name: str, media_type: str) -> None:
    with open_store(rc_registry, repo_name) as s:
        m = push_image(s, "v1", media_type)
        for ident in ("v1", m.digest):
            got = s.get_manifest(ident)
            assert got.data == m.data and got.media_type == media_type and got.digest == m.digest
            assert s.resolve(ident) == Descriptor(media_type, m.digest, len(m.data))
        # An index over it, pushed by digest only.
        idx = Manifest.from_json({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                                  "manifests": [m.descriptor().to_json()]})
        assert s.put_manifest(idx).digest == idx.digest
        assert s.get_manifest(idx.digest).is_index


def test_manifest_without_media_type_uses_content_type(rc_registry: Any, repo_name: str) -> None:
    with open_store(rc_registry, repo_name) as s:
        m = push_image(s, None)
        bare = dict(m.json)
        del bare["mediaType"]
        data = gojson.marshal(bare)
        with RegistrySession(rc_registry) as raw:
            raw.push_manifest(repo_name, "bare", data, mt.OCI_MANIFEST)
        got = s.get_manifest("bare")
        assert got.data == data and got.media_type == mt.OCI_MANIFEST and got.digest == dg.compute(data)


def test_missing_manifest_is_not_found_with_registry_error(rc_registry: Any, repo_name: str) -> None:
    with open_store(rc_registry, repo_name) as s:
        push_image(s)
        with pytest.raises(NotFoundError) as e:
            s.get_manifest("nope")
        assert str(e.value) == (f"GET http://{rc_registry.host}/v2/{repo_name}/manifests/nope: "
                                "MANIFEST_UNKNOWN: manifest unknown")
        with pytest.raises(NotFoundError):
            s.resolve("nope")
        assert s.has_blob(dg.compute(b"absent")) is False


def test_manifest_digest_mismatch_rejected(rc_registry: Any, rc_proxy: Any, repo_name: str) -> None:
    with open_store(rc_registry, repo_name) as s:
        m = push_image(s, "v1")
    with open_store(rc_proxy, repo_name) as s:
        # Altered on every attempt (the store fetches a small download up to 3 times): refused.
        rc_proxy.inject("corrupt", times=3, method="GET", path_regex="/manifests/")
        with pytest.raises(DigestMismatchError):
            s.get_manifest(m.digest)
        # By tag the registry's Docker-Content-Digest is the reference.
        rc_proxy.inject("corrupt", times=3, method="GET", path_regex="/manifests/")
        with pytest.raises(DigestMismatchError):
            s.get_manifest("v1")
        assert s.get_manifest("v1").data == m.data
        # Altered once: fetched again, and the right bytes come back.
        rc_proxy.inject("corrupt", times=1, method="GET", path_regex="/manifests/")
        assert s.get_manifest(m.digest).data == m.data
        assert rc_proxy.pending() == 0


# -- blobs ---------------------------------------------------------------------------------------


def test_blob_upload_download_and_skip(rc_registry: Any, repo_name: str) -> None:
    data = os.urandom(100_000)
    d = blob(data)
    seen: list[int] = []
    with open_store(rc_registry, repo_name) as s:
        assert s.put_blob(d, iter([data[:30_000], data[30_000:]]), progress=seen.append) is True
        assert sum(seen) == len(data)
        assert s.put_blob(d, data) is False  # HEAD says present
        assert s.has_blob(d.digest)
        assert b"".join(s.iter_blob(d, chunk_size=4096)) == data
        assert s.get_blob(d) == data


def test_upload_of_wrong_content_is_refused_and_leaves_nothing(rc_registry: Any, repo_name: str) -> None:
    data = os.urandom(5000)
    d = blob(data)
    with open_store(rc_registry, repo_name) as s:
        with pytest.raises(DigestMismatchError):
            s.put_blob(d, data[:-1] + b"\0")
        with pytest.raises(DigestMismatchError):
            s.put_blob(d, iter([data, b"extra"]))
        s.chunked_threshold, s.chunk_size = 1000, 1024
        with pytest.raises(DigestMismatchError):
            s.put_blob(d, iter([data[:-1] + b"\0"]))
        assert s.has_blob(d.digest) is False


@pytest.mark.parametrize("kind", ["corrupt", "truncate"])
def test_blob_download_damage_is_detected(rc_registry: Any, rc_proxy: Any, repo_name: str, kind: str) -> None:
    data = os.urandom(300_000)
    d = blob(data)
    with open_store(rc_registry, repo_name) as s:
        s.put_blob(d, data)
    with open_store(rc_proxy, repo_name) as s:
        rc_proxy.inject(kind, method="GET", path_regex="/blobs/sha256")
        with pytest.raises(DigestMismatchError):
            b"".join(s.iter_blob(d))
        assert rc_proxy.pending() == 0
        assert b"".join(s.iter_blob(d)) == data


def test_chunked_upload(rc_registry: Any, repo_name: str) -> None:
    data = os.urandom(10_000)
    d = blob(data)
    seen: list[int] = []
    with open_store(rc_registry, repo_name) as s:
        s.chunked_threshold, s.chunk_size = 4096, 3000
        s.has_blob(d.digest)  # connect (scheme probe + ping) before counting
        before = s.request_count
        assert s.put_blob(d, iter(data[i:i + 700] for i in range(0, len(data), 700)), progress=seen.append)
        assert seen == [3000, 3000, 3000, 1000]
        assert s.request_count - before == 7  # HEAD + POST + 4 PATCH + PUT
        assert b"".join(s.iter_blob(d)) == data


def test_mount_across_repositories(rc_registry: Any, repo_name: str) -> None:
    data = os.urandom(2048)
    d = blob(data)
    with open_store(rc_registry, repo_name) as src, open_store(rc_registry, repo_name + "-dst") as dst:
        src.put_blob(d, data)

        def never() -> Any:
            raise AssertionError("a mounted blob must not be read")
            yield b""

        assert dst.put_blob(d, never(), mount_from=src) is False
        assert dst.has_blob(d.digest)
        assert b"".join(dst.iter_blob(d)) == data


# -- retries -------------------------------------------------------------------------------------


def test_retries_on_503_and_reset(rc_registry: Any, rc_proxy: Any, repo_name: str) -> None:
    with open_store(rc_registry, repo_name) as s:
        m = push_image(s, "v1")
    with open_store(rc_proxy, repo_name) as s:
        s.get_manifest("v1")
        rc_proxy.inject("status", times=2, method="GET", path_regex="/manifests/", status=503)
        rc_proxy.inject("reset", times=1, method="HEAD", path_regex="/manifests/")
        before = s.request_count
        assert s.get_manifest("v1").digest == m.digest
        assert s.request_count - before == 3
        assert s.resolve("v1").digest == m.digest
        assert rc_proxy.pending() == 0
        # Attempts are bounded: a registry that keeps failing gives one clear error.
        rc_proxy.inject("status", times=10, method="GET", path_regex="/manifests/", status=502)
        with pytest.raises(StoreError, match=r"^GET http://.*/manifests/v1: UNAVAILABLE: injected fault"):
            s.get_manifest("v1")
        assert rc_proxy.pending() == 6


def test_manifest_put_survives_a_blob_briefly_unknown(rc_registry: Any, rc_proxy: Any,
                                                      repo_name: str) -> None:
    """distribution rewrites a shared blob's link file in place when a second writer uploads it, so a
    concurrent manifest PUT can read the link empty and answer MANIFEST_BLOB_UNKNOWN (seen with 20
    concurrent signers sharing the empty config). The PUT is sent again; a blob that stays unknown, or
    another 400, is reported at once with the registry's words."""
    with open_store(rc_proxy, repo_name) as s:
        s.put_blob(blob(mt.EMPTY_JSON, mt.OCI_EMPTY), mt.EMPTY_JSON)
        rc_proxy.inject("status", times=2, method="PUT", path_regex="/manifests/", status=400,
                        code="MANIFEST_BLOB_UNKNOWN")
        m = push_image(s, "v1")
        assert rc_proxy.pending() == 0
        puts = [r for r in rc_proxy.requests if r[0] == "PUT" and "/manifests/" in r[1]]
        assert [st for _, _, st in puts] == [400, 400, 201]
        assert s.get_manifest("v1").digest == m.digest
        # Bounded: a blob that is really missing ends in the registry's error after five PUTs; any other
        # refusal is not sent again.
        cases = (("v2", "MANIFEST_BLOB_UNKNOWN", 10, 5), ("v3", "MANIFEST_INVALID", 3, 2))
        for tag, code, queued, left in cases:
            rc_proxy.clear()
            rc_proxy.inject("status", times=queued, method="PUT", path_regex="/manifests/", status=400,
                            code=code)
            with pytest.raises(StoreError, match=f"{code}: injected fault"):
                push_image(s, tag)
            assert rc_proxy.pending() == left


def test_429_retry_after_is_honoured(rc_registry: Any, rc_proxy: Any, repo_name: str) -> None:
    import time

    data = b"some blob"
    d = blob(data)
    with open_store(rc_proxy, repo_name) as s:
        s.put_blob(d, data)
        rc_proxy.inject("retry_after", method="GET", path_regex="/blobs/", seconds=1)
        t = time.monotonic()
        assert s.get_blob(d) == data
        assert time.monotonic() - t >= 0.9


def test_monolithic_upload_restarts_after_503(rc_registry: Any, rc_proxy: Any, repo_name: str) -> None:
    data = os.urandom(4000)
    d = blob(data)
    with open_store(rc_proxy, repo_name) as s:
        rc_proxy.inject("status", method="PUT", path_regex="/blobs/uploads/", status=503)
        assert s.put_blob(d, data) is True
        assert rc_proxy.pending() == 0
        assert s.get_blob(d) == data
        posts = [r for r in rc_proxy.requests if r[0] == "POST"]
        assert len(posts) == 2


def test_unreachable_registry_is_one_line(repo_name: str) -> None:
    from tests.fixtures.registries import free_port

    class Dead:
        host = f"127.0.0.1:{free_port()}"
        ca_file = None
        username = None

    with open_store(Dead, repo_name) as s, pytest.raises(StoreError) as e:
        s.get_manifest("v1")
    assert str(e.value).startswith(f"cannot reach registry {Dead.host}: ")
    assert "\n" not in str(e.value)


# -- tags and delete -----------------------------------------------------------------------------


def test_tags_pagination(rc_referrers_registry: Any, rc_registry: Any, repo_name: str) -> None:
    # distribution 2.8 ignores ?n= (one unsorted page); the referrers registry pages with Link.
    for server, pages in ((rc_referrers_registry, 3), (rc_registry, 1)):
        with open_store(server, repo_name) as s:
            m = push_image(s, "t0")
            for i in range(1, 5):
                s.put_manifest(m, f"t{i}")
            s.tags_page_size = 2
            before = s.request_count
            assert sorted(s.tags()) == [f"t{i}" for i in range(5)]
            assert s.request_count - before == pages
    with open_store(rc_registry, repo_name + "-none") as s, \
            pytest.raises(NotFoundError, match="NAME_UNKNOWN"):
        s.tags()


def test_delete_by_tag_and_digest(rc_registry: Any, repo_name: str) -> None:
    with open_store(rc_registry, repo_name) as s:
        a = push_image(s, "a")
        b = push_image(s, "b")
        s.delete("a")
        with pytest.raises(NotFoundError):
            s.get_manifest(a.digest)
        s.delete(b.digest)
        with pytest.raises(NotFoundError):
            s.get_manifest("b")


# -- referrers -----------------------------------------------------------------------------------


def test_referrers_fallback_write_read_delete(rc_registry: Any, repo_name: str) -> None:
    with open_store(rc_registry, repo_name) as s:
        subject = push_image(s, "v1")
        r1 = push_referrer(s, subject, "1")
        r2 = push_referrer(s, subject, "2", artifact_type="application/other")
        s.put_manifest(r1)  # again: must not be listed twice
        idx = s.get_manifest(fallback_tag(subject.digest))
        assert idx.media_type == mt.OCI_INDEX and idx.json["schemaVersion"] == 2
        refs = s.referrers(subject.digest)
        assert [r.digest for r in refs] == [r1.digest, r2.digest]
        assert refs[0] == Descriptor(mt.OCI_MANIFEST, r1.digest, len(r1.data), {"note": "1"}, ART)
        assert s.referrers_api is False
        assert [r.digest for r in s.referrers(subject.digest, ART)] == [r1.digest]
        # The API is probed once per store.
        probes = s.request_count
        s.referrers(subject.digest)
        assert s.request_count - probes == 1
        s.delete(r1.digest)
        assert [r.digest for r in s.referrers(subject.digest)] == [r2.digest]
        assert s.referrers(dg.compute(b"nothing")) == []


def test_fallback_entries_without_artifact_type_are_kept(rc_registry: Any, repo_name: str) -> None:
    with open_store(rc_registry, repo_name) as s:
        subject = push_image(s, "v1")
        other = push_image(s, None)
        idx = Manifest.from_json({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                                  "manifests": [other.descriptor().to_json()]})
        s.put_manifest(idx, fallback_tag(subject.digest))
        assert [r.digest for r in s.referrers(subject.digest)] == [other.digest]
        assert s.referrers(subject.digest, ART) == []
        # A tag that is not an index means "no referrers".
        s.put_manifest(other, fallback_tag(other.digest))
        assert s.referrers(other.digest) == []


def test_referrers_api(rc_referrers_registry: Any, repo_name: str) -> None:
    with open_store(rc_referrers_registry, repo_name) as s:
        subject = push_image(s, "v1")
        r1 = push_referrer(s, subject, "1")
        r2 = push_referrer(s, subject, "2", artifact_type="application/other")
        assert s.referrers_api is True  # OCI-Subject came back
        with pytest.raises(NotFoundError):  # so no fallback tag was written
            s.get_manifest(fallback_tag(subject.digest))
        refs = s.referrers(subject.digest)
        assert {r.digest for r in refs} == {r1.digest, r2.digest}
        assert [r.digest for r in s.referrers(subject.digest, ART)] == [r1.digest]
        assert s.referrers(dg.compute(b"x")) == []


def test_large_blob_streams_in_bounded_memory(rc_registry: Any, repo_name: str) -> None:
    """A blob above the chunked threshold goes up and comes down without being held in memory."""
    import hashlib
    import tracemalloc

    piece = os.urandom(1 << 20)
    count = 72  # 72 MiB: above the default 64 MiB chunked-upload threshold
    h = hashlib.sha256()
    for _ in range(count):
        h.update(piece)
    d = Descriptor(mt.OCI_LAYER_TAR_GZIP, f"sha256:{h.hexdigest()}", count * len(piece))
    with open_store(rc_registry, repo_name) as s:
        s.has_blob(d.digest)
        tracemalloc.start()
        try:
            assert s.put_blob(d, (piece for _ in range(count))) is True
            total = sum(len(c) for c in s.iter_blob(d))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert total == d.size
    assert peak < 32 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
