"""Cross-implementation checks against the local Sigstore stack.

- bundles sigward signs (blobs: Rekor v1 and v2+TSA; images: cosign v3's DSSE statement without subject
  names) verify with sigstore-js (@sigstore/verify, through ``js_client.js``) and with sigstore-python;
- bundles sigstore-js signs (blobs on Rekor v1 and v2, DSSE attestations on v1) verify with sigward.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.jwt_tokens import GITHUB_ISSUER, GITHUB_WORKFLOW_REF

IDENTITY = f"https://github.com/{GITHUB_WORKFLOW_REF}"
JS_CLIENT = Path(__file__).parent.parent / "fixtures" / "sigstore_stack" / "js_client.js"


def _sigward(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "sigward", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def _js(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if token:
        env["SIGSTORE_ID_TOKEN"] = token
    cmd = ["node", str(JS_CLIENT), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


def _python_verifier(stack: Any) -> Any:
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier

    return Verifier(trusted_root=TrustedRoot.from_file(str(stack.trusted_root)))


def _python_policy() -> Any:
    from sigstore.verify.policy import Identity

    return Identity(identity=IDENTITY, issuer=GITHUB_ISSUER)


@pytest.mark.parametrize("v2", [False, True], ids=["rekor-v1", "rekor-v2+tsa"])
def test_sigward_blob_bundles_verify_with_sigstore_js_and_python(sigstore_stack: Any, tmp_path: Path,
                                                                  v2: bool) -> None:
    from sigstore.models import Bundle

    blob = tmp_path / "blob.txt"
    blob.write_bytes(b"cross-check me\n")
    bundle = tmp_path / "blob.sigstore.json"
    cfg = sigstore_stack.signing_config_v2 if v2 else sigstore_stack.signing_config
    r = _sigward("sign-blob", "--yes", "--identity-token", sigstore_stack.minter.mint_github(),
                 "--trusted-root", str(sigstore_stack.trusted_root), "--signing-config", str(cfg),
                 "--bundle", str(bundle), str(blob))
    assert r.returncode == 0, r.stderr
    js = _js("verify", "--trusted-root", str(sigstore_stack.trusted_root), "--bundle", str(bundle),
             "--in", str(blob), "--san", IDENTITY, "--issuer", GITHUB_ISSUER)
    assert js.returncode == 0, js.stderr
    assert json.loads(js.stdout)["verified"] is True
    _python_verifier(sigstore_stack).verify_artifact(blob.read_bytes(), Bundle.from_json(bundle.read_bytes()),
                                                     _python_policy())
    # And a tampered blob is refused by both.
    blob.write_bytes(b"cross-check me!\n")
    assert _js("verify", "--trusted-root", str(sigstore_stack.trusted_root), "--bundle", str(bundle),
               "--in", str(blob)).returncode != 0


def test_sigward_image_signature_verifies_with_sigstore_js_and_python(sigstore_stack: Any,
                                                                       tmp_path: Path) -> None:
    """cosign v3's image signature: a DSSE statement whose subject has no name, logged as a dsse entry."""
    from sigstore.models import Bundle

    from sigward.oci.layout import LayoutStore
    from sigward.ops.example import write_demo_image

    store = LayoutStore(str(tmp_path / "layout"))
    write_demo_image(store, "v1", message="interop")
    digest = store.resolve("v1").digest
    bundle = tmp_path / "image.sigstore.json"
    r = _sigward("sign", "--yes", "--identity-token", sigstore_stack.minter.mint_github(),
                 "--trusted-root", str(sigstore_stack.trusted_root),
                 "--signing-config", str(sigstore_stack.signing_config), "--bundle", str(bundle),
                 f"oci:{tmp_path / 'layout'}@{digest}")
    assert r.returncode == 0, r.stderr
    js = _js("verify", "--trusted-root", str(sigstore_stack.trusted_root), "--bundle", str(bundle),
             "--san", IDENTITY, "--issuer", GITHUB_ISSUER)
    assert js.returncode == 0, js.stderr
    payload_type, payload = _python_verifier(sigstore_stack).verify_dsse(
        Bundle.from_json(bundle.read_bytes()), _python_policy())
    assert payload_type == "application/vnd.in-toto+json"
    statement = json.loads(payload)
    (subject,) = statement["subject"]
    assert "name" not in subject and subject["digest"] == {"sha256": digest.split(":", 1)[1]}


