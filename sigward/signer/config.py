"""The signer's two input files, parsed and validated: the exporter's ``report.toml`` and ``cosign.toml``.

Pure (text in, values out). Every problem is one ``InputError`` naming the file and the key, because a
build log is read by someone who did not write the file. Both files are validated strictly — an unknown
key is an error, not ignored — so a typo (``export_sbom``) never silently changes what gets signed.

``report.toml`` is the lifecycle's ``files.Report`` (platform/files/report.go): ``[image]`` with ``tags``,
``digest`` (registry export), ``image-id`` (daemon export), ``manifest-size`` (a TOML integer), and the
legacy ``[build] bom`` of Platform API < 0.9. ``cosign.toml`` is the RFC's schema plus documented extensions
(docs/buildpacks.md): ``tlog-upload``, ``new-bundle-format``, and keyless signing (no ``key``; an
``identity-token`` file, ``signing-config``, ``trusted-root``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from sigward.errors import SigwardError

EXPORT_SBOM_MODES = ("none", "attestation", "attachment")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class InputError(SigwardError):
    """A flag, ``report.toml`` or ``cosign.toml`` the phase cannot accept (lifecycle: invalid arguments)."""


@dataclass(frozen=True)
class Report:
    tags: list[str]
    digest: str | None
    image_id: str | None
    manifest_size: int | None


@dataclass(frozen=True)
class SignConfig:
    """One ``[[configs]]`` entry; ``index`` is its position (1-based) for messages."""

    index: int
    # a key reference as sigward accepts anywhere (file, env://, KMS, pkcs11:); None: keyless
    key: str | None = None
    repository: str | None = None  # COSIGN_REPOSITORY for this config
    docker_media_types: bool = False  # COSIGN_DOCKER_MEDIA_TYPES
    password: str | None = None  # a file whose contents are the key password
    export_sbom: str = "attestation"
    tlog_upload: bool = True
    new_bundle_format: bool = True
    identity_token: str | None = None  # keyless: a file holding the OIDC token
    signing_config: str | None = None
    trusted_root: str | None = None

    @property
    def label(self) -> str:
        return f"configs[{self.index}]"

    @property
    def keyless(self) -> bool:
        return self.key is None


@dataclass(frozen=True)
class CosignConfig:
    annotations: dict[str, str] = field(default_factory=dict)
    configs: list[SignConfig] = field(default_factory=list)


def _load(text: str, path: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: not valid TOML: {e}")


def _unknown(table: dict[str, Any], known: set[str], path: str, where: str) -> None:
    extra = sorted(set(table) - known)
    if extra:
        at = f"{where}: " if where else ""
        raise InputError(f"{path}: {at}unknown key {extra[0]!r} (known: {', '.join(sorted(known))})")


def _typed(table: dict[str, Any], key: str, kind: type, path: str, where: str) -> Any:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        at = f"{where}." if where else ""
        raise InputError(f"{path}: {at}{key} must be {_KIND_NAMES[kind]}, got {value!r}")
    return value


_KIND_NAMES = {str: "a string", bool: "a boolean (true or false)", int: "an integer", list: "a list",
               dict: "a table"}


def parse_report(text: str, path: str = "report.toml") -> Report:
    """The exporter's report. A missing digest is reported by the phase, which knows the daemon case."""
    doc = _load(text, path)
    _unknown(doc, {"image", "build"}, path, "")
    image = _typed(doc, "image", dict, path, "")
    if image is None:
        raise InputError(f"{path}: no [image] table (is this the exporter's report.toml?)")
    _unknown(image, {"tags", "digest", "image-id", "manifest-size"}, path, "image")
    tags = _typed(image, "tags", list, path, "image")
    if not tags:
        raise InputError(f"{path}: image.tags is missing or empty: the exporter saved no image")
    if not all(isinstance(t, str) and t for t in tags):
        raise InputError(f"{path}: image.tags must be a list of image references")
    digest = _typed(image, "digest", str, path, "image") or None
    if digest is not None and not _DIGEST.match(digest):
        raise InputError(f"{path}: image.digest {digest!r} is not a sha256 digest")
    size = _typed(image, "manifest-size", int, path, "image")
    if size is not None and size <= 0:
        raise InputError(f"{path}: image.manifest-size must be positive, got {size}")
    return Report(list(tags), digest, _typed(image, "image-id", str, path, "image") or None, size)


_CONFIG_KEYS = {
    "key", "repository", "docker-media-types", "password", "export-sbom",
    # extensions (docs/buildpacks.md)
    "tlog-upload", "new-bundle-format", "identity-token", "signing-config", "trusted-root",
}


def parse_cosign_config(text: str, path: str = "cosign.toml") -> CosignConfig:
    doc = _load(text, path)
    _unknown(doc, {"annotations", "configs"}, path, "")
    annotations: dict[str, str] = {}
    raw_ann = _typed(doc, "annotations", list, path, "") or []
    for i, a in enumerate(raw_ann, 1):
        where = f"annotations[{i}]"
        if not isinstance(a, dict):
            raise InputError(f"{path}: {where} must be a table with name and value ([[annotations]])")
        _unknown(a, {"name", "value"}, path, where)
        name, value = _typed(a, "name", str, path, where), _typed(a, "value", str, path, where)
        if not name:
            raise InputError(f"{path}: {where}.name is missing or empty")
        if value is None:
            raise InputError(f"{path}: {where}.value is missing")
        if name in annotations:
            raise InputError(f"{path}: {where}: annotation {name!r} is given twice")
        annotations[name] = value
    raw_cfgs = _typed(doc, "configs", list, path, "")
    if not raw_cfgs:
        raise InputError(f"{path}: no [[configs]]: nothing to sign with")
    configs = [_parse_config(c, i, path) for i, c in enumerate(raw_cfgs, 1)]
    return CosignConfig(annotations, configs)


def _parse_config(c: Any, index: int, path: str) -> SignConfig:
    where = f"configs[{index}]"
    if not isinstance(c, dict):
        raise InputError(f"{path}: {where} must be a table ([[configs]])")
    _unknown(c, _CONFIG_KEYS, path, where)

    def s(key: str) -> str | None:
        v: str | None = _typed(c, key, str, path, where)
        if v is not None and not v.strip():
            raise InputError(f"{path}: {where}.{key} is empty")
        return v

    def b(key: str, default: bool) -> bool:
        v = _typed(c, key, bool, path, where)
        return default if v is None else bool(v)

    mode = s("export-sbom") or "attestation"
    if mode not in EXPORT_SBOM_MODES:
        raise InputError(f"{path}: {where}.export-sbom must be one of {', '.join(EXPORT_SBOM_MODES)}, "
                         f"got {mode!r}")
    cfg = SignConfig(
        index=index, key=s("key"), repository=s("repository"),
        docker_media_types=b("docker-media-types", False), password=s("password"), export_sbom=mode,
        tlog_upload=b("tlog-upload", True), new_bundle_format=b("new-bundle-format", True),
        identity_token=s("identity-token"), signing_config=s("signing-config"),
        trusted_root=s("trusted-root"),
    )
    if cfg.keyless and cfg.password:
        raise InputError(f"{path}: {where}.password is set but there is no key (a keyless config has none)")
    if not cfg.keyless and cfg.identity_token:
        raise InputError(f"{path}: {where}: identity-token is for keyless signing; drop it or drop key")
    if cfg.keyless and not cfg.tlog_upload:
        raise InputError(f"{path}: {where}: keyless signing needs the transparency log (tlog-upload = false "
                         "only works with a key)")
    return cfg
