"""DSSE envelopes (PAE, both field orders) and in-toto statements (cosign's bytes, tolerant parsing)."""

from __future__ import annotations

import json

import pytest

from sigward.errors import UsageError
from sigward.formats import dsse, intoto
from sigward.formats._common import FormatError


def test_pae() -> None:
    # The DSSE spec's worked example.
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world")
    assert dsse.pae("é", b"") == b"DSSEv1 2 \xc3\xa9 0 "


def test_marshal_styles() -> None:
    env = dsse.Envelope(b"<p>", "application/vnd.in-toto+json", (dsse.Signature(b"\x01"),))
    assert dsse.marshal(env, "securesystemslib") == (
        b'{"payloadType":"application/vnd.in-toto+json","payload":"PHA+",'
        b'"signatures":[{"keyid":"","sig":"AQ=="}]}')
    assert dsse.marshal(env, "protobuf") == (
        b'{"payload":"PHA+","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AQ=="}]}')
    keyed = dsse.Envelope(b"x", "t", (dsse.Signature(b"\x01", "k1"),))
    assert dsse.marshal(keyed, "protobuf").endswith(b'"signatures":[{"sig":"AQ==","keyid":"k1"}]}')


def test_parse_keeps_raw_and_round_trips() -> None:
    raw = b'{"payload":"aGk=", "payloadType":"t","signatures":[{"sig":"AQ==","keyid":"a"},{"sig":"Ag=="}]}'
    env = dsse.parse(raw)
    assert env.raw == raw and env.payload == b"hi"
    assert env.signatures == (dsse.Signature(b"\x01", "a"), dsse.Signature(b"\x02", ""))
    assert dsse.parse(dsse.marshal(env)) == env


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[1]", "DSSE envelope: expected a JSON object, got an array"),
        (b'{"payloadType":"t","signatures":[{"sig":"AQ=="}]}', "DSSE envelope: payload is missing"),
        (b'{"payload":"aGk=","signatures":[{"sig":"AQ=="}]}', "DSSE envelope: payloadType is missing"),
        (b'{"payload":"aGk=","payloadType":"t"}', "DSSE envelope: signatures is missing"),
        (b'{"payload":"aGk=","payloadType":"t","signatures":{}}',
         "signatures must be an array, got an object"),
        (b'{"payload":"a!Gk=","payloadType":"t","signatures":[{"sig":"AQ=="}]}',
         "payload is not valid base64"),
        (b'{"payload":"aGk=","payloadType":"t","signatures":[{"sig":"A"}]}',
         "signatures[0].sig is not valid"),
        (b'{"payload":"aGk=","payloadType":"t","signatures":[{"keyid":"k"}]}',
         "signatures[0].sig is missing"),
        (b'{"payload":"aGk=","payloadType":"t","signatures":["x"]}', "signatures[0] must be an object"),
    ],
)
def test_dsse_rejects(raw: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=None) as e:
        dsse.parse(raw)
    assert message in str(e.value)


def test_cosign_sign_statement_bytes() -> None:
    hexd = "ab" * 32
    assert intoto.cosign_sign_statement(hexd) == (
        b'{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"' + hexd.encode()
        + b'"},"annotations":{}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}')
    with_ann = intoto.cosign_sign_statement(hexd, {"z": "1", "a": "<&>"})
    # protojson: sorted keys, no HTML escaping
    assert b'"annotations":{"a":"<&>","z":"1"}' in with_ann
    st = intoto.parse_statement(with_ann)
    assert st.subjects[0].name is None and st.subjects[0].annotations == {"a": "<&>", "z": "1"}
    assert st.matches_digest("sha256", hexd.upper()) and not st.matches_digest("sha512", hexd)


def test_generic_statement_orders() -> None:
    subj = [intoto.Subject({"sha256": "00"}, name="reg/app")]
    v01 = intoto.statement(subj, intoto.COSIGN_CUSTOM, {"Data": "<x>", "Timestamp": "t"}, version="v0.1")
    assert v01 == (
        b'{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://cosign.sigstore.dev/'
        b'attestation/v1","subject":[{"name":"reg/app","digest":{"sha256":"00"}}],'
        b'"predicate":{"Data":"\\u003cx\\u003e","Timestamp":"t"}}')
    v1 = intoto.statement(subj, "https://x/y", {"b": 1, "a": [2]})
    assert list(json.loads(v1)) == ["_type", "subject", "predicateType", "predicate"]
    assert v1.endswith(b'"predicate":{"a":[2],"b":1}}')


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"predicateType": "p", "subject": []}, "_type is missing"),
        ({"_type": "https://in-toto.io/Statement/v2", "predicateType": "p", "subject": []},
         "unsupported _type"),
        ({"_type": intoto.STATEMENT_V1, "subject": []}, "predicateType is missing"),
        ({"_type": intoto.STATEMENT_V1, "predicateType": "p"}, "subject is missing"),
        ({"_type": intoto.STATEMENT_V1, "predicateType": "p", "subject": [{"digest": {"sha256": 1}}]},
         "subject[0].digest must be an object of strings"),
        ({"_type": intoto.STATEMENT_V1, "predicateType": "p", "subject": [{"digest": {}, "name": 3}]},
         "subject[0].name must be a string"),
    ],
)
def test_statement_rejects(obj: dict[str, object], message: str) -> None:
    with pytest.raises(FormatError) as e:
        intoto.parse_statement(json.dumps(obj).encode())
    assert message in str(e.value)


def test_predicate_type_names() -> None:
    assert intoto.predicate_type_for("custom") == "https://cosign.sigstore.dev/attestation/v1"
    assert intoto.predicate_type_for("slsaprovenance1") == "https://slsa.dev/provenance/v1"
    assert intoto.predicate_type_for("spdxjson") == intoto.predicate_type_for("spdx") == "https://spdx.dev/Document"
    assert intoto.predicate_type_for("https://example.com/p/v1") == "https://example.com/p/v1"
    with pytest.raises(UsageError, match="invalid predicate type: notauri"):
        intoto.predicate_type_for("notauri")
