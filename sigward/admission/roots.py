"""TrustRoot resources → sigward trusted roots, for ``trustRootRef``.

A TrustRoot's ``sigstoreKeys`` is a trusted_root.json in policy-controller's spelling (``certChain`` and
``publicKey`` are base64 of PEM, ``tLogs``/``ctLogs``, ``hashAlgorithm: sha-256``, no validity periods):
it is rewritten into the protobuf-JSON shape and parsed by ``sigward.sigstore.trust`` — the same parser,
and so the same checks, as ``--trusted-root``. Log IDs are the SHA-256 of the key's DER, as
policy-controller computes them. Keys without a validity period are valid from the epoch, as upstream
treats them (no time bound).

``remote`` (a TUF mirror) and ``repository`` (a TUF repository in the resource) need TUF I/O; they are
the ``cip`` side's ``sigward/admission/trustroots.py`` and refused here with a clear error until then.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

from sigward.errors import SigwardError

_EPOCH = {"start": "1970-01-01T00:00:00Z"}
_HASHES = {"sha-256": "SHA2_256", "sha-384": "SHA2_384", "sha-512": "SHA2_512", "": "SHA2_256"}


class TrustRootError(SigwardError):
    """A TrustRoot that cannot become a trusted root."""


def _pem_blocks(b64_pem: Any, where: str) -> list[bytes]:
    from cryptography import x509

    try:
        pem = base64.b64decode(str(b64_pem), validate=False)
    except ValueError as e:
        raise TrustRootError(f"{where}: not base64 ({e})")
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as e:
        raise TrustRootError(f"{where}: not a PEM certificate chain ({e})")
    from cryptography.hazmat.primitives.serialization import Encoding

    return [c.public_bytes(Encoding.DER) for c in certs]


def _key_der(b64_pem: Any, where: str) -> bytes:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_public_key,
    )

    try:
        pem = base64.b64decode(str(b64_pem), validate=False)
        return load_pem_public_key(pem).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except ValueError as e:
        raise TrustRootError(f"{where}: not a base64 PEM public key ({e})")


def _log(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, Mapping):
        raise TrustRootError(f"{where} must be an object")
    der = _key_der(obj.get("publicKey"), f"{where}.publicKey")
    return {
        "baseUrl": str(obj.get("baseURL", "")),
        "hashAlgorithm": _HASHES.get(str(obj.get("hashAlgorithm", "")).lower(), "SHA2_256"),
        "publicKey": {"rawBytes": base64.b64encode(der).decode(), "keyDetails": "", "validFor": _EPOCH},
        "logId": {"keyId": base64.b64encode(hashlib.sha256(der).digest()).decode()},
    }


def _ca(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, Mapping):
        raise TrustRootError(f"{where} must be an object")
    ders = _pem_blocks(obj.get("certChain"), f"{where}.certChain")
    return {
        "subject": dict(obj.get("subject") or {}),
        "uri": str(obj.get("uri", "")),
        "certChain": {"certificates": [{"rawBytes": base64.b64encode(d).decode()} for d in ders]},
        "validFor": _EPOCH,
    }


def sigstore_keys_json(keys: Mapping[str, Any], name: str) -> bytes:
    """``spec.sigstoreKeys`` → trusted_root.json bytes."""
    def items(k: str) -> list[Any]:
        v = keys.get(k) or []
        if not isinstance(v, list):
            raise TrustRootError(f"TrustRoot {name}: spec.sigstoreKeys.{k} must be a list")
        return v

    root = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [_log(o, f"TrustRoot {name}: tLogs[{i}]") for i, o in enumerate(items("tLogs"))],
        "ctlogs": [_log(o, f"TrustRoot {name}: ctLogs[{i}]") for i, o in enumerate(items("ctLogs"))],
        "certificateAuthorities": [_ca(o, f"TrustRoot {name}: certificateAuthorities[{i}]")
                                   for i, o in enumerate(items("certificateAuthorities"))],
        "timestampAuthorities": [_ca(o, f"TrustRoot {name}: timestampAuthorities[{i}]")
                                 for i, o in enumerate(items("timestampAuthorities"))],
    }
    return json.dumps(root).encode()


@dataclass(frozen=True)
class TrustRoot:
    """One TrustRoot resource; ``trusted_root()`` converts it once (thread-safe) and keeps the result."""

    name: str
    body: Mapping[str, Any] = field(repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)
    _lock: Lock = field(default_factory=Lock, repr=False, compare=False, hash=False)

    def trusted_root(self) -> Any:
        """The ``sigward.sigstore.trust.TrustedRoot``; raises TrustRootError.

        With the ``cip`` side's modules present (``sigward.cip.trustroot`` + ``sigward.admission.trustroots``)
        every form goes through them (``remote`` fetched and re-synced there); else ``sigstoreKeys`` here."""
        try:
            parse = importlib.import_module("sigward.cip.trustroot").parse_trustroot
            resolve = importlib.import_module("sigward.admission.trustroots").resolve
        except (ImportError, AttributeError):
            parse = resolve = None
        if parse is not None and resolve is not None:
            try:
                return resolve(parse(self.body))
            except SigwardError as e:
                raise TrustRootError(str(e)) from None
        with self._lock:
            if "root" not in self._cache:
                self._cache["root"] = self._convert()
            return self._cache["root"]

    def _convert(self) -> Any:
        from sigward.formats._common import FormatError
        from sigward.sigstore.trust import parse_trusted_root

        spec = self.body.get("spec") or {}
        if not isinstance(spec, Mapping):
            raise TrustRootError(f"TrustRoot {self.name}: spec must be an object")
        if "sigstoreKeys" in spec:
            data = sigstore_keys_json(spec["sigstoreKeys"] or {}, self.name)
            try:
                return parse_trusted_root(data, f"TrustRoot {self.name}")
            except FormatError as e:
                raise TrustRootError(str(e))
        for kind in ("remote", "repository"):
            if kind in spec:
                raise TrustRootError(f"TrustRoot {self.name}: spec.{kind} is not supported yet "
                                     "(use spec.sigstoreKeys)")
        raise TrustRootError(f"TrustRoot {self.name}: expected exactly one, got neither: repository, remote, "
                             "sigstoreKeys")
