"""Sigstore bundles from cosign's older detached material (``bundle create``), bundle upgrades to v0.3
(``bundle upgrade``) and a readable summary (``bundle inspect``).

``bundle create`` keeps whatever evidence the old material has: a Rekor bundle (signed entry
timestamp) becomes a tlog entry with its inclusion promise — a v0.1 bundle, since v0.2+ bundles must
carry an inclusion proof, which only the log can supply — and an RFC 3161 timestamp file becomes the
bundle's timestamp. Without log evidence (or with ``ignore_tlog``) the bundle is v0.3.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sigward.errors import SigwardError, UsageError
from sigward.formats import bundle as bundle_fmt
from sigward.formats._common import protojson


@dataclass
class BundleInputs:
    artifact_path: str | None = None
    attestation: bytes | None = None  # a DSSE envelope (JSON)
    signature_b64: bytes | None = None
    certificate_pem: bytes | None = None
    public_key_pem: bytes | None = None
    old_bundle: bytes | None = None  # cosign's LocalSignedPayload
    rfc3161_timestamp: bytes | None = None  # cosign's {"SignedRFC3161Timestamp": ...} file
    ignore_tlog: bool = False


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _tlog_from_rekor_bundle(rb: Any) -> dict[str, Any]:
    """A protobuf-JSON TransparencyLogEntry with the inclusion promise of cosign's Rekor bundle."""
    body = base64.b64decode(rb.body) if isinstance(rb.body, str) else rb.body
    try:
        parsed = json.loads(body)
        kind, version = parsed["kind"], parsed["apiVersion"]
    except (ValueError, KeyError, TypeError):
        raise SigwardError("the Rekor bundle's body is not a Rekor entry (kind/apiVersion missing)")
    return {
        "logIndex": str(rb.log_index),
        "logId": {"keyId": _b64(bytes.fromhex(rb.log_id))},
        "kindVersion": {"kind": kind, "version": version},
        "integratedTime": str(rb.integrated_time),
        "inclusionPromise": {"signedEntryTimestamp": _b64(rb.signed_entry_timestamp)},
        "canonicalizedBody": _b64(body),
    }


def _as_v01(data: bytes) -> bytes:
    """Re-label a freshly built v0.3 bundle as v0.1 (certificate chains instead of a single certificate)."""
    obj = json.loads(data)
    obj["mediaType"] = bundle_fmt.MEDIA_TYPE_V01
    vm = obj["verificationMaterial"]
    if "certificate" in vm:
        vm["x509CertificateChain"] = {"certificates": [vm.pop("certificate")]}
    return protojson(obj)


