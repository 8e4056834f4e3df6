"""The legacy ``sign-blob --bundle`` file, cosign's ``LocalSignedPayload`` (cosign-wire-formats.md §5.1).

``{"base64Signature":…,"cert":…,"rekorBundle":{…}}``: ``cert`` is base64 of a PEM (certificate, or in
v3.1 the public key) and omitted when empty; ``rekorBundle`` is omitted without tlog upload.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sigward import gojson
from sigward.formats import rekorbundle
from sigward.formats._common import (
    FormatError,
    b64decode_std,
    b64encode,
    load_object,
    want_str,
)

WHAT = "signed payload bundle"


@dataclass(frozen=True)
class LocalSignedPayload:
    base64_signature: str
    cert_pem: bytes | None = None
    rekor_bundle: rekorbundle.RekorBundle | None = None
    raw: bytes | None = field(default=None, compare=False, repr=False)

    def signature(self) -> bytes:
        return b64decode_std(self.base64_signature, f"{WHAT}: base64Signature")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"base64Signature": self.base64_signature}
        if self.cert_pem:
            out["cert"] = b64encode(self.cert_pem)
        if self.rekor_bundle is not None:
            out["rekorBundle"] = self.rekor_bundle.to_json()
        return out

    def marshal(self) -> bytes:
        return gojson.marshal(self.to_json())


def build(
    signature: bytes, cert_pem: bytes | str | None = None,
    rekor_bundle: rekorbundle.RekorBundle | None = None,
) -> bytes:
    """The file bytes for a raw ``signature`` and optional PEM and Rekor bundle."""
    pem = cert_pem.encode("utf-8") if isinstance(cert_pem, str) else cert_pem
    return LocalSignedPayload(b64encode(signature), pem, rekor_bundle).marshal()


def parse(data: bytes) -> LocalSignedPayload:
    """Parse the file; the signature must decode, and ``cert`` must be base64 of a PEM block."""
    obj = load_object(data, WHAT)
    sig = want_str(obj.get("base64Signature"), f"{WHAT}: base64Signature")
    assert sig is not None
    b64decode_std(sig, f"{WHAT}: base64Signature")
    cert_b64 = want_str(obj.get("cert"), f"{WHAT}: cert", required=False)
    pem = None
    if cert_b64:
        pem = b64decode_std(cert_b64, f"{WHAT}: cert")
        if b"-----BEGIN " not in pem:
            raise FormatError(f"{WHAT}: cert is not base64 of a PEM block")
    rb = obj.get("rekorBundle")
    rekor = rekorbundle.from_json(rb, f"{WHAT}: rekorBundle") if rb is not None else None
    return LocalSignedPayload(sig, pem, rekor, raw=bytes(data))
