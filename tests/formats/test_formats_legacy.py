"""Legacy .sig/.att/.sbom images: cosign's manifest and config bytes, appending, reading back."""

from __future__ import annotations

import hashlib
import json

import pytest

from sigward.errors import DigestMismatchError, UsageError
from sigward.formats import legacy, rekorbundle, simplesigning
from sigward.formats._common import FormatError
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import Descriptor, Manifest

ZERO = "0001-01-01T00:00:00Z"
# specs/ATTESTATION_SPEC.md in sigstore/cosign (Apache-2.0): an .att layer digest and the 233-byte
# config digest cosign wrote for it.
SPEC_LAYER = "sha256:ed3ad03d3b87843b5419d7dce9d50a3e0f45554b2ba93bf378611cae6b450cff"
SPEC_CONFIG = "sha256:83bd5fb5b39f65f28e50a86d48fa79c07880befc292d92eebdc18531054b070c"

PAYLOAD = simplesigning.payload("reg.example/app", "sha256:" + "cd" * 32)
PAYLOAD_DIGEST = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()


def test_config_blob_single_layer_matches_cosign_spec() -> None:
    cfg = legacy.config_blob([SPEC_LAYER])
    assert cfg == (
        b'{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],'
        b'"os":"","rootfs":{"type":"layers","diff_ids":["' + SPEC_LAYER.encode() + b'"]},"config":{}}'
    )
    assert len(cfg) == 233
    assert "sha256:" + hashlib.sha256(cfg).hexdigest() == SPEC_CONFIG


def test_config_blob_n_layers_and_created() -> None:
    ids = ["sha256:" + c * 64 for c in "abc"]
    cfg = json.loads(legacy.config_blob(ids, created="2024-05-06T07:08:09.500+00:00"))
    assert cfg["rootfs"]["diff_ids"] == ids
    assert cfg["history"] == [{"created": ZERO}] * 3
    assert cfg["created"] == "2024-05-06T07:08:09.5Z"  # Go RFC3339Nano re-marshal


def test_signature_layer_annotations() -> None:
    rb = rekorbundle.RekorBundle(b"\x01\x02", "Ym9keQ==", 10, 20, "ab")
    d = legacy.signature_layer(
        PAYLOAD, "c2ln", certificate_pem="-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n",
        rekor_bundle_json=rb, timestamp_json=rekorbundle.rfc3161_annotation(b"\x30\x00"),
        extra_annotations={legacy.SIGNATURE_ANNOTATION: "overridden", "x": "y"},
    )
    assert d.media_type == mt.COSIGN_SIMPLESIGNING
    assert d.digest == PAYLOAD_DIGEST and d.size == len(PAYLOAD)
    ann = d.annotations or {}
    assert list(ann) == sorted(ann)
    assert ann[legacy.SIGNATURE_ANNOTATION] == "c2ln"
    assert ann[legacy.CHAIN_ANNOTATION] == ""  # written whenever a certificate is
    assert ann[legacy.BUNDLE_ANNOTATION] == (
        '{"SignedEntryTimestamp":"AQI=","Payload":{"body":"Ym9keQ==","integratedTime":10,'
        '"logIndex":20,"logID":"ab"}}'
    )
    assert ann[legacy.RFC3161_TIMESTAMP_ANNOTATION] == '{"SignedRFC3161Timestamp":"MAA="}'
    assert ann["x"] == "y"


def test_signature_layer_without_certificate_has_no_chain() -> None:
    d = legacy.signature_layer(PAYLOAD, "c2ln")
    assert d.annotations == {legacy.SIGNATURE_ANNOTATION: "c2ln"}


def test_attestation_layer_has_empty_signature() -> None:
    d = legacy.attestation_layer(b'{"payloadType":"x"}', extra_annotations={"predicateType": "p"})
    assert d.media_type == mt.DSSE_ENVELOPE
    assert d.annotations == {legacy.SIGNATURE_ANNOTATION: "", "predicateType": "p"}


def test_append_to_nothing_gives_cosigns_manifest_bytes() -> None:
    layer = legacy.signature_layer(PAYLOAD, "c2ln")
    manifest, cfg = legacy.append(None, None, layer)
    cfg_digest = "sha256:" + hashlib.sha256(cfg).hexdigest()
    assert cfg == legacy.config_blob([PAYLOAD_DIGEST])
    assert manifest.data == (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":233,'
        f'"digest":"{cfg_digest}"}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json",'
        f'"size":{len(PAYLOAD)},"digest":"{PAYLOAD_DIGEST}",'
        '"annotations":{"dev.cosignproject.cosign/signature":"c2ln"}}]}'
    ).encode()
    assert manifest.media_type == mt.OCI_MANIFEST
    # what we produce must parse as a manifest
    Manifest.parse(manifest.data, expected_digest=manifest.digest)


