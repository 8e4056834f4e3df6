"""A policy-controller TrustRoot for a Sigstore ``trusted_root.json`` (the local stack's, in these tests)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

TRUST_ROOT_NAME = "sigward-test-stack"


def _pem_chain(certs: Sequence[dict[str, Any]]) -> bytes:
    return b"".join(x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"]))
                    .public_bytes(serialization.Encoding.PEM) for c in certs)


def _pem_key(raw: str) -> bytes:
    key = serialization.load_der_public_key(base64.b64decode(raw))
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def trustroot_from(trusted_root: dict[str, Any], name: str = TRUST_ROOT_NAME) -> dict[str, Any]:
    """A policy-controller TrustRoot (``sigstoreKeys``: base64 of PEM) for a Sigstore trusted_root.json.

    Only ECDSA transparency logs: policy-controller refuses other Rekor keys (the stack's Rekor v2 log is
    Ed25519, and legacy signatures never use it).
    """
    def authority(ca: dict[str, Any]) -> dict[str, Any]:
        subject = ca.get("subject") or {}
        return {"subject": {"organization": subject.get("organization", ""),
                            "commonName": subject.get("commonName", "")},
                "uri": ca.get("uri", ""), "certChain": _b64(_pem_chain(ca["certChain"]["certificates"]))}

    def log(entry: dict[str, Any]) -> dict[str, Any]:
        return {"baseURL": entry["baseUrl"], "hashAlgorithm": "sha-256",
                "publicKey": _b64(_pem_key(entry["publicKey"]["rawBytes"]))}

    def ecdsa(entry: dict[str, Any]) -> bool:
        return "ECDSA" in str(entry["publicKey"].get("keyDetails", ""))

    return {"apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "TrustRoot", "metadata": {"name": name},
            "spec": {"sigstoreKeys": {
                "certificateAuthorities": [authority(ca) for ca in trusted_root["certificateAuthorities"]],
                "tLogs": [log(t) for t in trusted_root.get("tlogs", []) if ecdsa(t)],
                "ctLogs": [log(t) for t in trusted_root.get("ctlogs", []) if ecdsa(t)],
                "timestampAuthorities": [authority(t) for t in trusted_root.get("timestampAuthorities", [])],
            }}}
