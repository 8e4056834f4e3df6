"""The distribution-backed registries and the token issuer behave like the real thing."""

from __future__ import annotations

import base64
import json
import re
import ssl

import httpx
import pytest

from tests.fixtures.images import RegistrySession, push_image, push_index_detailed, sha256
from tests.fixtures.registries import RegistryServer, free_port
from tests.fixtures.tokenserver import TokenServer, parse_scope


def _challenge(resp: httpx.Response) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', resp.headers["WWW-Authenticate"]))


def _token(reg: RegistryServer, *scopes: str, auth: tuple[str, str] | None = None) -> str:
    assert reg.token_server is not None
    resp = httpx.get(reg.token_server.realm, auth=auth or reg.auth,
                     params=[("service", "sigward-test-registry"), *(("scope", s) for s in scopes)])
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"])


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_plain_registry_answers_v2(registry: RegistryServer) -> None:
    assert registry.scheme == "http" and registry.url == f"http://{registry.host}"
    assert registry.username is None and registry.ca_file is None
    resp = httpx.get(f"{registry.url}/v2/")
    assert resp.status_code == 200
    assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert registry.log_file is not None and "GET /v2/" in registry.log_file.read_text()


def test_plain_registry_push_image_and_delete(registry: RegistryServer, unique_repo: str) -> None:
    digest = push_image(registry, unique_repo, "v1")
    resp = httpx.get(f"{registry.url}/v2/{unique_repo}/manifests/v1",
                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert resp.status_code == 200 and sha256(resp.content) == digest
    assert resp.headers["Docker-Content-Digest"] == digest
    manifest = json.loads(resp.content)
    layer = manifest["layers"][0]
    blob = httpx.get(f"{registry.url}/v2/{unique_repo}/blobs/{layer['digest']}", follow_redirects=True)
    assert sha256(blob.content) == layer["digest"] and len(blob.content) == layer["size"]
    assert httpx.delete(f"{registry.url}/v2/{unique_repo}/manifests/{digest}").status_code == 202
    assert httpx.get(f"{registry.url}/v2/{unique_repo}/manifests/{digest}").status_code == 404


def test_push_index_has_two_platform_children(registry: RegistryServer, unique_repo: str) -> None:
    pushed = push_index_detailed(registry, unique_repo, "multi")
    resp = httpx.get(f"{registry.url}/v2/{unique_repo}/manifests/multi",
                     headers={"Accept": "application/vnd.oci.image.index.v1+json"})
    assert resp.headers["Docker-Content-Digest"] == pushed.digest
    index = json.loads(resp.content)
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64"]
    assert len({c.digest for c in pushed.children}) == 2


def test_unique_repo_is_valid_and_unique(unique_repo: str, request: pytest.FixtureRequest) -> None:
    assert re.fullmatch(r"test/[a-z0-9]+(?:-[a-z0-9]+)*-[0-9a-f]{8}", unique_repo)
    assert "test-unique-repo-is-valid-and-unique" in unique_repo


def test_tls_registry_requires_basic_auth(tls_registry: RegistryServer) -> None:
    assert tls_registry.scheme == "https" and tls_registry.ca_file is not None
    ctx = ssl.create_default_context(cafile=str(tls_registry.ca_file))
    anon = httpx.get(f"{tls_registry.url}/v2/", verify=ctx)
    assert anon.status_code == 401
    assert anon.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert httpx.get(f"{tls_registry.url}/v2/", verify=ctx, auth=("sigward", "wrong")).status_code == 401
    ok = httpx.get(f"{tls_registry.url}/v2/", verify=ctx, auth=("sigward", "s3cret-pw"))
    assert ok.status_code == 200


def test_tls_registry_cert_is_not_publicly_trusted(tls_registry: RegistryServer) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{tls_registry.url}/v2/")
    localhost = tls_registry.url.replace("127.0.0.1", "localhost")
    ctx = ssl.create_default_context(cafile=str(tls_registry.ca_file))
    assert httpx.get(f"{localhost}/v2/", verify=ctx, auth=tls_registry.auth).status_code == 200


def test_tls_registry_push_with_session(tls_registry: RegistryServer, unique_repo: str) -> None:
    digest = push_image(tls_registry, unique_repo, "v1")
    with RegistrySession(tls_registry) as sess:
        resp = sess.request("HEAD", f"/v2/{unique_repo}/manifests/v1",
                            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert resp.headers["Docker-Content-Digest"] == digest


def test_token_registry_bearer_challenge(token_registry: RegistryServer, unique_repo: str) -> None:
    assert token_registry.token_server is not None
    ping = httpx.get(f"{token_registry.url}/v2/")
    assert ping.status_code == 401
    params = _challenge(ping)
    assert ping.headers["WWW-Authenticate"].startswith("Bearer ")
    assert params["realm"] == token_registry.token_server.realm
    assert params["service"] == "sigward-test-registry"
    repo = httpx.get(f"{token_registry.url}/v2/{unique_repo}/tags/list")
    assert _challenge(repo)["scope"] == f"repository:{unique_repo}:pull"


def test_token_push_and_pull_blob(token_registry: RegistryServer, token_server: TokenServer,
                                  unique_repo: str) -> None:
    token = _token(token_registry, f"repository:{unique_repo}:pull,push")
    header = {"Authorization": f"Bearer {token}"}
    data = b"blob pushed with a bearer token\n"
    digest = sha256(data)
    start = httpx.post(f"{token_registry.url}/v2/{unique_repo}/blobs/uploads/", headers=header)
    assert start.status_code == 202, start.text
    # Append to the Location's own query (distribution keeps upload state there); httpx params= would drop it.
    put = httpx.put(f"{start.headers['Location']}&digest={digest}", content=data, headers=header)
    assert put.status_code == 201, put.text
    got = httpx.get(f"{token_registry.url}/v2/{unique_repo}/blobs/{digest}", headers=header)
    assert got.status_code == 200 and got.content == data
    assert token_server.token_fetches() == 1
    assert token_server.requests[0].scopes == [f"repository:{unique_repo}:pull,push"]


def test_token_grants_only_requested_actions(token_registry: RegistryServer, token_server: TokenServer,
                                             unique_repo: str) -> None:
    token = _token(token_registry, f"repository:{unique_repo}:pull")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["access"] == [{"type": "repository", "name": unique_repo, "actions": ["pull"]}]
    assert claims["aud"] == "sigward-test-registry" and claims["exp"] - claims["iat"] == 300
    denied = httpx.post(f"{token_registry.url}/v2/{unique_repo}/blobs/uploads/",
                        headers={"Authorization": f"Bearer {token}"})
    assert denied.status_code == 401
    assert _challenge(denied)["error"] == "insufficient_scope"


def test_token_server_rejects_bad_credentials_and_anonymous_gets_nothing(
        token_registry: RegistryServer, token_server: TokenServer, unique_repo: str) -> None:
    bad = httpx.get(token_server.realm, auth=("sigward", "nope"),
                    params={"service": "sigward-test-registry", "scope": f"repository:{unique_repo}:pull"})
    assert bad.status_code == 401 and bad.json()["errors"][0]["code"] == "UNAUTHORIZED"
    anon = httpx.get(token_server.realm,
                     params={"service": "sigward-test-registry", "scope": f"repository:{unique_repo}:pull"})
    claims = json.loads(base64.urlsafe_b64decode(anon.json()["token"].split(".")[1] + "=="))
    assert claims["access"] == []
    assert [r.status for r in token_server.requests] == [401, 200]


def test_expired_tokens_are_rejected_by_registry(token_registry: RegistryServer, token_server: TokenServer,
                                                 unique_repo: str) -> None:
    token_server.lifetime = 1
    token_server.mint_expired = True
    token = _token(token_registry, f"repository:{unique_repo}:pull")
    resp = httpx.get(f"{token_registry.url}/v2/{unique_repo}/tags/list",
                     headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401 and _challenge(resp)["error"] == "invalid_token"


def test_oauth2_password_and_refresh_token_flow(token_registry: RegistryServer, token_server: TokenServer,
                                                unique_repo: str) -> None:
    scope = f"repository:{unique_repo}:pull,push"
    first = httpx.post(token_server.realm, data={
        "grant_type": "password", "username": "sigward", "password": "t0ken-pw", "service":
        "sigward-test-registry", "scope": scope, "client_id": "sigward", "access_type": "offline"})
    assert first.status_code == 200, first.text
    refresh = first.json()["refresh_token"]
    second = httpx.post(token_server.realm, data={
        "grant_type": "refresh_token", "refresh_token": refresh, "service": "sigward-test-registry",
        "scope": scope, "client_id": "sigward"})
    assert second.status_code == 200
    token = second.json()["access_token"]
    resp = httpx.post(f"{token_registry.url}/v2/{unique_repo}/blobs/uploads/",
                      headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 202
    bogus = httpx.post(token_server.realm, data={"grant_type": "refresh_token", "refresh_token": "x",
                                                 "service": "sigward-test-registry", "scope": scope})
    assert bogus.status_code == 401
    assert [(r.method, r.grant_type, r.status) for r in token_server.requests] == [
        ("POST", "password", 200), ("POST", "refresh_token", 200), ("POST", "refresh_token", 401)]


def test_get_with_offline_token_returns_refresh_token(token_server: TokenServer) -> None:
    resp = httpx.get(token_server.realm, auth=("sigward", "t0ken-pw"),
                     params={"service": "sigward-test-registry", "offline_token": "true"})
    assert resp.json()["refresh_token"].startswith("sigward-refresh-")
    wrong_service = httpx.get(token_server.realm, auth=("sigward", "t0ken-pw"), params={"service": "other"})
    assert wrong_service.status_code == 400


def test_push_image_through_token_auth(token_registry: RegistryServer, token_server: TokenServer,
                                       unique_repo: str) -> None:
    digest = push_image(token_registry, unique_repo, "v1")
    assert digest.startswith("sha256:")
    assert token_server.token_fetches() >= 1


def test_parse_scope_keeps_colons_in_names() -> None:
    grant = parse_scope("repository:localhost:5000/a/b:pull,push")
    assert grant is not None and (grant.name, grant.actions) == ("localhost:5000/a/b", ["pull", "push"])
    assert parse_scope("garbage") is None
