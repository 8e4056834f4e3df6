"""Every auth mode against real registries: distribution 2.8.2 with htpasswd over TLS, and with bearer
tokens from the suite's token issuer; credentials from options, config.json, a credential helper."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from sigward.errors import AuthError, StoreError
from sigward.oci import digest as dg
from sigward.oci.manifest import Descriptor
from tests.oci.registry.conftest import open_store
from tests.oci.registry.test_registry_store import push_image


def _config(d: Path, cfg: dict) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps(cfg))


def _b64(user: str, pw: str) -> str:
    return base64.b64encode(f"{user}:{pw}".encode()).decode()


# -- TLS + basic ---------------------------------------------------------------------------------


def test_tls_with_ca_file_and_basic_auth(rc_tls_registry: Any, repo_name: str) -> None:
    with open_store(rc_tls_registry, repo_name) as s:
        m = push_image(s)
        assert s.client.base_url == f"https://{rc_tls_registry.host}"
        assert s.get_manifest(m.digest).data == m.data


def test_tls_unverifiable_names_the_settings(rc_tls_registry: Any, repo_name: str) -> None:
    with open_store(rc_tls_registry, repo_name, ca_file=None) as s, pytest.raises(StoreError) as e:
        s.tags()
    msg = str(e.value)
    assert msg.startswith(f"TLS certificate of registry {rc_tls_registry.host} cannot be verified")
    assert "StoreOptions.ca_file" in msg and "StoreOptions.allow_insecure_registry" in msg and "\n" not in msg


def test_tls_insecure_accepts_unverifiable(rc_tls_registry: Any, repo_name: str) -> None:
    with open_store(rc_tls_registry, repo_name, allow_insecure_registry=True) as s:
        m = push_image(s)
        assert s.resolve("v1").digest == m.digest
        assert s.client.base_url.startswith("https://")  # insecure TLS is still TLS


def test_basic_wrong_or_missing_credentials(rc_tls_registry: Any, repo_name: str) -> None:
    with open_store(rc_tls_registry, repo_name, password="wrong") as s, pytest.raises(AuthError) as e:
        s.tags()
    assert "UNAUTHORIZED" in str(e.value) and "refused" in str(e.value)
    with open_store(rc_tls_registry, repo_name, username=None) as s, pytest.raises(AuthError) as e:
        s.tags()
    assert f"sigward login {rc_tls_registry.host}` or set StoreOptions.username and" in str(e.value)


def test_basic_from_docker_config(rc_tls_registry: Any, repo_name: str,
                                  _isolated_docker_config: Path) -> None:
    r = rc_tls_registry
    entry = {"auth": _b64(r.username, r.password)}
    _config(_isolated_docker_config, {"auths": {f"https://{r.host}/v2/": entry}})
    with open_store(r, repo_name, username=None) as s:
        push_image(s)
    # Explicit credentials win over the config file.
    with open_store(r, repo_name, username=r.username, password="wrong") as s, pytest.raises(AuthError):
        s.tags()


def test_plain_http_loopback_needs_no_opt_in(rc_registry: Any, repo_name: str) -> None:
    with open_store(rc_registry, repo_name) as s:
        push_image(s)
        assert s.client.base_url == f"http://{rc_registry.host}"


# -- bearer tokens -------------------------------------------------------------------------------


def test_token_scopes_are_cached(rc_token_registry: Any, repo_name: str) -> None:
    ts = rc_token_registry.token_server
    with open_store(rc_token_registry, repo_name) as s:
        m = push_image(s)
        fetched = ts.token_fetches()
        assert 1 <= fetched <= 2  # the push token (and possibly a pull token for the first HEAD)
        assert s.get_manifest("v1").data == m.data
        assert s.resolve("v1").digest == m.digest
        s.tags()
        assert ts.token_fetches() == fetched  # pull reuses the pull,push token
        scopes = {sc for r in ts.requests for sc in r.scopes}
        assert f"repository:{repo_name}:pull,push" in scopes


def test_token_refetched_after_expiry(rc_token_registry: Any, repo_name: str) -> None:
    ts = rc_token_registry.token_server
    with open_store(rc_token_registry, repo_name) as s:
        push_image(s)
        n = ts.token_fetches()
        s.client.tokens.clock = lambda: time.time() + 3600
        s.get_manifest("v1")
        assert ts.token_fetches() == n + 1


def test_token_refreshed_once_on_401(rc_token_registry: Any, repo_name: str) -> None:
    ts = rc_token_registry.token_server
    with open_store(rc_token_registry, repo_name) as s:
        push_image(s)
        n = ts.token_fetches()
        for tok in s.client.tokens._tokens.values():
            tok.value = "revoked"
        s.get_manifest("v1")
        assert ts.token_fetches() == n + 1


def test_token_anonymous_is_refused_with_advice(rc_token_registry: Any, repo_name: str) -> None:
    with open_store(rc_token_registry, repo_name, username=None) as s, pytest.raises(AuthError) as e:
        s.has_blob(dg.compute(b"x"))
    assert f"sigward login {rc_token_registry.host}" in str(e.value)


def test_token_bad_password(rc_token_registry: Any, repo_name: str) -> None:
    with open_store(rc_token_registry, repo_name, password="nope") as s, pytest.raises(AuthError) as e:
        s.tags()
    assert "refused the credentials" in str(e.value)


def test_registry_token_option_is_sent_as_is(rc_token_registry: Any, repo_name: str) -> None:
    ts = rc_token_registry.token_server
    tok = ts.mint(ts.username, ts.grants([f"repository:{repo_name}:pull,push"], True))
    with open_store(rc_token_registry, repo_name, registry_token=tok) as s:
        push_image(s)
    assert ts.token_fetches() == 0


def test_identity_token_from_config(rc_token_registry: Any, repo_name: str,
                                    _isolated_docker_config: Path) -> None:
    ts = rc_token_registry.token_server
    refresh = ts.new_refresh_token(ts.username)
    entry = {"auth": "", "identitytoken": refresh}
    _config(_isolated_docker_config, {"auths": {rc_token_registry.host: entry}})
    with open_store(rc_token_registry, repo_name, username=None) as s:
        push_image(s)
    posts = [r for r in ts.requests if r.method == "POST"]
    assert posts and all(r.grant_type == "refresh_token" and r.status == 200 for r in posts)


def test_cred_helper_for_token_registry(rc_token_registry: Any, repo_name: str, tmp_path: Path,
                                        _isolated_docker_config: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    r = rc_token_registry
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-testhelper"
    helper.write_text("#!/bin/sh\nread server\n"
                      f'[ "$server" = "{r.host}" ] || {{ echo "credentials not found"; exit 1; }}\n'
                      f'echo \'{{"Username":"{r.username}","Secret":"{r.password}"}}\'\n')
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    _config(_isolated_docker_config, {"credHelpers": {r.host: "testhelper"}})
    data = b"helper-authenticated"
    with open_store(r, repo_name, username=None) as s:
        assert s.put_blob(Descriptor("application/octet-stream", dg.compute(data), len(data)), data)
    assert r.token_server.token_fetches() >= 1
