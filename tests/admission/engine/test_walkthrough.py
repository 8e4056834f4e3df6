"""docs/policy.md's walk-through, run as written: the seed blog's two ClusterImagePolicies against images
signed by sigward (keyless, the local Sigstore stack) in a real registry. Every ``sigward policy test``
command in the document is run and its output compared with the text shown there."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.admission.engine.conftest import Run
from tests.admission.engine.test_keyless import HTTP

DOC = Path(__file__).resolve().parents[3] / "docs" / "policy.md"
SITE_SUBJECT = "https://gitlab.com/BobyMCbobs/site//.gitlab-ci.yml@refs/heads/main"
KNATIVE_SUBJECT = "signer@knative-releases.iam.gserviceaccount.com"


def doc_blocks() -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", DOC.read_text(), re.S)


def sessions() -> list[tuple[list[str], str]]:
    """(argv after `sigward`, expected output) of each `$ sigward policy test …` in the document."""
    out = []
    for block in doc_blocks():
        lines = block.splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("$ sigward policy test"):
                continue
            expected = []
            for following in lines[i + 1:]:
                if following.startswith("$ "):
                    break
                expected.append(following)
            out.append((shlex.split(line[2:])[1:], "\n".join(expected) + "\n"))
    return out


def test_the_walkthrough_runs_as_documented(run: Callable[..., Run], registry: Any, sigstore_stack: Any,
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sigward.oci.reference import parse_reference
    from sigward.oci.store import StoreOptions, open_store
    from sigward.ops.example import write_demo_image

    (cips,) = [b for b in doc_blocks() if b.startswith("# walkthrough: cips.yaml")]
    (tmp_path / "cips.yaml").write_text(cips.replace("REGISTRY", registry.host))
    # The TrustRoot as the document makes it: `sigward policy trustroot`, run as written.
    (make_root,) = [line for b in doc_blocks() for line in b.splitlines()
                    if line.startswith("$ sigward policy trustroot")]
    argv = [str(sigstore_stack.trusted_root) if a == "trusted_root.json" else
            str(tmp_path / a) if a == "trustroot.yaml" else a for a in shlex.split(make_root[2:])[1:]]
    made = run(*argv)
    assert made.code == 0 and made.out == "", made.err
    assert yaml.safe_load((tmp_path / "trustroot.yaml").read_text())["metadata"]["name"] == "sigstore-local"

    digests: dict[str, str] = {}
    for repo in ("bobymcbobs/site", "bobymcbobs/draft", "knative-releases/serving",
                 "knative-releases/eventing", "elsewhere/tool"):
        ref = parse_reference(f"{registry.host}/{repo}:v1")
        with open_store(ref, StoreOptions(allow_http_registry=True)) as store:
            write_demo_image(store, "v1", message=repo)
            digests[repo] = str(ref.with_digest(store.resolve("v1").digest))

    def sign(repo: str, token: str, legacy: bool = False) -> None:
        stack = sigstore_stack
        trust = (["--new-bundle-format=false", "--use-signing-config=false", "--fulcio-url", stack.fulcio_url,
                  "--rekor-url", stack.rekor_url, "--trusted-root", str(stack.trusted_root)] if legacy else
                 ["--trusted-root", str(stack.trusted_root), "--signing-config", str(stack.signing_config)])
        r = run("sign", "--yes", "--identity-token", token, HTTP, *trust, digests[repo])
        assert r.code == 0, r.err

    minter = sigstore_stack.minter
    gitlab = minter.mint(SITE_SUBJECT, issuer="https://gitlab.com")
    google = minter.mint(KNATIVE_SUBJECT, issuer="https://accounts.google.com", email=KNATIVE_SUBJECT,
                         email_verified=True)
    sign("bobymcbobs/site", gitlab)
    sign("knative-releases/serving", google, legacy=True)
    sign("knative-releases/eventing", minter.mint(SITE_SUBJECT, issuer="https://gitlab.com"), legacy=True)

    found = sessions()
    assert len(found) == 5
    monkeypatch.chdir(tmp_path)
    for argv, expected in found:
        repo = argv[-1].split("/", 1)[1].split("@")[0]
        argv = [*argv[:-1], HTTP, digests[repo]]
        r = run(*argv)
        got = re.sub(r"@sha256:[0-9a-f]{64}", "@sha256:…", r.out.replace(registry.host, "REGISTRY"))
        assert got == expected, f"{shlex.join(argv)}\n--- got:\n{got}--- documented:\n{expected}"
        assert r.code == (0 if expected.rstrip().endswith("admitted") else 1)
