"""Referrer manifests, LocalSignedPayload files, Rekor bundle parsing, verify -o json objects."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sigward.formats import blobbundle, payloads, referrer, rekorbundle, simplesigning
from sigward.formats._common import FormatError
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import Descriptor, Manifest

SUBJECT = Descriptor(mt.OCI_MANIFEST, "sha256:" + "5" * 64, 1234, annotations={"dropped": "yes"})


def test_referrer_manifest_exact_bytes() -> None:
    bundle = b'{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}'
    bd = "sha256:" + hashlib.sha256(bundle).hexdigest()
    m = referrer.referrer_manifest(bundle, SUBJECT, "https://example.com/<p>", "2026-07-24T18:30:00Z")
    assert m.data == (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        '"config":{"mediaType":"application/vnd.oci.empty.v1+json","size":2,'
        '"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",'
        '"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"},'
        f'"layers":[{{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","size":{len(bundle)},'
        f'"digest":"{bd}"}}],'
        '"annotations":{"dev.sigstore.bundle.content":"dsse-envelope",'
        '"dev.sigstore.bundle.predicateType":"https://example.com/\\u003cp\\u003e",'
        '"org.opencontainers.image.created":"2026-07-24T18:30:00Z"},'
        f'"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1234,'
        f'"digest":"{SUBJECT.digest}"}},'
        '"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"}'
    ).encode()
    parsed = Manifest.parse(m.data)
    assert parsed.digest == m.digest and parsed.subject is not None
    assert referrer.is_bundle_referrer(parsed)
    desc = Descriptor(mt.SIGSTORE_BUNDLE_V03, bd, len(bundle))
    assert referrer.referrer_manifest(desc, SUBJECT, "https://example.com/<p>", "2026-07-24T18:30:00Z") == m


def test_created_now_format() -> None:
    t = datetime(2026, 1, 2, 5, 4, 5, 999999, tzinfo=timezone(timedelta(hours=2)))
    assert referrer.created_now(t) == "2026-01-02T03:04:05Z"
    assert referrer.created_now().endswith("Z") and len(referrer.created_now(datetime.now(UTC))) == 20


def _manifest(layers: list[dict[str, object]]) -> Manifest:
    return Manifest.from_json({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                               "config": {"mediaType": mt.OCI_EMPTY, "size": 2, "digest": mt.EMPTY_DIGEST},
                               "layers": layers})


def test_is_bundle_referrer_ignores_artifact_type() -> None:
    layer = {"mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.2", "size": 1,
             "digest": "sha256:" + "1" * 64}
    assert referrer.is_bundle_referrer(_manifest([layer]))
    assert not referrer.is_bundle_referrer(_manifest([layer, layer]))
    assert not referrer.is_bundle_referrer(_manifest([{**layer, "mediaType": "application/json"}]))
    assert not referrer.is_bundle_referrer(_manifest([]))
    index = Manifest.from_json({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []})
    assert not referrer.is_bundle_referrer(index)


RB = rekorbundle.RekorBundle(b"\x01\x02", "Ym9keQ==", 1624396085, 5179, "c0d2")


def test_local_signed_payload_round_trip() -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    data = blobbundle.build(b"sig", pem, RB)
    obj = json.loads(data)
    assert list(obj) == ["base64Signature", "cert", "rekorBundle"]
    assert obj["base64Signature"] == "c2ln"
    p = blobbundle.parse(data)
    assert p.signature() == b"sig" and p.cert_pem == pem and p.rekor_bundle == RB and p.raw == data
    assert blobbundle.build(b"sig") == b'{"base64Signature":"c2ln"}'


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"cert":""}', "base64Signature is missing"),
        (b'{"base64Signature":"@@"}', "base64Signature is not valid base64"),
        (b'{"base64Signature":"c2ln","cert":"aGVsbG8="}', "cert is not base64 of a PEM block"),
        (b'{"base64Signature":"c2ln","rekorBundle":[]}', "rekorBundle: expected a JSON object"),
    ],
)
def test_local_signed_payload_rejects(data: bytes, message: str) -> None:
    with pytest.raises(FormatError) as e:
        blobbundle.parse(data)
    assert message in str(e.value)


def test_rekor_bundle_marshal_and_case_insensitive_parse() -> None:
    assert RB.marshal() == (b'{"SignedEntryTimestamp":"AQI=","Payload":{"body":"Ym9keQ==",'
                            b'"integratedTime":1624396085,"logIndex":5179,"logID":"c0d2"}}')
    assert rekorbundle.parse(RB.marshal()) == RB
    lower = b'{"signedEntryTimestamp":"AQI=","payload":{"Body":"Ym9keQ==","integratedtime":1624396085,' \
            b'"logIndex":5179,"logId":"c0d2"}}'
    assert rekorbundle.parse(lower) == RB
    assert RB.set_signed_bytes() == (b'{"body":"Ym9keQ==","integratedTime":1624396085,'
                                     b'"logID":"c0d2","logIndex":5179}')


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"Payload":{}}', "SignedEntryTimestamp is missing"),
        (b'{"SignedEntryTimestamp":"AQI="}', "Payload is missing"),
        (b'{"SignedEntryTimestamp":"AQI=","Payload":{"body":{},"integratedTime":1,"logIndex":1,"logID":"a"}}',
         "bundle payload body is not a string"),
        (b'{"SignedEntryTimestamp":"AQI=","Payload":{"body":"x","integratedTime":"1","logIndex":1,"logID":"a"}}',
         "Payload.integratedTime must be an integer, got a string"),
        (b'{"SignedEntryTimestamp":"!","Payload":{"body":"x","integratedTime":1,"logIndex":1,"logID":"a"}}',
         "SignedEntryTimestamp is not valid base64"),
    ],
)
def test_rekor_bundle_rejects(data: bytes, message: str) -> None:
    with pytest.raises(FormatError) as e:
        rekorbundle.parse(data)
    assert message in str(e.value)


def test_rfc3161_annotation_round_trip_and_errors() -> None:
    assert rekorbundle.parse_rfc3161_annotation(rekorbundle.rfc3161_annotation(b"\x30\x03")) == b"\x30\x03"
    with pytest.raises(FormatError, match="SignedRFC3161Timestamp is missing"):
        rekorbundle.parse_rfc3161_annotation("{}")


def test_verify_output_legacy_and_bundle_paths() -> None:
    p = simplesigning.parse(simplesigning.payload("reg/app", "sha256:00", {"b": "2"}))
    item = payloads.from_payload(p, {"Subject": "me@x", "Bundle": RB.to_json(), "a": 1.0})
    bundle_item = payloads.from_statement("reg/app:tag", "sha256:00",
                                          "https://sigstore.dev/cosign/sign/v1", None)
    out = payloads.verify_output([item, bundle_item])
    assert out.startswith(b"\n[") and out.endswith(b"]\n")
    assert out == (
        b'\n[{"critical":{"identity":{"docker-reference":"reg/app"},"image":{"docker-manifest-digest":"sha256:00"},'
        b'"type":"cosign container image signature"},"optional":{"Bundle":{"Payload":{"body":"Ym9keQ==",'
        b'"integratedTime":1624396085,"logID":"c0d2","logIndex":5179},"SignedEntryTimestamp":"AQI="},'
        b'"Subject":"me@x","a":1,"b":"2"}},'
        b'{"critical":{"identity":{"docker-reference":"reg/app:tag"},"image":{"docker-manifest-digest":"sha256:00"},'
        b'"type":"https://sigstore.dev/cosign/sign/v1"},"optional":{}}]\n'
    )
    plain = payloads.from_payload(simplesigning.parse(simplesigning.payload("r", "sha256:00")))
    assert plain["optional"] is None


def test_bundle_base64_reads_as_protojson_does() -> None:
    """protojson's rule: standard or URL-safe alphabet, padding optional, CR/LF ignored — and a string
    with `-`/`_` is URL-safe throughout, so mixing the alphabets is refused (cosign refuses it too)."""
    import pytest

    from sigward.formats._common import FormatError, b64decode_lenient

    data = bytes(range(250, 256)) + b"\xfb\xff"
    std = "+vv8/f7/+/8="
    assert b64decode_lenient(std, "x") == data
    assert b64decode_lenient(std.rstrip("="), "x") == data
    assert b64decode_lenient(std.replace("+", "-").replace("/", "_"), "x") == data
    assert b64decode_lenient("+vv8\r\n/f7/+/8=", "x") == data
    with pytest.raises(FormatError, match="x is not valid base64"):
        b64decode_lenient(std.replace("/", "_", 1), "x")
