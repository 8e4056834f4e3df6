"""Where registry credentials come from: keychains, in go-containerregistry's ``authn.Keychain`` shape.

A keychain answers one question — which credentials for this registry? — and None means anonymous.
The registry client asks its keychain once per store, when a registry first wants credentials; it
never knows where they came from. That is what lets each caller bring its own source without the
client changing:

- the CLI: ``--registry-username/--registry-password/--registry-token`` (``StaticKeychain``), else
  docker's ``config.json`` with its credential helpers (``DockerConfigKeychain``), as cosign does;
- the buildpacks signer: ``CNB_REGISTRY_AUTH`` (``EnvKeychain``), the lifecycle's JSON map of registry
  → ``Authorization`` header, before docker's config;
- an admission webhook: the pod's ``imagePullSecrets`` (``PullSecretKeychain`` over each secret's
  ``.dockerconfigjson``), before the node's own credentials.

``MultiKeychain`` chains them: the first keychain that has credentials for the registry wins, even if
a later one has others (as ggcr's ``NewMultiKeychain``): a refusal then names the source actually used
rather than silently trying the next. Registries are matched by host: scheme and path are ignored,
``docker.io``/``registry-1.docker.io`` fold to ``index.docker.io``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from sigward import safejson
from sigward.errors import AuthError
from sigward.oci.registry.dockerconfig import Credentials, config_path, lookup, lookup_in, normalize_host

CNB_REGISTRY_AUTH = "CNB_REGISTRY_AUTH"
_BASIC = re.compile(r"(?i)^basic (.*)$", re.S)
_BEARER = re.compile(r"(?i)^bearer (.*)$", re.S)


@runtime_checkable
class Keychain(Protocol):
    """Credentials for a registry (``host[:port]``, Docker Hub as ``index.docker.io``), None for none."""

    def resolve(self, registry: str) -> Credentials | None: ...


class Anonymous:
    """No credentials for anyone."""

    def resolve(self, registry: str) -> Credentials | None:
        return None


class StaticKeychain:
    """Fixed credentials: for the registries named (by host), or for every registry when none are."""

    def __init__(self, credentials: Credentials, registries: Iterable[str] | None = None) -> None:
        self.credentials = credentials
        self.hosts = None if registries is None else frozenset(normalize_host(r) for r in registries)

    def resolve(self, registry: str) -> Credentials | None:
        if self.hosts is None or normalize_host(registry) in self.hosts:
            return self.credentials
        return None


class DockerConfigKeychain:
    """docker's ``config.json`` (``$DOCKER_CONFIG`` or ``~/.docker``) with ``credHelpers``/``credsStore``.

    The file is read on every ``resolve``: a ``login`` in between is seen, as docker sees it."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path

    def resolve(self, registry: str) -> Credentials | None:
        return lookup(registry, self.path or config_path())


def header_credentials(header: str, where: str) -> Credentials:
    """An ``Authorization`` header value as credentials: ``Basic base64(user:password)`` or ``Bearer T``."""
    m = _BASIC.match(header.strip())
    if m:
        try:
            user, sep, password = base64.b64decode(m.group(1), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            sep = ""
        if not sep:
            raise AuthError(f"{where}: a Basic header must carry base64 of user:password")
        return Credentials(username=user, password=password)
    m = _BEARER.match(header.strip())
    if m and m.group(1).strip():
        return Credentials(registry_token=m.group(1).strip())
    scheme = header.strip().split(" ", 1)[0] or "(empty)"
    raise AuthError(f"{where}: unknown auth type {scheme!r}; expected \"Basic …\" or \"Bearer …\"")


class EnvKeychain:
    """The buildpacks lifecycle's ``CNB_REGISTRY_AUTH``: ``{"registry": "Basic …" | "Bearer …", …}``.

    Parsed once, when built; a malformed value is an error then (as the lifecycle's ``EnvKeychain``), an
    unknown header scheme when that registry is asked for (as its ``Resolve``)."""

    def __init__(self, value: str | None, variable: str = CNB_REGISTRY_AUTH) -> None:
        self.variable = variable
        self.headers: dict[str, str] = {}
        if not value:
            return
        try:
            obj = safejson.loads(value)
        except ValueError as e:
            raise AuthError(f"{variable} is not valid JSON: {e}")
        if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
            raise AuthError(f"{variable} must be a JSON object mapping registries to Authorization headers")
        for key, header in obj.items():
            self.headers.setdefault(normalize_host(key), header)

    @classmethod
    def from_env(cls, env: Mapping[str, str], variable: str = CNB_REGISTRY_AUTH) -> EnvKeychain:
        """From ``env[variable]``: the caller's environment (the signer's CLI passes the process's)."""
        return cls(env.get(variable), variable)

    def resolve(self, registry: str) -> Credentials | None:
        header = self.headers.get(normalize_host(registry))
        if header is None:
            return None
        return header_credentials(header, f"{self.variable} entry for {normalize_host(registry)}")


class PullSecretKeychain:
    """Kubernetes image pull secrets: each secret's ``data`` (``.dockerconfigjson`` or the legacy
    ``.dockercfg``, base64 as the API returns them, or already decoded). Credential helpers named in a
    secret are ignored: they would run programs on this machine on behalf of whoever wrote the secret.
    The secrets are tried in order, as the kubelet tries a pod's ``imagePullSecrets``."""

    def __init__(self, secrets: Iterable[Mapping[str, Any]], names: Iterable[str] | None = None) -> None:
        self.configs: list[tuple[str, dict[str, Any]]] = []
        labels = list(names or [])
        for i, data in enumerate(secrets):
            label = f"pull secret {labels[i]}" if i < len(labels) else f"pull secret #{i + 1}"
            self.configs.append((label, _secret_config(data, label)))

    def resolve(self, registry: str) -> Credentials | None:
        for label, cfg in self.configs:
            creds = lookup_in(cfg, registry, label, helpers_allowed=False)
            if creds is not None:
                return creds
        return None


def _secret_config(data: Mapping[str, Any], label: str) -> dict[str, Any]:
    for key, wrap in ((".dockerconfigjson", False), (".dockercfg", True)):
        raw = data.get(key)
        if raw is None:
            continue
        if isinstance(raw, str | bytes):
            text = raw.decode() if isinstance(raw, bytes) else raw
            if not text.lstrip().startswith("{"):
                try:
                    text = base64.b64decode(text, validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError, ValueError):
                    raise AuthError(f"{label}: {key} is neither JSON nor base64 of JSON")
            try:
                raw = safejson.loads(text)
            except ValueError as e:
                raise AuthError(f"{label}: {key} is not valid JSON: {e}")
        if not isinstance(raw, dict):
            raise AuthError(f"{label}: {key} must be a JSON object")
        return {"auths": raw} if wrap else raw
    raise AuthError(f"{label}: has neither .dockerconfigjson nor .dockercfg")


class MultiKeychain:
    """The first keychain with credentials for a registry wins."""

    def __init__(self, *keychains: Keychain) -> None:
        self.keychains = keychains

    def resolve(self, registry: str) -> Credentials | None:
        for keychain in self.keychains:
            creds = keychain.resolve(registry)
            if creds is not None:
                return creds
        return None


def default_keychain(username: str | None = None, password: str | None = None,
                     registry_token: str | None = None) -> Keychain:
    """cosign's order: explicit flags for every registry, else docker's config (and its helpers)."""
    if registry_token:
        return StaticKeychain(Credentials(registry_token=registry_token))
    if username:
        return StaticKeychain(Credentials(username=username, password=password or ""))
    return DockerConfigKeychain()
