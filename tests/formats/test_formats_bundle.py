"""Bundle JSON: building in cosign's field order, parsing versions and material kinds, rejecting junk."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from sigward.formats import bundle, dsse
from sigward.formats._common import FormatError


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def test_message_signature_bundle_bytes() -> None:
    out = bundle.message_signature_bundle(b"\x01" * 32, b"sig", public_key_hint="aGludA==")
    assert out == (
        b'{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json",'
        b'"verificationMaterial":{"publicKey":{"hint":"aGludA=="}},'
        b'"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"'
        + _b64(b"\x01" * 32).encode()
        + b'"},"signature":"c2ln"}}'
    )
    b = bundle.parse_bundle(out)
    assert b.material_kind == "public_key" and b.public_key_hint == "aGludA=="
    assert b.message_signature == bundle.MessageSignature(b"sig", "SHA2_256", b"\x01" * 32)
    assert b.signature == b"sig" and b.dsse_envelope is None and b.leaf_certificate is None


def test_dsse_bundle_with_timestamps_round_trip() -> None:
    env = dsse.Envelope(b'{"a":1}', dsse.IN_TOTO_PAYLOAD_TYPE, (dsse.Signature(b"s"),))
    entry = bundle.TlogEntry(log_index=7, log_id=b"\xaa" * 32, kind="hashedrekord", version="0.0.1",
                             integrated_time=0, canonicalized_body=b"{}")
    out = bundle.dsse_bundle(env, certificate_der=b"DER", tlog_entries=[entry], rfc3161_timestamps=[b"TS"])
    obj = json.loads(out)
    assert list(obj) == ["mediaType", "verificationMaterial", "dsseEnvelope"]
    assert list(obj["verificationMaterial"]) == ["certificate", "tlogEntries", "timestampVerificationData"]
    # rekor v2 style: no integratedTime, no inclusion promise
    assert obj["verificationMaterial"]["tlogEntries"][0] == {
        "logIndex": "7", "logId": {"keyId": _b64(b"\xaa" * 32)},
        "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"}, "canonicalizedBody": "e30=",
    }
    assert obj["dsseEnvelope"] == {"payload": "eyJhIjoxfQ==", "payloadType": "application/vnd.in-toto+json",
                                   "signatures": [{"sig": "cw=="}]}
    b = bundle.parse_bundle(out)
    assert b.dsse_envelope == env and b.dsse_envelope.payload == b'{"a":1}'
    assert b.certificates == (b"DER",) and b.rfc3161_timestamps == (b"TS",)
    assert b.tlog_entries[0] == entry


def test_builder_needs_exactly_one_identity() -> None:
    with pytest.raises(ValueError):
        bundle.message_signature_bundle(b"d", b"s")
    with pytest.raises(ValueError):
        bundle.message_signature_bundle(b"d", b"s", public_key_hint="h", certificate_der=b"c")


def _minimal(**over: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "mediaType": bundle.MEDIA_TYPE_V03,
        "verificationMaterial": {"publicKey": {"hint": "h"}},
        "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": "ZA=="},
                             "signature": "c2ln"},
    }
    obj.update(over)
    return {k: v for k, v in obj.items() if v is not None}


@pytest.mark.parametrize(
    ("media_type", "version"),
    [
        ("application/vnd.dev.sigstore.bundle+json;version=0.1", "0.1"),
        ("application/vnd.dev.sigstore.bundle+json;version=0.2", "0.2"),
        ("application/vnd.dev.sigstore.bundle+json;version=0.3", "0.3"),
        ("application/vnd.dev.sigstore.bundle.v0.3+json", "0.3"),
    ],
)
def test_versions(media_type: str, version: str) -> None:
    assert bundle.parse_bundle(json.dumps(_minimal(mediaType=media_type)).encode()).version == version


def test_chain_material_and_proto_field_names() -> None:
    obj = {
        "media_type": bundle.MEDIA_TYPE_V02,
        "verification_material": {"x509_certificate_chain": {"certificates": [
            {"raw_bytes": _b64(b"leaf")}, {"rawBytes": _b64(b"ca")}]}},
        "message_signature": {"message_digest": {"algorithm": "SHA2_256", "digest": "ZA=="},
                              "signature": "c2ln"},
    }
    b = bundle.parse_bundle(json.dumps(obj).encode())
    assert b.material_kind == "x509_chain" and b.certificates == (b"leaf", b"ca")
    assert b.leaf_certificate == b"leaf"


def test_url_safe_unpadded_base64_accepted() -> None:
    obj = _minimal(messageSignature={"messageDigest": {"algorithm": "SHA2_256", "digest": "ZA"},
                                     "signature": "-_8"})
    assert bundle.parse_bundle(json.dumps(obj).encode()).signature == b"\xfb\xff"


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (_minimal(mediaType=None), "sigstore bundle: mediaType is missing"),
        (_minimal(mediaType="application/json"), "unsupported mediaType 'application/json'"),
        (_minimal(verificationMaterial=None), "verificationMaterial is missing"),
        (_minimal(verificationMaterial={}),
         "verificationMaterial has no publicKey, x509CertificateChain or certificate"),
        (_minimal(verificationMaterial={"publicKey": {}, "certificate": {"rawBytes": "eA=="}}),
         "has more than one of publicKey, certificate"),
        (_minimal(verificationMaterial={"certificate": {}}),
         "verificationMaterial.certificate.rawBytes is missing"),
        (_minimal(verificationMaterial={"certificate": {"rawBytes": "%%"}}), "rawBytes is not valid base64"),
        (_minimal(verificationMaterial={"x509CertificateChain": {"certificates": []}}),
         "certificates is empty"),
        (_minimal(messageSignature=None), "has neither messageSignature nor dsseEnvelope"),
        (_minimal(dsseEnvelope={}), "has both messageSignature and dsseEnvelope"),
        (_minimal(messageSignature={"signature": 3}),
         "messageSignature.signature must be a string, got a number"),
        (_minimal(messageSignature=None, dsseEnvelope={"payload": "", "payloadType": "t", "signatures": []}),
         "dsseEnvelope: no signatures"),
        (_minimal(verificationMaterial={"publicKey": {}, "tlogEntries": [{"logId": {"keyId": "AA=="}}]}),
         "tlogEntries[0].kindVersion is missing"),
        (_minimal(verificationMaterial={"publicKey": {}, "tlogEntries": [{
            "logIndex": "x", "logId": {"keyId": "AA=="}, "kindVersion": {"kind": "k", "version": "v"},
            "canonicalizedBody": "e30="}]}), "tlogEntries[0].logIndex must be an integer, got a string"),
    ],
)
def test_rejects_malformed(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(FormatError) as e:
        bundle.parse_bundle(json.dumps(obj).encode())
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_is_bundle() -> None:
    assert bundle.is_bundle(json.dumps(_minimal()).encode())
    assert not bundle.is_bundle(b'{"base64Signature":"c2ln"}')
    assert not bundle.is_bundle(b"\xff\xfe")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"mediaType": "x", "mediaType": "y"}', "sigstore bundle.mediaType: duplicate field"),
        (json.dumps(_minimal(extra=1)).encode(), "sigstore bundle.extra: unknown field"),
        (json.dumps(_minimal(verificationMaterial={"publicKey": {"hint": "h", "x": 1}})).encode(),
         "sigstore bundle.verificationMaterial.publicKey.x: unknown field"),
        (json.dumps(_minimal(messageSignature={"signature": "c2ln"})).encode(),
         "messageSignature.messageDigest is missing"),
        (json.dumps(_minimal(messageSignature={"signature": "c2ln", "messageDigest": None})).encode(),
         "messageSignature.messageDigest is missing"),
        (json.dumps(_minimal(verificationMaterial={"publicKey": {"hint": {}}})).encode(),
         "publicKey.hint must be a string, got an object"),
        (json.dumps({**_minimal(), "media_type": bundle.MEDIA_TYPE_V03}).encode(),
         "sigstore bundle.mediaType: given twice (as mediaType and media_type)"),
    ],
)
def test_strict_like_protojson(raw: bytes, message: str) -> None:
    """sigstore-go (protojson) refuses duplicate, unknown and missing required fields; so do we, by path."""
    with pytest.raises(FormatError) as e:
        bundle.parse_bundle(raw)
    assert message in str(e.value)
