"""verify-attestation --policy: Rego allow / deny / syntax error / missing file / CUE error, kept apart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.attest.helpers import ATTEST, NOTLOG
from tests.fixtures.gotools import go_tool

pytest.importorskip("regopy")

OLD_SYNTAX = """package signature

default allow = false

allow {
    input.predicateType == "https://cosign.sigstore.dev/attestation/v1"
    input.predicate.Data == "approved\\n"
}
"""
REGO_V1 = """package signature

import rego.v1

default allow := false

allow if {
    some s in input.subject
    startswith(s.name, "oci:")
    input.predicate.Data == "approved\\n"
}
"""
NON_BOOLEAN = """package signature
allow := "yes"
"""


@pytest.fixture
def attested(run: Callable[..., Any], keys: Any, layout: Callable[..., str],
             tmp_path: Path) -> Callable[..., str]:
    def make(data: str) -> str:
        img = layout()
        pred = tmp_path / "pred.txt"
        pred.write_text(data)
        assert run(*ATTEST, "--key", keys.key, "--predicate", str(pred), img).code == 0
        return img

    return make


def _policy(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("source", [OLD_SYNTAX, REGO_V1], ids=["rego-v0", "rego-v1"])
def test_allow_and_deny(run: Callable[..., Any], keys: Any, attested: Callable[..., str], tmp_path: Path,
                        source: str) -> None:
    policy = _policy(tmp_path, "p.rego", source)
    good = run("verify-attestation", "--key", keys.pub, NOTLOG, "--policy", policy, attested("approved\n"))
    assert good.code == 0, good.err
    assert len(good.out.splitlines()) == 1
    bad = run("verify-attestation", "--key", keys.pub, NOTLOG, "--policy", policy, attested("rejected\n"))
    assert bad.code == 1
    assert "1 validation errors occurred" in bad.err and "is not true" in bad.err
    assert bad.out == ""


def test_only_exactly_true_allows(run: Callable[..., Any], keys: Any, attested: Callable[..., str],
                                  tmp_path: Path) -> None:
    img = attested("approved\n")
    r = run("verify-attestation", "--key", keys.pub, NOTLOG, "--policy",
            _policy(tmp_path, "s.rego", NON_BOOLEAN), img)
    assert r.code == 1 and 'expression value, "yes", is not true' in r.err
    r = run("verify-attestation", "--key", keys.pub, NOTLOG, "--policy",
            _policy(tmp_path, "o.rego", "package other\nallow := true\n"), img)
    assert r.code == 1 and "result is undefined for query 'data.signature.allow'" in r.err
    # Two policies: both must allow.
    r = run("verify-attestation", "--key", keys.pub, NOTLOG, "--policy",
            _policy(tmp_path, "a.rego", OLD_SYNTAX), "--policy",
            _policy(tmp_path, "b.rego", NON_BOOLEAN), img)
    assert r.code == 1 and "b.rego" in r.err and "a.rego" not in r.err


def test_policy_errors_are_distinct(run: Callable[..., Any], keys: Any, attested: Callable[..., str],
                                    tmp_path: Path) -> None:
    img = attested("approved\n")
    syntax = run("verify-attestation", "--key", keys.pub, NOTLOG, "--policy",
                 _policy(tmp_path, "bad.rego", "package signature\nallow {{{\n"), img)
    verify = ("verify-attestation", "--key", keys.pub, NOTLOG, "--policy")
    missing = run(*verify, str(tmp_path / "nope.rego"), img)
    denied = run("verify-attestation", "--key", keys.pub, NOTLOG, "--policy",
                 _policy(tmp_path, "deny.rego", "package signature\nallow := false\n"), img)
    cue = run(*verify, _policy(tmp_path, "p.cue", "a: {{"), img, env={"SIGWARD_CUE": str(go_tool("cue"))})
    other = run(*verify, _policy(tmp_path, "p.txt", "x"), img)
    assert syntax.code == missing.code == denied.code == cue.code == other.code == 1
    assert "has a syntax error" in syntax.err and "bad.rego:2" in syntax.err
    assert "policy file not found" in missing.err
    assert "validation errors occurred" in denied.err and "expression value, false, is not true" in denied.err
    assert "CUE policy" in cue.err and "does not compile" in cue.err
    assert "invalid policy format, expected .cue or .rego" in other.err
    # rego-cpp prints parse errors on fd 1; none of it reaches our stdout.
    assert syntax.out == missing.out == denied.out == ""
    assert len({syntax.err, missing.err, denied.err}) == 3


def test_policy_errors_before_verification(run: Callable[..., Any], keys: Any, tmp_path: Path) -> None:
    # The image does not exist: a broken policy is still the error reported, with no registry contact.
    r = run("verify-attestation", "--key", keys.pub, NOTLOG, "--policy",
            _policy(tmp_path, "bad.rego", "package signature\nallow if {\n"), f"oci:{tmp_path}/none:v1")
    assert r.code == 1 and "has a syntax error" in r.err
