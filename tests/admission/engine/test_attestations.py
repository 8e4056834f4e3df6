"""``attestations[]``: in-toto statements signed by sigward (bundle referrers and legacy ``.att``), predicate
types by cosign's short names, per-attestation Rego and CUE (the real ``cue``), and attestations that
do not verify never counting."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.admission.engine.conftest import KeyPair, Run, cip
from tests.fixtures.gotools import go_tool

HTTP = "--allow-http-registry"
PROVENANCE = {"buildType": "https://example.com/build@v1", "builder": {"id": "https://ci.example.com/runner"},
              "invocation": {"configSource": {"uri": "git+https://example.com/app"}}}

REGO_BUILDER = """package sigstore
isCompliant {
  input.predicate.builder.id == "https://ci.example.com/runner"
}
"""
REGO_RESULTS = """package sigstore
isCompliant[response] {
  response := {"result": false, "error": "the builder is not trusted", "warning": ""}
}
"""
CUE_BUILDER = """predicateType: "https://slsa.dev/provenance/v0.2"
predicate: builder: id: "https://ci.example.com/runner"
"""
CUE_WRONG = """predicate: builder: id: "https://elsewhere.example.com"
"""


def attest(run: Callable[..., Run], keys: KeyPair, img: str, tmp_path: Path, *extra: str,
           kind: str = "slsaprovenance", predicate: Any = PROVENANCE) -> None:
    p = tmp_path / "predicate.json"
    p.write_text(json.dumps(predicate))
    r = run("attest", "--key", keys.key, "--tlog-upload=false", HTTP, "--type", kind, "--predicate", str(p),
            *extra, img)
    assert r.code == 0, r.err


def att_cip(keys: KeyPair, *attestations: dict[str, Any]) -> dict[str, Any]:
    return cip("attested", {"images": [{"glob": "**"}], "authorities": [
        {"key": {"data": keys.pem}, "attestations": list(attestations)}]})


@pytest.mark.parametrize("legacy", [False, True], ids=["bundle", "legacy"])
def test_rego_attestation_policies(run: Callable[..., Run], write: Callable[..., str],
                                   image: Callable[..., str], keys: KeyPair, tmp_path: Path,
                                   legacy: bool) -> None:
    img = image()
    attest(run, keys, img, tmp_path, *(["--new-bundle-format=false"] if legacy else []))
    ok = att_cip(keys, {"name": "provenance", "predicateType": "slsaprovenance",
                        "policy": {"type": "rego", "data": REGO_BUILDER}})
    r = run("policy", "test", "--policy", write(ok), HTTP, "-o", "json", img)
    assert r.code == 0, r.out
    matches = r.json()["policies"]["attested"]["authorityMatches"]
    (entry,) = matches["authority-0"]["attestations"]["provenance"]
    assert entry["predicateType"] == "slsaprovenance" and entry["digest"].startswith("sha256:")

    denied = att_cip(keys, {"name": "provenance", "predicateType": "slsaprovenance",
                            "policy": {"type": "rego", "data": REGO_RESULTS}})
    r = run("policy", "test", "--policy", write(denied), HTTP, "-o", "json", img)
    assert r.code == 1
    assert r.json()["errors"] == [
        "failed evaluating rego policy for type provenance: policy is not compliant for query "
        "'isCompliant = data.sigstore.isCompliant' with errors: the builder is not trusted"]
    # Attestations listed are ANDed: a second, absent type fails the authority.
    both = att_cip(keys, {"name": "provenance", "predicateType": "slsaprovenance"},
                   {"name": "sbom", "predicateType": "spdxjson"})
    r = run("policy", "test", "--policy", write(both), HTTP, "-o", "json", img)
    assert r.code == 1
    assert r.json()["errors"] == ["no matching attestations with type spdxjson, checked the following "
                                  'predicateTypes: "https://slsa.dev/provenance/v0.2"']


def test_cue_attestation_policies(run: Callable[..., Run], write: Callable[..., str],
                                  image: Callable[..., str], keys: KeyPair, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    img = image()
    attest(run, keys, img, tmp_path)
    ok = write(att_cip(keys, {"name": "provenance", "predicateType": "https://slsa.dev/provenance/v0.2",
                              "policy": {"type": "cue", "data": CUE_BUILDER}}))
    wrong = write(att_cip(keys, {"name": "provenance", "predicateType": "slsaprovenance",
                                 "policy": {"type": "cue", "data": CUE_WRONG}}))
    monkeypatch.setenv("SIGWARD_CUE", str(go_tool("cue")))
    r = run("policy", "test", "--policy", ok, HTTP, img)
    assert r.code == 0, r.out
    r = run("policy", "test", "--policy", wrong, HTTP, "-o", "json", img)
    assert r.code == 1
    (err,) = r.json()["errors"]
    assert err.startswith("failed evaluating cue policy for provenance: failed to evaluate the policy with "
                          "error: predicate.builder.id: conflicting values")
    # Without cue a CUE policy is an error, never a pass.
    monkeypatch.delenv("SIGWARD_CUE")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    r = run("policy", "test", "--policy", ok, HTTP, "-o", "json", img)
    assert r.code == 1
    (err,) = r.json()["errors"]
    assert err.startswith("failed evaluating cue policy for provenance: CUE policies need the cue command")


def test_attestations_that_do_not_verify_never_count(run: Callable[..., Run], write: Callable[..., str],
                                                     image: Callable[..., str], keys: KeyPair,
                                                     other_keys: KeyPair, tmp_path: Path) -> None:
    img = image()
    policy = write(att_cip(keys, {"name": "provenance", "predicateType": "slsaprovenance"}))
    # Signed by a key the policy does not name (as a bundle referrer: OCI 1.1 discovery).
    attest(run, other_keys, img, tmp_path)
    # And an unsigned envelope attached as a legacy .att layer, naming the image.
    statement = {"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://slsa.dev/provenance/v0.2",
                 "subject": [{"name": img.split("@")[0], "digest": {"sha256": img.split(":")[-1]}}],
                 "predicate": PROVENANCE}
    env = {"payloadType": "application/vnd.in-toto+json",
           "payload": base64.b64encode(json.dumps(statement).encode()).decode(),
           "signatures": [{"keyid": "", "sig": base64.b64encode(b"not a signature").decode()}]}
    (tmp_path / "env.json").write_text(json.dumps(env))
    r = run("attach", "attestation", "--attestation", str(tmp_path / "env.json"), HTTP, img)
    assert r.code == 0, r.err
    r = run("policy", "test", "--policy", policy, HTTP, "-o", "json", img)
    assert r.code == 1
    (err,) = r.json()["errors"]
    assert err.startswith(f"attestation key validation failed for authority authority-0 for {img}: "
                          "no matching attestations: ")
    # Signed by the right key: admitted.
    attest(run, keys, img, tmp_path)
    r = run("policy", "test", "--policy", policy, HTTP, img)
    assert r.code == 0, r.out
