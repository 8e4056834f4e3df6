"""A CA and a serving certificate for the webhook: the API server only calls webhooks over TLS it can
verify with the ``caBundle`` of the WebhookConfiguration, so a cluster without cert-manager needs both.
Policy-controller generates them in-process (knative's certificates controller); here it is an explicit
step whose files the server reads (and reloads when they are rotated)."""

from __future__ import annotations

import base64
import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class IssuedCerts:
    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path

    @property
    def ca_bundle(self) -> str:
        """The base64 PEM that goes into ``webhooks[].clientConfig.caBundle``."""
        return base64.b64encode(self.ca_cert.read_bytes()).decode()


def issue(out: Path, hosts: Sequence[str], *, days: int = 365, ca_name: str = "sigward admission CA",
          now: datetime.datetime | None = None) -> IssuedCerts:
    """Write ca.crt, ca.key, tls.crt and tls.key (keys mode 0600) under ``out``; ``hosts`` (DNS names or IP
    addresses, e.g. ``sigward-admission.sigward-system.svc``) become the serving certificate's SANs."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from sigward import fileio

    if not hosts:
        raise ValueError("at least one host name or IP address is needed for the serving certificate")
    now = now or datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
    ca = (x509.CertificateBuilder().subject_name(ca_subject).issuer_name(ca_subject)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))

    def pem_key(k: ec.EllipticCurvePrivateKey) -> bytes:
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())

    out.mkdir(parents=True, exist_ok=True)
    files = IssuedCerts(out / "ca.crt", out / "ca.key", out / "tls.crt", out / "tls.key")
    fileio.write_all_atomic([(str(files.ca_key), pem_key(ca_key), 0o600),
                             (str(files.key), pem_key(key), 0o600),
                             (str(files.ca_cert), ca.public_bytes(serialization.Encoding.PEM), 0o644),
                             (str(files.cert), cert.public_bytes(serialization.Encoding.PEM), 0o644)])
    return files
