"""Pure parts of registry auth: challenge parsing, docker config.json handling, error bodies."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import httpx
import pytest

from sigward.errors import AuthError, StoreError
from sigward.oci.registry import dockerconfig as dc
from sigward.oci.registry.auth import TokenCache
from sigward.oci.registry.challenge import parse_challenges
from sigward.oci.registry.client import error_summary, is_loopback, registry_errors


def test_bearer_challenge_with_commas_in_quoted_scope() -> None:
    [ch] = parse_challenges(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:a/b:pull,push"')
    assert ch.scheme == "bearer"
    assert ch.params == {"realm": "https://auth.example.com/token", "service": "registry.example.com",
                         "scope": "repository:a/b:pull,push"}


def test_several_challenges_escapes_and_token68() -> None:
    chs = parse_challenges('Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple",'
                           ' Foo abc123==')
    assert [c.scheme for c in chs] == ["newauth", "basic", "foo"]
    assert chs[0].params == {"realm": "apps", "type": "1", "title": 'Login to "apps"'}
    assert chs[1].params == {"realm": "simple"}
    assert chs[2].token68 == "abc123=="


def _response(status: int, body: bytes) -> httpx.Response:
    return httpx.Response(status, content=body, request=httpx.Request("PUT", "http://r.test/v2/a/manifests/t"))


def test_registry_error_bodies_one_parser() -> None:
    """The one parser of ``errors[]`` serves both the messages and the store's retry decision."""
    body = json.dumps({"errors": [{"code": "MANIFEST_BLOB_UNKNOWN", "message": " blob unknown\nto registry "},
                                  {"message": "no code"}, {"code": "DENIED"}, {}, "junk", {"code": 0}]})
    resp = _response(400, body.encode())
    assert registry_errors(resp) == [("MANIFEST_BLOB_UNKNOWN", " blob unknown\nto registry "),
                                     ("", "no code"), ("DENIED", "")]
    assert error_summary(resp) == "MANIFEST_BLOB_UNKNOWN: blob unknown to registry; no code; DENIED"
    for junk in (b"", b"not json", b"\xff\xfe", b'{"errors": 5}', b'{"errors": {"code": "X"}}', b"[1]",
                 b'{"errors": null}'):
        assert registry_errors(_response(400, junk)) == [], junk
        assert error_summary(_response(400, junk)) == "400 Bad Request", junk
    streamed = httpx.Response(503, stream=httpx.ByteStream(b'{"errors": [{"code": "X"}]}'))
    assert registry_errors(streamed) == [] and error_summary(streamed) == "503 Service Unavailable"


def test_garbage_challenge_does_not_raise() -> None:
    assert parse_challenges("") == []
    assert parse_challenges('=,,"') == []
    assert parse_challenges("Basic")[0].params == {}


@pytest.mark.parametrize("host,loop", [("127.0.0.1:5000", True), ("127.3.4.5", True), ("localhost:1", True),
                                       ("[::1]:5000", True), ("10.0.0.1:5000", False),
                                       ("registry.example.com", False)])
