"""Manifests keep exact bytes; media type detection; digest checks; Go-style JSON."""

from __future__ import annotations

import json

import pytest

from sigward import gojson
from sigward.errors import DigestMismatchError, InvalidManifestError, InvalidReferenceError
from sigward.oci import digest as dg
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import Descriptor, Manifest

CFG = {"mediaType": mt.OCI_CONFIG, "size": 2, "digest": mt.EMPTY_DIGEST}


def _manifest(**extra: object) -> bytes:
    obj = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": CFG, "layers": [CFG], **extra}
    # Deliberately not compact: the bytes must be kept as they are.
    return json.dumps(obj, indent=2).encode()


def test_exact_bytes_and_digest() -> None:
    data = _manifest()
    m = Manifest.parse(data)
    assert m.data == data
    assert m.digest == dg.compute(data)
    assert m.media_type == mt.OCI_MANIFEST
    assert m.config is not None and m.config.digest == mt.EMPTY_DIGEST
    assert [d.size for d in m.layers] == [2]


def test_media_type_from_content_type_then_shape() -> None:
    body = json.dumps({"schemaVersion": 2, "config": CFG, "layers": []}).encode()
    assert Manifest.parse(body, mt.DOCKER_MANIFEST + "; charset=utf-8").media_type == mt.DOCKER_MANIFEST
    assert Manifest.parse(body, "application/json").media_type == mt.OCI_MANIFEST
    idx = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    assert Manifest.parse(idx).is_index


def test_expected_digest_mismatch() -> None:
    with pytest.raises(DigestMismatchError):
        Manifest.parse(_manifest(), expected_digest="sha256:" + "0" * 64)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'{"schemaVersion":1,"config":{}}', "schemaVersion"),
        (b'{"schemaVersion":2}', "cannot tell"),
        (b'{"schemaVersion":2,"manifests":{}}', "manifests"),
        (b'{"schemaVersion":2,"config":{"digest":"sha256:x","size":1}}', "invalid digest"),
        (b'{"schemaVersion":2,"config":{"digest":"' + mt.EMPTY_DIGEST.encode() + b'","size":-1}}',
         "invalid size"),
    ],
)
def test_invalid_manifest(data: bytes, fragment: str) -> None:
    with pytest.raises(InvalidManifestError) as e:
        Manifest.parse(data)
    assert fragment in str(e.value)


def test_referrer_descriptor_copies_type_and_annotations() -> None:
    data = _manifest(artifactType="application/x-test", annotations={"b": "2", "a": "1"},
                     subject={"mediaType": mt.OCI_MANIFEST, "size": 1, "digest": mt.EMPTY_DIGEST})
    m = Manifest.parse(data)
    d = m.referrer_descriptor()
    assert d.artifact_type == "application/x-test"
    assert d.annotations == {"a": "1", "b": "2"}
    assert m.subject is not None and m.subject.digest == mt.EMPTY_DIGEST
    # Without artifactType the config media type types the referrer.
    assert Manifest.parse(_manifest()).artifact_type == mt.OCI_CONFIG


def test_descriptor_ggcr_field_order() -> None:
    d = Descriptor(mt.OCI_MANIFEST, mt.EMPTY_DIGEST, 2, {"z": "1", "a": "2"}, "t/x")
    assert list(d.to_json()) == ["mediaType", "size", "digest", "annotations", "artifactType"]
    assert list(d.to_json()["annotations"]) == ["a", "z"]


def test_gojson_escaping() -> None:
    want = b'{"k":"\\u003ca\\u0026b\\u003e","u":"\xc3\xa9\\u2028"}'
    assert gojson.marshal({"k": "<a&b>", "u": "é\u2028"}) == want


def test_verified_chunks() -> None:
    data = b"hello world"
    d = dg.compute(data)
    assert b"".join(dg.verified_chunks([data[:5], data[5:]], d, len(data))) == data
    with pytest.raises(DigestMismatchError, match="digest mismatch"):
        list(dg.verified_chunks([b"hello worle"], d, len(data)))
    with pytest.raises(DigestMismatchError, match="expected 11 bytes"):
        list(dg.verified_chunks([b"hello"], d, len(data)))
    with pytest.raises(DigestMismatchError, match="more than"):
        list(dg.verified_chunks([data, b"x"], d, len(data)))
    with pytest.raises(InvalidReferenceError):
        dg.validate_digest("sha256:short")
    good = "sha256:" + "0a" * 32
    assert dg.validate_digest(good) == good and dg.validate_digest("sha512:" + "f" * 128)
    # Not valid: a trailing newline (it would become part of a layout blob path), upper-case hex, an
    # unknown algorithm, a wrong length.
    for bad in (good + "\n", good.upper().replace("SHA", "sha"), "md5:" + "0" * 32, good + "0"):
        with pytest.raises(InvalidReferenceError):
            dg.validate_digest(bad)
