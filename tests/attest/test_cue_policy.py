"""verify-attestation --policy x.cue (issue 12 item 7): evaluated by the real `cue` command against the
document cosign gives CUE, with the same verdicts as cosign v3.1 itself; a clear error when `cue` is
missing. `cue` v0.17.1 and cosign come from scripts/go-tools.sh (tests/fixtures/gotools.py)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.attest.helpers import ATTEST, NOTLOG
from tests.fixtures.gotools import go_tool

ALLOW = """package signature

predicateType: "https://cosign.sigstore.dev/attestation/v1"
predicate: Data: "approved\\n"
subject: [...{digest: sha256: =~"^[0-9a-f]{64}$"}]
"""
DENY = """predicate: Data: "rejected\\n"
"""
# A second file of the same package, loaded with ALLOW as one instance (as cosign loads them).
EXTRA = """package signature

_type: "https://in-toto.io/Statement/v0.1"
"""


def _file(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.fixture
def cue_env() -> dict[str, str]:
    return {"SIGWARD_CUE": str(go_tool("cue"))}


@pytest.fixture
def attested(run: Callable[..., Any], keys: Any, layout: Callable[..., str], tmp_path: Path) -> str:
    img = layout()
    pred = tmp_path / "pred.txt"
    pred.write_text("approved\n")
    assert run(*ATTEST, "--key", keys.key, "--predicate", str(pred), img).code == 0
    return img


def test_cue_allow_deny_and_errors(run: Callable[..., Any], keys: Any, attested: str, tmp_path: Path,
                                   cue_env: dict[str, str]) -> None:
    verify = ("verify-attestation", "--key", keys.pub, NOTLOG)
    r = run(*verify, "--policy", _file(tmp_path, "allow.cue", ALLOW), attested, env=cue_env)
    assert r.code == 0, r.err
    assert len(r.out.splitlines()) == 1
    r = run(*verify, "--policy", _file(tmp_path, "allow.cue", ALLOW), "--policy",
            _file(tmp_path, "extra.cue", EXTRA), attested, env=cue_env)
    assert r.code == 0, r.err
    r = run(*verify, "--policy", _file(tmp_path, "deny.cue", DENY), attested, env=cue_env)
    assert r.code == 1 and r.out == ""
    line = r.err.strip().splitlines()[-1]
    assert line.startswith("Error: 1 validation errors occurred")
    assert 'predicate.Data: conflicting values "rejected\\n" and "approved\\n"' in line
    assert "input.json" in line and "sigward-policy-input" not in line
    # A CUE policy and a Rego policy: both must allow.
    rego = _file(tmp_path, "deny.rego", "package signature\nallow := false\n")
    r = run(*verify, "--policy", _file(tmp_path, "allow.cue", ALLOW), "--policy", rego, attested, env=cue_env)
    assert r.code == 1 and "deny.rego" in r.err and "allow.cue" not in r.err
    # Does not compile: refused before the image is even looked at.
    r = run(*verify, "--policy", _file(tmp_path, "syntax.cue", "predicate: {{\n"),
            f"oci:{tmp_path}/none:v1", env=cue_env)
    assert r.code == 1 and "CUE policy" in r.err and "does not compile" in r.err and "syntax.cue:" in r.err
    r = run(*verify, "--policy", str(tmp_path / "missing.cue"), attested, env=cue_env)
    assert r.code == 1 and "policy file not found" in r.err


def test_missing_cue_names_what_to_install(keys: Any, attested: str, tmp_path: Path) -> None:
    """No `cue` on PATH and no SIGWARD_CUE: one line saying what to install, no traceback."""
    import sys

    env = {k: v for k, v in os.environ.items() if k != "SIGWARD_CUE"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + "/usr/bin:/bin"
    proc = subprocess.run([sys.executable, "-m", "sigward", "verify-attestation", "--key", keys.pub, NOTLOG,
                           "--policy", _file(tmp_path, "allow.cue", ALLOW), attested],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "go install cuelang.org/go/cmd/cue@v0.17.1" in proc.stderr and "SIGWARD_CUE" in proc.stderr
    env["SIGWARD_CUE"] = str(tmp_path / "no-such-cue")
    proc = subprocess.run([sys.executable, "-m", "sigward", "verify-attestation", "--key", keys.pub, NOTLOG,
                           "--policy", _file(tmp_path, "allow.cue", ALLOW), attested],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1 and "no-such-cue not found" in proc.stderr


def test_same_verdicts_as_cosign(run: Callable[..., Any], keys: Any, registry: Any, unique_repo: str,
                                 tmp_path: Path, cue_env: dict[str, str]) -> None:
    """cosign v3.1 and sigward, on one sigward-attested image in a real registry, with the same policies."""
    from tests.fixtures.images import push_image

    digest = push_image(registry, unique_repo, "v1")
    img = f"{registry.host}/{unique_repo}@{digest}"
    pred = tmp_path / "pred.txt"
    pred.write_text("approved\n")
    assert run(*ATTEST, "--key", keys.key, "--predicate", str(pred), img).code == 0
    cosign = str(go_tool("cosign"))
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for name, text, allowed in (("allow.cue", ALLOW, True), ("deny.cue", DENY, False)):
        policy = _file(tmp_path, name, text)
        theirs = subprocess.run([cosign, "verify-attestation", "--key", keys.pub,
                                 "--insecure-ignore-tlog=true", "--allow-http-registry", "--type", "custom",
                                 "--policy", policy, img],
                                capture_output=True, text=True, env=env, timeout=120)
        ours = run("verify-attestation", "--key", keys.pub, NOTLOG, "--allow-http-registry", "--policy",
                   policy, img, env=cue_env)
        assert (theirs.returncode == 0) is allowed, theirs.stderr
        assert (ours.code == 0) is allowed, ours.err
        if not allowed:
            assert "conflicting values" in theirs.stderr and "conflicting values" in ours.err
