"""Keyless authorities against the local Sigstore stack (Fulcio, Rekor, CT log, TSA): the TrustRoot is made
from the stack's trusted root (``sigstoreKeys``), identities exact and regexp, bundle and legacy formats."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.admission.engine.conftest import Run, cip, trustroot_from_trusted_root
from tests.fixtures.jwt_tokens import GITHUB_ISSUER, GITHUB_WORKFLOW_REF

IDENTITY = f"https://github.com/{GITHUB_WORKFLOW_REF}"
HTTP = "--allow-http-registry"


def sign_keyless(run: Callable[..., Run], stack: Any, img: str, legacy: bool = False) -> None:
    token = stack.minter.mint_github()
    if legacy:
        args = ["--new-bundle-format=false", "--use-signing-config=false", "--fulcio-url", stack.fulcio_url,
                "--rekor-url", stack.rekor_url, "--trusted-root", str(stack.trusted_root)]
    else:
        args = ["--trusted-root", str(stack.trusted_root), "--signing-config", str(stack.signing_config)]
    r = run("sign", "--yes", "--identity-token", token, HTTP, *args, img)
    assert r.code == 0, r.err


def keyless_cip(name: str, identity: dict[str, str], **authority: Any) -> dict[str, Any]:
    return cip(name, {"images": [{"glob": "**"}], "authorities": [
        {"keyless": {"url": "https://fulcio.example", "trustRootRef": "local-stack",
                     "identities": [identity]}, "ctlog": {"trustRootRef": "local-stack"}, **authority}]})


@pytest.mark.parametrize("legacy", [False, True], ids=["bundle", "legacy"])
def test_keyless_identities(run: Callable[..., Run], write: Callable[..., str], image: Callable[..., str],
                            sigstore_stack: Any, legacy: bool) -> None:
    img = image()
    sign_keyless(run, sigstore_stack, img, legacy)
    root = write(trustroot_from_trusted_root("local-stack", sigstore_stack.trusted_root))
    exact = keyless_cip("exact", {"issuer": GITHUB_ISSUER, "subject": IDENTITY})
    regexp = keyless_cip("regexp", {"issuerRegExp": "token.actions", "subjectRegExp": "^https://github.com/.*"})
    r = run("policy", "test", "--policy", write(exact, regexp), "--trustroot", root, HTTP, "-o", "json", img)
    assert r.code == 0, r.out + r.err
    sig = r.json()["policies"]["exact"]["authorityMatches"]["authority-0"]["signatures"][0]
    assert sig["subject"] == IDENTITY and sig["issuer"] == GITHUB_ISSUER
    assert sig["githubWorkflowRef"] == "refs/tags/0.5.0"

    wrong = keyless_cip("wrong", {"issuer": GITHUB_ISSUER, "subject": "https://github.com/someone/else"})
    r = run("policy", "test", "--policy", write(wrong), "--trustroot", root, HTTP, "-o", "json", img)
    assert r.code == 1
    (err,) = r.json()["errors"]
    assert err.startswith(f"signature keyless validation failed for authority authority-0 for {img}: "
                          "no matching signatures: ")
    assert "none of the expected identities matched what was in the certificate" in err


def test_keyless_needs_the_trust_root(run: Callable[..., Run], write: Callable[..., str],
                                      layout: Callable[..., str], sigstore_stack: Any) -> None:
    img = layout()
    sign_keyless(run, sigstore_stack, img)
    policy = keyless_cip("p", {"issuer": GITHUB_ISSUER, "subject": IDENTITY})
    policy["spec"]["images"] = [{"glob": "oci:**"}]
    r = run("policy", "test", "--policy", write(policy), "-o", "json", img)
    assert r.code == 1
    assert r.json()["errors"] == [
        "constructing checkOpts for authority-0: trustRootRef local-stack not found"]
    # The public-good root (no trustRootRef, no ctlog) does not know this stack's Fulcio.
    del policy["spec"]["authorities"][0]["keyless"]["trustRootRef"]
    del policy["spec"]["authorities"][0]["ctlog"]
    r = run("policy", "test", "--policy", write(policy), "-o", "json", img)
    assert r.code == 1 and "signature keyless validation failed" in r.json()["errors"][0]


def test_timestamps_sct_and_the_log(run: Callable[..., Run], write: Callable[..., str],
                                    layout: Callable[..., str], sigstore_stack: Any, tmp_path: Any) -> None:
    """``rfc3161timestamp`` requires a TSA timestamp from the TrustRoot; ``insecureIgnoreSCT`` skips the SCT
    check (needed when the TrustRoot has no CT log); ``ctlog`` on a key authority turns the log check on."""
    import yaml

    from tests.admission.engine.conftest import make_keys

    bundle_img, legacy_img = layout(), layout()
    sign_keyless(run, sigstore_stack, bundle_img)  # the stack's signing config has a TSA
    sign_keyless(run, sigstore_stack, legacy_img, legacy=True)  # a Rekor bundle, no timestamp
    full = trustroot_from_trusted_root("local-stack", sigstore_stack.trusted_root)
    no_ct = yaml.safe_load(yaml.safe_dump(full))
    no_ct["metadata"]["name"] = "no-ct"
    no_ct["spec"]["sigstoreKeys"]["ctLogs"] = []
    roots = ["--trustroot", write(full, no_ct)]
    ident = {"issuer": GITHUB_ISSUER, "subject": IDENTITY}

    def verdict(img: str, authority: dict[str, Any]) -> Run:
        policy = cip("p", {"images": [{"glob": "oci:**"}], "authorities": [authority]})
        return run("policy", "test", "--policy", write(policy), *roots, "-o", "json", img)

    tsa = {"keyless": {"trustRootRef": "local-stack", "identities": [ident]},
           "rfc3161timestamp": {"trustRootRef": "local-stack"}}
    assert verdict(bundle_img, tsa).code == 0
    r = verdict(legacy_img, tsa)
    assert r.code == 1
    assert r.json()["errors"][0].endswith("no matching signatures: timestamp: rfc3161timestamp needs an "
                                          "RFC 3161 timestamp on the signature")

    no_sct = {"keyless": {"trustRootRef": "no-ct", "identities": [ident]}}
    r = verdict(bundle_img, no_sct)
    assert r.code == 1 and "SCT" in r.json()["errors"][0]
    no_sct["keyless"]["insecureIgnoreSCT"] = True  # type: ignore[index]
    assert verdict(bundle_img, no_sct).code == 0

    keys = make_keys(tmp_path, "logged")
    logged, unlogged = layout(), layout()
    r = run("sign", "--key", keys.key, "--trusted-root", str(sigstore_stack.trusted_root),
            "--signing-config", str(sigstore_stack.signing_config), logged)
    assert r.code == 0, r.err
    assert run("sign", "--key", keys.key, "--tlog-upload=false", unlogged).code == 0
    key = {"key": {"data": keys.pem}}
    assert verdict(unlogged, key).code == 0  # a key without ctlog: no log check, as policy-controller
    with_log = {**key, "ctlog": {"trustRootRef": "local-stack"}}
    assert verdict(logged, with_log).code == 0
    r = verdict(unlogged, with_log)
    assert r.code == 1, r.out
    assert r.json()["errors"][0].endswith("no matching signatures: transparency log: the bundle has no "
                                          "log entry (not checked for a key authority without ctlog)")
