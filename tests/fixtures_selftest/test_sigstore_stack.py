"""The local Sigstore stack speaks the real protocols: independent clients sign and verify against it.

Clients: sigstore-python 4.5.1 (Fulcio CSR form + Bearer token, Rekor v1 hashedrekord and dsse, Rekor v2
hashedrekord, DER RFC 3161 requests) and sigstore-js 5.x through ``sigstore_stack/js_client.js``
(Fulcio proof-of-possession form, Rekor v1, Rekor v2 via @sigstore/sign, JSON TSA requests).

Cross-checks that work (all exercised below):
- sigstore-js signs (blob: hashedrekord, attestation: dsse; Rekor v1, and Rekor v2 for blobs) and
  sigstore-python verifies those bundles with the stack's trusted_root.json.
- sigstore-python's bundles verify in sigstore-js: the public ``sigstore.verify`` only takes trust
  material from TUF, so js_client.js feeds trusted_root.json to @sigstore/verify's ``Verifier`` (what
  ``sigstore.createVerifier`` does after its TUF step).
Not cross-checkable: sigstore-js logs DSSE to Rekor v2 as a ``dsse`` 0.0.2 entry, which sigstore-python
rejects ("Unsupported DSSE log entry type"); only sigstore-js verifies those.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from sigstore import dsse
from sigstore.errors import VerificationError
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.oidc import IdentityToken
from sigstore.sign import SigningContext
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity

from tests.fixtures.jwt_tokens import GITHUB_ISSUER, GITHUB_WORKFLOW_REF
from tests.fixtures.sigstore_stack import STACK_DIR, SigstoreStack

EMAIL = "signer@example.com"
GITHUB_IDENTITY = f"https://github.com/{GITHUB_WORKFLOW_REF}"
BLOB = b"sigward test artifact\n"


def _trust_config(stack: SigstoreStack, *, rekor_v2: bool = False) -> ClientTrustConfig:
    config = stack.signing_config_v2 if rekor_v2 else stack.signing_config
    return ClientTrustConfig.from_json(json.dumps(stack.client_trust_config(config)))


def _python_sign(stack: SigstoreStack, config: ClientTrustConfig) -> Bundle:
    with SigningContext.from_trust_config(config).signer(IdentityToken(_email_token(stack))) as signer:
        return signer.sign_artifact(BLOB)


def _email_token(stack: SigstoreStack, email: str = EMAIL) -> str:
    return stack.minter.mint(email, email=email, email_verified=True)


def _statement(name: str = "registry.example/app") -> dsse.Statement:
    digest = dsse.DigestSet(root={"sha256": hashlib.sha256(BLOB).hexdigest()})
    subject = dsse.Subject(name=name, digest=digest)
    return (dsse.StatementBuilder().subjects([subject]).predicate_type("https://example.com/predicate/v1")
            .predicate({"built": True}).build())


def _entry(bundle_json: str | bytes) -> dict[str, Any]:
    return json.loads(bundle_json)["verificationMaterial"]["tlogEntries"][0]


def _body(entry: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(entry["canonicalizedBody"]))


def _js(stack: SigstoreStack, *args: str, token: str | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    if token is not None:
        env["SIGSTORE_ID_TOKEN"] = token
    proc = subprocess.run(["node", str(STACK_DIR / "js_client.js"), *args], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


# -- plain protocol checks ---------------------------------------------------------------------------


def test_trust_documents_and_discovery(sigstore_stack: SigstoreStack) -> None:
    root = json.loads(sigstore_stack.trusted_root.read_text())
    assert root["mediaType"] == "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
    key_details = [t["publicKey"]["keyDetails"] for t in root["tlogs"]]
    assert key_details == ["PKIX_ECDSA_P256_SHA_256", "PKIX_ED25519"]
    assert len(root["certificateAuthorities"][0]["certChain"]["certificates"]) == 2
    tsa_chain = root["timestampAuthorities"][0]["certChain"]["certificates"]
    leaf = x509.load_der_x509_certificate(base64.b64decode(tsa_chain[0]["rawBytes"]))
    assert leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).critical  # leaf first
    v1 = json.loads(sigstore_stack.signing_config.read_text())
    v2 = json.loads(sigstore_stack.signing_config_v2.read_text())
    assert [s["majorApiVersion"] for s in v1["rekorTlogUrls"]] == [1]
    assert [s["majorApiVersion"] for s in v2["rekorTlogUrls"]] == [2]
    for path in (sigstore_stack.trust_config, sigstore_stack.trust_config_v2):
        ClientTrustConfig.from_json(path.read_text())

    url = sigstore_stack.url
    discovery = httpx.get(f"{url}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == sigstore_stack.issuer == sigstore_stack.minter.issuer == url
    assert httpx.get(discovery["jwks_uri"]).json() == sigstore_stack.minter.jwks()
    bundle = httpx.get(f"{url}/api/v2/trustBundle").json()
    assert len(bundle["chains"][0]["certificates"]) == 2
    chain = httpx.get(f"{sigstore_stack.tsa_url}/certchain")
    assert chain.text.count("BEGIN CERTIFICATE") == 2


def test_fulcio_proof_of_possession_form_and_token_checks(sigstore_stack: SigstoreStack) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def request(token: str, signed: bytes) -> httpx.Response:
        pop = base64.b64encode(key.sign(signed, ec.ECDSA(hashes.SHA256()))).decode()
        return httpx.post(f"{sigstore_stack.fulcio_url}/api/v2/signingCert", json={
            "credentials": {"oidcIdentityToken": token},
            "publicKeyRequest": {"publicKey": {"algorithm": "ECDSA", "content": pem},
                                 "proofOfPossession": pop},
        })

    resp = request(sigstore_stack.minter.mint_github(), GITHUB_IDENTITY.encode())
    assert resp.status_code == 200, resp.text
    chain = resp.json()["signedCertificateEmbeddedSct"]["chain"]["certificates"]
    assert len(chain) == 3
    leaf = x509.load_pem_x509_certificate(chain[0].encode())
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [GITHUB_IDENTITY]
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds() == 600

    assert request(sigstore_stack.minter.mint_github(), b"someone else").status_code == 400
    expired = sigstore_stack.minter.mint(EMAIL, issued_at=1_600_000_000)
    assert request(expired, EMAIL.encode()).status_code == 401
    wrong_audience = sigstore_stack.minter.mint(EMAIL, audience="not-sigstore")
    assert request(wrong_audience, EMAIL.encode()).status_code == 401


def test_fulcio_csr_form_checks_the_csr_signature(sigstore_stack: SigstoreStack) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.EMAIL_ADDRESS, EMAIL)]))
           .sign(key, hashes.SHA256()))
    csr_pem = csr.public_bytes(serialization.Encoding.PEM)
    body = {"certificateSigningRequest": base64.b64encode(csr_pem).decode()}
    headers = {"Authorization": f"Bearer {_email_token(sigstore_stack)}"}
    resp = httpx.post(f"{sigstore_stack.fulcio_url}/api/v2/signingCert", json=body, headers=headers)
    assert resp.status_code == 200, resp.text
    leaf = x509.load_pem_x509_certificate(
        resp.json()["signedCertificateEmbeddedSct"]["chain"]["certificates"][0].encode())
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.RFC822Name) == [EMAIL]
    assert httpx.post(f"{sigstore_stack.fulcio_url}/api/v2/signingCert", json=body).status_code == 401


def test_rekor_v2_entry_shape_and_checkpoint(sigstore_stack: SigstoreStack) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(BLOB).digest()
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    verifier = {"publicKey": {"rawBytes": base64.b64encode(spki).decode()},
                "keyDetails": "PKIX_ECDSA_P256_SHA_256"}
    signature = {"content": base64.b64encode(key.sign(BLOB, ec.ECDSA(hashes.SHA256()))).decode(),
                 "verifier": verifier}
    resp = httpx.post(f"{sigstore_stack.rekor_url}/api/v2/log/entries", json={"hashedRekordRequestV002": {
        "digest": base64.b64encode(digest).decode(), "signature": signature}})
    assert resp.status_code == 201, resp.text
    entry = resp.json()
    assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.2"}
    assert "integratedTime" not in entry and "inclusionPromise" not in entry
    assert "hashes" in entry["inclusionProof"]
    data = {"algorithm": "SHA2_256", "digest": base64.b64encode(digest).decode()}
    assert _body(entry) == {"apiVersion": "0.0.2", "kind": "hashedrekord",
                            "spec": {"hashedRekordV002": {"data": data, "signature": signature}}}

    # C2SP signed note: key ID = SHA-256(origin || 0x0A || 0x01 || raw Ed25519 key), hint = its first 4 bytes.
    tlog = json.loads(sigstore_stack.trusted_root.read_text())["tlogs"][1]
    public_key = serialization.load_der_public_key(base64.b64decode(tlog["publicKey"]["rawBytes"]))
    assert isinstance(public_key, ed25519.Ed25519PublicKey)
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    note, signature_block = entry["inclusionProof"]["checkpoint"]["envelope"].split("\n\n")
    origin = note.split("\n")[0]
    key_id = hashlib.sha256(origin.encode() + b"\n\x01" + raw).digest()
    assert base64.b64decode(entry["logId"]["keyId"]) == key_id
    assert base64.b64decode(tlog["checkpointKeyId"]["keyId"]) == key_id
    name, sig = signature_block.removeprefix("\u2014 ").split()
    # rekor-tiles' origin is the log's host name; sigstore-go verifies against the baseUrl's Hostname().
    assert name == origin == urllib.parse.urlsplit(sigstore_stack.url).hostname
    sig_bytes = base64.b64decode(sig)
    assert sig_bytes[:4] == key_id[:4]
    public_key.verify(sig_bytes[4:], (note + "\n").encode())


# -- sigstore-python against the stack ---------------------------------------------------------------


@pytest.mark.parametrize("rekor_v2", [False, True], ids=["rekor-v1", "rekor-v2"])
def test_sigstore_python_signs_and_verifies_blob(sigstore_stack: SigstoreStack, rekor_v2: bool) -> None:
    config = _trust_config(sigstore_stack, rekor_v2=rekor_v2)
    bundle = _python_sign(sigstore_stack, config)
    Verifier(trusted_root=config.trusted_root).verify_artifact(
        BLOB, bundle, Identity(identity=EMAIL, issuer=sigstore_stack.issuer))
    entry = _entry(bundle.to_json())
    assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.2" if rekor_v2 else "0.0.1"}
    material = json.loads(bundle.to_json())["verificationMaterial"]
    assert material["timestampVerificationData"]["rfc3161Timestamps"]
    with pytest.raises(VerificationError):
        Verifier(trusted_root=config.trusted_root).verify_artifact(
            BLOB, bundle, Identity(identity="other@example.com", issuer=sigstore_stack.issuer))


def test_sigstore_python_dsse_on_rekor_v1(sigstore_stack: SigstoreStack, tmp_path: Path) -> None:
    config = _trust_config(sigstore_stack)
    statement = _statement()
    token = IdentityToken(sigstore_stack.minter.mint_github())
    with SigningContext.from_trust_config(config).signer(token) as signer:
        bundle = signer.sign_dsse(statement)
    payload_type, payload = Verifier(trusted_root=config.trusted_root).verify_dsse(
        bundle, Identity(identity=GITHUB_IDENTITY, issuer=GITHUB_ISSUER))
    assert payload_type == "application/vnd.in-toto+json"
    assert json.loads(payload)["subject"][0]["name"] == "registry.example/app"

    entry = _entry(bundle.to_json())
    body = _body(entry)
    assert entry["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
    assert set(body["spec"]) == {"envelopeHash", "payloadHash", "signatures"}
    payload_hash = {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}
    assert body["spec"]["payloadHash"] == payload_hash
    cert_pem = bundle.signing_certificate.public_bytes(serialization.Encoding.PEM)
    assert base64.b64decode(body["spec"]["signatures"][0]["verifier"]) == cert_pem

    (tmp_path / "py_dsse.json").write_text(bundle.to_json())
    result = _js(sigstore_stack, "verify", "--trusted-root", str(sigstore_stack.trusted_root),
                 "--bundle", str(tmp_path / "py_dsse.json"),
                 "--san", GITHUB_IDENTITY, "--issuer", GITHUB_ISSUER)
    assert result["verified"] is True


def test_sigstore_python_dsse_on_rekor_v2(sigstore_stack: SigstoreStack) -> None:
    """Rekor v2 takes DSSE as a hashedrekord over the PAE bytes; sigstore-python signs it that way."""
    config = _trust_config(sigstore_stack, rekor_v2=True)
    token = IdentityToken(_email_token(sigstore_stack))
    with SigningContext.from_trust_config(config).signer(token) as signer:
        bundle = signer.sign_dsse(_statement())
    Verifier(trusted_root=config.trusted_root).verify_dsse(
        bundle, Identity(identity=EMAIL, issuer=sigstore_stack.issuer))
    assert _entry(bundle.to_json())["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.2"}


def test_sigstore_js_verifies_sigstore_python_blob_bundle(
        sigstore_stack: SigstoreStack, tmp_path: Path) -> None:
    bundle = _python_sign(sigstore_stack, _trust_config(sigstore_stack, rekor_v2=True))
    (tmp_path / "blob").write_bytes(BLOB)
    (tmp_path / "bundle.json").write_text(bundle.to_json())
    result = _js(sigstore_stack, "verify", "--trusted-root", str(sigstore_stack.trusted_root), "--bundle",
                 str(tmp_path / "bundle.json"), "--in", str(tmp_path / "blob"), "--san", EMAIL,
                 "--issuer", sigstore_stack.issuer)
    assert result["identity"]["subjectAlternativeName"] == EMAIL


# -- sigstore-js against the stack, verified by sigstore-python --------------------------------------


@pytest.mark.parametrize("rekor_v2", [False, True], ids=["rekor-v1", "rekor-v2"])
def test_sigstore_js_blob_bundle_verified_by_sigstore_python(
        sigstore_stack: SigstoreStack, tmp_path: Path, rekor_v2: bool) -> None:
    (tmp_path / "blob").write_bytes(BLOB)
    out = tmp_path / "bundle.json"
    _js(sigstore_stack, "sign", "--url", sigstore_stack.url, "--in", str(tmp_path / "blob"),
        "--out", str(out), "--tsa", *(["--rekor-v2"] if rekor_v2 else []), token=_email_token(sigstore_stack))
    bundle = Bundle.from_json(out.read_bytes())
    config = _trust_config(sigstore_stack)
    Verifier(trusted_root=config.trusted_root).verify_artifact(
        BLOB, bundle, Identity(identity=EMAIL, issuer=sigstore_stack.issuer))
    assert _entry(out.read_text())["kindVersion"]["version"] == ("0.0.2" if rekor_v2 else "0.0.1")


def test_sigstore_js_attestation_verified_by_sigstore_python(
        sigstore_stack: SigstoreStack, tmp_path: Path) -> None:
    statement = _statement("registry.example/js")
    (tmp_path / "statement.json").write_bytes(statement._contents)
    out = tmp_path / "bundle.json"
    _js(sigstore_stack, "attest", "--url", sigstore_stack.url, "--in", str(tmp_path / "statement.json"),
        "--out", str(out), token=sigstore_stack.minter.mint_github())
    assert _entry(out.read_text())["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
    config = _trust_config(sigstore_stack)
    _, payload = Verifier(trusted_root=config.trusted_root).verify_dsse(
        Bundle.from_json(out.read_bytes()), Identity(identity=GITHUB_IDENTITY, issuer=GITHUB_ISSUER))
    assert json.loads(payload)["subject"][0]["name"] == "registry.example/js"


def test_sigstore_js_attestation_on_rekor_v2_verified_by_sigstore_js(
        sigstore_stack: SigstoreStack, tmp_path: Path) -> None:
    (tmp_path / "statement.json").write_bytes(_statement()._contents)
    out = tmp_path / "bundle.json"
    _js(sigstore_stack, "attest", "--url", sigstore_stack.url, "--in", str(tmp_path / "statement.json"),
        "--out", str(out), "--rekor-v2", "--tsa", token=_email_token(sigstore_stack))
    assert _entry(out.read_text())["kindVersion"] == {"kind": "dsse", "version": "0.0.2"}
    result = _js(sigstore_stack, "verify", "--trusted-root", str(sigstore_stack.trusted_root),
                 "--bundle", str(out), "--san", EMAIL, "--issuer", sigstore_stack.issuer)
    assert result["verified"] is True


# -- the past-clock stack ----------------------------------------------------------------------------


def test_past_stack_issues_certificates_expired_now(
        sigstore_stack_past: SigstoreStack, tmp_path: Path) -> None:
    """sigstore-python refuses to sign with a certificate that is already expired, so sigstore-js signs."""
    clock = sigstore_stack_past.clock
    assert clock is not None
    (tmp_path / "blob").write_bytes(BLOB)
    out = tmp_path / "bundle.json"
    _js(sigstore_stack_past, "sign", "--url", sigstore_stack_past.url, "--in", str(tmp_path / "blob"),
        "--out", str(out), "--tsa", token=_email_token(sigstore_stack_past))
    bundle = Bundle.from_json(out.read_bytes())
    cert = bundle.signing_certificate
    assert cert.not_valid_before_utc == clock
    assert cert.not_valid_after_utc < datetime.now(UTC)
    assert _entry(out.read_text())["integratedTime"] == str(int(clock.timestamp()))
    # Sigstore checks the certificate at the logged and timestamped signing time, not now.
    Verifier(trusted_root=_trust_config(sigstore_stack_past).trusted_root).verify_artifact(
        BLOB, bundle, Identity(identity=EMAIL, issuer=sigstore_stack_past.issuer))


def test_node_bin_and_request_log(sigstore_stack: SigstoreStack) -> None:
    cli = sigstore_stack.node_bin("sigstore")
    assert cli.exists()
    httpx.get(f"{sigstore_stack.url}/nope")
    assert "GET /nope 404" in sigstore_stack.requests_log()
