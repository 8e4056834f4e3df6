"""Docker's ``config.json``: reading credentials (auths, credHelpers, credsStore) and login/logout writes.

We read and write the very file docker, cosign and crane use, so a ``docker login`` works for sigward and
a ``sigward login`` works for them. Keys are matched by host: docker itself writes
``https://index.docker.io/v1/`` for Hub and bare hosts elsewhere, other tools add schemes or paths.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from typing import Any

from sigward import safejson
from sigward.errors import AuthError, StoreError

HUB_KEY = "https://index.docker.io/v1/"
_HUB_HOSTS = {"index.docker.io", "docker.io", "registry-1.docker.io"}
# cosign/ggcr: a credential helper whose username is this returns an identity (refresh) token.
IDENTITY_TOKEN_USER = "<token>"


@dataclass(frozen=True)
class Credentials:
    username: str | None = None
    password: str | None = None
    identity_token: str | None = None  # OAuth2 refresh token, exchanged at the token realm
    registry_token: str | None = None  # bearer token sent as is

    @property
    def has_basic(self) -> bool:
        return bool(self.username) and self.password is not None


def config_path() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def normalize_host(key: str) -> str:
    """Registry host of a config key: scheme and path dropped, Hub aliases folded to index.docker.io."""
    h = key.strip()
    if "://" in h:
        h = h.split("://", 1)[1]
    h = h.split("/", 1)[0].lower()
    return "index.docker.io" if h in _HUB_HOSTS else h


def server_key(server: str) -> str:
    """The key ``login`` writes: docker's Hub URL for Hub, else the host as given."""
    host = normalize_host(server)
    return HUB_KEY if host == "index.docker.io" else host


def _load(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise StoreError(f"cannot read docker config {path}: {e.strerror or e}")
    if not text.strip():
        return {}
    try:
        obj = safejson.loads(text)
    except ValueError as e:
        raise StoreError(f"docker config {path} is not valid JSON: {e}")
    if not isinstance(obj, dict):
        raise StoreError(f"docker config {path}: expected a JSON object")
    return obj


def _entry_credentials(entry: Any, source: str, key: str) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    username, password = entry.get("username"), entry.get("password")
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth, validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthError(f"{source}: auths.{key}.auth is not base64 of user:password")
        if ":" not in decoded:
            raise AuthError(f"{source}: auths.{key}.auth is not base64 of user:password")
        username, password = decoded.split(":", 1)
    ident = entry.get("identitytoken") or None
    reg_token = entry.get("registrytoken") or None
    if not (username or ident or reg_token):
        return None
    return Credentials(
        username=username or None,
        password=password if isinstance(password, str) else None,
        identity_token=ident,
        registry_token=reg_token,
    )


def run_helper(helper: str, server: str) -> Credentials | None:
    """``docker-credential-<helper> get``; None when the helper has nothing for ``server``."""
    import subprocess  # here, not at module level: every registry command imports this module (~3 ms)

    prog = f"docker-credential-{helper}"
    try:
        proc = subprocess.run(
            [prog, "get"], input=server.encode(), capture_output=True, timeout=60, check=False
        )
    except FileNotFoundError:
        raise AuthError(f"credential helper {prog} (configured for {server}) is not on PATH")
    except (OSError, subprocess.TimeoutExpired) as e:
        raise AuthError(f"credential helper {prog} failed for {server}: {e}")
    out = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        if "credentials not found" in (out + proc.stderr.decode("utf-8", "replace")).lower():
            return None
        msg = (out or proc.stderr.decode("utf-8", "replace")).strip().splitlines()
        raise AuthError(f"credential helper {prog} failed for {server}: {msg[0] if msg else 'no output'}")
    try:
        obj = safejson.loads(out)
        user, secret = obj.get("Username", ""), obj.get("Secret", "")
    except (ValueError, AttributeError):
        raise AuthError(f"credential helper {prog} returned invalid JSON for {server}")
    if not isinstance(user, str) or not isinstance(secret, str) or not (user or secret):
        return None
    if user == IDENTITY_TOKEN_USER:
        return Credentials(identity_token=secret)
    return Credentials(username=user, password=secret)


def _helper_server(key: str | None, host: str) -> str:
    if key:
        return key
    return HUB_KEY if host == "index.docker.io" else host


def lookup(registry: str, path: str | None = None) -> Credentials | None:
    """Credentials for ``registry`` (a host[:port]) from docker's config, or None (anonymous).

    Order as docker: a registry-specific ``credHelpers`` entry, then the ``auths`` entry, then the
    default ``credsStore``.
    """
    path = path or config_path()
    return lookup_in(_load(path), registry, f"docker config {path}")


def lookup_in(cfg: dict[str, Any], registry: str, source: str, helpers_allowed: bool = True
              ) -> Credentials | None:
    """``lookup`` on a config already loaded (``source`` names it in errors); without helpers for configs
    that come from elsewhere than this machine (a Kubernetes pull secret)."""
    host = normalize_host(registry)
    helpers = cfg.get("credHelpers") if helpers_allowed else None
    if isinstance(helpers, dict):
        for key, helper in helpers.items():
            if isinstance(helper, str) and helper and normalize_host(key) == host:
                return run_helper(helper, _helper_server(key, host))
    auths = cfg.get("auths")
    if isinstance(auths, dict):
        # Exact key first, then any key naming the same host.
        keys = sorted(auths, key=lambda k: 0 if k in (registry, server_key(registry)) else 1)
        for key in keys:
            if normalize_host(key) == host:
                creds = _entry_credentials(auths[key], source, key)
                if creds:
                    return creds
    store = cfg.get("credsStore") if helpers_allowed else None
    if isinstance(store, str) and store:
        return run_helper(store, _helper_server(None, host))
    return None


def _write(path: str, cfg: dict[str, Any]) -> None:
    """Atomic replace with mode 0600: the file holds secrets and a half-written one would lose them all."""
    from sigward.fileio import write_atomic

    data = (json.dumps(cfg, indent="\t") + "\n").encode("utf-8")
    try:
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        write_atomic(path, data, 0o600, prefix=".config.json.")
    except OSError as e:
        raise StoreError(f"cannot write docker config {path}: {e.strerror or e}")


def store_login(server: str, username: str, password: str, path: str | None = None) -> str:
    """Record ``auths.<server>.auth``; other keys and entries are kept. Returns the file path."""
    path = path or config_path()
    cfg = _load(path)
    auths = cfg.get("auths")
    if not isinstance(auths, dict):
        auths = {}
    host = normalize_host(server)
    key = server_key(server)
    for k in [k for k in auths if k != key and normalize_host(k) == host]:
        del auths[k]
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    auths[key] = {"auth": auth}
    cfg["auths"] = auths
    _write(path, cfg)
    return path


def remove_login(server: str, path: str | None = None) -> bool:
    """Drop every ``auths`` entry for ``server``'s host; False if there was none."""
    path = path or config_path()
    cfg = _load(path)
    auths = cfg.get("auths")
    if not isinstance(auths, dict):
        return False
    host = normalize_host(server)
    gone = [k for k in auths if normalize_host(k) == host]
    if not gone:
        return False
    for k in gone:
        del auths[k]
    _write(path, cfg)
    return True
