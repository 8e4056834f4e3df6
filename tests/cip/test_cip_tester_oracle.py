"""sigward's validation text against the real ``policy-tester`` v0.13.1 (built by scripts/go-tools.sh):
for every CIP of policy-controller's own test data and every focused case of test_cip_validate.py, the
tester's ``CIP is invalid: …`` (or its acceptance) and sigward's rendering must be the same, except where
sigward differs on purpose — each exception listed here with the reason (docs/policy-validation.md).

The tester reads one file and then verifies an image; the image here is a digest on a closed loopback port,
so only the validation step's outcome matters. ``SYSTEM_NAMESPACE`` is set as the controller's Deployment
sets it (the tester panics on a ``secretRef.namespace`` without it).
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sigward.cip.documents import load_documents
from sigward.cip.validate import render, validate
from tests.cip import test_cip_validate as focused
from tests.fixtures.gotools import go_tool

PC = Path(__file__).resolve().parents[1] / "vectors" / "policy-controller" / "policy-controller"
IMAGE = "127.0.0.1:1/never@sha256:" + "0" * 64
WRAPPER = re.compile(r"invalid value: (.*): policies\[0\]\.path", re.S)


def _tester_verdict(tester: Path, doc_text: str, workdir: Path) -> str | None:
    """policy-tester's validation error for ``doc_text`` (its wrapper removed), None when it accepted."""
    path = workdir / "cip.yaml"
    path.write_text(doc_text)
    r = subprocess.run([str(tester), "-policy", str(path), "-image", IMAGE], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "SYSTEM_NAMESPACE": "cosign-system"})
    m = re.search(r"CIP is invalid: (.*)", r.stdout + r.stderr, re.S)
    if m is None:
        assert "panic" not in r.stderr, r.stderr
        return None
    text = m.group(1).strip()
    w = WRAPPER.fullmatch(text)
    return w.group(1) if w else text


def _ours(docs: list[dict[str, Any]]) -> str | None:
    return render(e for d in docs for e in validate(d) if e.level == "Error") or None


def _without_comments(text: str) -> str:
    # policy-tester splits on "\n---\n" and refuses a comment-only first part (the license header) as an
    # object without apiVersion; kubectl and sigward skip it. Compare the policies, not that quirk.
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    return "\n".join(lines).strip().removeprefix("---").strip() + "\n"


# Where sigward says something else on purpose (docs/policy-validation.md).
WEBHOOK_RESOURCE_LIST = "unsupported resource name"  # the webhook's seven resources; the tester has none


def _vector_files() -> Iterator[Path]:
    for d in ("invalid", "valid", "e2e"):
        for p in sorted((PC / d).glob("*.yaml")):
            if p.name != "test-deployment.yaml":
                yield p


@pytest.fixture(scope="module")
def tester() -> Path:
    return go_tool("policy-tester")


@pytest.mark.parametrize("path", list(_vector_files()), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_vectors_same_as_policy_tester(tester: Path, path: Path, tmp_path: Path) -> None:
    text = _without_comments(path.read_text())
    docs = [dict(d.body) for d in load_documents(text.encode(), str(path)) if d.is_cip]
    ours, theirs = _ours(docs), _tester_verdict(tester, text, tmp_path)
    if ours is not None and WEBHOOK_RESOURCE_LIST in ours:
        assert theirs is None, theirs
        return
    assert ours == theirs


def _focused_cases() -> Iterator[dict[str, Any]]:
    for spec, want in focused.test_spec_rules.pytestmark[0].args[1]:  # type: ignore[attr-defined]
        if WEBHOOK_RESOURCE_LIST not in want:
            yield focused.cip(copy.deepcopy(spec))
    for authority, _ in focused.test_authority_rules.pytestmark[0].args[1]:  # type: ignore[attr-defined]
        yield focused.base(authority)
    for policy, _ in focused.test_cip_level_policy_rules.pytestmark[0].args[1]:  # type: ignore[attr-defined]
        d = focused.base()
        d["spec"]["policy"] = copy.deepcopy(policy)
        yield d


@pytest.mark.parametrize("doc", list(_focused_cases()), ids=lambda d: str(len(str(d))))
def test_focused_rules_same_as_policy_tester(tester: Path, doc: dict[str, Any], tmp_path: Path) -> None:
    # Quoted strings throughout: go-yaml reads a bare `n` or `y` as a boolean.
    text = yaml.safe_dump(doc, default_style='"')
    assert _ours([doc]) == _tester_verdict(tester, text, tmp_path)
