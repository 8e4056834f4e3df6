"""``sigward login`` / ``logout`` through the CLI entry point, against real registries."""

from __future__ import annotations

import base64
import io
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from sigward.cli.main import main


def _auths(d: Path) -> dict[str, Any]:
    return json.loads((d / "config.json").read_text())["auths"]


def test_login_tls_basic_writes_config(rc_tls_registry: Any, _isolated_docker_config: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    r = rc_tls_registry
    d = _isolated_docker_config
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"auths": {"keep.example": {"auth": "a2VlcDpt"}},
                                               "credHelpers": {"x.io": "y"}}))
    rc = main(["login", r.host, "-u", r.username, "-p", r.password, "--registry-cacert", str(r.ca_file)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert err == f"logged in via {d / 'config.json'}\n"
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["credHelpers"] == {"x.io": "y"}
    auth = base64.b64encode(f"{r.username}:{r.password}".encode()).decode()
    assert cfg["auths"] == {"keep.example": {"auth": "a2VlcDpt"}, r.host: {"auth": auth}}
    assert stat.S_IMODE((d / "config.json").stat().st_mode) == 0o600

    assert main(["logout", r.host]) == 0
    assert _auths(d) == {"keep.example": {"auth": "a2VlcDpt"}}
    assert main(["logout", r.host]) == 0
    assert "Not logged in to" in capsys.readouterr().err


def test_login_refused_writes_nothing(rc_tls_registry: Any, _isolated_docker_config: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    r = rc_tls_registry
    rc = main(["login", r.host, "-u", r.username, "-p", "wrong", "--registry-cacert", str(r.ca_file)])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.startswith(f"Error: login to {r.host} failed") and err.count("\n") == 1
    assert not (_isolated_docker_config / "config.json").exists()


def test_login_tls_error_names_flag(rc_tls_registry: Any, capsys: pytest.CaptureFixture[str]) -> None:
    r = rc_tls_registry
    assert main(["login", r.host, "-u", r.username, "-p", r.password]) == 1
    assert capsys.readouterr().err.endswith(
        "pass --registry-cacert FILE to trust its CA, or --allow-insecure-registry to skip verification\n")


def test_login_token_registry_password_stdin(rc_token_registry: Any, _isolated_docker_config: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    r = rc_token_registry
    monkeypatch.setattr("sys.stdin", io.StringIO(r.password + "\n"))
    assert main(["login", r.host, "-u", r.username, "--password-stdin"]) == 0, capsys.readouterr().err
    assert r.token_server.token_fetches() == 1
    assert list(_auths(_isolated_docker_config)) == [r.host]
    monkeypatch.setattr("sys.stdin", io.StringIO("bad\n"))
    assert main(["login", r.host, "-u", r.username, "--password-stdin"]) == 1
    assert "refused" in capsys.readouterr().err


def test_login_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["login", "reg.example", "-u", "me"]) == 1
    assert "password required" in capsys.readouterr().err
    assert main(["login", "reg.example", "-p", "x"]) == 1
    assert "username required" in capsys.readouterr().err
