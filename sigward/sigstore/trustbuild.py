"""Build trusted roots and signing configs for a private Sigstore instance (``trusted-root create``,
``signing-config create``), from cosign's service specifications: comma-separated ``key=value`` lists
such as ``url=https://rekor.internal,public-key=rekor.pub,start-time=2025-01-01T00:00:00Z``.

The output is the protobuf-JSON that sigstore-go, sigstore-python, cosign and sigward read
(``application/vnd.dev.sigstore.trustedroot+json;version=0.1``, ``…signingconfig.v0.2+json``). Log IDs
are the SHA-256 of the key's DER SubjectPublicKeyInfo; with ``origin=`` (Rekor v2, static CT logs) an
Ed25519 key's ID is the C2SP signed-note key ID, SHA-256(origin ‖ 0x0A ‖ 0x01 ‖ key), used as both the
log ID and the checkpoint key ID (an ECDSA key's stays the SPKI hash).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sigward.errors import UsageError

TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
SELECTORS = {"ANY", "ALL"}


def parse_spec(spec: str, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in spec.split(","):
        k, sep, v = pair.partition("=")
        if not sep:
            raise UsageError(f"parsing {what} spec: invalid key-value pair: {pair}")
        out[k.strip()] = v.strip()
    return out


def _require(kvs: dict[str, str], keys: Iterable[str], what: str) -> None:
    for k in keys:
        if not kvs.get(k):
            raise UsageError(f"parsing {what} spec: missing or empty required key '{k}' in {what} spec")


def _time(text: str, what: str) -> str:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"parsing {what} spec: start-time/end-time must be RFC 3339, got {text!r}")
    if t.tzinfo is None:
        raise UsageError(f"parsing {what} spec: {text!r} has no time zone (RFC 3339 needs one)")
    return _rfc3339(t)


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise UsageError(f"parsing {what} spec: cannot read {path}: {e.strerror or e}")


def _certs(path: str, what: str) -> list[Any]:
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(_read(path, what))
    except ValueError:
        raise UsageError(f"parsing {what} spec: no certificates in file {path}")
    return certs


def _der(cert: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def _subject(cert: Any) -> dict[str, str]:
    from cryptography.x509.oid import NameOID

    def first(oid: Any) -> str:
        attrs = cert.subject.get_attributes_for_oid(oid)
        return str(attrs[0].value) if attrs else ""

    out = {"organization": first(NameOID.ORGANIZATION_NAME), "commonName": first(NameOID.COMMON_NAME)}
    return {k: v for k, v in out.items() if v}


def _validity(start: str, end: str | None) -> dict[str, str]:
    return {"start": start, **({"end": end} if end else {})}


def key_details(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ed25519.Ed25519PublicKey):
        return "PKIX_ED25519"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "PKIX_ECDSA_P256_SHA_256", "secp384r1": "PKIX_ECDSA_P384_SHA_384",
                "secp521r1": "PKIX_ECDSA_P521_SHA_512"}[key.curve.name]
    if isinstance(key, rsa.RSAPublicKey):
        return f"PKIX_RSA_PKCS1V15_{key.key_size}_SHA256"
    raise UsageError(f"unsupported public key type {type(key).__name__}")


def _log(spec: str, what: str) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    kvs = parse_spec(spec, what)
    _require(kvs, ("url", "public-key", "start-time"), what)
    try:
        key = serialization.load_pem_public_key(_read(kvs["public-key"], what))
    except ValueError:
        raise UsageError(f"parsing {what} spec: {kvs['public-key']} is not a PEM public key")
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    key_id = hashlib.sha256(der).digest()
    origin = kvs.get("origin")
    if origin and isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        key_id = hashlib.sha256(origin.encode() + b"\n\x01" + raw).digest()
    entry: dict[str, Any] = {
        "baseUrl": kvs["url"],
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": base64.b64encode(der).decode(),
            "keyDetails": key_details(key),
            "validFor": _validity(_time(kvs["start-time"], what),
                                  _time(kvs["end-time"], what) if kvs.get("end-time") else None),
        },
        "logId": {"keyId": base64.b64encode(key_id).decode()},
    }
    if origin:
        entry["checkpointKeyId"] = {"keyId": base64.b64encode(key_id).decode()}
    return entry


def _authority(spec: str, what: str, *, tsa: bool) -> dict[str, Any]:
    kvs = parse_spec(spec, what)
    _require(kvs, ("url", "certificate-chain"), what)
    certs = _certs(kvs["certificate-chain"], what)
    if tsa:
        from cryptography import x509

        try:
            leaf_is_ca = certs[0].extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            leaf_is_ca = False
        if leaf_is_ca:
            raise UsageError(f"parsing {what} spec: first certificate in chain must be a leaf certificate")
        if len(certs) < 2:
            raise UsageError(f"parsing {what} spec: certificate chain must have at least two certificates")
    anchor = certs[0] if tsa else certs[-1]
    start = (_time(kvs["start-time"], what) if kvs.get("start-time")
             else _rfc3339(anchor.not_valid_before_utc))
    return {
        "subject": _subject(certs[0] if tsa else certs[-1]),
        "uri": kvs["url"],
        "certChain": {"certificates": [{"rawBytes": _der(c)} for c in certs]},
        "validFor": _validity(start, _time(kvs["end-time"], what) if kvs.get("end-time") else None),
    }


def trusted_root(*, fulcio: list[str], rekor: list[str], ctfe: list[str], tsa: list[str],
                 base: dict[str, Any] | None = None, keep: dict[str, bool] | None = None) -> dict[str, Any]:
    """A trusted root from service specs; ``base`` (the public-good root) contributes the services whose
    ``keep`` flag is true (``--with-default-services`` minus ``--no-default-*``)."""
    keep = keep or {}
    out: dict[str, Any] = {"mediaType": TRUSTED_ROOT_MEDIA_TYPE, "tlogs": [], "certificateAuthorities": [],
                           "ctlogs": [], "timestampAuthorities": []}
    if base:
        for field, name in (("tlogs", "rekor"), ("certificateAuthorities", "fulcio"), ("ctlogs", "ctfe"),
                            ("timestampAuthorities", "tsa")):
            if keep.get(name, True):
                out[field] = list(base.get(field) or [])
    out["certificateAuthorities"] += [_authority(s, "fulcio", tsa=False) for s in fulcio]
    out["tlogs"] += [_log(s, "rekor") for s in rekor]
    out["ctlogs"] += [_log(s, "ctfe") for s in ctfe]
    out["timestampAuthorities"] += [_authority(s, "tsa", tsa=True) for s in tsa]
    return out


def _service(spec: str, what: str) -> dict[str, Any]:
    kvs = parse_spec(spec, what)
    _require(kvs, ("url", "api-version", "start-time", "operator"), what)
    try:
        version = int(kvs["api-version"])
    except ValueError:
        raise UsageError(f"parsing {what} spec: api-version must be an integer, got {kvs['api-version']!r}")
    return {"url": kvs["url"], "majorApiVersion": version,
            "validFor": _validity(_time(kvs["start-time"], what),
                                  _time(kvs["end-time"], what) if kvs.get("end-time") else None),
            "operator": kvs["operator"]}


def _selector(text: str, name: str) -> dict[str, Any]:
    t = text.strip().upper()
    if t in SELECTORS:
        return {"selector": t}
    if t.startswith("EXACT:"):
        try:
            return {"selector": "EXACT", "count": int(t[6:])}
        except ValueError:
            pass
    raise UsageError(f"{name} must be ANY, ALL or EXACT:<count>, got {text!r}")


def signing_config(*, fulcio: list[str], rekor: list[str], oidc: list[str], tsa: list[str],
                   rekor_config: str | None, tsa_config: str | None, base: dict[str, Any] | None = None,
                   keep: dict[str, bool] | None = None) -> dict[str, Any]:
    """A signing config v0.2; services from specs replace those of ``base`` (a file or the defaults)."""
    # cosign requires the selector whenever services are given (the CLI says so in its flags' words).
    if rekor and not rekor_config:
        raise UsageError("signing_config(rekor=...) needs rekor_config, the selector of Rekor logs")
    if tsa and not tsa_config:
        raise UsageError("signing_config(tsa=...) needs tsa_config, the selector of timestamp authorities")
    keep = keep or {}
    base = base or {}
    out: dict[str, Any] = {"mediaType": SIGNING_CONFIG_MEDIA_TYPE}
    for field, name, specs in (("caUrls", "fulcio", fulcio), ("oidcUrls", "oidc", oidc),
                               ("rekorTlogUrls", "rekor", rekor), ("tsaUrls", "tsa", tsa)):
        if specs:
            out[field] = [_service(s, name) for s in specs]
        elif keep.get(name, True):
            out[field] = list(base.get(field) or [])
        else:
            out[field] = []
    out["rekorTlogConfig"] = (_selector(rekor_config, "signing_config(rekor_config)") if rekor_config
                              else base.get("rekorTlogConfig", {"selector": "ANY"}))
    out["tsaConfig"] = (_selector(tsa_config, "signing_config(tsa_config)") if tsa_config
                        else base.get("tsaConfig", {"selector": "ANY"}))
    return out


def dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, indent=2).encode() + b"\n"
