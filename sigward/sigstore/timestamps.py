"""RFC 3161 signed timestamps: verified with rfc3161-client against the trusted root's TSAs.

A timestamp proves the signature existed at ``genTime``; that time then stands in for "now" when the
certificate chain is checked, which is how an expired Fulcio certificate still verifies.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sigward.errors import VerificationError
from sigward.sigstore.trust import TrustedRoot

if TYPE_CHECKING:
    from sigward.transport import ClientOptions


def verify_timestamp(root: TrustedRoot, response_der: bytes, message: bytes) -> datetime:
    """The verified ``genTime`` of a DER TimeStampResp over ``message`` (the signature bytes)."""
    import rfc3161_client
    from rfc3161_client import VerifierBuilder, decode_timestamp_response

    try:
        ts = decode_timestamp_response(response_der)
    except (ValueError, rfc3161_client.VerificationError) as e:
        raise VerificationError(f"timestamp: the RFC 3161 response cannot be parsed ({e})")
    if not root.timestamp_authorities:
        raise VerificationError(f"timestamp: the {root.source} has no timestamp authorities")
    gen_time = ts.tst_info.gen_time
    if gen_time.tzinfo is None:
        gen_time = gen_time.replace(tzinfo=UTC)
    errors = []
    for tsa in root.timestamp_authorities:
        chain = tsa.chain
        builder = VerifierBuilder(tsa_certificate=chain[0], roots=[chain[-1]],
                                  intermediates=list(chain[1:-1]))
        try:
            builder.build().verify_message(ts, message)
        except (rfc3161_client.VerificationError, ValueError) as e:
            errors.append(_reason(str(e)))
            continue
        if not tsa.validity.contains(gen_time):
            errors.append(f"the TSA was not trusted at {gen_time:%Y-%m-%dT%H:%M:%SZ}")
            continue
        if not all(c.not_valid_before_utc <= gen_time <= c.not_valid_after_utc for c in chain):
            errors.append("the TSA certificate chain was not valid at the timestamp's time")
            continue
        return gen_time
    raise VerificationError(
        "timestamp: no trusted timestamp authority verifies it (" + "; ".join(errors) + ")")


def _reason(message: str) -> str:
    """One readable reason from rfc3161-client's errors (which can embed an OpenSSL error stack)."""
    if "signer certificate not found" in message:
        return "the timestamp's signer is not a certificate of this TSA"
    if "Unable to verify pkcs7 signature" in message:
        return "the timestamp's signature does not chain to this TSA's certificates"
    return message.splitlines()[0][:200]


def request_timestamp(url: str, signature: bytes, timeout: float = 30.0,
                      options: ClientOptions | None = None) -> bytes:
    """Ask a TSA (``POST`` of a DER TimeStampReq) for a timestamp over ``signature``; the DER reply.

    Retried on connection failures and 429/5xx: asking again only gets another timestamp."""
    import httpx
    from rfc3161_client import TimestampRequestBuilder, decode_timestamp_response

    from sigward import transport
    from sigward.errors import SigwardError

    req = TimestampRequestBuilder().data(signature).nonce(nonce=True).cert_request(cert_request=True).build()
    try:
        r = transport.request("POST", url, content=req.as_bytes(), timeout=timeout, idempotent=True,
                              options=options, headers={"Content-Type": "application/timestamp-query"})
    except httpx.HTTPError as e:
        raise SigwardError(f"timestamp authority {url} is unreachable: {e}")
    if r.status_code not in (200, 201):
        raise SigwardError(f"timestamp authority {url} answered {r.status_code}: {r.text[:200]}")
    # rfc3161-client parses the token lazily: a malformed one raises on first access to tst_info, so
    # everything the reply is checked for happens inside this one try.
    try:
        resp = decode_timestamp_response(r.content)
        if resp.status not in (0, 1):  # PKIStatus granted, grantedWithMods
            raise SigwardError(f"timestamp authority {url} refused the request (PKIStatus {resp.status})")
        nonce = resp.tst_info.nonce
    except (ValueError, TypeError) as e:
        raise SigwardError(f"timestamp authority {url} sent an invalid response: {_reason(str(e))}")
    if nonce != req.nonce:
        raise SigwardError(f"timestamp authority {url} answered with the wrong nonce")
    return r.content
