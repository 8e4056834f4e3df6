"""A Sigstore ``trusted_root.json`` → a policy-controller ``TrustRoot`` resource (``spec.sigstoreKeys``).

The inverse of :func:`sigward.cip.trustroot.convert_sigstore_keys`. A private Sigstore deployment (or an
air-gapped copy of the public one) is described by a ``trusted_root.json`` (``sigward trusted-root
create`` writes one); a cluster's keyless policies name it through a TrustRoot. Writing that resource by
hand means base64 of PEM of every chain and key; ``sigward policy trustroot`` does it from the file.

``sigstoreKeys`` cannot say everything a trusted root says, and what it drops matters for trust:

- **Validity windows.** A TrustRoot's keys are valid from the epoch, for ever (policy-controller's
  ``ConvertSigstoreKeys``). A key or CA whose window has *ended* would be trusted again, so retired ones are
  left out unless asked for (``include_expired``); each omission is reported.
- **Log IDs.** policy-controller derives a log's ID as the SHA-256 of its key. A log whose ID is something
  else (Rekor v2 logs, whose Ed25519 keys policy-controller also refuses) cannot be carried: no entry of it
  would verify through the TrustRoot, so it is left out, and reported.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sigward.cip.trustroot import TrustRootError

API_VERSION = "policy.sigstore.dev/v1alpha1"
_HASH_NAMES = {"SHA2_256": "sha-256", "SHA2_384": "sha-384", "SHA2_512": "sha-512"}


@dataclass
class TrustRootExport:
    """The resource and what could not be carried into it (one line each, for the user)."""

    resource: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _pem_chain(ders: list[bytes]) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return b"".join(x509.load_der_x509_certificate(d).public_bytes(Encoding.PEM) for d in ders)


def _pem_key(der: bytes) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key

    return load_der_public_key(der).public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _ended(valid_for: Any, now: dt.datetime) -> bool:
    end = (valid_for or {}).get("end") if isinstance(valid_for, Mapping) else None
    if not end:
        return False
    when = dt.datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    return when <= now


def trustroot_from_trusted_root(name: str, trusted_root: bytes, *, source: str = "trusted root",
                                include_expired: bool = False,
                                now: dt.datetime | None = None) -> TrustRootExport:
    """A ``TrustRoot`` named ``name`` carrying the CAs, Rekor logs, CT logs and TSAs of ``trusted_root``.

    The input is parsed and checked by sigward's own trusted-root reader first, so a malformed file is
    one :class:`TrustRootError` naming ``source``; the output passes ``sigward policy validate``.

    >>> export = trustroot_from_trusted_root("private-sigstore", open("trusted_root.json", "rb").read())
    ... # doctest: +SKIP
    """
    from sigward.formats._common import FormatError
    from sigward.sigstore.trust import parse_trusted_root

    try:
        parse_trusted_root(trusted_root, source)
        doc = json.loads(trusted_root)
    except (FormatError, ValueError) as e:
        raise TrustRootError(str(e))
    now = now or dt.datetime.now(dt.UTC)
    notes: list[str] = []

    def authorities(key: str, label: str) -> list[dict[str, Any]]:
        out = []
        for i, ca in enumerate(doc.get(key) or []):
            where = f"{key}[{i}] ({ca.get('uri') or 'no uri'})"
            if _ended(ca.get("validFor"), now) and not include_expired:
                notes.append(f"{where}: left out, its validity ended {ca['validFor']['end']} "
                             "(a TrustRoot would trust it for ever)")
                continue
            chain = (ca.get("certChain") or {}).get("certificates", [])
            ders = [base64.b64decode(c["rawBytes"]) for c in chain]
            subject = ca.get("subject") or {}
            out.append({"subject": {"organization": subject.get("organization", ""),
                                    "commonName": subject.get("commonName", "")},
                        "uri": ca.get("uri") or "", "certChain": _b64(_pem_chain(ders))})
        if not out and doc.get(key):
            notes.append(f"no {label} left: every one has expired")
        return out

    def logs(key: str) -> list[dict[str, Any]]:
        out = []
        for i, log in enumerate(doc.get(key) or []):
            pk = log.get("publicKey") or {}
            where = f"{key}[{i}] ({log.get('baseUrl') or 'no url'})"
            if _ended(pk.get("validFor"), now) and not include_expired:
                notes.append(f"{where}: left out, its key's validity ended {pk['validFor']['end']} "
                             "(a TrustRoot would trust it for ever)")
                continue
            der = base64.b64decode(pk.get("rawBytes") or "")
            log_id = (log.get("logId") or {}).get("keyId")
            if log_id and base64.b64decode(log_id) != hashlib.sha256(der).digest():
                notes.append(f"{where}: left out, its log ID is not the SHA-256 of its key (a Rekor v2 "
                             "log?), which a TrustRoot cannot carry")
                continue
            alg = _HASH_NAMES.get(str(log.get("hashAlgorithm") or ""), "sha-256")
            out.append({"baseURL": log.get("baseUrl") or "", "hashAlgorithm": alg,
                        "publicKey": _b64(_pem_key(der))})
        return out

    keys: dict[str, Any] = {
        "certificateAuthorities": authorities("certificateAuthorities", "certificate authority"),
        "tLogs": logs("tlogs"),
        "ctLogs": logs("ctlogs"),
        "timestampAuthorities": authorities("timestampAuthorities", "timestamp authority"),
    }
    keys = {k: v for k, v in keys.items() if v}
    resource = {"apiVersion": API_VERSION, "kind": "TrustRoot", "metadata": {"name": name},
                "spec": {"sigstoreKeys": keys}}
    return TrustRootExport(resource, notes)
