"""Simple-signing payload: cosign's exact bytes and a parser that keeps them."""

from __future__ import annotations

import pytest

from sigward.errors import VerificationError
from sigward.formats import simplesigning
from sigward.formats._common import FormatError

DIGEST = "sha256:" + "ab" * 32


def test_payload_without_annotations_is_cosigns_bytes() -> None:
    ref = "registry.example/team/app"
    got = simplesigning.payload(ref, DIGEST, None)
    want = (
        b'{"critical":{"identity":{"docker-reference":"registry.example/team/app"},'
        b'"image":{"docker-manifest-digest":"sha256:' + b"ab" * 32 + b'"},'
        b'"type":"cosign container image signature"},"optional":null}'
    )
    assert got == want
    assert len(got) == 216 + len(ref)
    assert not got.endswith(b"\n")


@pytest.mark.parametrize("ref", ["a/b", "index.docker.io/library/busybox", "127.0.0.1:5000/x/y/z"])
def test_payload_length_rule(ref: str) -> None:
    assert len(simplesigning.payload(ref, DIGEST)) == 216 + len(ref)


def test_payload_annotations_sorted_and_go_escaped() -> None:
    got = simplesigning.payload("r/x", DIGEST, {"z": "1", "a": "<b>&c", "m": "é"})
    assert got.endswith(b'"optional":{"a":"\\u003cb\\u003e\\u0026c","m":"\xc3\xa9","z":"1"}}')


def test_empty_annotations_differ_from_none() -> None:
    assert simplesigning.payload("r/x", DIGEST, {}).endswith(b'"optional":{}}')


def test_parse_round_trip_keeps_raw() -> None:
    data = simplesigning.payload("r/x", DIGEST, {"k": "v"})
    p = simplesigning.parse(data)
    assert p.docker_reference == "r/x"
    assert p.manifest_digest == DIGEST
    assert p.type == simplesigning.COSIGN_SIGNATURE_TYPE
    assert p.optional == {"k": "v"}
    assert p.raw == data


def test_parse_foreign_layout_and_any_optional_values() -> None:
    # Others may write spaces, another key order and non-string optional values: keep them as parsed.
    data = (b'{ "optional": {"n": 1, "nested": {"b": [true]}}, "critical": {"type": "x", '
            b'"image": {"docker-manifest-digest": "sha256:00"}, "identity": {"docker-reference": "q"}}}')
    p = simplesigning.parse(data)
    assert p.optional == {"n": 1, "nested": {"b": [True]}}
    assert p.type == "x" and p.docker_reference == "q"
    assert p.raw == data


def test_parse_missing_identity_reads_as_empty() -> None:
    p = simplesigning.parse(b'{"critical":{"image":{"docker-manifest-digest":"sha256:00"}}}')
    assert p.docker_reference == "" and p.type == "" and p.optional is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "simple signing payload: not valid JSON"),
        (b"[]", "simple signing payload: expected a JSON object, got an array"),
        (b"{}", "simple signing payload: critical is missing"),
        (b'{"critical":"x"}', "simple signing payload: critical must be an object, got a string"),
        (b'{"critical":{}}', "simple signing payload: critical.image is missing"),
        (b'{"critical":{"image":{}}}', "critical.image.docker-manifest-digest is missing"),
        (b'{"critical":{"image":{"docker-manifest-digest":5}}}',
         "critical.image.docker-manifest-digest must be a string, got a number"),
        (b'{"critical":{"image":{"docker-manifest-digest":""}}}', "docker-manifest-digest is empty"),
        (b'{"critical":{"identity":{"docker-reference":[]},"image":{"docker-manifest-digest":"d"}}}',
         "critical.identity.docker-reference must be a string, got an array"),
        (b'{"critical":{"image":{"docker-manifest-digest":"d"}},"optional":"x"}',
         "optional must be an object, got a string"),
        (b'{"critical":{"image":{"docker-manifest-digest":"d"}},"optional":NaN}', "not valid JSON"),
    ],
)
def test_parse_rejects_malformed(data: bytes, message: str) -> None:
    with pytest.raises(FormatError) as e:
        simplesigning.parse(data)
    assert message in str(e.value)
    assert "\n" not in str(e.value)
    assert isinstance(e.value, VerificationError)
