"""The in-memory referrers registry follows distribution-spec v1.1 where clients can tell."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.fixtures.images import push_artifact, push_image, sha256
from tests.fixtures.referrers_registry import ReferrersRegistry

SIG_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SBOM_TYPE = "application/spdx+json"


def _upload(base: str, repo: str, data: bytes) -> httpx.Response:
    start = httpx.post(f"{base}/v2/{repo}/blobs/uploads/")
    assert start.status_code == 202
    return httpx.put(f"{base}{start.headers['Location']}?digest={sha256(data)}", content=data)


def test_ping(referrers_registry: ReferrersRegistry) -> None:
    assert referrers_registry.url == f"http://{referrers_registry.host}"
    assert httpx.get(f"{referrers_registry.url}/v2/").status_code == 200


def test_referrers_list_and_filter(referrers_registry: ReferrersRegistry, unique_repo: str) -> None:
    base = referrers_registry.url
    subject = push_image(referrers_registry, unique_repo, "v1")
    sig = push_artifact(referrers_registry, unique_repo, subject, SIG_TYPE, annotations={"k": "v"})
    sbom = push_artifact(referrers_registry, unique_repo, "v1", SBOM_TYPE)
    push_artifact(referrers_registry, unique_repo, sig, SIG_TYPE)  # refers to the signature, not the image

    resp = httpx.get(f"{base}/v2/{unique_repo}/referrers/{subject}")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/vnd.oci.image.index.v1+json"
    assert "OCI-Filters-Applied" not in resp.headers
    index = json.loads(resp.content)
    assert [d["digest"] for d in index["manifests"]] == [sig, sbom]
    first = index["manifests"][0]
    assert first["artifactType"] == SIG_TYPE and first["annotations"] == {"k": "v"}
    manifest = httpx.get(f"{base}/v2/{unique_repo}/manifests/{sig}").content
    assert first["size"] == len(manifest)
    assert first["mediaType"] == "application/vnd.oci.image.manifest.v1+json"

    filtered = httpx.get(f"{base}/v2/{unique_repo}/referrers/{subject}", params={"artifactType": SBOM_TYPE})
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in filtered.json()["manifests"]] == [sbom]

    none = httpx.get(f"{base}/v2/{unique_repo}/referrers/sha256:{'0' * 64}")
    assert none.status_code == 200 and none.json()["manifests"] == []
    assert httpx.get(f"{base}/v2/{unique_repo}/referrers/sha256:nothex").status_code == 400
    assert ("GET", f"/v2/{unique_repo}/referrers/{subject}") in referrers_registry.requests


def test_referrer_artifact_type_falls_back_to_config_media_type(
        referrers_registry: ReferrersRegistry, unique_repo: str) -> None:
    base = referrers_registry.url
    subject = push_image(referrers_registry, unique_repo, "v1")
    cfg = b'{"sig":true}'
    assert _upload(base, unique_repo, cfg).status_code == 201
    head = httpx.head(f"{base}/v2/{unique_repo}/manifests/v1")
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.example.config+json", "digest": sha256(cfg),
                   "size": len(cfg)},
        "layers": [],
        "subject": {"mediaType": head.headers["Content-Type"], "digest": subject,
                    "size": int(head.headers["Content-Length"])},
    }).encode()
    put = httpx.put(f"{base}/v2/{unique_repo}/manifests/{sha256(manifest)}", content=manifest,
                    headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert put.status_code == 201 and put.headers["OCI-Subject"] == subject
    got = httpx.get(f"{base}/v2/{unique_repo}/referrers/{subject}").json()["manifests"]
    assert got[0]["artifactType"] == "application/vnd.example.config+json"


def test_manifest_put_checks(referrers_registry: ReferrersRegistry, unique_repo: str) -> None:
    base = referrers_registry.url
    url = f"{base}/v2/{unique_repo}/manifests"
    ct = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    missing = json.dumps({"schemaVersion": 2, "mediaType": ct["Content-Type"],
                          "config": {"mediaType": "x", "digest": sha256(b"absent"), "size": 6},
                          "layers": []}).encode()
    resp = httpx.put(f"{url}/t", content=missing, headers=ct)
    assert resp.status_code == 400 and resp.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    assert httpx.put(f"{url}/t", content=b"not json", headers=ct).json()["errors"][0]["code"] == \
        "MANIFEST_INVALID"
    digest = push_image(referrers_registry, unique_repo, "v1")
    body = httpx.get(f"{url}/{digest}").content
    wrong = httpx.put(f"{url}/{sha256(b'other')}", content=body, headers=ct)
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["code"] == "DIGEST_INVALID"
    head = httpx.head(f"{url}/v1")
    assert head.headers["Docker-Content-Digest"] == digest
    assert int(head.headers["Content-Length"]) == len(body)
    assert httpx.delete(f"{url}/v1").status_code == 202  # deletes the tag only
    assert httpx.get(f"{url}/v1").status_code == 404
    assert httpx.get(f"{url}/{digest}").status_code == 200
    assert httpx.delete(f"{url}/{digest}").status_code == 202
    assert httpx.get(f"{url}/{digest}").json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


def test_blob_uploads(referrers_registry: ReferrersRegistry, unique_repo: str) -> None:
    base = referrers_registry.url
    data = b"0123456789abcdef"
    digest = sha256(data)
    start = httpx.post(f"{base}/v2/{unique_repo}/blobs/uploads/")
    loc = base + start.headers["Location"]
    p1 = httpx.patch(loc, content=data[:10], headers={"Content-Range": "0-9"})
    assert p1.status_code == 202 and p1.headers["Range"] == "0-9"
    bad = httpx.patch(loc, content=data[10:], headers={"Content-Range": "3-8"})
    assert bad.status_code == 416
    assert httpx.get(loc).status_code == 204
    done = httpx.put(f"{loc}?digest={digest}", content=data[10:])
    assert done.status_code == 201 and done.headers["Docker-Content-Digest"] == digest
    got = httpx.get(f"{base}/v2/{unique_repo}/blobs/{digest}")
    assert got.content == data and got.headers["Docker-Content-Digest"] == digest

    mono = httpx.post(f"{base}/v2/{unique_repo}/blobs/uploads/", params={"digest": sha256(b"mono")},
                      content=b"mono")
    assert mono.status_code == 201
    mismatch = _upload(base, unique_repo, b"x")
    assert mismatch.status_code == 201
    start = httpx.post(f"{base}/v2/{unique_repo}/blobs/uploads/")
    lie = httpx.put(f"{base}{start.headers['Location']}?digest={sha256(b'y')}", content=b"z")
    assert lie.status_code == 400 and lie.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert httpx.head(f"{base}/v2/{unique_repo}/blobs/{sha256(b'y')}").status_code == 404

    other = unique_repo + "-other"
    mount = httpx.post(f"{base}/v2/{other}/blobs/uploads/", params={"mount": digest, "from": unique_repo})
    assert mount.status_code == 201 and mount.headers["Location"] == f"/v2/{other}/blobs/{digest}"
    no_mount = httpx.post(f"{base}/v2/{other}/blobs/uploads/",
                          params={"mount": sha256(b"?"), "from": unique_repo})
    assert no_mount.status_code == 202
    assert httpx.delete(f"{base}/v2/{other}/blobs/{digest}").status_code == 202
    assert httpx.get(f"{base}/v2/{other}/blobs/{digest}").status_code == 404


def test_tags_list_pagination(referrers_registry: ReferrersRegistry, unique_repo: str) -> None:
    base = referrers_registry.url
    digest = push_image(referrers_registry, unique_repo, "c")
    body = httpx.get(f"{base}/v2/{unique_repo}/manifests/c").content
    for tag in ("a", "b", "d"):
        httpx.put(f"{base}/v2/{unique_repo}/manifests/{tag}", content=body,
                  headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}).raise_for_status()
    page = httpx.get(f"{base}/v2/{unique_repo}/tags/list", params={"n": 2})
    assert page.json() == {"name": unique_repo, "tags": ["a", "b"]}
    link = page.headers["Link"]
    assert link == f'</v2/{unique_repo}/tags/list?n=2&last=b>; rel="next"'
    rest = httpx.get(base + link[1:link.index(">")])
    assert rest.json()["tags"] == ["c", "d"] and "Link" not in rest.headers
    assert httpx.get(f"{base}/v2/nope/never/tags/list").json()["errors"][0]["code"] == "NAME_UNKNOWN"
    assert digest


@pytest.mark.parametrize("path", ["/v2/UPPER/manifests/x", "/v3/"])
def test_unknown_routes_are_spec_errors(referrers_registry: ReferrersRegistry, path: str) -> None:
    resp = httpx.get(referrers_registry.url + path)
    assert resp.status_code == 404 and "errors" in resp.json()
