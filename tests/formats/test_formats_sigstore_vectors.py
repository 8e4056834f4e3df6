"""Real cosign vectors: the PGI keyless bundle, its Rekor SET, and the SIGNATURE_SPEC bundle annotation."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sigward.formats import bundle, dsse, intoto, rekorbundle

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "formats"


@pytest.fixture
def vectors() -> Path:
    return VECTORS


def _rekor_key(vectors: Path) -> tuple[str, ec.EllipticCurvePublicKey]:
    root = json.loads((vectors / "trusted_root_pgi.json").read_bytes())
    der = base64.b64decode(root["tlogs"][0]["publicKey"]["rawBytes"])
    key = serialization.load_der_public_key(der)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return hashlib.sha256(der).hexdigest(), key


def test_oci_attestation_bundle(vectors: Path) -> None:
    raw = (vectors / "oci-attestation.sigstore.json").read_bytes()
    b = bundle.parse_bundle(raw)
    assert b.version == "0.3" and b.media_type == bundle.MEDIA_TYPE_V03
    assert b.material_kind == "certificate" and b.raw == raw
    (entry,) = b.tlog_entries
    assert (entry.kind, entry.version, entry.log_index, entry.integrated_time) == ("dsse", "0.0.1",
                                                                                    175508996, 1740770291)
    assert entry.inclusion_proof is not None and entry.inclusion_proof.tree_size == 53604735
    env = b.dsse_envelope
    assert env is not None and env.payload_type == dsse.IN_TOTO_PAYLOAD_TYPE

    # The DSSE signature verifies over PAE with the certificate's key...
    cert = x509.load_der_x509_certificate(b.certificates[0])
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(env.signatures[0].sig, env.pae(), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        key.verify(env.signatures[0].sig, dsse.pae(env.payload_type, env.payload + b" "),
                   ec.ECDSA(hashes.SHA256()))

    # ...Rekor's envelopeHash is sha256 of the securesystemslib-ordered envelope, not the protobuf one...
    body = json.loads(entry.canonicalized_body)
    want = body["spec"]["envelopeHash"]["value"]
    assert hashlib.sha256(dsse.marshal(env, "securesystemslib")).hexdigest() == want
    assert hashlib.sha256(dsse.marshal(env, "protobuf")).hexdigest() != want

    # ...and the SET verifies with the PGI Rekor key selected by logID.
    log_id, rekor = _rekor_key(vectors)
    rb = rekorbundle.from_tlog_entry(entry)
    assert rb.log_id == log_id == entry.log_id.hex()
    rekor.verify(rb.signed_entry_timestamp, rb.set_signed_bytes(), ec.ECDSA(hashes.SHA256()))

    st = intoto.parse_statement(env.payload)
    assert st.type == intoto.STATEMENT_V01 and st.predicate_type == intoto.COSIGN_CUSTOM
    assert st.matches_digest("sha256", "732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4")
    assert not st.matches_digest("sha256", "0" * 64)


def test_rebuilding_the_bundle_gives_the_same_bytes(vectors: Path) -> None:
    raw = (vectors / "oci-attestation.sigstore.json").read_bytes()
    b = bundle.parse_bundle(raw)
    assert b.dsse_envelope is not None
    rebuilt = bundle.dsse_bundle(b.dsse_envelope, certificate_der=b.certificates[0],
                                 tlog_entries=[e.to_json() for e in b.tlog_entries])
    assert rebuilt == raw.rstrip(b"\n")
    # typed entries serialise to exactly what was parsed
    assert b.tlog_entries[0].to_json() == b.tlog_entries[0].json


def test_signature_spec_set(vectors: Path) -> None:
    rb = rekorbundle.parse((vectors / "signature-spec-bundle.json").read_bytes())
    assert (rb.log_index, rb.integrated_time) == (5179, 1624396085)
    assert rb.set_signed_bytes().startswith(b'{"body":"eyJhcGlWZXJzaW9uIjoiMC4wLjEi')
    assert rb.set_signed_bytes().endswith(
        b'"integratedTime":1624396085,"logID":"' + rb.log_id.encode() + b'","logIndex":5179}')
    log_id, rekor = _rekor_key(vectors)
    assert rb.log_id == log_id
    rekor.verify(rb.signed_entry_timestamp, rb.set_signed_bytes(), ec.ECDSA(hashes.SHA256()))
    tampered = rekorbundle.RekorBundle(rb.signed_entry_timestamp, rb.body, rb.integrated_time + 1,
                                       rb.log_index, rb.log_id)
    with pytest.raises(InvalidSignature):
        rekor.verify(rb.signed_entry_timestamp, tampered.set_signed_bytes(), ec.ECDSA(hashes.SHA256()))
    assert json.loads(rb.body_bytes())["kind"] == "rekord"


def test_cosign_blob_attestation_envelope(vectors: Path) -> None:
    # cmd/cosign/cli/verify/verify_blob_attestation_test.go: go-securesystemslib envelope, keyid "".
    raw = base64.b64decode((vectors / "blob-slsa-provenance.dsse.b64").read_text().strip())
    env = dsse.parse(raw)
    assert env.raw == raw
    assert env.signatures[0].keyid == ""
    assert dsse.marshal(env, "securesystemslib") == raw
    key = serialization.load_pem_public_key((vectors / "verify-blob-attestation.pub").read_bytes())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(env.signatures[0].sig, env.pae(), ec.ECDSA(hashes.SHA256()))
    st = intoto.parse_statement(env.payload)
    assert st.matches_digest("sha256", "658781cd4ed9bca60dacd09f7bb914bb51502e8b5d619f57f39a1d652596cc24")
    assert st.predicate_type == intoto.SLSA_PROVENANCE_V02