def test_append_docker_media_types() -> None:
    manifest, _ = legacy.append(None, None, legacy.signature_layer(PAYLOAD, "c2ln"), docker_media_types=True)
    obj = json.loads(manifest.data)
    assert obj["mediaType"] == mt.DOCKER_MANIFEST
    assert obj["config"]["mediaType"] == mt.DOCKER_CONFIG
    assert manifest.media_type == mt.DOCKER_MANIFEST


def test_append_keeps_existing_layers_and_grows_config() -> None:
    first = legacy.signature_layer(PAYLOAD, "c2ln")
    m1, c1 = legacy.append(None, None, first)
    other = b"other payload"
    second = legacy.signature_layer(other, "b3RoZXI=", certificate_pem="PEM")
    m2, c2 = legacy.append(m1, c1, second)
    layers = m2.layers
    assert [d.digest for d in layers] == [first.digest, second.digest]
    assert layers[0] == first
    cfg = json.loads(c2)
    assert cfg["rootfs"]["diff_ids"] == [first.digest, second.digest]
    assert cfg["history"] == [{"created": ZERO}, {"created": ZERO}]
    assert json.loads(m2.data)["config"]["digest"] == "sha256:" + hashlib.sha256(c2).hexdigest()
    # the previous manifest's bytes for layer 0 appear verbatim in the new one
    assert json.dumps(json.loads(m1.data)["layers"][0], separators=(",", ":")).encode() in m2.data


def test_append_normalises_foreign_config_like_ggcr() -> None:
    layer = legacy.signature_layer(PAYLOAD, "c2ln")
    foreign_cfg = json.dumps({
        "os": "linux", "unknown": 1, "rootfs": {"diff_ids": [], "type": "layers"},
        "history": [], "config": {"Labels": {"b": "2", "a": "1"}, "Bogus": True},
    }).encode()
    existing = Manifest.from_json({
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "size": len(foreign_cfg),
                   "digest": "sha256:" + hashlib.sha256(foreign_cfg).hexdigest()},
        "layers": [], "annotations": {"k": "v"},
        "subject": {"mediaType": mt.OCI_MANIFEST, "size": 1, "digest": "sha256:" + "0" * 64},
    })
    m, cfg = legacy.append(existing, foreign_cfg, layer)
    assert cfg == (
        b'{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],'
        b'"os":"linux","rootfs":{"type":"layers","diff_ids":["' + PAYLOAD_DIGEST.encode() + b'"]},'
        b'"config":{"Labels":{"a":"1","b":"2"}}}'
    )
    obj = json.loads(m.data)
    assert obj["annotations"] == {"k": "v"}
    assert "subject" not in obj  # ggcr's mutate drops it


def test_append_refuses_config_that_does_not_match() -> None:
    m1, c1 = legacy.append(None, None, legacy.signature_layer(PAYLOAD, "c2ln"))
    with pytest.raises(DigestMismatchError):
        legacy.append(m1, c1 + b" ", legacy.signature_layer(b"x", "eA=="))
    with pytest.raises(FormatError, match="config blob is needed"):
        legacy.append(m1, None, legacy.signature_layer(b"x", "eA=="))


def test_append_refuses_an_index() -> None:
    index = Manifest.from_json({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []})
    with pytest.raises(FormatError, match="not an image manifest"):
        legacy.append(index, b"{}", legacy.signature_layer(b"x", "eA=="))


def _manifest_with_layers(n: int) -> tuple[Manifest, bytes]:
    layers = [Descriptor(mt.COSIGN_SIMPLESIGNING, "sha256:" + f"{i:064x}", 1,
                         {legacy.SIGNATURE_ANNOTATION: "eA=="}) for i in range(n)]
    cfg = legacy.config_blob([d.digest for d in layers])
    m = Manifest.from_json({
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "size": len(cfg),
                   "digest": "sha256:" + hashlib.sha256(cfg).hexdigest()},
        "layers": [d.to_json() for d in layers],
    })
    return m, cfg


def test_max_layers() -> None:
    m, cfg = _manifest_with_layers(999)
    m2, _ = legacy.append(m, cfg, legacy.signature_layer(b"x", "eA=="))
    assert len(m2.layers) == 1000
    with pytest.raises(FormatError, match=r"number of layers \(1001\) exceeded the limit \(1000\)"):
        legacy.append(m2, legacy.config_blob([d.digest for d in m2.layers]),
                      legacy.signature_layer(b"y", "eQ=="))
    big, _ = _manifest_with_layers(1001)
    with pytest.raises(FormatError, match="exceeded the limit"):
        legacy.parse_signature_layers(big)


