"""attest / verify-attestation on OCI layouts: every predicate type, selection, both storage formats,
and tamper resistance (each tampered attestation is rejected with a reason)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sigward.formats import legacy
from sigward.oci import mediatypes as mt
from sigward.ops.attached import attached_tag
from tests.attest.helpers import (
    ATTEST,
    LEGACY,
    NOTLOG,
    bundle_referrers,
    envelope_of,
    material,
    push_bundle,
    statement_of_line,
    store_of,
    with_payload,
)

CUSTOM = "https://cosign.sigstore.dev/attestation/v1"

PREDICATES: dict[str, tuple[str, Any]] = {
    # --type: (predicate type URI, predicate file content)
    "custom": (CUSTOM, "free text <with> & markup\n"),
    "slsaprovenance": ("https://slsa.dev/provenance/v0.2", {"builder": {"id": "ci"}, "buildType": "make"}),
    "slsaprovenance02": ("https://slsa.dev/provenance/v0.2", {"builder": {"id": "ci"}, "buildType": "make"}),
    "slsaprovenance1": ("https://slsa.dev/provenance/v1", {
        "buildDefinition": {"buildType": "make", "externalParameters": {"x": 1}},
        "runDetails": {"builder": {"id": "ci"}, "metadata": {"invocationID": "run-7"}}}),
    "spdx": ("https://spdx.dev/Document", "SPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\n"),
    "spdxjson": ("https://spdx.dev/Document", {"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT"}),
    "cyclonedx": ("https://cyclonedx.org/bom",
                  {"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1}),
    "link": ("https://in-toto.io/Link/v1", {"_type": "link", "name": "build", "materials": {}, "products": {},
                                            "byproducts": {}, "command": ["make"], "environment": {}}),
    "vuln": ("https://cosign.sigstore.dev/attestation/vuln/v1", {
        "scanner": {"uri": "pkg:github/aquasecurity/trivy", "version": "0.50", "result": {"ok": True}},
        "metadata": {"scanStartedOn": "2024-01-01T00:00:00Z", "scanFinishedOn": "2024-01-01T00:01:00Z"}}),
    "openvex": ("https://openvex.dev/ns", {"@context": "https://openvex.dev/ns/v0.2.0", "statements": []}),
    "https://example.com/predicate/v1": ("https://example.com/predicate/v1", {"b": 2.0, "a": [1.5, "x"]}),
}


def _write(tmp_path: Path, name: str, content: Any) -> str:
    p = tmp_path / name
    p.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(p)


@pytest.mark.parametrize("type_name", list(PREDICATES))
def test_predicate_round_trip(run: Callable[..., Any], keys: Any, layout: Callable[..., str],
                              tmp_path: Path, type_name: str) -> None:
    uri, content = PREDICATES[type_name]
    img = layout()
    store, subject = store_of(img)
    pred = _write(tmp_path, "pred", content)
    r = run(*ATTEST, "--key", keys.key, "--type", type_name, "--predicate", pred, img)
    assert r.code == 0, r.err
    [(m, bundle)] = bundle_referrers(store, subject.digest)
    assert m.annotations["dev.sigstore.bundle.predicateType"] == uri
    assert m.json["artifactType"] == mt.SIGSTORE_BUNDLE_V03

    v = run("verify-attestation", "--key", keys.pub, NOTLOG, "--type", type_name, img)
    assert v.code == 0, v.err
    [line] = v.out.splitlines()
    assert line.encode() == json.dumps(json.loads(bundle)["dsseEnvelope"], separators=(",", ":")).encode()
    stmt = statement_of_line(line)
    assert stmt["_type"] == "https://in-toto.io/Statement/v0.1"
    assert stmt["predicateType"] == uri
    assert stmt["subject"] == [{"name": store.name, "digest": {"sha256": subject.digest.split(":")[1]}}]
    pred_out = stmt["predicate"]
    if type_name == "custom":
        assert pred_out["Data"] == content and pred_out["Timestamp"].endswith("Z")
    elif type_name == "spdx":
        assert pred_out == content
    elif type_name == "slsaprovenance1":
        assert pred_out["runDetails"]["metadata"] == {"invocationId": "run-7"}
    elif type_name == "vuln":
        assert pred_out["scanner"]["db"] == {"uri": "", "version": ""}
        assert pred_out["invocation"]["builder.id"] == ""
        assert pred_out["metadata"]["scanStartedOn"] == "2024-01-01T00:00:00Z"
    else:
        assert pred_out == content
    assert "Verification for" in v.err and "verified against the specified public key" in v.err


def test_protojson_shape_of_statement(run: Callable[..., Any], keys: Any, layout: Callable[..., str],
                                      tmp_path: Path) -> None:
    img = layout()
    store, subject = store_of(img)
    pred = _write(tmp_path, "p.json", {"z": 1.0, "a": {"y": True, "b": None}})
    r = run(*ATTEST, "--key", keys.key, "--type", "https://example.com/t", "--predicate", pred, img)
    assert r.code == 0, r.err
    [(_m, bundle)] = bundle_referrers(store, subject.digest)
    payload = envelope_of(bundle).payload
    # protojson order (_type, subject, predicateType, predicate), Struct keys sorted, 1.0 written as 1.
    assert payload == (b'{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":"'
                       + store.name.encode()
                       + b'","digest":{"sha256":"' + subject.digest.split(":")[1].encode()
                       + b'"}}],"predicateType":"https://example.com/t","predicate":{"a":{"b":null,"y":true},'
                       b'"z":1}}')


def test_bad_predicates_rejected(run: Callable[..., Any], keys: Any, layout: Callable[..., str],
                                 tmp_path: Path) -> None:
    img = layout()
    cases = [
        ("slsaprovenance", {"builder": {}}, "required field buildType missing"),
        ("link", {"name": "x"}, "required field"),
        ("cyclonedx", "not json", "not valid JSON"),
        ("https://example.com/x", [1, 2], "invalid JSON payload for predicate type"),
        ("not a uri", {}, "invalid predicate type"),
    ]
    for type_name, content, msg in cases:
        pred = _write(tmp_path, "p", content)
        r = run(*ATTEST, "--key", keys.key, "--type", type_name, "--predicate", pred, img)
        assert r.code != 0 and msg in r.err, (type_name, r.err)
    store, subject = store_of(img)
    assert bundle_referrers(store, subject.digest) == []


def test_multiple_types_each_selectable(run: Callable[..., Any], keys: Any, layout: Callable[..., str],
                                        tmp_path: Path) -> None:
    img = layout()
    store, subject = store_of(img)
    for t in ("custom", "cyclonedx", "slsaprovenance"):
        uri, content = PREDICATES[t]
        assert run(*ATTEST, "--key", keys.key, "--type", t, "--predicate", _write(tmp_path, t, content),
                   img).code == 0
    assert run("sign", "--tlog-upload=false", "--key", keys.key, img).code == 0
    assert len(bundle_referrers(store, subject.digest)) == 4
    for t in ("custom", "cyclonedx", "slsaprovenance"):
        v = run("verify-attestation", "--key", keys.pub, NOTLOG, "--type", t, img)
        assert v.code == 0, v.err
        [line] = v.out.splitlines()
        assert statement_of_line(line)["predicateType"] == PREDICATES[t][0]
    r = run("verify-attestation", "--key", keys.pub, NOTLOG, "--type", "vuln", img)
    assert r.code == 1
    assert "none of the attestations matched the predicate type: vuln, found: " in r.err
    for uri in ("https://cyclonedx.org/bom", "https://slsa.dev/provenance/v0.2", "https://sigstore.dev/cosign/sign/v1"):
        assert uri in r.err
    # `verify` accepts any predicate type on the bundle path, as cosign.
    assert run("verify", "--key", keys.pub, NOTLOG, img).code == 0


def test_legacy_att_written_and_read(run: Callable[..., Any], keys: Any, layout: Callable[..., str],
                                     tmp_path: Path) -> None:
    img = layout()
    store, subject = store_of(img)
    custom = _write(tmp_path, "c", "one")
    bom = _write(tmp_path, "b", PREDICATES["cyclonedx"][1])
    assert run(*ATTEST, LEGACY, "--key", keys.key, "--predicate", custom, img).code == 0
    assert run(*ATTEST, LEGACY, "--key", keys.key, "--type", "cyclonedx", "--predicate", bom, img).code == 0
    att = store.get_manifest(attached_tag(subject.digest, "att"))
    assert [d.media_type for d in att.layers] == [mt.DSSE_ENVELOPE] * 2
    ann = att.layers[1].annotations or {}
    assert ann[legacy.SIGNATURE_ANNOTATION] == ""
    assert ann[legacy.PREDICATE_TYPE_ANNOTATION] == "https://cyclonedx.org/bom"
    layer_bytes = store.get_blob(att.layers[1])
    assert layer_bytes.startswith(b'{"payloadType":"application/vnd.in-toto+json","payload":')
    assert store.referrers(subject.digest) == []

    v = run("verify-attestation", "--key", keys.pub, NOTLOG, "--type", "cyclonedx", img)
    assert v.code == 0, v.err
    assert v.out.encode() == layer_bytes + b"\n"  # the layer bytes, verbatim
    assert run("verify-attestation", "--key", keys.pub, NOTLOG, img).code == 0

    # --replace drops the earlier attestation of the same predicate type only.
    assert run(*ATTEST, LEGACY, "--replace", "--key", keys.key, "--predicate", _write(tmp_path, "c2", "two"),
               img).code == 0
    att = store.get_manifest(attached_tag(subject.digest, "att"))
    assert len(att.layers) == 2
    cfg = json.loads(store.get_blob(att.config))  # type: ignore[arg-type]
    assert len(cfg["rootfs"]["diff_ids"]) == 2
    v = run("verify-attestation", "--key", keys.pub, NOTLOG, img)
    [line] = v.out.splitlines()
    assert statement_of_line(line)["predicate"]["Data"] == "two"

    # --no-upload prints the envelope and pushes nothing.
    before = store.get_manifest(attached_tag(subject.digest, "att")).digest
    r = run(*ATTEST, LEGACY, "--no-upload", "--key", keys.key, "--predicate", custom, img)
    assert r.code == 0 and json.loads(r.out)["payloadType"] == mt.IN_TOTO
    assert store.get_manifest(attached_tag(subject.digest, "att")).digest == before


def test_legacy_tamper(run: Callable[..., Any], keys: Any, other_keys: Any, layout: Callable[..., str],
                       tmp_path: Path) -> None:
    from sigward.ops.sign import push_legacy_layer

    img = layout()
    store, subject = store_of(img)
    assert run(*ATTEST, LEGACY, "--key", keys.key, "--predicate", _write(tmp_path, "c", "x"), img).code == 0
    tag = attached_tag(subject.digest, "att")
    good = store.get_blob(store.get_manifest(tag).layers[0])
    env = json.loads(good)

    def replace_att(data: bytes) -> None:
        store.delete(tag)
        push_legacy_layer(store, tag, None, None, legacy.attestation_layer(data), data, False)

    # A flipped signature byte.
    sig = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
    sig[10] ^= 1
    flipped = [{"keyid": "", "sig": base64.b64encode(bytes(sig)).decode()}]
    replace_att(json.dumps({**env, "signatures": flipped}).encode())
    r = run("verify-attestation", "--key", keys.pub, NOTLOG, img)
    assert r.code == 1 and "DSSE signature" in r.err
    # A flipped payload byte (valid JSON still).
    payload = base64.b64decode(env["payload"]).replace(b'"Data":"x"', b'"Data":"y"')
    replace_att(json.dumps({**env, "payload": base64.b64encode(payload).decode()}).encode())
    r = run("verify-attestation", "--key", keys.pub, NOTLOG, img)
    assert r.code == 1 and "DSSE signature" in r.err
    # The original is fine with its key and refused with another.
    replace_att(good)
    assert run("verify-attestation", "--key", keys.pub, NOTLOG, img).code == 0
    r = run("verify-attestation", "--key", other_keys.pub, NOTLOG, img)
    assert r.code == 1 and "no matching attestations" in r.err
    # Without --insecure-ignore-tlog a legacy attestation needs its Rekor bundle.
    r = run("verify-attestation", "--key", keys.pub, "--trusted-root", _trusted_root(tmp_path), img)
    assert r.code == 1 and "no Rekor bundle" in r.err


def _trusted_root(tmp_path: Path) -> str:
    p = tmp_path / "trusted_root.json"
    p.write_text(json.dumps({"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
                             "tlogs": [], "certificateAuthorities": [], "ctlogs": [],
                             "timestampAuthorities": []}))
    return str(p)


def test_bundle_tamper(run: Callable[..., Any], keys: Any, other_keys: Any, layout: Callable[..., str],
                       tmp_path: Path) -> None:
    img = layout()
    store, subject = store_of(img)
    assert run(*ATTEST, "--key", keys.key, "--predicate", _write(tmp_path, "c", "x"), img).code == 0
    [(_m, bundle)] = bundle_referrers(store, subject.digest)
    payload = envelope_of(bundle).payload

    def only(new_bundle: bytes, predicate_type: str = CUSTOM, type_name: str = "custom") -> Any:
        for d in store.referrers(subject.digest):
            store.delete(d.digest)
        push_bundle(store, subject, new_bundle, predicate_type)
        return run("verify-attestation", "--key", keys.pub, NOTLOG, "--type", type_name, img)

    # Payload byte flip.
    r = only(with_payload(bundle, payload.replace(b'"Data":"x"', b'"Data":"z"')))
    assert r.code == 1 and "DSSE signature" in r.err
    # Predicate-type swap inside the statement: the signature no longer covers it.
    swapped = payload.replace(CUSTOM.encode(), b"https://cyclonedx.org/bom")
    r = only(with_payload(bundle, swapped), "https://cyclonedx.org/bom", "cyclonedx")
    assert r.code == 1 and "DSSE signature" in r.err
    # Predicate-type swap in the (unsigned) referrer annotation: selection reads the signed statement.
    r = only(bundle, "https://cyclonedx.org/bom", "cyclonedx")
    assert r.code == 1 and "none of the attestations matched the predicate type: cyclonedx" in r.err
    # Envelope signature byte flip.
    b = json.loads(bundle)
    sig = bytearray(base64.b64decode(b["dsseEnvelope"]["signatures"][0]["sig"]))
    sig[-1] ^= 1
    b["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    r = only(json.dumps(b).encode())
    assert r.code == 1 and "DSSE signature" in r.err
    # An unsigned envelope (no signatures) is not even a bundle we accept.
    b["dsseEnvelope"]["signatures"] = []
    r = only(json.dumps(b).encode())
    assert r.code == 1 and "no signatures" in r.err
    # Signed, but by another key.
    mat = material(other_keys.key)
    _env, other = mat.sign_dsse(payload, mt.IN_TOTO)
    r = only(other)
    assert r.code == 1 and "DSSE signature" in r.err
    # payloadType not in-toto, correctly signed.
    _env, text = material(keys.key).sign_dsse(payload, "text/plain")
    r = only(text)
    assert r.code == 1 and "DSSE payload type is 'text/plain'" in r.err
    # The original bytes still verify.
    assert only(bundle).code == 0


def test_attestation_for_another_image(run: Callable[..., Any], keys: Any, layout: Callable[..., str],
                                       tmp_path: Path) -> None:
    a, b = layout("one"), layout("two")
    store_a, subject_a = store_of(a)
    store_b, subject_b = store_of(b)
    assert subject_a.digest != subject_b.digest
    assert run(*ATTEST, "--key", keys.key, "--predicate", _write(tmp_path, "c", "x"), a).code == 0
    [(_m, bundle)] = bundle_referrers(store_a, subject_a.digest)
    push_bundle(store_b, subject_b, bundle)
    r = run("verify-attestation", "--key", keys.pub, NOTLOG, b)
    assert r.code == 1 and f"is not the image digest {subject_b.digest}" in r.err
    # --check-claims=false is the explicit opt-out (as cosign).
    assert run("verify-attestation", "--key", keys.pub, NOTLOG, "--check-claims=false", b).code == 0


def test_bad_referrer_never_passes_beside_a_good_one(run: Callable[..., Any], keys: Any, other_keys: Any,
                                                     layout: Callable[..., str], tmp_path: Path) -> None:
    img = layout()
    store, subject = store_of(img)
    assert run(*ATTEST, "--key", keys.key, "--predicate", _write(tmp_path, "c", "x"), img).code == 0
    # A cyclonedx attestation for this image, signed by an attacker's key, pushed as a referrer.
    from sigward.formats.predicates import attestation_statement

    stmt = attestation_statement(store.name, subject.digest.split(":")[1], "https://cyclonedx.org/bom",
                                 {"bomFormat": "CycloneDX"})
    _env, evil = material(other_keys.key).sign_dsse(stmt, mt.IN_TOTO)
    push_bundle(store, subject, evil, "https://cyclonedx.org/bom")
    r = run("verify-attestation", "--key", keys.pub, NOTLOG, "--type", "cyclonedx", img)
    assert r.code == 1
    assert "none of the attestations matched the predicate type: cyclonedx" in r.err
    assert "failed verification" in r.err and "DSSE signature" in r.err
    assert run("verify-attestation", "--key", keys.pub, NOTLOG, img).code == 0


def test_verify_attestation_arguments(run: Callable[..., Any], keys: Any, layout: Callable[..., str]) -> None:
    img = layout()
    r = run("verify-attestation", "--key", keys.pub, NOTLOG, img)
    assert r.code == 1 and "no attestations found" in r.err
    r = run("verify-attestation", NOTLOG, img)
    assert r.code == 1 and "--certificate-identity" in r.err
    r = run("verify-attestation", "--key", keys.pub, NOTLOG, "--type", "no such type", img)
    assert r.code == 1 and "invalid predicate type" in r.err