def test_is_loopback(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


def _write_config(d: Path, cfg: dict) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    p = d / "config.json"
    p.write_text(json.dumps(cfg))
    return p


def test_auth_entry_matches_by_host_and_hub_aliases(_isolated_docker_config: Path) -> None:
    b64 = base64.b64encode(b"alice:pa:ss").decode()
    _write_config(_isolated_docker_config, {"auths": {
        "https://index.docker.io/v1/": {"auth": b64},
        "https://reg.example.com:5000/some/path": {"username": "bob", "password": "pw"},
    }})
    for name in ("index.docker.io", "docker.io", "registry-1.docker.io"):
        c = dc.lookup(name)
        assert c is not None and (c.username, c.password) == ("alice", "pa:ss")
    c = dc.lookup("reg.example.com:5000")
    assert c is not None and (c.username, c.password) == ("bob", "pw")
    assert dc.lookup("reg.example.com") is None  # another port is another registry
    assert dc.lookup("other.example.com") is None


def test_bad_auth_field_is_one_line_error(_isolated_docker_config: Path) -> None:
    bad = base64.b64encode(b"nocolon").decode()
    _write_config(_isolated_docker_config, {"auths": {"r.example": {"auth": bad}}})
    with pytest.raises(AuthError, match=r"auths\.r\.example\.auth"):
        dc.lookup("r.example")
    (_isolated_docker_config / "config.json").write_text("{not json")
    with pytest.raises(StoreError, match="not valid JSON"):
        dc.lookup("r.example")


def _helper(bindir: Path, name: str, body: str) -> None:
    bindir.mkdir(parents=True, exist_ok=True)
    p = bindir / f"docker-credential-{name}"
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(0o755)


def test_cred_helpers_and_store(tmp_path: Path, _isolated_docker_config: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    log = tmp_path / "helper.log"
    _helper(bindir, "mine", f'read server; echo "$server" >> {log}\n'
            'case "$server" in\n'
            '  reg.example.com) echo \'{"ServerURL":"x","Username":"hu","Secret":"hs"}\';;\n'
            '  tok.example.com) echo \'{"Username":"<token>","Secret":"refresh-1"}\';;\n'
            '  *) echo "credentials not found in native keychain"; exit 1;;\n'
            'esac\n')
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    _write_config(_isolated_docker_config, {
        "credHelpers": {"reg.example.com": "mine", "tok.example.com": "mine", "gone.example.com": "absent"},
        "credsStore": "mine",
    })
    c = dc.lookup("reg.example.com")
    assert c is not None and (c.username, c.password) == ("hu", "hs")
    c = dc.lookup("tok.example.com")
    assert c is not None and c.identity_token == "refresh-1" and c.username is None
    assert dc.lookup("unknown.example.com") is None  # credsStore asked, says not found
    assert log.read_text().split() == ["reg.example.com", "tok.example.com", "unknown.example.com"]
    with pytest.raises(AuthError, match=r"docker-credential-absent .* is not on PATH"):
        dc.lookup("gone.example.com")


def test_store_login_keeps_other_keys_and_is_private(_isolated_docker_config: Path) -> None:
    p = _write_config(_isolated_docker_config, {
        "auths": {"other.example": {"auth": "eDp5"}, "https://reg.example/v2/": {"auth": "old"}},
        "credHelpers": {"gcr.io": "gcloud"}, "psFormat": "table"})
    assert dc.store_login("reg.example", "u", "p w") == str(p)
    cfg = json.loads(p.read_text())
    assert cfg["auths"] == {"other.example": {"auth": "eDp5"},
                            "reg.example": {"auth": base64.b64encode(b"u:p w").decode()}}
    assert cfg["credHelpers"] == {"gcr.io": "gcloud"} and cfg["psFormat"] == "table"
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert [f.name for f in _isolated_docker_config.iterdir()] == ["config.json"]  # no temp file left
    assert dc.remove_login("reg.example") is True
    assert json.loads(p.read_text())["auths"] == {"other.example": {"auth": "eDp5"}}
    assert dc.remove_login("reg.example") is False


def test_store_login_hub_uses_docker_key(_isolated_docker_config: Path) -> None:
    dc.store_login("docker.io", "u", "p")
    cfg = json.loads((_isolated_docker_config / "config.json").read_text())
    assert list(cfg["auths"]) == ["https://index.docker.io/v1/"]
    c = dc.lookup("index.docker.io")
    assert c is not None and c.username == "u"


def test_token_cache_expiry_and_push_token_serves_pull() -> None:
    from sigward.oci.registry.auth import _Token
    from sigward.oci.registry.challenge import Challenge

    now = [1000.0]
    cache = TokenCache(clock=lambda: now[0])
    ch = Challenge("bearer", {"realm": "https://a/token", "service": "s"})
    cache._tokens[cache.key(ch, ["repository:r:pull,push"])] = _Token("T", 1060.0)
    assert cache.get(ch, ["repository:r:pull"]) == "T"
    assert cache.get(ch, ["repository:other:pull"]) is None
    now[0] = 1056.0  # inside the safety margin before expiry
    assert cache.get(ch, ["repository:r:pull,push"]) is None