def test_duplicate_rule() -> None:
    cert = "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n"
    existing_layer = legacy.signature_layer(PAYLOAD, "c2ln", certificate_pem=cert)
    m, _ = legacy.append(None, None, existing_layer)
    # same payload, other signature value: a candidate (the caller verifies the old signature)
    assert legacy.duplicate_candidates(m, legacy.signature_layer(PAYLOAD, "b3RoZXI=", certificate_pem=cert)) \
        == [existing_layer]
    # a different certificate annotation is a new signature
    assert not legacy.is_duplicate(m, legacy.signature_layer(PAYLOAD, "c2ln", certificate_pem=cert + "x"))
    # other payload or media type
    assert not legacy.is_duplicate(m, legacy.signature_layer(b"other", "c2ln", certificate_pem=cert))
    assert not legacy.is_duplicate(
        m, legacy.signature_layer(PAYLOAD, "c2ln", certificate_pem=cert, media_type=mt.DSSE_ENVELOPE))
    # new layer with fewer annotations than the existing one still matches (only new ones are compared)
    assert legacy.is_duplicate(m, legacy.signature_layer(PAYLOAD, "c2ln"))


def test_existing_layer_without_signature_is_never_a_duplicate() -> None:
    m, _ = legacy.append(None, None, legacy.attestation_layer(b"env"))
    assert not legacy.is_duplicate(m, legacy.attestation_layer(b"env"))


def test_parse_signature_layers() -> None:
    rb = rekorbundle.RekorBundle(b"\x01", "Ym9keQ==", 1, 2, "ab")
    l1 = legacy.signature_layer(PAYLOAD, "c2ln", certificate_pem="CERT", rekor_bundle_json=rb,
                                timestamp_json=rekorbundle.rfc3161_annotation(b"\x30\x00"))
    l2 = Descriptor(mt.COSIGN_SIMPLESIGNING, "sha256:" + "1" * 64, 3, {"other": "x"})
    m, c = legacy.append(None, None, l1)
    m, _ = legacy.append(m, c, l2)
    sigs = legacy.parse_signature_layers(m)
    assert len(sigs) == 2
    s1, s2 = sigs
    assert s1.payload_digest == PAYLOAD_DIGEST
    assert s1.signature() == b"sig"
    assert s1.certificate_pem == "CERT"
    assert s1.chain_pem is None  # "" reads as absent
    assert s1.rekor_bundle() == rb
    assert s1.rfc3161_timestamp() == b"\x30\x00"
    with pytest.raises(FormatError) as e:
        s2.signature()
    assert str(e.value) == (
        f'signature layer {l2.digest} is missing "dev.cosignproject.cosign/signature" annotation'
    )
    assert s2.rekor_bundle() is None and s2.rfc3161_timestamp() is None


def test_bad_signature_base64_is_a_clear_error() -> None:
    m, _ = legacy.append(None, None, legacy.signature_layer(PAYLOAD, "not base64!"))
    (s,) = legacy.parse_signature_layers(m)
    with pytest.raises(FormatError, match="signature is not valid base64"):
        s.signature()


def test_sbom_manifest() -> None:
    sbom = b'{"spdxVersion":"SPDX-2.3"}'
    m, cfg, layer = legacy.sbom_manifest(sbom, legacy.SPDX_JSON)
    assert layer == Descriptor(legacy.SPDX_JSON, "sha256:" + hashlib.sha256(sbom).hexdigest(), len(sbom))
    assert len(cfg) == 233
    obj = json.loads(m.data)
    assert obj["mediaType"] == mt.OCI_MANIFEST and obj["config"]["mediaType"] == mt.OCI_CONFIG
    assert obj["layers"] == [layer.to_json()] and "annotations" not in obj["layers"][0]
    assert "annotations" not in obj


@pytest.mark.parametrize(
    ("args", "want"),
    [
        (("spdx",), "text/spdx"),
        (("spdx", "", "bom.spdx.json"), "text/spdx+json"),
        (("spdx", "json"), "text/spdx+json"),
        (("cyclonedx",), "application/vnd.cyclonedx+xml"),
        (("cyclonedx", "json"), "application/vnd.cyclonedx+json"),
        (("cyclonedx", "", "x.json"), "application/vnd.cyclonedx+json"),
        (("syft",), "application/vnd.syft+json"),
    ],
)
def test_sbom_media_types(args: tuple[str, ...], want: str) -> None:
    assert legacy.sbom_media_type(*args) == want


def test_sbom_media_type_errors() -> None:
    with pytest.raises(UsageError,
                       match=r'unknown SBOM type: "spdxjson", expected \(spdx\|cyclonedx\|syft\)'):
        legacy.sbom_media_type("spdxjson")
    with pytest.raises(UsageError, match=r'invalid SBOM input format: "xml", expected \(json\|text\)'):
        legacy.sbom_media_type("spdx", "xml")
