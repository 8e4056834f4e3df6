"""Fulcio certificates: chain to the trusted CAs at a given time, embedded SCTs, identity extensions.

The chain check is done by hand rather than with ``cryptography``'s WebPKI verifier: Fulcio leaves
carry a critical SAN that may be an OtherName and an empty subject, which WebPKI policies reject, and
cosign's rule is simpler (the trusted root's chain, each link valid at the verified time).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sigward.errors import VerificationError

if TYPE_CHECKING:  # annotations only: importing certs (as verify does) must not load the trust root code
    from sigward.sigstore.trust import Authority, TrustedRoot

OID_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"
OID_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"
OID_OTHERNAME_SAN = "1.3.6.1.4.1.57264.1.7"
OID_CODE_SIGNING = "1.3.6.1.5.5.7.3.3"
# cosign's output names for the legacy GitHub extensions (OID → name).
GITHUB_EXTENSIONS = {
    "1.3.6.1.4.1.57264.1.2": "githubWorkflowTrigger",
    "1.3.6.1.4.1.57264.1.3": "githubWorkflowSha",
    "1.3.6.1.4.1.57264.1.4": "githubWorkflowName",
    "1.3.6.1.4.1.57264.1.5": "githubWorkflowRepository",
    "1.3.6.1.4.1.57264.1.6": "githubWorkflowRef",
}


def load_certificate(der: bytes, what: str = "certificate") -> Any:
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as e:
        raise VerificationError(f"the {what} cannot be parsed: {e}")


def load_pem_certificates(pem: bytes, what: str = "certificate") -> list[Any]:
    from cryptography import x509

    try:
        return list(x509.load_pem_x509_certificates(pem))
    except ValueError as e:
        raise VerificationError(f"the {what} cannot be parsed: {e}")


def _der_utf8(value: bytes) -> str | None:
    """The string in a DER UTF8String (the v2 Fulcio extensions), else None."""
    if len(value) >= 2 and value[0] == 0x0C:
        n, off = value[1], 2
        if n & 0x80:
            k = n & 0x7F
            n, off = int.from_bytes(value[2:2 + k], "big"), 2 + k
        if off + n == len(value):
            return value[off:].decode("utf-8", "replace")
    return None


@dataclass(frozen=True)
class CertIdentity:
    """What identity policies look at: the SANs, the OIDC issuer and the Fulcio extensions."""

    sans: tuple[str, ...]
    subject: str  # cosign's "Subject": the first email, else URI, else other-name SAN
    issuer: str | None
    extensions: dict[str, str] = field(default_factory=dict)  # OID → string value


def identity_of(cert: Any) -> CertIdentity:
    from cryptography import x509

    emails: list[str] = []
    uris: list[str] = []
    others: list[str] = []
    dns: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        emails = list(san.get_values_for_type(x509.RFC822Name))
        uris = list(san.get_values_for_type(x509.UniformResourceIdentifier))
        dns = list(san.get_values_for_type(x509.DNSName))
        for on in san.get_values_for_type(x509.OtherName):
            if on.type_id.dotted_string == OID_OTHERNAME_SAN:
                s = _der_utf8(on.value)
                if s is not None:
                    others.append(s)
        dns += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    exts: dict[str, str] = {}
    for ext in cert.extensions:
        oid = ext.oid.dotted_string
        if oid.startswith("1.3.6.1.4.1.57264.1."):
            raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
            # .1.1-.1.6 hold raw strings; .1.8 onwards DER UTF8Strings.
            if int(oid.rsplit(".", 1)[1]) <= 7:
                exts[oid] = raw.decode("utf-8", "replace")
            else:
                exts[oid] = _der_utf8(raw) or raw.decode("utf-8", "replace")
    issuer = exts.get(OID_ISSUER_V2) or exts.get(OID_ISSUER_V1)
    subject = (emails or uris or others or [""])[0]
    return CertIdentity(tuple(emails + uris + others + dns), subject, issuer, exts)


def _not_before(cert: Any) -> datetime:
    return cert.not_valid_before_utc  # type: ignore[no-any-return]


def _not_after(cert: Any) -> datetime:
    return cert.not_valid_after_utc  # type: ignore[no-any-return]


def valid_at(cert: Any, t: datetime) -> bool:
    return _not_before(cert) <= t <= _not_after(cert)


def _is_ca(cert: Any) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(child: Any, parent: Any) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, Exception):  # InvalidSignature, unsupported algorithms
        return False
    return True


def check_leaf_profile(leaf: Any) -> None:
    """A signing certificate: not a CA, digitalSignature usage, codeSigning extended usage."""
    from cryptography import x509

    if _is_ca(leaf):
        raise VerificationError("certificate chain: the signing certificate is a CA certificate")
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.digital_signature:
            raise VerificationError("certificate: key usage does not include digitalSignature")
    except x509.ExtensionNotFound:
        raise VerificationError("certificate: no key usage extension")
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if OID_CODE_SIGNING not in {o.dotted_string for o in eku}:
            raise VerificationError("certificate: extended key usage does not include codeSigning")
    except x509.ExtensionNotFound:
        raise VerificationError("certificate: no extended key usage extension")


def verify_chain(leaf: Any, root: TrustedRoot, at: datetime) -> tuple[Authority, Any]:
    """Chain ``leaf`` to a trusted CA valid at ``at``; returns the CA and the leaf's issuer certificate."""
    if not root.certificate_authorities:
        raise VerificationError(f"certificate chain: the {root.source} has no certificate authorities")
    check_leaf_profile(leaf)
    if not valid_at(leaf, at):
        raise VerificationError(
            f"certificate chain: the signing certificate was not valid at {_fmt(at)} (it is valid from "
            f"{_fmt(_not_before(leaf))} to {_fmt(_not_after(leaf))})")
    for ca in root.certificate_authorities:
        chain = ca.chain
        if not _issued_by(leaf, chain[0]):
            continue
        if not ca.validity.contains(at):
            continue
        ok = all(valid_at(c, at) and _is_ca(c) for c in chain) and all(
            _issued_by(chain[i], chain[i + 1]) for i in range(len(chain) - 1))
        if ok:
            return ca, chain[0]
    raise VerificationError(
        f"certificate chain: the signing certificate does not chain to a certificate authority in the "
        f"{root.source} valid at {_fmt(at)}")


