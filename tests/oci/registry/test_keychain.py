"""Keychains against the real registries: distribution 2.8.2 with htpasswd over TLS and with bearer tokens
from the suite's token issuer. Credentials from CNB_REGISTRY_AUTH, static ones, docker's config and
Kubernetes pull-secret data; in a chain the first keychain that has credentials wins."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from sigward.errors import AuthError
from sigward.oci.registry.dockerconfig import Credentials
from sigward.oci.registry.keychain import (
    Anonymous,
    DockerConfigKeychain,
    EnvKeychain,
    Keychain,
    MultiKeychain,
    PullSecretKeychain,
    StaticKeychain,
)
from tests.oci.registry.conftest import open_store
from tests.oci.registry.test_registry_store import push_image


def _basic(user: str, pw: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def _store(server: Any, repo: str, keychain: Keychain) -> Any:
    return open_store(server, repo, username=None, keychain=keychain)


def test_cnb_registry_auth_basic_over_tls_htpasswd(rc_tls_registry: Any, repo_name: str) -> None:
    r = rc_tls_registry
    env = {"CNB_REGISTRY_AUTH": json.dumps({r.host: _basic(r.username, r.password)})}
    with _store(r, repo_name, EnvKeychain.from_env(env)) as s:
        m = push_image(s)
        assert s.get_manifest(m.digest).data == m.data


def test_cnb_registry_auth_basic_and_bearer_with_token_auth(rc_token_registry: Any, repo_name: str) -> None:
    r = rc_token_registry
    ts = r.token_server
    with _store(r, repo_name, EnvKeychain(json.dumps({r.host: _basic(r.username, r.password)}))) as s:
        push_image(s)
    assert ts.token_fetches() >= 1  # Basic credentials were exchanged for a token
    # "Bearer …" is a registry token, sent as is (no token-server round trip).
    before = ts.token_fetches()
    tok = ts.mint(ts.username, ts.grants([f"repository:{repo_name}:pull,push"], True))
    with _store(r, repo_name, EnvKeychain(json.dumps({r.host: f"bearer {tok}"}))) as s:
        push_image(s, "v2")
    assert ts.token_fetches() == before


def test_first_match_wins(rc_tls_registry: Any, repo_name: str, _isolated_docker_config: Path) -> None:
    r = rc_tls_registry
    right = StaticKeychain(Credentials(username=r.username, password=r.password), [r.host])
    wrong = StaticKeychain(Credentials(username=r.username, password="wrong"), [r.host])
    elsewhere = EnvKeychain(json.dumps({"other.example:5000": _basic("x", "y")}))
    # A keychain without an entry for this host is skipped...
    with _store(r, repo_name, MultiKeychain(elsewhere, Anonymous(), right, wrong)) as s:
        push_image(s)
    # ...but one that has an entry decides, even when a later one would have worked.
    with _store(r, repo_name, MultiKeychain(elsewhere, wrong, right)) as s, pytest.raises(AuthError) as e:
        s.tags()
    assert "refused" in str(e.value)
    # docker's config, as one keychain of a chain.
    d = _isolated_docker_config
    d.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{r.username}:{r.password}".encode()).decode()
    (d / "config.json").write_text(json.dumps({"auths": {r.host: {"auth": auth}}}))
    with _store(r, repo_name, MultiKeychain(EnvKeychain(None), DockerConfigKeychain())) as s:
        assert "v1" in s.tags()


def test_pull_secret_keychain(rc_tls_registry: Any, repo_name: str) -> None:
    r = rc_tls_registry
    cfg = {"auths": {f"https://{r.host}": {"username": r.username, "password": r.password}}}
    secret = {".dockerconfigjson": base64.b64encode(json.dumps(cfg).encode()).decode()}
    legacy = {".dockercfg": json.dumps({"other.example": {"auth": "eDp5"}})}
    with _store(r, repo_name, PullSecretKeychain([legacy, secret], names=["ns/old", "ns/regcred"])) as s:
        push_image(s)
    # Credential helpers named in a secret never run.
    helper = PullSecretKeychain([{".dockerconfigjson": json.dumps({"credsStore": "evil"})}])
    assert helper.resolve(r.host) is None


def test_env_keychain_hosts_and_errors() -> None:
    hub = EnvKeychain(json.dumps({"docker.io": "Bearer abc",
                                  "https://reg.example:5000/v2/": _basic("u", "p:q")}))
    assert hub.resolve("index.docker.io") == Credentials(registry_token="abc")
    assert hub.resolve("reg.example:5000") == Credentials(username="u", password="p:q")
    assert hub.resolve("reg.example") is None
    assert EnvKeychain("").resolve("reg.example") is None
    with pytest.raises(AuthError, match=r"^CNB_REGISTRY_AUTH is not valid JSON"):
        EnvKeychain("{not json")
    with pytest.raises(AuthError, match="must be a JSON object"):
        EnvKeychain('["Basic x"]')
    odd = EnvKeychain(json.dumps({"reg.example": "Digest abc", "b.example": "Basic !!"}))
    with pytest.raises(AuthError, match=r"entry for reg\.example: unknown auth type 'Digest'"):
        odd.resolve("reg.example")
    with pytest.raises(AuthError, match="base64 of user:password"):
        odd.resolve("b.example")
    with pytest.raises(AuthError, match=r"neither \.dockerconfigjson nor \.dockercfg"):
        PullSecretKeychain([{"token": "x"}], names=["ns/wrong"])
