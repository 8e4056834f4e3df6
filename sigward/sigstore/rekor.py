"""Rekor clients: upload an entry to a v1 log (``/api/v1/log/entries``) or a v2 log (rekor-tiles).

Both return the entry as a bundle ``TlogEntry`` (protobuf form), so the rest of sigward sees one shape
whatever the log version. Entries are built as real Rekor expects them: ``hashedrekord`` for digests,
``dsse`` for envelopes on v1; on v2 everything is ``hashedrekord`` 0.0.2 (an envelope over its PAE).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from sigward import safejson
from sigward.errors import SigwardError
from sigward.formats.bundle import TlogEntry, parse_tlog_entry

if TYPE_CHECKING:
    from sigward.transport import ClientOptions


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hashedrekord_v001(digest_hex: str, hash_name: str, signature: bytes,
                      verifier_pem: bytes) -> dict[str, Any]:
    return {"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": hash_name, "value": digest_hex}},
        "signature": {"content": _b64(signature), "publicKey": {"content": _b64(verifier_pem)}},
    }}


def dsse_v001(envelope_json: bytes, verifier_pem: bytes) -> dict[str, Any]:
    return {"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {
        "envelope": envelope_json.decode(), "verifiers": [_b64(verifier_pem)]}}}


def key_details(public_key: Any) -> str:
    """protobuf-specs PublicKeyDetails for a verifier (what Rekor v2 wants beside the key)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "PKIX_ECDSA_P256_SHA_256", "secp384r1": "PKIX_ECDSA_P384_SHA_384",
                "secp521r1": "PKIX_ECDSA_P521_SHA_512"}[public_key.curve.name]
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "PKIX_ED25519"
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"PKIX_RSA_PKCS1V15_{public_key.key_size}_SHA256"
    raise SigwardError("this key type cannot be logged to Rekor v2")


def hashedrekord_v002(digest: bytes, signature: bytes, *, certificate_der: bytes | None = None,
                      public_key: Any = None) -> dict[str, Any]:
    from sigward.keys.keytypes import public_key_der

    if certificate_der is not None:
        from cryptography import x509

        verifier: dict[str, Any] = {"x509Certificate": {"rawBytes": _b64(certificate_der)}}
        public_key = x509.load_der_x509_certificate(certificate_der).public_key()
    else:
        verifier = {"publicKey": {"rawBytes": _b64(public_key_der(public_key))}}
    verifier["keyDetails"] = key_details(public_key)
    return {"hashedRekordRequestV002": {"digest": _b64(digest),
                                        "signature": {"content": _b64(signature), "verifier": verifier}}}


class RekorClient:
    """Uploads through ``sigward.transport``: retried on connection failures and 429/5xx, which is safe
    because a v1 log answers a repeated upload with 409 and the existing entry's location."""

    def __init__(self, url: str, version: int = 1, timeout: float = 60.0,
                 options: ClientOptions | None = None) -> None:
        self.url = url.rstrip("/")
        self.version = version
        self.timeout = timeout  # rekor-tiles answers once a checkpoint covers the entry
        self.options = options

    def upload(self, proposed: dict[str, Any]) -> TlogEntry:
        import httpx

        from sigward import transport

        path = "/api/v2/log/entries" if self.version == 2 else "/api/v1/log/entries"
        accept = {"Accept": "application/json"}
        try:
            with transport.lease(self.url, self.options) as held:
                r = transport.send(held.client, "POST", self.url + path, json=proposed, headers=accept,
                                   idempotent=True, timeout=self.timeout)
                if r.status_code == 409 and self.version == 1 and r.headers.get("Location"):
                    # Already logged (same signature uploaded before): fetch the existing entry.
                    r = transport.send(held.client, "GET", self.url + r.headers["Location"],
                                       headers=accept, timeout=self.timeout)
        except httpx.HTTPError as e:
            raise SigwardError(f"Rekor at {self.url} is unreachable: {e}")
        if r.status_code not in (200, 201):
            raise SigwardError(f"Rekor at {self.url} refused the entry ({r.status_code}): {r.text[:300]}")
        try:
            obj = r.json()
        except ValueError:
            raise SigwardError(f"Rekor at {self.url} sent a response that is not JSON")
        return parse_tlog_entry(obj, "Rekor v2 response") if self.version == 2 else _from_v1(obj, self.url)


def _from_v1(obj: Any, url: str) -> TlogEntry:
    """A v1 ``LogEntry`` map ``{uuid: {body, integratedTime, logID, logIndex, verification}}`` → TlogEntry."""
    try:
        (entry,) = obj.values()
        body = base64.b64decode(entry["body"])
        kind = safejson.loads(body)
        verification = entry.get("verification") or {}
        proof = verification.get("inclusionProof")
        pb: dict[str, Any] = {
            "logIndex": str(entry["logIndex"]),
            "logId": {"keyId": _b64(bytes.fromhex(entry["logID"]))},
            "kindVersion": {"kind": kind["kind"], "version": kind["apiVersion"]},
            "integratedTime": str(entry["integratedTime"]),
            "canonicalizedBody": entry["body"],
        }
        if verification.get("signedEntryTimestamp"):
            pb["inclusionPromise"] = {"signedEntryTimestamp": verification["signedEntryTimestamp"]}
        if proof:
            pb["inclusionProof"] = {
                "logIndex": str(proof["logIndex"]),
                "rootHash": _b64(bytes.fromhex(proof["rootHash"])),
                "treeSize": str(proof["treeSize"]),
                "hashes": [_b64(bytes.fromhex(h)) for h in proof.get("hashes") or []],
                "checkpoint": {"envelope": proof["checkpoint"]},
            }
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise SigwardError(f"Rekor at {url} sent an unexpected entry: {e}")
    return parse_tlog_entry(pb, "Rekor v1 entry")
