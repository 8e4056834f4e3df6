"""Every fault kind of the proxy happens as specified, and clean requests pass through unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.fixtures.faultproxy import FaultProxy
from tests.fixtures.images import push_image, push_image_detailed, sha256
from tests.fixtures.referrers_registry import ReferrersRegistry
from tests.fixtures.registries import RegistryServer

ProxyFactory = Callable[..., FaultProxy]


@pytest.fixture
def seeded(registry: RegistryServer, unique_repo: str) -> tuple[str, str, bytes]:
    """(repo, layer digest, layer bytes) of an image pushed straight to the registry."""
    pushed = push_image_detailed(registry, unique_repo, "v1", [b"L" * 5000])
    return unique_repo, pushed.layers[0], b"L" * 5000


def _blob_url(proxy: FaultProxy, repo: str, digest: str) -> str:
    return f"{proxy.url}/v2/{repo}/blobs/{digest}"


def test_forwards_and_rewrites_location(registry: RegistryServer, fault_proxy: ProxyFactory,
                                        unique_repo: str) -> None:
    proxy = fault_proxy(registry.url)
    digest = push_image(proxy.url, unique_repo, "v1")  # uploads follow Location, which must be the proxy
    start = httpx.post(f"{proxy.url}/v2/{unique_repo}/blobs/uploads/")
    assert start.headers["Location"].startswith(proxy.url + "/v2/")
    resp = httpx.get(f"{registry.url}/v2/{unique_repo}/manifests/v1",
                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert resp.headers["Docker-Content-Digest"] == digest
    assert {s for _, _, s in proxy.requests} <= {200, 201, 202, 404}  # 404: HEAD before each upload
    assert ("PUT", f"/v2/{unique_repo}/manifests/v1", 201) in proxy.requests


def test_streams_chunked_request_bodies(registry: RegistryServer, fault_proxy: ProxyFactory,
                                        unique_repo: str) -> None:
    proxy = fault_proxy(registry)
    data = b"x" * 200_000

    def gen() -> Iterator[bytes]:
        for i in range(0, len(data), 30_000):
            yield data[i:i + 30_000]

    start = httpx.post(f"{proxy.url}/v2/{unique_repo}/blobs/uploads/")
    patch = httpx.patch(start.headers["Location"], content=gen())  # no Content-Length: chunked
    assert patch.status_code == 202 and patch.headers["Range"] == f"0-{len(data) - 1}"
    done = httpx.put(f"{patch.headers['Location']}&digest={sha256(data)}")
    assert done.status_code == 201
    got = httpx.get(_blob_url(proxy, unique_repo, sha256(data)), follow_redirects=True)
    assert got.content == data


def test_status_fault_then_recovery(seeded: tuple[str, str, bytes], registry: RegistryServer,
                                    fault_proxy: ProxyFactory) -> None:
    repo, digest, data = seeded
    proxy = fault_proxy(registry.url)
    proxy.inject("status", times=2, status=502, method="GET", path_regex=r"/blobs/")
    url = _blob_url(proxy, repo, digest)
    assert httpx.head(url).status_code == 200  # method does not match
    first, second, third = (httpx.get(url) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (502, 502, 200)
    assert first.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert third.content == data and proxy.pending() == 0
    assert [s for _, _, s in proxy.requests] == [200, 502, 502, 200]


def test_retry_after(seeded: tuple[str, str, bytes], registry: RegistryServer,
                     fault_proxy: ProxyFactory) -> None:
    repo, digest, _ = seeded
    proxy = fault_proxy(registry.url)
    proxy.inject("retry_after", seconds=7)
    resp = httpx.get(_blob_url(proxy, repo, digest))
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    assert resp.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert httpx.get(_blob_url(proxy, repo, digest)).status_code == 200


def test_status_fault_swallows_request_body_and_keeps_connection(
        referrers_registry: ReferrersRegistry, fault_proxy: ProxyFactory, unique_repo: str) -> None:
    proxy = fault_proxy(referrers_registry.url)
    proxy.inject("status", status=500, method="POST")
    with httpx.Client() as client:  # keep-alive: the next request reuses the connection
        failed = client.post(f"{proxy.url}/v2/{unique_repo}/blobs/uploads/?digest={sha256(b'abc')}",
                             content=b"abc")
        assert failed.status_code == 500
        ok = client.post(f"{proxy.url}/v2/{unique_repo}/blobs/uploads/?digest={sha256(b'abc')}",
                         content=b"abc")
        assert ok.status_code == 201
    assert [m for m, _ in referrers_registry.requests].count("POST") >= 1


def test_reset(seeded: tuple[str, str, bytes], registry: RegistryServer, fault_proxy: ProxyFactory) -> None:
    repo, digest, _ = seeded
    proxy = fault_proxy(registry.url)
    proxy.inject("reset", path_regex=r"/blobs/sha256:")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.get(_blob_url(proxy, repo, digest))
    assert proxy.requests[-1] == ("GET", f"/v2/{repo}/blobs/{digest}", None)
    assert httpx.get(_blob_url(proxy, repo, digest)).status_code == 200


def test_truncate(seeded: tuple[str, str, bytes], registry: RegistryServer,
                  fault_proxy: ProxyFactory) -> None:
    repo, digest, data = seeded
    proxy = fault_proxy(registry.url)
    proxy.inject("truncate")
    received = bytearray()
    url = _blob_url(proxy, repo, digest)
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("GET", url) as resp:
        assert resp.headers["Content-Length"] == str(len(data))
        for piece in resp.iter_raw():
            received += piece
    assert bytes(received) == data[: len(data) // 2]


def test_corrupt_keeps_length_but_breaks_digest(seeded: tuple[str, str, bytes], registry: RegistryServer,
                                                fault_proxy: ProxyFactory) -> None:
    repo, digest, data = seeded
    proxy = fault_proxy(registry.url)
    proxy.inject("corrupt", times=1, path_regex="/manifests/")
    proxy.inject("corrupt", offset=0, count=3)
    manifest = httpx.get(f"{proxy.url}/v2/{repo}/manifests/v1",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert sha256(manifest.content) != manifest.headers["Docker-Content-Digest"]
    with pytest.raises(ValueError):
        json.loads(manifest.content)
    blob = httpx.get(_blob_url(proxy, repo, digest))
    assert len(blob.content) == len(data) and sha256(blob.content) != digest
    assert blob.content[:3] == bytes(b ^ 0xFF for b in data[:3]) and blob.content[3:] == data[3:]


def test_tls_upstream_and_bad_kind(tls_registry: RegistryServer, fault_proxy: ProxyFactory,
                                   unique_repo: str) -> None:
    proxy = fault_proxy(tls_registry)  # ca_file taken from the server object
    assert httpx.get(f"{proxy.url}/v2/").status_code == 401
    digest = push_image(proxy.url, unique_repo, "v1", auth=tls_registry.auth)
    assert digest.startswith("sha256:")
    with pytest.raises(ValueError, match="unknown fault kind"):
        proxy.inject("explode")


def test_unreachable_upstream_is_502(fault_proxy: ProxyFactory) -> None:
    from tests.fixtures.registries import free_port

    proxy = fault_proxy(f"http://127.0.0.1:{free_port()}")
    resp = httpx.get(f"{proxy.url}/v2/")
    assert resp.status_code == 502
