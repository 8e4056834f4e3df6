"""policy-controller v0.13.1's own test data (tests/vectors/policy-controller, see its NOTICE) through
sigward's loader and validator: every invalid CIP refused with the message of its ``# ERROR:`` lines, every
valid and e2e CIP accepted, every TrustRoot accepted and convertible once its placeholders are filled.

The ``# ERROR:`` lines are what ``kubectl create`` printed in policy-controller's e2e run, so two kinds of
text in them are not the webhook's own and are mapped here, each for a stated reason:

- the ``validation failed: `` prefix is knative's admission-response wrapper around the FieldError text;
- ``keyless.identities: Invalid value`` is the Kubernetes API server's *schema* error: the defaulting
  webhook re-serializes a missing ``identities`` as ``null``, which the CRD schema refuses before the
  validating webhook runs. Without an API server in between (``policy-tester``, sigward) the webhook's
  own validation answers, and that answer is asserted instead.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from sigward.cip.documents import load_documents
from sigward.cip.trustroot import parse_trustroot
from sigward.cip.validate import render, validate

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "policy-controller"
PC = VECTORS / "policy-controller"
TR = VECTORS / "trustroot"

# file -> the webhook's message where the e2e expectation is the API server's (module doc).
API_SERVER_SCHEMA_ERRORS = {
    "missing-identity.yaml": ["missing field(s): spec.authorities[0].keyless.identities"],
    "v1beta1-missing-identity.yaml": ["missing field(s): spec.authorities[0].keyless.identities"],
    # `key: {}` and `keyless: {}` together: the webhook's one-of check answers before identities matter.
    "empty-keyref-and-keylessref.yaml": [
        "expected exactly one, got both: spec.authorities[0].key, spec.authorities[0].keyless, "
        "spec.authorities[0].static"],
}


def _files(d: Path) -> list[Path]:
    return sorted(d.glob("*.yaml"))


def _expected(path: Path) -> list[str]:
    if path.name in API_SERVER_SCHEMA_ERRORS:
        return API_SERVER_SCHEMA_ERRORS[path.name]
    out = []
    for line in path.read_text().splitlines():
        m = re.match(r"#\s*ERROR:\s?(.*)$", line)
        if m:
            out.append(m.group(1).strip().removeprefix("validation failed: "))
    return out


def test_vector_counts() -> None:
    # The reference lists 14 valid and 33 invalid files; a lost file must not pass silently.
    assert len(_files(PC / "valid")) == 14
    assert len(_files(PC / "invalid")) == 33


@pytest.mark.parametrize("path", _files(PC / "invalid"), ids=lambda p: p.name)
def test_invalid_refused_with_message(path: Path) -> None:
    docs = load_documents(path.read_bytes(), str(path))
    assert len(docs) == 1
    errors = [e for e in validate(docs[0].body) if e.level == "Error"]
    assert errors, f"{path.name} was accepted"
    text = render(errors)
    expected = _expected(path)
    assert expected
    for want in expected:
        assert want in text, f"{path.name}: wanted {want!r} in:\n{text}"


@pytest.mark.parametrize("path", _files(PC / "valid"), ids=lambda p: p.name)
def test_valid_accepted(path: Path) -> None:
    docs = load_documents(path.read_bytes(), str(path))
    assert docs and all(d.is_cip for d in docs)
    for d in docs:
        assert [e for e in validate(d.body) if e.level == "Error"] == [], path.name


@pytest.mark.parametrize("path", [p for p in _files(PC / "e2e") if p.name != "test-deployment.yaml"],
                         ids=lambda p: p.name)
def test_e2e_policies_accepted(path: Path) -> None:
    # policy-controller's e2e suite applies each of these and expects admission; some files also carry
    # the Secret (cosign-system) or ConfigMap-free siblings they need.
    docs = load_documents(path.read_bytes(), str(path))
    assert any(d.is_cip for d in docs)
    for d in docs:
        assert render(e for e in validate(d.body) if e.level == "Error") == "", path.name


def test_e2e_deployment_is_not_a_policy() -> None:
    path = PC / "e2e" / "test-deployment.yaml"
    (doc,) = load_documents(path.read_bytes(), str(path))
    assert render(validate(doc.body)) == "unknown type: apps/v1, Kind=Deployment"


def _b64_file(name: str) -> str:
    return base64.b64encode((TR / "golden" / name).read_bytes()).decode()


def test_trustroot_valid_sigstore_keys_converts() -> None:
    path = TR / "valid" / "valid-sigstore-keys.yaml"
    (doc,) = load_documents(path.read_bytes(), str(path))
    assert validate(doc.body) == []
    root = parse_trustroot(doc.body).trusted_root()
    assert len(root.certificate_authorities) == 1 and len(root.timestamp_authorities) == 1
    assert len(root.tlogs) == 1 and len(root.ctlogs) == 1
    assert root.tlogs[0].base_url == "https://rekor.example.com"
    assert root.certificate_authorities[0].uri == "https://fulcio.example.com"
    assert len(root.timestamp_authorities[0].chain) == 3  # leaf, intermediate, root


def test_trustroot_e2e_bring_your_own_keys_from_golden_files() -> None:
    path = TR / "e2e" / "bring-your-own-keys.yaml"
    text = (path.read_text().replace("FULCIO_CERT_CHAIN", _b64_file("fulcio.crt.pem"))
            .replace("REKOR_PUBLIC_KEY", _b64_file("rekor.pem"))
            .replace("CTFE_PUBLIC_KEY", _b64_file("ctfe.pem")))
    (doc,) = load_documents(text.encode(), str(path))
    assert validate(doc.body) == []
    root = parse_trustroot(doc.body).trusted_root()
    assert root.tlogs[0].base_url == "https://rekor.rekor-system.svc"
    assert root.ctlogs[0].base_url == "https://ctfe.example.com"


def test_trustroot_e2e_with_tsa_from_golden_files() -> None:
    path = TR / "e2e" / "with-tsa.yaml"
    text = path.read_text().replace("TSA_URL", "https://tsa.example.com").replace(
        "TSA_CERT_CHAIN", _b64_file("tsa.crt.pem"))
    (doc,) = load_documents(text.encode(), str(path))
    assert validate(doc.body) == []
    root = parse_trustroot(doc.body).trusted_root()
    assert root.certificate_authorities == () and len(root.timestamp_authorities) == 1


def test_trustroot_e2e_placeholders_are_refused_as_base64() -> None:
    # Unfilled, the files are not valid: `[]byte` fields must be base64 (Go's decoder says so too).
    path = TR / "e2e" / "with-remote.yaml"
    (doc,) = load_documents(path.read_bytes(), str(path))
    assert "invalid value: ROOT_JSON: spec.remote.root" in render(validate(doc.body))