def _fmt(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- SCT ---------------------------------------------------------------------------------------------


def verify_embedded_sct(leaf: Any, issuer: Any, root: TrustedRoot) -> None:
    """The certificate's embedded SCT must be signed by a CT log in the trusted root (RFC 6962 §3.2)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from sigward.sigstore.tlog import verify_signature

    try:
        scts = list(leaf.extensions.get_extension_for_class(
            x509.PrecertificateSignedCertificateTimestamps).value)
    except x509.ExtensionNotFound:
        raise VerificationError("certificate has no embedded SCT (Checks.ignore_sct skips this check)")
    issuer_key_hash = hashlib.sha256(issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()
    tbs = leaf.tbs_precertificate_bytes
    errors = []
    for sct in scts:
        log = root.ctlog_by_id(sct.log_id)
        if log is None:
            errors.append(f"SCT from an unknown CT log {sct.log_id.hex()[:16]}…")
            continue
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        ms = (sct.timestamp.replace(tzinfo=UTC) - epoch) // timedelta(milliseconds=1)
        ext = sct.extension_bytes
        msg = (b"\x00\x00" + ms.to_bytes(8, "big") + b"\x00\x01" + issuer_key_hash
               + len(tbs).to_bytes(3, "big") + tbs + len(ext).to_bytes(2, "big") + ext)
        if verify_signature(log.public_key, sct.signature, msg):
            return
        errors.append("SCT signature does not verify")
    raise VerificationError("certificate SCT: " + "; ".join(errors or ["no SCT"]))
