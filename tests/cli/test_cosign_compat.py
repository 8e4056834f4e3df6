"""docs/cosign-compat.md is complete for cosign v3.1's command tree and true of sigward (issue 12 item 6).

The table is regenerated from the real cosign binary (scripts/go-tools.sh builds it) and sigward's parser;
any difference means a flag was added on one side without the doc saying what sigward does with it.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from tests.fixtures.gotools import go_tool

REPO = Path(__file__).resolve().parents[2]

# What CI scripts use (cosign's docs, the GitHub/GitLab examples, the list): never "not yet".
COMMON = [(c, f) for c, flags in {
    "": "--timeout --verbose --output-file",
    "sign": "--key --yes --recursive --annotations --identity-token --tlog-upload --output-signature "
            "--output-payload --output-certificate --certificate --certificate-chain "
            "--sign-container-identity --registry-referrers-mode --bundle --new-bundle-format --trusted-root "
            "--signing-config",
    "verify": "--key --certificate-identity --certificate-identity-regexp --certificate-oidc-issuer "
              "--certificate-oidc-issuer-regexp --certificate-github-workflow-repository "
              "--insecure-ignore-tlog --output --certificate-chain --ca-roots --ca-intermediates "
              "--trusted-root --offline",
    "verify-attestation": "--type --policy", "attest": "--predicate --type", "sign-blob": "--bundle",
    "verify-blob": "--bundle", "attest-blob": "--predicate", "verify-blob-attestation": "--bundle",
    "copy": "--force --only", "save": "--dir", "load": "--dir", "tree": "", "clean": "--type",
    "download signature": "", "login": "--username", "generate-key-pair": "--output-key-prefix",
    "public-key": "--key", "version": "--json", "completion": "", "env": "", "initialize": "--mirror --root",
    "trusted-root create": "--rekor", "signing-config create": "--rekor", "bundle create": "--artifact",
    "manifest verify": "", "dockerfile verify": "",
}.items() for f in (flags.split() or [""])]


def _compat() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cosign_compat", REPO / "scripts" / "cosign_compat.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, dict, dict]:  # type: ignore[type-arg]
    import os

    os.environ["SIGWARD_COMPAT_HOME"] = str(tmp_path_factory.mktemp("cosign-home"))
    mod = _compat()
    return mod, mod.cosign_tree(str(go_tool("cosign"))), mod.sigward_tree()


def test_doc_is_the_generated_table(trees: tuple[ModuleType, dict, dict]) -> None:  # type: ignore[type-arg]
    mod, cosign, sw = trees
    doc = (REPO / "docs" / "cosign-compat.md").read_text()
    committed = doc[doc.index(mod.BEGIN):doc.index(mod.END) + len(mod.END)]
    assert committed == mod.render(cosign, sw), "run: python3 scripts/cosign_compat.py --write"


def test_tree_is_cosign_v3_1(trees: tuple[ModuleType, dict, dict]) -> None:  # type: ignore[type-arg]
    _, cosign, _ = trees
    # Every command of cosign's help is there, hidden ones too; flags as cosign's help lists them.
    for command in ("sign", "verify", "attest", "verify-attestation", "sign-blob", "verify-blob", "copy",
                    "trusted-root create", "bundle create", "manifest verify", "dockerfile verify",
                    "initialize", "completion", "env", "version"):
        assert command in cosign
    assert "--registry-referrers-mode" in cosign["sign"] and "--output-signature" in cosign["sign"]
    assert set(cosign[""]) == {"--output-file", "--timeout", "--verbose"}


def test_common_ci_usage_is_never_not_yet(trees: tuple[ModuleType, dict, dict]) -> None:  # type: ignore[type-arg]
    mod, cosign, sw = trees
    for command, flag in COMMON:
        assert command in cosign and (not flag or flag in cosign[command]), (command, flag)
        status, why = mod.status(command, flag, sw)
        assert status in ("supported", "differs"), (command, flag, why)


def test_refused_flags_say_why_in_the_doc() -> None:
    doc = (REPO / "docs" / "cosign-compat.md").read_text()
    rows = re.findall(r"^\| `(--[\w-]+)` \| .* \| (supported|differs|not yet) \| (.*) \|$", doc, re.M)
    assert len(rows) > 400
    for flag, status, why in rows:
        if status != "supported":
            assert why.strip(), flag
