"""Fulcio v2 client: trade an identity token and a fresh public key for a short-lived certificate.

The request is cosign's form (token in ``credentials`` plus proof of possession: a signature over the
token's subject), which every Fulcio accepts; the token also goes in the ``Authorization`` header.
A request is retried on connection failures and 429/5xx (``sigward.transport``): a repeated request only
issues another certificate for the same ephemeral key.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from sigward.errors import SigwardError

if TYPE_CHECKING:
    from sigward.transport import ClientOptions

SIGNING_CERT_PATH = "/api/v2/signingCert"


def request_certificate(url: str, token: Any, signer: Any, timeout: float = 30.0,
                        options: ClientOptions | None = None) -> list[Any]:
    """The certificate chain (leaf first) for ``signer``'s key; ``token``: ``oidc.IdentityToken``."""
    import httpx
    from cryptography import x509

    from sigward import transport
    from sigward.keys.keytypes import public_key_pem

    # Fulcio checks the proof against the token's subject: its email claim if it has one, else ``sub``
    # (for a GitHub token that is "repo:org/repo:ref:…", not the workflow URL the certificate names).
    subject = token.claims.get("email") or token.subject
    challenge = signer.sign(str(subject).encode())
    body = {
        "credentials": {"oidcIdentityToken": token.raw},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": public_key_pem(signer.public_key).decode()},
            "proofOfPossession": base64.b64encode(challenge).decode(),
        },
    }
    endpoint = url.rstrip("/") + SIGNING_CERT_PATH
    try:
        r = transport.request("POST", endpoint, json=body, timeout=timeout, idempotent=True,
                              options=options, headers={
                                  "Authorization": f"Bearer {token.raw}", "Accept": "application/json"})
    except httpx.HTTPError as e:
        raise SigwardError(f"Fulcio at {url} is unreachable: {e}")
    if r.status_code not in (200, 201):
        raise SigwardError(f"Fulcio at {url} refused the certificate request ({r.status_code}): "
                           f"{_message(r)}")
    try:
        obj = r.json()
        signed = obj.get("signedCertificateEmbeddedSct") or obj.get("signedCertificateDetachedSct")
        pems = signed["chain"]["certificates"]
        chain = [x509.load_pem_x509_certificate(p.encode()) for p in pems]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise SigwardError(f"Fulcio at {url} sent an unexpected response: {e}")
    if not chain:
        raise SigwardError(f"Fulcio at {url} sent no certificate")
    if "signedCertificateDetachedSct" in obj:
        raise SigwardError(f"Fulcio at {url} returned a detached SCT; only embedded SCTs are supported")
    from sigward.keys.keytypes import public_key_der

    if public_key_der(chain[0].public_key()) != public_key_der(signer.public_key):
        raise SigwardError(f"Fulcio at {url} issued a certificate for another key")
    return chain


def _message(r: Any) -> str:
    try:
        return str(r.json().get("message", r.text))[:300]
    except ValueError:
        return str(r.text)[:300]