def create_bundle(inputs: BundleInputs) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from sigward.formats import blobbundle, dsse, rekorbundle
    from sigward.keys.keytypes import public_key_hint

    old = blobbundle.parse(inputs.old_bundle) if inputs.old_bundle else None
    cert_pem = inputs.certificate_pem or (old.cert_pem if old else None)
    key_pem = inputs.public_key_pem
    if cert_pem and b"CERTIFICATE" not in cert_pem:  # cosign's old bundle holds a key signer's public key
        key_pem, cert_pem = key_pem or cert_pem, None
    cert_der = hint = None
    if cert_pem:
        try:
            cert_der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
        except ValueError:
            raise UsageError("BundleInputs.certificate_pem is not a PEM certificate")
    elif key_pem:
        try:
            hint = public_key_hint(serialization.load_pem_public_key(key_pem))  # type: ignore[arg-type]
        except ValueError:
            raise UsageError("BundleInputs.public_key_pem is not a PEM public key")
    else:
        raise UsageError("the bundle needs the signer: pass BundleInputs.certificate_pem or "
                         "BundleInputs.public_key_pem (or a BundleInputs.old_bundle with a cert)")
    entries = []
    if old is not None and old.rekor_bundle is not None and not inputs.ignore_tlog:
        entries.append(_tlog_from_rekor_bundle(old.rekor_bundle))
    stamps = ([rekorbundle.parse_rfc3161_annotation(inputs.rfc3161_timestamp)]
              if inputs.rfc3161_timestamp else [])
    material: dict[str, Any] = {"public_key_hint": hint, "certificate_der": cert_der, "tlog_entries": entries,
                                "rfc3161_timestamps": stamps}
    if inputs.attestation is not None:
        data = bundle_fmt.dsse_bundle(dsse.parse(inputs.attestation), **material)
    else:
        sig_text = inputs.signature_b64 or (old.base64_signature.encode() if old else None)
        if not sig_text:
            raise UsageError("BundleInputs.artifact_path needs BundleInputs.signature_b64 (or a "
                             "BundleInputs.old_bundle holding the signature)")
        try:
            signature = base64.b64decode(sig_text.strip(), validate=True)
        except ValueError:
            raise UsageError("BundleInputs.signature_b64 is not base64")
        assert inputs.artifact_path is not None
        digest = hashlib.sha256()
        try:
            with open(inputs.artifact_path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
        except OSError as e:
            raise UsageError(f"cannot read BundleInputs.artifact_path {inputs.artifact_path}: "
                             f"{e.strerror or e}")
        data = bundle_fmt.message_signature_bundle(digest.digest(), signature, **material)
    return _as_v01(data) if entries else data


def upgrade_bundle(data: bytes) -> bytes:
    """A v0.1/v0.2 bundle as v0.3: the leaf certificate alone, every log entry with its inclusion proof."""
    b = bundle_fmt.parse_bundle(data)
    if b.version == "0.3":
        return data
    if any(e.inclusion_proof is None for e in b.tlog_entries):
        raise SigwardError("the bundle's log entry has no inclusion proof (a v0.1 bundle); fetching it from "
                           "Rekor is not supported yet, and a v0.3 bundle must have it")
    obj = json.loads(data)
    obj["mediaType"] = bundle_fmt.MEDIA_TYPE_V03
    vm = obj["verificationMaterial"]
    chain = vm.pop("x509CertificateChain", None)
    if chain is not None:
        vm["certificate"] = chain["certificates"][0]
    return protojson(obj)


def inspect_bundle(data: bytes) -> str:
    """What a bundle holds, one fact a line (nothing is verified)."""
    from cryptography import x509

    b = bundle_fmt.parse_bundle(data)
    lines = [f"Bundle version: {b.version} ({b.media_type})"]
    if b.dsse_envelope is not None:
        env = b.dsse_envelope
        lines.append(f"Content: DSSE envelope, payload type {env.payload_type}")
        try:
            stmt = json.loads(env.payload)
            lines.append(f"  predicate type: {stmt.get('predicateType')}")
            for s in stmt.get("subject") or []:
                lines.append(f"  subject: {s.get('name', '')} {json.dumps(s.get('digest'), sort_keys=True)}")
        except ValueError:
            pass
    elif b.message_signature is not None:
        ms = b.message_signature
        digest = ms.digest.hex() if ms.digest is not None else "(no digest)"
        lines.append(f"Content: message signature over {ms.digest_algorithm} {digest}")
    if b.certificates:
        cert = x509.load_der_x509_certificate(b.certificates[0])
        lines.append(f"Signing certificate: serial {cert.serial_number:x}, "
                     f"issuer {cert.issuer.rfc4514_string()}")
        lines.append(f"  valid {cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} to "
                     f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}")
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = [str(getattr(n, "value", n)) for n in san]
            lines.append(f"  identity: {', '.join(names)}")
        except x509.ExtensionNotFound:
            pass
        for ext in cert.extensions:
            if ext.oid.dotted_string in ("1.3.6.1.4.1.57264.1.1", "1.3.6.1.4.1.57264.1.8"):
                raw = getattr(ext.value, "value", b"")
                issuer = raw[2:] if ext.oid.dotted_string.endswith(".8") else raw
                lines.append(f"  OIDC issuer: {issuer.decode('utf-8', 'replace')}")
    else:
        lines.append(f"Public key hint: {b.public_key_hint or '(none)'}")
    for e in b.tlog_entries:
        proof = "inclusion proof" if e.inclusion_proof is not None else "no inclusion proof"
        promise = ", inclusion promise" if e.signed_entry_timestamp is not None else ""
        lines.append(f"Transparency log entry: index {e.log_index}, log {e.log_id.hex()[:16]}…, "
                     f"integrated {e.integrated_time}, {proof}{promise}")
    lines.append(f"RFC 3161 timestamps: {len(b.rfc3161_timestamps)}")
    return "\n".join(lines)
