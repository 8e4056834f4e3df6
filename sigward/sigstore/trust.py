"""Trusted roots (``trusted_root.json``) and signing configs (``signing_config.v0.2.json``).

Parsed here with the standard library and ``cryptography`` only: a keyless verify with ``--trusted-root``
then never imports pydantic or sigstore-python (start-up time matters on the verify path). Only the
public-good default goes through sigstore-python, for its TUF client and its embedded roots.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sigward.formats._common import FormatError, b64decode_lenient, load_object

TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"

_FRACTION = re.compile(r"\.(\d+)")


def parse_time(text: str, where: str) -> datetime:
    """An RFC 3339 timestamp as protojson writes it (``Z``, up to nanoseconds) → aware datetime."""
    if not isinstance(text, str):
        raise FormatError(f"{where}: expected an RFC 3339 time string")
    t = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text.strip())
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise FormatError(f"{where}: {text!r} is not an RFC 3339 time")
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Validity:
    """A ``validFor`` range. Both ends are inclusive (the conformance suite's end-inclusive cases)."""

    start: datetime
    end: datetime | None = None

    def contains(self, t: datetime) -> bool:
        return self.start <= t and (self.end is None or t <= self.end)


def _validity(obj: Any, where: str, required: bool = True) -> Validity | None:
    if obj is None:
        if required:
            raise FormatError(f"{where}: validFor is missing")
        return None
    if not isinstance(obj, dict):
        raise FormatError(f"{where}: validFor must be an object")
    if "start" not in obj:
        # An open start would silently trust the key for all of the past.
        raise FormatError(f"{where}: validFor has no start")
    start = parse_time(obj["start"], f"{where}.validFor.start")
    end = parse_time(obj["end"], f"{where}.validFor.end") if obj.get("end") else None
    return Validity(start, end)


@dataclass(frozen=True)
class LogKey:
    """A transparency or CT log: its key, the IDs that name it, and when it may be trusted."""

    base_url: str
    key_id: bytes  # logId.keyId
    checkpoint_key_id: bytes | None
    public_key: Any  # a cryptography public key
    key_details: str
    validity: Validity

    @property
    def checkpoint_hint(self) -> bytes:
        """The 4-byte key hint of this log's checkpoint signatures (signed-note convention)."""
        return (self.checkpoint_key_id or self.key_id)[:4]


@dataclass(frozen=True)
class Authority:
    """A certificate or timestamp authority: its chain (leaf-most first) and validity."""

    uri: str
    chain: tuple[Any, ...]  # cryptography x509.Certificate, leaf-most first, root last
    validity: Validity


@dataclass(frozen=True)
class TrustedRoot:
    tlogs: tuple[LogKey, ...]
    ctlogs: tuple[LogKey, ...]
    certificate_authorities: tuple[Authority, ...]
    timestamp_authorities: tuple[Authority, ...]
    source: str = "trusted root"
    raw: bytes = field(default=b"", repr=False, compare=False)

    def tlog_by_id(self, key_id: bytes) -> LogKey | None:
        return next((t for t in self.tlogs if t.key_id == key_id), None)

    def ctlog_by_id(self, key_id: bytes) -> LogKey | None:
        return next((t for t in self.ctlogs if t.key_id == key_id), None)


def _load_public_key(raw: bytes, where: str) -> Any:
    """A DER key, SPKI or (for the PKCS1_* key details) PKCS#1 RSA: ``cryptography`` reads both."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_der_public_key(raw)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise FormatError(f"{where}: the public key cannot be parsed ({e})")


def _log(obj: Any, where: str) -> LogKey | None:
    if not isinstance(obj, dict):
        raise FormatError(f"{where} must be an object")
    pk = obj.get("publicKey")
    if not isinstance(pk, dict):
        raise FormatError(f"{where}.publicKey is missing")
    raw_b64 = pk.get("rawBytes")
    if not raw_b64:
        return None  # protobuf allows a log without a key; it can verify nothing
    details = pk.get("keyDetails", "")
    raw = b64decode_lenient(raw_b64, f"{where}.publicKey.rawBytes")
    validity = _validity(pk.get("validFor"), f"{where}.publicKey")
    assert validity is not None
    log_id = obj.get("logId") or {}
    key_id_b64 = log_id.get("keyId") if isinstance(log_id, dict) else None
    key_id = (b64decode_lenient(key_id_b64, f"{where}.logId.keyId") if key_id_b64
              else hashlib.sha256(raw).digest())
    cp = obj.get("checkpointKeyId")
    cp_id = b64decode_lenient(cp["keyId"], f"{where}.checkpointKeyId") if isinstance(cp, dict) and cp.get(
        "keyId") else None
    return LogKey(
        base_url=obj.get("baseUrl", ""),
        key_id=key_id,
        checkpoint_key_id=cp_id,
        public_key=_load_public_key(raw, where),
        key_details=details,
        validity=validity,
    )


def _authority(obj: Any, where: str) -> Authority:
    from cryptography import x509

    if not isinstance(obj, dict):
        raise FormatError(f"{where} must be an object")
    chain_obj = obj.get("certChain") or {}
    certs = []
    for i, c in enumerate(chain_obj.get("certificates") or []):
        raw = b64decode_lenient((c or {}).get("rawBytes", ""), f"{where}.certChain.certificates[{i}]")
        try:
            certs.append(x509.load_der_x509_certificate(raw))
        except ValueError as e:
            raise FormatError(f"{where}.certChain.certificates[{i}] is not a certificate ({e})")
    if not certs:
        raise FormatError(f"{where}.certChain has no certificates")
    validity = _validity(obj.get("validFor"), where)
    assert validity is not None
    return Authority(obj.get("uri", ""), tuple(certs), validity)


def parse_trusted_root(data: bytes, source: str = "trusted root") -> TrustedRoot:
    """Parse trusted_root.json; a malformed root is an error naming the field, never a partial trust."""
    obj = load_object(data, source)
    mt = obj.get("mediaType", "")
    if mt and not mt.startswith("application/vnd.dev.sigstore.trustedroot"):
        raise FormatError(f"{source}: unsupported mediaType {mt!r}")

    def logs(name: str) -> tuple[LogKey, ...]:
        out = []
        for i, o in enumerate(obj.get(name) or []):
            lk = _log(o, f"{source}: {name}[{i}]")
            if lk is not None:
                out.append(lk)
        return tuple(out)

    return TrustedRoot(
        tlogs=logs("tlogs"),
        ctlogs=logs("ctlogs"),
        certificate_authorities=tuple(
            _authority(o, f"{source}: certificateAuthorities[{i}]")
            for i, o in enumerate(obj.get("certificateAuthorities") or [])),
        timestamp_authorities=tuple(
            _authority(o, f"{source}: timestampAuthorities[{i}]")
            for i, o in enumerate(obj.get("timestampAuthorities") or [])),
        source=source,
        raw=bytes(data),
    )


def load_trusted_root(path: str | Path) -> TrustedRoot:
    from sigward.errors import SigwardError

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise SigwardError(f"cannot read trusted root {path}: {e.strerror}")
    return parse_trusted_root(data, f"trusted root {path}")


# --- signing config ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    url: str
    major_api_version: int
    validity: Validity | None
    operator: str = ""


@dataclass(frozen=True)
class SigningConfig:
    ca_urls: tuple[Service, ...]
    oidc_urls: tuple[Service, ...]
    rekor_tlog_urls: tuple[Service, ...]
    tsa_urls: tuple[Service, ...]
    rekor_selector: str = "ANY"
    tsa_selector: str = "ANY"

    def fulcio(self, now: datetime | None = None) -> Service | None:
        return _pick(self.ca_urls, {1}, now)

    def oidc(self, now: datetime | None = None) -> Service | None:
        return _pick(self.oidc_urls, {1}, now)

    def rekor(self, now: datetime | None = None, version: int | None = None) -> Service | None:
        return _pick(self.rekor_tlog_urls, {version} if version else {1, 2}, now)

    def tsas(self, now: datetime | None = None) -> list[Service]:
        live = _live(self.tsa_urls, {1}, now)
        return live if self.tsa_selector == "ALL" else live[:1]


def _live(services: Iterable[Service], versions: set[int], now: datetime | None) -> list[Service]:
    t = now or datetime.now(UTC)
    return [s for s in services
            if s.major_api_version in versions and (s.validity is None or s.validity.contains(t))]


def _pick(services: Iterable[Service], versions: set[int], now: datetime | None) -> Service | None:
    """The newest API version among the services valid now (sigstore-go and sigstore-python agree)."""
    live = _live(services, versions, now)
    return max(live, key=lambda s: s.major_api_version) if live else None


def parse_signing_config(data: bytes, source: str = "signing config") -> SigningConfig:
    obj = load_object(data, source)
    mt = obj.get("mediaType", "")
    if mt != SIGNING_CONFIG_MEDIA_TYPE:
        raise FormatError(f"{source}: unsupported mediaType {mt!r} (expected {SIGNING_CONFIG_MEDIA_TYPE})")

    def services(name: str) -> tuple[Service, ...]:
        out = []
        for i, s in enumerate(obj.get(name) or []):
            where = f"{source}: {name}[{i}]"
            if not isinstance(s, dict) or not isinstance(s.get("url"), str):
                raise FormatError(f"{where} needs a url")
            out.append(Service(s["url"].rstrip("/"), int(s.get("majorApiVersion", 1)),
                               _validity(s.get("validFor"), where, required=False), s.get("operator", "")))
        return tuple(out)

    return SigningConfig(
        ca_urls=services("caUrls"),
        oidc_urls=services("oidcUrls"),
        rekor_tlog_urls=services("rekorTlogUrls"),
        tsa_urls=services("tsaUrls"),
        rekor_selector=(obj.get("rekorTlogConfig") or {}).get("selector", "ANY"),
        tsa_selector=(obj.get("tsaConfig") or {}).get("selector", "ANY"),
    )


def load_signing_config(path: str | Path) -> SigningConfig:
    from sigward.errors import SigwardError

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise SigwardError(f"cannot read signing config {path}: {e.strerror}")
    return parse_signing_config(data, f"signing config {path}")


# --- the public-good instance ----------------------------------------------------------------------


def public_good(offline: bool = False, staging: bool = False,
                mirror: str | None = None) -> tuple[TrustedRoot, SigningConfig]:
    """The public-good (or staging) trust root and signing config, through sigstore-python's TUF client.

    Offline (or when TUF cannot be reached) sigstore-python falls back to its cached or embedded copy.
    ``mirror``: a TUF repository set up with ``sigward initialize --mirror`` (its cached metadata is
    refreshed, or used as cached when offline), instead of the public-good one.
    """
    if mirror:
        from sigward.sigstore.tufmirror import load_mirror

        root_json, signing_json = load_mirror(mirror, offline=offline)
        return (parse_trusted_root(root_json, f"trusted root from TUF mirror {mirror}"),
                parse_signing_config(signing_json, f"signing config from TUF mirror {mirror}"))
    from sigward.errors import SigwardError

    try:
        from sigstore.models import ClientTrustConfig
    except ImportError:  # pragma: no cover - a dependency
        raise SigwardError("the public-good trust root needs sigstore-python (pip install sigstore)")
    import logging

    # sigstore-python warns "TUF repository is loaded in offline mode" on every offline load (and on the
    # fallback below); cosign says nothing there, and a key-only command should not print TUF noise.
    logging.getLogger("sigstore._internal.tuf").setLevel(logging.ERROR)
    try:
        cfg = ClientTrustConfig.staging(offline=offline) if staging else ClientTrustConfig.production(
            offline=offline)
    except Exception as e:
        if offline:
            raise SigwardError(f"cannot load the public-good trust root: {e}")
        cfg = ClientTrustConfig.staging(offline=True) if staging else ClientTrustConfig.production(
            offline=True)
    name = "staging" if staging else "public-good"
    root = parse_trusted_root(cfg.trusted_root._inner.to_json().encode(), f"{name} trusted root")
    signing = parse_signing_config(cfg.signing_config._inner.to_json().encode(), f"{name} signing config")
    return root, signing
