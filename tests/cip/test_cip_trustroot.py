"""TrustRoot → TrustedRoot: ``sigstoreKeys`` converted as policy-controller converts them, and
``repository`` (a serialized TUF repository) verified by python-tuf from real, freshly signed metadata."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from sigward.cip.documents import load_documents
from sigward.cip.trustroot import (
    TrustRootError,
    convert_sigstore_keys,
    parse_trustroot,
    repository_trusted_root,
)
from sigward.cip.validate import render, validate
from tests.cip.tufserial import build, tar_gz

TR = Path(__file__).resolve().parents[1] / "vectors" / "policy-controller" / "trustroot"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def keys() -> dict[str, Any]:
    path = TR / "valid" / "valid-sigstore-keys.yaml"
    (doc,) = load_documents(path.read_bytes(), path.name)
    k: dict[str, Any] = json.loads(json.dumps(doc.body["spec"]["sigstoreKeys"]))
    return k


def trustroot(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "TrustRoot", "metadata": {"name": "t"},
            "spec": spec}


def test_sigstore_keys_conversion_matches_policy_controller() -> None:
    tr = convert_sigstore_keys(keys())
    assert tr["mediaType"] == "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
    (tlog,) = tr["tlogs"]
    rekor_pem = base64.b64decode(keys()["tLogs"][0]["publicKey"])
    der = serialization.load_pem_public_key(rekor_pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert tlog["publicKey"]["rawBytes"] == b64(der)
    assert tlog["logId"]["keyId"] == b64(hashlib.sha256(der).digest())
    assert tlog["hashAlgorithm"] == "SHA2_256"
    assert tlog["publicKey"]["keyDetails"] == "PKIX_ECDSA_P256_SHA_256"
    assert tlog["publicKey"]["validFor"] == {"start": "1970-01-01T00:00:00Z"}
    (ca,) = tr["certificateAuthorities"]
    assert ca["subject"] == {"organization": "fulcio-organization", "commonName": "fulcio-common-name"}
    assert ca["uri"] == "https://fulcio.example.com" and len(ca["certChain"]["certificates"]) == 1


def test_trusted_root_keys_usable() -> None:
    root = parse_trustroot(trustroot({"sigstoreKeys": keys()})).trusted_root()
    (tlog,) = root.tlogs
    assert root.tlog_by_id(tlog.key_id) is tlog
    assert root.source == "TrustRoot t"


@pytest.mark.parametrize("mutate, path, message", [
    (lambda k: k["tLogs"][0].update(publicKey=b64(b"not a key")), "tLogs[0].publicKey",
     "failed to unmarshal"),
    (lambda k: k["certificateAuthorities"][0].update(certChain=b64(b"garbage")),
     "certificateAuthorities[0].certChain", "failed to decode certificate chain PEM"),
    (lambda k: k["certificateAuthorities"][0].update(
        certChain=b64(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")),
     "certificateAuthorities[0].certChain", "certificate 0 cannot be parsed"),
])
def test_unusable_keys_name_the_field(mutate: Any, path: str, message: str) -> None:
    k = keys()
    mutate(k)
    with pytest.raises(TrustRootError) as e:
        convert_sigstore_keys(k)
    assert e.value.path == path and message in e.value.message
    # `policy validate` reports it too, under spec.sigstoreKeys.
    assert f"spec.sigstoreKeys.{path}" in render(validate(trustroot({"sigstoreKeys": k})))


@pytest.mark.parametrize("spec, want", [
    ({}, "expected exactly one, got neither: spec.remote, spec.repository, spec.sigstoreKeys"),
    ({"remote": {"mirror": "https://m", "root": b64(b'{"signatures": []}')}, "sigstoreKeys": {}},
     "expected exactly one, got both: spec.remote, spec.repository, spec.sigstoreKeys"),
    ({"sigstoreKeys": {}},
     "expected exactly one, got neither: spec.sigstoreKeys.certificateAuthority, "
     "spec.sigstoreKeys.timestampAuthorities"),
    ({"sigstoreKeys": {"certificateAuthorities": [{}], "tLogs": [{}]}},
     "missing field(s): spec.sigstoreKeys.certificateAuthority[0].certchain, "
     "spec.sigstoreKeys.certificateAuthority[0].subject.commonName, "
     "spec.sigstoreKeys.certificateAuthority[0].subject.organization, "
     "spec.sigstoreKeys.certificateAuthority[0].uri, spec.sigstoreKeys.tLogs[0].baseURL, "
     "spec.sigstoreKeys.tLogs[0].hashAlgorithm, spec.sigstoreKeys.tLogs[0].publicKey"),
    ({"remote": {"root": b64(b'{"signed": {}}')}},
     "missing field(s): spec.remote.mirror"),
    ({"remote": {"mirror": "https://m", "root": b64(b'{"signed": {}}')}},
     "invalid value: missing signatures in root.json: spec.remote.root\nno signatures"),
    ({"remote": {"mirror": "https://m", "root": b64(b"{")}},
     "invalid value: failed to unmarshal: spec.remote.root"),
    ({"remote": {"mirror": "https://m"}}, "missing field(s): spec.remote.root"),
    ({"repository": {"root": b64(b'{"signatures": []}')}}, "missing field(s): spec.repository.repository"),
])
def test_trustroot_rules(spec: dict[str, Any], want: str) -> None:
    assert want in render(validate(trustroot(spec)))


def test_tsa_chain_with_two_leaves_refused() -> None:
    k = keys()
    chain = base64.b64decode(k["timestampAuthorities"][0]["certChain"])  # leaf, intermediate, root
    k["timestampAuthorities"][0]["certChain"] = b64(chain + chain)  # two leaves
    assert ("invalid value: certificate chain must contain at most one TSA certificate: "
            "spec.sigstoreKeys.timestampAuthorities[0].certChain") in render(
                validate(trustroot({"sigstoreKeys": k})))


def trusted_root_json() -> bytes:
    return json.dumps(convert_sigstore_keys(keys())).encode()


@pytest.mark.parametrize("consistent", [True, False])
@pytest.mark.parametrize("prefix", ["repository/", ""])
def test_repository_from_serialized_tuf(consistent: bool, prefix: str) -> None:
    files, root = build({"trusted_root.json": trusted_root_json()}, consistent=consistent, prefix=prefix)
    assert repository_trusted_root(tar_gz(files), root) == trusted_root_json()
    doc = trustroot({"repository": {"root": b64(root), "mirrorFS": b64(tar_gz(files))}})
    assert validate(doc) == []
    tr = parse_trustroot(doc)
    assert tr.form == "repository" and tr.tuf is not None and tr.tuf.targets == "targets"
    assert len(tr.trusted_root().tlogs) == 1


def test_repository_custom_targets_dir_and_trusted_root_name() -> None:
    files, root = build({"my_root.json": trusted_root_json()}, targets_dir="t")
    doc = trustroot({"repository": {"root": b64(root), "mirrorFS": b64(tar_gz(files)), "targets": "t",
                                    "trustedRootTarget": "my_root.json"}})
    assert validate(doc) == []
    assert len(parse_trustroot(doc).trusted_root().certificate_authorities) == 1


def test_repository_legacy_custom_metadata() -> None:
    k = keys()
    targets = {"fulcio.crt.pem": base64.b64decode(k["certificateAuthorities"][0]["certChain"]),
               "rekor.pub": base64.b64decode(k["tLogs"][0]["publicKey"]),
               "ctfe.pub": base64.b64decode(k["ctLogs"][0]["publicKey"]),
               "unrelated.txt": b"x"}
    custom = {"fulcio.crt.pem": {"sigstore": {"usage": "Fulcio", "status": "Active", "uri": "https://fulcio.x"}},
              "rekor.pub": {"sigstore": {"usage": "Rekor", "status": "Active", "uri": "https://rekor.x"}},
              "ctfe.pub": {"sigstore": {"usage": "CTFE", "status": "Active", "uri": "https://ctfe.x"}}}
    files, root = build(targets, custom=custom)
    tr = json.loads(repository_trusted_root(tar_gz(files), root))
    assert [c["uri"] for c in tr["certificateAuthorities"]] == ["https://fulcio.x"]
    assert [t["baseUrl"] for t in tr["tlogs"]] == ["https://rekor.x"]
    assert [t["baseUrl"] for t in tr["ctlogs"]] == ["https://ctfe.x"]


def test_repository_without_keys() -> None:
    files, root = build({"unrelated.txt": b"x"})
    with pytest.raises(TrustRootError, match="no certificate authorities found"):
        repository_trusted_root(tar_gz(files), root)


def test_repository_trusted_by_another_root_refused() -> None:
    files, _ = build({"trusted_root.json": trusted_root_json()})
    _, other_root = build({"trusted_root.json": b"{}"})
    doc = trustroot({"repository": {"root": b64(other_root), "mirrorFS": b64(tar_gz(files))}})
    text = render(validate(doc))
    assert text.startswith("invalid value: failed to construct a TUF client: spec.repository.mirrorFS\nTUF: ")


def test_repository_tampered_target_refused() -> None:
    files, root = build({"trusted_root.json": trusted_root_json()}, consistent=False)
    files["repository/targets/trusted_root.json"] = trusted_root_json().replace(b"rekor", b"evil0")
    with pytest.raises(TrustRootError, match="TUF: "):
        repository_trusted_root(tar_gz(files), root)


def test_repository_expired_metadata_refused() -> None:
    files, root = build({"trusted_root.json": trusted_root_json()}, expires_in=timedelta(seconds=-60))
    with pytest.raises(TrustRootError, match="Expired"):
        repository_trusted_root(tar_gz(files), root)


def test_repository_not_a_tarball() -> None:
    _, root = build({"trusted_root.json": b"{}"})
    with pytest.raises(TrustRootError, match="failed to uncompress"):
        repository_trusted_root(b"not gzip", root)


def test_remote_needs_the_admission_resolver() -> None:
    tr = parse_trustroot(trustroot({"remote": {"mirror": "https://m", "root": b64(b'{"signatures": []}')}}))
    assert tr.form == "remote" and tr.tuf is not None and tr.tuf.mirror == "https://m"
    with pytest.raises(TrustRootError, match=r"sigward\.admission\.trustroots"):
        tr.trusted_root()