@pytest.mark.parametrize("v2", [False, True], ids=["rekor-v1", "rekor-v2+tsa"])
def test_sigstore_js_blob_bundles_verify_with_sigward(sigstore_stack: Any, tmp_path: Path, v2: bool) -> None:
    blob = tmp_path / "blob.txt"
    blob.write_bytes(b"signed by sigstore-js\n")
    bundle = tmp_path / "js.sigstore.json"
    args = ["sign", "--url", sigstore_stack.url, "--in", str(blob), "--out", str(bundle), "--tsa"]
    js = _js(*args, *(["--rekor-v2"] if v2 else []), token=sigstore_stack.minter.mint_github())
    assert js.returncode == 0, js.stderr
    r = _sigward("verify-blob", "--trusted-root", str(sigstore_stack.trusted_root), "--bundle", str(bundle),
                 "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", GITHUB_ISSUER, str(blob))
    assert r.returncode == 0, r.stderr
    r = _sigward("verify-blob", "--trusted-root", str(sigstore_stack.trusted_root), "--bundle", str(bundle),
                 "--certificate-identity", "someone@else.example", "--certificate-oidc-issuer", GITHUB_ISSUER,
                 str(blob))
    assert r.returncode == 1 and "certificate identity: expected" in r.stderr


def test_sigstore_js_attestation_verifies_with_sigward(sigstore_stack: Any, tmp_path: Path) -> None:
    artifact = tmp_path / "app.tar"
    artifact.write_bytes(b"pretend this is a build output\n")
    statement = tmp_path / "statement.json"
    statement.write_text(json.dumps({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "app.tar",
                     "digest": {"sha256": hashlib.sha256(artifact.read_bytes()).hexdigest()}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"buildDefinition": {"buildType": "https://example.com/test"}},
    }))
    bundle = tmp_path / "att.sigstore.json"
    js = _js("attest", "--url", sigstore_stack.url, "--in", str(statement), "--out", str(bundle),
             token=sigstore_stack.minter.mint_github())
    assert js.returncode == 0, js.stderr
    r = subprocess.run([sys.executable, "-m", "sigward.conformance", "verify-bundle", "--bundle", str(bundle),
                        "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", GITHUB_ISSUER,
                        "--trusted-root", str(sigstore_stack.trusted_root), str(artifact)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("in_toto", [False, True], ids=["artifact", "in-toto"])
def test_conformance_sign_bundle_against_the_stack(sigstore_stack: Any, tmp_path: Path,
                                                   in_toto: bool) -> None:
    """The conformance protocol's sign-bundle, then verify-bundle, and sigstore-python as the judge
    (what the suite's signing tests do with its self-test client)."""
    from sigstore.models import Bundle

    vectors = Path(__file__).parent.parent / "vectors" / "sigstore-conformance"
    artifact = vectors / "a.txt"
    bundle = tmp_path / "out.sigstore.json"
    trust = ["--trusted-root", str(sigstore_stack.trusted_root)]
    cmd = [sys.executable, "-m", "sigward.conformance", "sign-bundle", *(["--in-toto"] if in_toto else []),
           "--identity-token", sigstore_stack.minter.mint_github(), "--bundle", str(bundle), *trust,
           "--signing-config", str(sigstore_stack.signing_config),
           str(vectors / "statement.json" if in_toto else artifact)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    verify = [sys.executable, "-m", "sigward.conformance", "verify-bundle", "--bundle", str(bundle),
              "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", GITHUB_ISSUER, *trust]
    if not in_toto:
        r = subprocess.run([*verify, str(artifact)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        signed = Bundle.from_json(bundle.read_bytes())
        _python_verifier(sigstore_stack).verify_artifact(artifact.read_bytes(), signed, _python_policy())
    else:
        _python_verifier(sigstore_stack).verify_dsse(Bundle.from_json(bundle.read_bytes()), _python_policy())
