"""Sign and verify against real registries: docker-registry 2.8.2 (referrers fallback index), a registry
with the referrers API, TLS + basic auth; plus save/load round trips between registries and layouts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from sigward.oci import mediatypes as mt
from tests.fixtures.images import push_image

SIGN = ("sign", "--tlog-upload=false")
LEGACY = "--new-bundle-format=false"
NOTLOG = "--insecure-ignore-tlog=true"


def _get_manifest(server: Any, repo: str, ref: str, **kw: Any) -> httpx.Response:
    return httpx.get(f"{server.url}/v2/{repo}/manifests/{ref}", headers={"Accept": mt.MANIFEST_ACCEPT}, **kw)


def test_both_formats_on_distribution(run: Callable[..., Any], keys: Any, registry: Any,
                                      unique_repo: str) -> None:
    digest = push_image(registry, unique_repo, "0.5.0")
    ref = f"{registry.host}/{unique_repo}@{digest}"
    assert run(*SIGN, "--key", keys.key, "-a", "imageRef=refs/tags/0.5.0", ref).code == 0
    # distribution 2.8.2 has no referrers API: the sha256-<hex> fallback index lists our referrer.
    fb = _get_manifest(registry, unique_repo, digest.replace(":", "-"))
    assert fb.status_code == 200
    index = fb.json()
    assert index["mediaType"] == mt.OCI_INDEX
    [entry] = index["manifests"]
    assert entry["artifactType"] == mt.SIGSTORE_BUNDLE_V03
    assert entry["annotations"]["dev.sigstore.bundle.predicateType"] == "https://sigstore.dev/cosign/sign/v1"
    r = run("verify", "--key", keys.pub, NOTLOG, "-a", "imageRef=refs/tags/0.5.0",
            f"{registry.host}/{unique_repo}:0.5.0")
    assert r.code == 0, r.err
    [obj] = json.loads(r.out)
    assert obj["critical"]["identity"]["docker-reference"] == f"{registry.host}/{unique_repo}:0.5.0"
    assert obj["critical"]["image"]["docker-manifest-digest"] == digest

    # Legacy format: the .sig tag holds a manifest with one simple-signing layer.
    assert run(*SIGN, LEGACY, "--key", keys.key, ref).code == 0
    sig = _get_manifest(registry, unique_repo, digest.replace(":", "-") + ".sig").json()
    assert sig["layers"][0]["mediaType"] == mt.COSIGN_SIMPLESIGNING
    assert run("verify", "--key", keys.pub, NOTLOG, LEGACY, ref).code == 0
    tree = run("tree", ref)
    assert "Signatures for an image tag" in tree.out and "via OCI referrer" in tree.out


def test_referrers_api_registry(run: Callable[..., Any], keys: Any, referrers_registry: Any,
                                unique_repo: str) -> None:
    digest = push_image(referrers_registry, unique_repo, "v1")
    ref = f"{referrers_registry.host}/{unique_repo}@{digest}"
    assert run(*SIGN, "--key", keys.key, ref).code == 0
    # The registry answered OCI-Subject, so no fallback tag was written.
    assert _get_manifest(referrers_registry, unique_repo, digest.replace(":", "-")).status_code == 404
    listed = httpx.get(f"{referrers_registry.url}/v2/{unique_repo}/referrers/{digest}").json()
    assert [m["artifactType"] for m in listed["manifests"]] == [mt.SIGSTORE_BUNDLE_V03]
    assert run("verify", "--key", keys.pub, NOTLOG, ref).code == 0


def test_tls_basic_auth_registry(run: Callable[..., Any], keys: Any, tls_registry: Any, unique_repo: str,
                                 tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    digest = push_image(tls_registry, unique_repo, "v1", auth=(tls_registry.username, tls_registry.password),
                        ca_file=tls_registry.ca_file)
    ref = f"{tls_registry.host}/{unique_repo}@{digest}"
    r = run(*SIGN, "--key", keys.key, ref)
    assert r.code == 1 and ("--registry-cacert" in r.err or "certificate" in r.err)
    tls = ("--registry-cacert", str(tls_registry.ca_file))
    r = run(*SIGN, *tls, "--key", keys.key, ref)
    assert r.code == 1 and "login" in r.err
    r = run("login", *tls, "-u", tls_registry.username, "-p", tls_registry.password, tls_registry.host)
    assert r.code == 0, r.err
    assert run(*SIGN, *tls, "--key", keys.key, ref).code == 0
    assert run("verify", *tls, "--key", keys.pub, NOTLOG, ref).code == 0


def test_save_load_round_trip(run: Callable[..., Any], keys: Any, registry: Any, unique_repo: str,
                              tmp_path: Path) -> None:
    digest = push_image(registry, unique_repo, "v1")
    ref = f"{registry.host}/{unique_repo}@{digest}"
    assert run(*SIGN, "--key", keys.key, ref).code == 0
    assert run(*SIGN, LEGACY, "--key", keys.key, ref).code == 0
    saved = tmp_path / "saved"
    assert run("save", "--dir", str(saved), ref).code == 0
    index = json.loads((saved / "index.json").read_text())
    kinds = sorted((m.get("annotations") or {}).get("kind", "") for m in index["manifests"])
    assert "dev.cosignproject.cosign/image" in kinds and "dev.cosignproject.cosign/sigs" in kinds
    # Verify offline from the saved directory, both ways of naming it.
    assert run("verify", "--key", keys.pub, NOTLOG, "--local-image", str(saved)).code == 0
    assert run("verify", "--key", keys.pub, NOTLOG, f"oci:{saved}@{digest}").code == 0
    # Load into another repository and verify there: signatures and referrers came along.
    target = f"{registry.host}/{unique_repo}-loaded:v1"
    r = run("load", "--dir", str(saved), target)
    assert r.code == 0, r.err
    assert run("verify", "--key", keys.pub, NOTLOG, target).code == 0
    assert run("verify", "--key", keys.pub, NOTLOG, LEGACY, target).code == 0


def test_copy_then_verify_registry_to_layout(run: Callable[..., Any], keys: Any, registry: Any,
                                             unique_repo: str, tmp_path: Path) -> None:
    digest = push_image(registry, unique_repo, "v1")
    ref = f"{registry.host}/{unique_repo}@{digest}"
    assert run(*SIGN, "--key", keys.key, ref).code == 0
    dst = f"oci:{tmp_path / 'copy'}:v1"
    r = run("copy", ref, dst)
    assert r.code == 0, r.err
    assert run("verify", "--key", keys.pub, NOTLOG, dst).code == 0
