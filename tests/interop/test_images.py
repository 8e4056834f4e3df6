"""Image signatures and attestations, cosign ⇄ sigward, on both registry kinds.

Bundle format (cosign v3's default: a Sigstore bundle as an OCI 1.1 referrer, through the referrers API or
the ``sha256-<hex>`` fallback tag) and legacy format (``sha256-<hex>.sig``/``.att`` images); ``-a``
annotations and ``--type`` are checked, and a wrong key is refused. Then ``tree`` and ``copy`` over what the
other tool wrote.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.interop.conftest import (
    COSIGN,
    DIRECTION_IDS,
    DIRECTIONS,
    FORMS,
    LEGACY_SIGN,
    NO_TLOG_VERIFY,
    SIGWARD,
    KeyPair,
    SignedImages,
    Tools,
    new_image,
    sign_flags,
)


@pytest.mark.interop("image signature with -a annotations")
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("direction", DIRECTIONS, ids=DIRECTION_IDS)
def test_image_signature(tools: Tools, keys: dict[str, KeyPair], registry_host: str, registry_kind: str,
                         direction: tuple[str, str], form: str, no_log_config: Path) -> None:
    producer, consumer = direction
    ref = new_image(registry_host, f"sig-{form}")
    tools.ok(producer, "sign", "--yes", "--key", keys[producer].key, *sign_flags(form, no_log_config),
             "-a", "env=prod", "-a", "team=platform", ref)
    pub, wrong = keys[producer].pub, keys[consumer].pub
    tools.parallel(
        (consumer, True, ["verify", "--key", pub, *NO_TLOG_VERIFY, "-a", "env=prod", "-a", "team=platform",
                          ref]),
        (consumer, False, ["verify", "--key", pub, *NO_TLOG_VERIFY, "-a", "env=dev", ref]),
        (consumer, False, ["verify", "--key", wrong, *NO_TLOG_VERIFY, ref]),
    )


@pytest.mark.interop("legacy .sig appended by both tools, each verifying both")
def test_both_tools_append_legacy_signatures(tools: Tools, keys: dict[str, KeyPair], registry_host: str,
                                             registry_kind: str) -> None:
    ref = new_image(registry_host, "appended")
    for tool in (COSIGN, SIGWARD):
        tools.ok(tool, "sign", "--yes", "--key", keys[tool].key, *LEGACY_SIGN, "-a", f"by={tool}", ref)
    calls = []
    for reader in (COSIGN, SIGWARD):
        for signer in (COSIGN, SIGWARD):
            calls.append((reader, True, ["verify", "--key", keys[signer].pub, *NO_TLOG_VERIFY,
                                         "-a", f"by={signer}", ref]))
        # The key of one signer with the annotation of the other matches no layer.
        other = SIGWARD if reader == COSIGN else COSIGN
        calls.append((reader, False, ["verify", "--key", keys[reader].pub, *NO_TLOG_VERIFY,
                                      "-a", f"by={other}", ref]))
    tools.parallel(*calls)
    tree = tools.ok(SIGWARD, "tree", ref).stdout
    assert len(re.findall(r"🍒", tree)) == 2, tree


@pytest.mark.interop("attestation (verify-attestation --type)")
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("direction", DIRECTIONS, ids=DIRECTION_IDS)
def test_attestation(tools: Tools, keys: dict[str, KeyPair], registry_host: str, registry_kind: str,
                     direction: tuple[str, str], form: str, no_log_config: Path, predicate: Path) -> None:
    producer, consumer = direction
    ref = new_image(registry_host, f"att-{form}")
    tools.ok(producer, "attest", "--yes", "--key", keys[producer].key, *sign_flags(form, no_log_config),
             "--predicate", predicate, "--type", "slsaprovenance", ref)
    pub = keys[producer].pub
    tools.parallel(
        (consumer, True, ["verify-attestation", "--key", pub, *NO_TLOG_VERIFY, "--type", "slsaprovenance",
                          ref]),
        (consumer, False, ["verify-attestation", "--key", pub, *NO_TLOG_VERIFY, "--type", "custom", ref]),
    )


def tree_blocks(text: str) -> set[tuple[str, tuple[str, ...]]]:
    """``tree`` output as a set of (section heading, its layer digests): cosign orders sections randomly."""
    blocks: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("└── "):
            blocks.append((line[4:], []))
        elif "🍒" in line:
            blocks[-1][1].append(line.split("🍒", 1)[1].strip())
    return {(h, tuple(sorted(ls))) for h, ls in blocks}


@pytest.mark.interop("tree of the other tool's signatures and attestations")
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("direction", DIRECTIONS, ids=DIRECTION_IDS)
def test_tree(tools: Tools, signed_images: SignedImages, registry_host: str, registry_kind: str,
              direction: tuple[str, str], form: str) -> None:
    producer, consumer = direction
    ref = signed_images.get(producer, registry_host, form)
    trees = {tool: tree_blocks(tools.ok(tool, "tree", "--experimental-oci11", ref).stdout)
             for tool in (COSIGN, SIGWARD)}
    assert trees[COSIGN] == trees[SIGWARD]
    headings = [h for h, _ in trees[consumer]]
    if form == "legacy":
        assert sorted(h.split(":")[0] for h in headings) == ["💾 Attestations for an image tag",
                                                             "🔐 Signatures for an image tag"]
    else:
        assert sorted(h.split(" artifacts via")[0] for h in headings) == [
            "🔗 https://cosign.sigstore.dev/attestation/v1", "🔗 https://sigstore.dev/cosign/sign/v1"]


@pytest.mark.interop("copy by one tool, verify (signature + attestation) by the other")
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("direction", DIRECTIONS, ids=DIRECTION_IDS)
def test_copy(tools: Tools, keys: dict[str, KeyPair], signed_images: SignedImages, registry_host: str,
              registry_kind: str, direction: tuple[str, str], form: str) -> None:
    producer, consumer = direction
    src = signed_images.get(producer, registry_host, form)
    dst = new_image(registry_host, "copy-dst").split("@")[0].rsplit("/", 1)[0] + f"/copied-{producer}-{form}"
    tools.ok(producer, "copy", src, f"{dst}:v1")
    copied = f"{dst}@{src.split('@')[1]}"
    pub = keys[producer].pub
    verify = ["verify", "--key", pub, *NO_TLOG_VERIFY, "-a", f"by={producer}", copied]
    verify_att = ["verify-attestation", "--key", pub, *NO_TLOG_VERIFY, "--type", "custom", copied]
    # cosign copy carries the .sig/.att tags but not referrers (cosign-wire-formats.md §5.4): after it,
    # bundle signatures are gone for both tools alike.
    carried = not (producer == COSIGN and form == "bundle")
    calls = [(consumer, carried, verify), (consumer, carried, verify_att)]
    if not carried:
        calls.append((producer, False, verify))
    tools.parallel(*calls)
