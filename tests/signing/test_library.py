"""The public Python API: the ten-line program of docs/library.md run as written, keyless signing and
identity policies against the local Sigstore stack, composed policies, and the safe defaults."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import sigward
from tests.fixtures.jwt_tokens import GITHUB_ISSUER, GITHUB_WORKFLOW_REF

DOC = Path(__file__).resolve().parents[2] / "docs" / "library.md"
IDENTITY = f"https://github.com/{GITHUB_WORKFLOW_REF}"


def ten_line_program() -> str:
    block = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None
    return block.group(1)


def test_the_documented_program_runs_as_written(tmp_path: Path) -> None:
    program = ten_line_program()
    assert len([line for line in program.splitlines() if line.strip()]) <= 10
    env = {**os.environ, "COSIGN_PASSWORD": "example-password"}
    env.pop("COSIGN_REPOSITORY", None)
    for cmd in (["generate-key-pair"], ["demo-image", "oci:./layout:hello"]):
        subprocess.run([sys.executable, "-m", "sigward", *cmd], cwd=tmp_path, env=env, check=True,
                       capture_output=True)
    env.pop("COSIGN_PASSWORD")  # the program passes its password itself
    r = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"key bundle key sha256:[0-9a-f]{64}\n", r.stdout), r.stdout
    assert r.stderr == ""  # the library prints nothing of its own
    # Another key does not verify it: the error is typed and names no CLI flag.
    other = sigward.generate_key()
    with pytest.raises(sigward.VerificationError, match="no matching signatures") as e:
        sigward.verify(f"oci:{tmp_path}/layout:hello", policy=sigward.key_policy(other, tlog=False))
    assert "--" not in str(e.value)


def test_identity_needs_subject_and_issuer() -> None:
    with pytest.raises(sigward.UsageError, match="needs a subject"):
        sigward.Identity()
    with pytest.raises(sigward.UsageError, match="needs an issuer"):
        sigward.Identity(subject="dev@example.com")
    with pytest.raises(sigward.UsageError, match="needs a subject"):
        sigward.Identity(issuer="https://accounts.example.com")
    with pytest.raises(sigward.UsageError, match="invalid regular expression"):
        sigward.Identity(subject_regexp="(", issuer="https://accounts.example.com")
    with pytest.raises(sigward.UsageError, match="at least one identity"):
        sigward.KeylessAuthority((), root=None)  # type: ignore[arg-type]


def test_keyless_api_reports_identity_and_matching_authority(sigstore_stack: Any,
                                                             layout: Callable[..., str]) -> None:
    img = layout()
    trust = sigward.TrustConfig(trusted_root=str(sigstore_stack.trusted_root),
                                signing_config=str(sigstore_stack.signing_config))
    results = sigward.sign(img, identity_token=sigstore_stack.minter.mint_github(), trust=trust)
    assert len(results) == 1 and results[0].pushed
    who = sigward.Identity(subject=IDENTITY, issuer=GITHUB_ISSUER,
                           github=(("repository", GITHUB_WORKFLOW_REF.split("/.github")[0]),))
    keyless = sigward.identity_policy(who, trust=trust, name="release-workflow")
    (sig,) = sigward.verify(img, policy=keyless)
    assert sig.authority == "release-workflow" and sig.format == "bundle"
    assert sig.identity is not None
    assert sig.identity.subject == IDENTITY and sig.identity.issuer == GITHUB_ISSUER
    assert sig.matched_identity == who and sig.signed_by == f"{IDENTITY} ({GITHUB_ISSUER})"
    assert sig.log_entries and sig.verified_times
    assert sig.statement is not None and sig.predicate_type == "https://sigstore.dev/cosign/sign/v1"

    # A CIP-like policy: a wrong key or the identity (AnyOf); reported per authority.
    from sigward.ops.verify import discover
    from sigward.sigstore.pipeline import Target, evaluate

    wrong = sigward.key_policy(sigward.generate_key(), tlog=False, name="old-key")
    store, digest = _open(img)
    _fmt, candidates = discover(store, digest, "sig")
    result = evaluate(sigward.AnyOf((wrong, keyless)), candidates, Target(digest=digest), "image-signature")
    assert result.passed and list(result.matches()) == ["release-workflow"]
    assert [r.passed for r in result.results] == [False, True]
    both = evaluate(sigward.AllOf((wrong, keyless)), candidates, Target(digest=digest), "image-signature")
    assert not both.passed and "authority old-key: " in both.errors()[0][1]
    other = sigward.Identity(subject="someone@example.com", issuer=GITHUB_ISSUER)
    with pytest.raises(sigward.VerificationError, match="certificate identity"):
        sigward.verify(img, policy=sigward.identity_policy(other, trust=trust))
    # Only by name: any identity the CA certified.
    (any_sig,) = sigward.verify(img, policy=sigward.identity_policy(sigward.UNSAFE_ANY_IDENTITY, trust=trust))
    assert any_sig.identity is not None and any_sig.identity.subject == IDENTITY
    static = sigward.StaticAuthority("fail", "frozen")
    assert not evaluate(sigward.AnyOf((static,)), candidates, Target(digest=digest), "image-signature").passed


def _open(img: str) -> tuple[Any, str]:
    from sigward.oci.layout import LayoutStore
    from sigward.oci.reference import LayoutReference, parse_reference

    r = parse_reference(img)
    assert isinstance(r, LayoutReference) and r.digest
    return LayoutStore(r.path), r.digest


def test_import_sigward_is_cheap_and_complete() -> None:
    code = ("import sys, sigward; assert [m for m in sys.modules if m.startswith('sigward')] == ['sigward'];"
            "missing = [n for n in sigward.__all__ if not hasattr(sigward, n)]; assert not missing, missing")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_api_docstring_examples() -> None:
    import doctest

    import sigward.api
    import sigward.sigstore.policy

    for module in (sigward.api, sigward.sigstore.policy):
        failed, attempted = doctest.testmod(module)
        assert attempted and not failed, module.__name__
