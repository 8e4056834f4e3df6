"""Keyless signing and verification end to end, against the local Sigstore stack (Fulcio, Rekor v1/v2, TSA)
and real images in layouts and in a real registry. Each rejection names the check that failed."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sigward.oci.layout import LayoutStore
from sigward.oci.reference import LayoutReference, parse_reference
from tests.fixtures.jwt_tokens import GITHUB_ISSUER, GITHUB_WORKFLOW_REF

IDENTITY = f"https://github.com/{GITHUB_WORKFLOW_REF}"
LEGACY = ("--new-bundle-format=false", "--use-signing-config=false")


def _trust(stack: Any, v2: bool = False) -> list[str]:
    return ["--trusted-root", str(stack.trusted_root),
            "--signing-config", str(stack.signing_config_v2 if v2 else stack.signing_config)]


def _who(identity: str = IDENTITY, issuer: str = GITHUB_ISSUER) -> list[str]:
    return ["--certificate-identity", identity, "--certificate-oidc-issuer", issuer]


def _sign(run: Callable[..., Any], stack: Any, img: str, *extra: str, v2: bool = False) -> Any:
    token = stack.minter.mint_github()
    r = run("sign", "--yes", "--identity-token", token, *_trust(stack, v2), *extra, img)
    assert r.code == 0, r.err
    return r


def _sign_legacy(run: Callable[..., Any], stack: Any, img: str, *extra: str) -> Any:
    token = stack.minter.mint_github()
    r = run("sign", "--yes", "--identity-token", token, *LEGACY, "--fulcio-url", stack.fulcio_url,
            "--rekor-url", stack.rekor_url, "--trusted-root", str(stack.trusted_root), *extra, img)
    assert r.code == 0, r.err
    return r


def _verify(run: Callable[..., Any], stack: Any, img: str, *extra: str) -> Any:
    return run("verify", "--trusted-root", str(stack.trusted_root), *extra, img)


def _bundle(img: str) -> bytes:
    r = parse_reference(img)
    assert isinstance(r, LayoutReference) and r.digest
    store = LayoutStore(r.path)
    (desc,) = store.referrers(r.digest)
    m = store.get_manifest(desc.digest)
    return store.get_blob(m.layers[0])


# --- happy paths --------------------------------------------------------------------------------------


@pytest.mark.parametrize("v2", [False, True], ids=["rekor-v1", "rekor-v2+tsa"])
def test_keyless_image_bundle_round_trip(run: Callable[..., Any], sigstore_stack: Any,
                                         layout: Callable[..., str], v2: bool) -> None:
    img = layout()
    _sign(run, sigstore_stack, img, "-a", "imageRef=refs/tags/0.5.0", v2=v2)
    b = json.loads(_bundle(img))
    vm = b["verificationMaterial"]
    assert "certificate" in vm and len(vm["tlogEntries"]) == 1
    assert vm["tlogEntries"][0]["kindVersion"] == (
        {"kind": "hashedrekord", "version": "0.0.2"} if v2 else {"kind": "dsse", "version": "0.0.1"})
    # Both signing configs list the stack's TSA (Rekor v2 entries carry no time, so v2 needs it).
    assert vm["timestampVerificationData"]["rfc3161Timestamps"]
    r = _verify(run, sigstore_stack, img, *_who(), "-a", "imageRef=refs/tags/0.5.0")
    assert r.code == 0, r.err
    (out,) = json.loads(r.out)
    assert out["critical"]["type"] == "https://sigstore.dev/cosign/sign/v1"
    assert out["optional"] == {"imageRef": "refs/tags/0.5.0"}
    assert "code-signing certificate was verified" in r.err
    assert "transparency log was verified offline" in r.err


def test_seed_readme_verification_by_regexp_and_workflow_claims(
        run: Callable[..., Any], sigstore_stack: Any, layout: Callable[..., str]) -> None:
    """The seed README's command: identity by (unanchored) regexp, issuer, annotation; plus GitHub flags."""
    img = layout()
    _sign(run, sigstore_stack, img, "-a", "imageRef=refs/tags/0.5.0")
    r = _verify(run, sigstore_stack, img, "--certificate-identity-regexp", "example-org/hello-service",
                "--certificate-oidc-issuer", GITHUB_ISSUER, "-a", "imageRef=refs/tags/0.5.0",
                "--certificate-github-workflow-repository", "example-org/hello-service",
                "--certificate-github-workflow-ref", "refs/tags/0.5.0",
                "--certificate-github-workflow-trigger", "push")
    assert r.code == 0, r.err
    r = _verify(run, sigstore_stack, img, "--certificate-identity-regexp", ".*",
                "--certificate-oidc-issuer-regexp", r"token\.actions",
                "--certificate-github-workflow-sha", "b" * 40)
    assert r.code == 1 and "expected GitHub workflow sha" in r.err


def test_keyless_legacy_signature_carries_cosign_annotations(
        run: Callable[..., Any], sigstore_stack: Any, layout: Callable[..., str]) -> None:
    img = layout()
    _sign_legacy(run, sigstore_stack, img, "-a", "imageRef=refs/tags/0.5.0")
    r = _verify(run, sigstore_stack, img, *_who(), "-a", "imageRef=refs/tags/0.5.0")
    assert r.code == 0, r.err
    (out,) = json.loads(r.out)
    opt = out["optional"]
    assert opt["Subject"] == IDENTITY and opt["Issuer"] == GITHUB_ISSUER
    assert opt["1.3.6.1.4.1.57264.1.1"] == GITHUB_ISSUER
    assert opt["githubWorkflowRepository"] == "example-org/hello-service"
    assert set(opt["Bundle"]) == {"SignedEntryTimestamp", "Payload"}
    assert list(opt) == sorted(opt)  # a Go map: sorted keys


def test_keyless_in_registry(run: Callable[..., Any], sigstore_stack: Any, registry: Any,
                             unique_repo: str) -> None:
    from tests.fixtures.images import push_image

    digest = push_image(registry, unique_repo)
    img = f"{registry.host}/{unique_repo}@{digest}"
    _sign(run, sigstore_stack, img, "--allow-http-registry")
    r = _verify(run, sigstore_stack, img, *_who(), "--allow-http-registry")
    assert r.code == 0, r.err


def test_key_signing_logs_to_rekor_and_verifies_the_entry(
        run: Callable[..., Any], sigstore_stack: Any, layout: Callable[..., str], keys: Any) -> None:
    img = layout()
    r = run("sign", "--key", keys.key, *_trust(sigstore_stack), img)
    assert r.code == 0, r.err
    b = json.loads(_bundle(img))
    assert b["verificationMaterial"]["publicKey"]["hint"]
    assert b["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"] == "dsse"
    r = _verify(run, sigstore_stack, img, "--key", keys.pub)
    assert r.code == 0, r.err
    assert "transparency log was verified offline" in r.err


def test_expired_certificate_needs_a_trusted_time(
        run: Callable[..., Any], sigstore_stack_past: Any, layout: Callable[..., str]) -> None:
    """A certificate from two days ago verifies by its log time; without a log or timestamp, it must not."""
    stack = sigstore_stack_past
    logged = layout()
    _sign(run, stack, logged)
    assert _verify(run, stack, logged, *_who()).code == 0
    unlogged = layout()
    token = stack.minter.mint_github()
    r = run("sign", "--yes", "--identity-token", token, "--tlog-upload=false", "--use-signing-config=false",
            "--fulcio-url", stack.fulcio_url, "--trusted-root", str(stack.trusted_root), unlogged)
    assert r.code == 0, r.err
    r = _verify(run, stack, unlogged, *_who(), "--insecure-ignore-tlog=true")
    assert r.code == 1 and "expected a signed timestamp to verify an expired certificate" in r.err


@pytest.mark.parametrize("v2", [False, True], ids=["rekor-v1", "rekor-v2+tsa"])
def test_blob_round_trip_and_digest_argument(run: Callable[..., Any], sigstore_stack: Any, tmp_path: Path,
                                             v2: bool) -> None:
    f = tmp_path / "artifact.txt"
    f.write_bytes(b"release notes\n")
    b = tmp_path / "artifact.sigstore.json"
    token = sigstore_stack.minter.mint_github()
    r = run("sign-blob", "--yes", "--identity-token", token, *_trust(sigstore_stack, v2), "--bundle", str(b),
            str(f))
    assert r.code == 0, r.err
    import hashlib

    for target in (str(f), "sha256:" + hashlib.sha256(f.read_bytes()).hexdigest()):
        r = run("verify-blob", "--trusted-root", str(sigstore_stack.trusted_root), "--bundle", str(b),
                *_who(), target)
        assert r.code == 0 and "Verified OK" in r.err, r.err


def test_the_token_in_the_environment_is_the_clis_to_pass(run: Callable[..., Any], sigstore_stack: Any,
                                                          layout: Callable[..., str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """``SIGSTORE_ID_TOKEN`` signs from the command line (cosign's variable); the library reads no
    environment: ``KeylessOptions.environment`` is where it looks, empty unless the caller fills it."""
    import dataclasses

    from sigward.errors import UsageError
    from sigward.ops.keyless import KeylessOptions, signing_material
    from sigward.sigstore.oidc import NO_TOKEN_MESSAGE

    img = layout()
    token = sigstore_stack.minter.mint_github()
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", token)
    r = run("sign", "--yes", *_trust(sigstore_stack), img)
    assert r.code == 0, r.err
    assert _verify(run, sigstore_stack, img, *_who()).code == 0

    opts = KeylessOptions(trusted_root=str(sigstore_stack.trusted_root),
                          signing_config=str(sigstore_stack.signing_config))
    with pytest.raises(UsageError) as e:
        signing_material(None, opts)  # SIGSTORE_ID_TOKEN is in os.environ, and not looked at
    assert str(e.value) == NO_TOKEN_MESSAGE
    material = signing_material(None, dataclasses.replace(opts, environment={"SIGSTORE_ID_TOKEN": token}))
    assert material.chain  # Fulcio issued a certificate for that token


# --- rejections, each naming its check ------------------------------------------------------------


def test_rejections_name_the_failed_check(run: Callable[..., Any], sigstore_stack: Any,
                                          sigstore_stack_past: Any, layout: Callable[..., str],
                                          tmp_path: Path) -> None:
    img = layout()
    _sign(run, sigstore_stack, img)
    cases = {
        "wrong identity": (_who("https://github.com/evil/repo/.github/workflows/x.yml@refs/heads/main"),
                           "certificate identity: expected"),
        "wrong issuer": (_who(issuer="https://accounts.google.com"), "expected OIDC issuer"),
        "regexp": (["--certificate-identity-regexp", "^https://github.com/other-org/",
                    "--certificate-oidc-issuer", GITHUB_ISSUER], "does not match the regular expression"),
        "issuer regexp": (["--certificate-identity", IDENTITY, "--certificate-oidc-issuer-regexp", "gitlab"],
                          "does not match the regular expression"),
    }
    for name, (flags, reason) in cases.items():
        r = _verify(run, sigstore_stack, img, *flags)
        assert r.code == 1 and reason in r.err, (name, r.err)
    # Another instance's trust root: its log did not sign the entry.
    r = run("verify", "--trusted-root", str(sigstore_stack_past.trusted_root), *_who(), img)
    assert r.code == 1 and "unknown log" in r.err
    # Our logs and TSA, but another CA: the certificate does not chain.
    root = json.loads(sigstore_stack.trusted_root.read_bytes())
    root["certificateAuthorities"] = json.loads(
        sigstore_stack_past.trusted_root.read_bytes())["certificateAuthorities"]
    other = tmp_path / "other-ca.json"
    other.write_text(json.dumps(root))
    r = run("verify", "--trusted-root", str(other), *_who(), img)
    assert r.code == 1 and "does not chain to a certificate authority" in r.err
    # Another TSA: the timestamp is refused.
    root = json.loads(sigstore_stack.trusted_root.read_bytes())
    root["timestampAuthorities"] = json.loads(
        sigstore_stack_past.trusted_root.read_bytes())["timestampAuthorities"]
    other.write_text(json.dumps(root))
    r = run("verify", "--trusted-root", str(other), *_who(), img)
    assert r.code == 1 and "timestamp: no trusted timestamp authority verifies it" in r.err


def test_log_entry_for_another_artifact_is_rejected(run: Callable[..., Any], sigstore_stack: Any,
                                                    layout: Callable[..., str]) -> None:
    """Graft the (valid, correctly signed) log entry of one signature onto another's bundle."""
    from tests.signing.test_sign_verify_layout import _bundle_referrer, _replace_referrer, _store

    a, b = layout("a"), layout("b")
    _sign(run, sigstore_stack, a)
    _sign(run, sigstore_stack, b)
    entry_a = json.loads(_bundle(a))["verificationMaterial"]["tlogEntries"]
    store, digest = _store(b)
    m, data = _bundle_referrer(store, digest)
    doc = json.loads(data)
    doc["verificationMaterial"]["tlogEntries"] = entry_a
    _replace_referrer(store, m, json.dumps(doc).encode(), store.resolve(digest))
    r = _verify(run, sigstore_stack, b, *_who())
    assert r.code == 1 and "does not match the bundle's signature, signer or artifact" in r.err


def test_set_from_unknown_log_is_rejected(run: Callable[..., Any], sigstore_stack: Any, tmp_path: Path,
                                          layout: Callable[..., str]) -> None:
    img = layout()
    _sign_legacy(run, sigstore_stack, img)
    root = json.loads(sigstore_stack.trusted_root.read_bytes())
    root["tlogs"] = [t for t in root["tlogs"]
                     if base64.b64decode(t["logId"]["keyId"]).hex() not in _legacy_log_ids(img)]
    other = tmp_path / "root.json"
    other.write_text(json.dumps(root))
    r = run("verify", "--trusted-root", str(other), *_who(), img)
    assert r.code == 12 and "the SET is from an unknown log" in r.err


def _legacy_log_ids(img: str) -> set[str]:
    from sigward.formats import legacy
    from sigward.ops.attached import attached_tag

    r = parse_reference(img)
    assert isinstance(r, LayoutReference) and r.digest
    store = LayoutStore(r.path)
    sigs = legacy.parse_signature_layers(store.get_manifest(attached_tag(r.digest, "sig")))
    return {s.rekor_bundle().log_id for s in sigs if s.bundle_json}


def test_missing_sct_unless_ignored(run: Callable[..., Any], sigstore_stack: Any, tmp_path: Path,
                                    layout: Callable[..., str]) -> None:
    """A trust root without the CT log cannot check the SCT: refused, unless --insecure-ignore-sct."""
    img = layout()
    _sign(run, sigstore_stack, img)
    root = json.loads(sigstore_stack.trusted_root.read_bytes())
    root["ctlogs"] = []
    other = tmp_path / "root.json"
    other.write_text(json.dumps(root))
    r = run("verify", "--trusted-root", str(other), *_who(), img)
    assert r.code == 1 and "SCT from an unknown CT log" in r.err
    r = run("verify", "--trusted-root", str(other), *_who(), "--insecure-ignore-sct=true", img)
    assert r.code == 0, r.err


def test_use_signed_timestamps(run: Callable[..., Any], sigstore_stack: Any, layout: Callable[..., str],
                               tmp_path: Path) -> None:
    """--use-signed-timestamps requires an RFC 3161 timestamp; the stack's signing configs include a TSA."""
    img = layout()
    _sign(run, sigstore_stack, img)
    assert _verify(run, sigstore_stack, img, *_who(), "--use-signed-timestamps=true").code == 0
    legacy = layout()
    _sign_legacy(run, sigstore_stack, legacy)  # no --timestamp-server-url: no timestamp annotation
    r = _verify(run, sigstore_stack, legacy, *_who(), "--use-signed-timestamps=true")
    assert r.code == 12 and "--use-signed-timestamps needs an RFC 3161 timestamp" in r.err
    stamped = layout()
    _sign_legacy(run, sigstore_stack, stamped, "--timestamp-server-url", sigstore_stack.tsa_url)
    r = _verify(run, sigstore_stack, stamped, *_who(), "--use-signed-timestamps=true")
    assert r.code == 0, r.err
    assert "RFC3161Timestamp" in json.loads(r.out)[0]["optional"]


def test_legacy_blob_bundle_keyless(run: Callable[..., Any], sigstore_stack: Any, tmp_path: Path) -> None:
    """cosign v2's blob bundle (base64Signature, cert, rekorBundle), verified offline from its SET."""
    f = tmp_path / "notes.txt"
    f.write_bytes(b"v2 style\n")
    b = tmp_path / "notes.bundle"
    r = run("sign-blob", "--yes", "--identity-token", sigstore_stack.minter.mint_github(),
            "--new-bundle-format=false", "--use-signing-config=false",
            "--fulcio-url", sigstore_stack.fulcio_url, "--rekor-url", sigstore_stack.rekor_url,
            "--trusted-root", str(sigstore_stack.trusted_root),
            "--bundle", str(b), str(f))
    assert r.code == 0, r.err
    doc = json.loads(b.read_bytes())
    assert set(doc) == {"base64Signature", "cert", "rekorBundle"}
    r = run("verify-blob", "--trusted-root", str(sigstore_stack.trusted_root), "--bundle", str(b), *_who(),
            str(f))
    assert r.code == 0, r.err
    f.write_bytes(b"v2 style, edited\n")
    r = run("verify-blob", "--trusted-root", str(sigstore_stack.trusted_root), "--bundle", str(b), *_who(),
            str(f))
    assert r.code == 1 and "signature" in r.err


def test_public_good_trust_root_is_available_offline() -> None:
    """Without --trusted-root, sigward uses the public-good root (sigstore-python's embedded copy offline)."""
    from sigward.ops.keyless import load_trust

    root, cfg = load_trust(None, offline=True)
    assert root.tlogs and root.certificate_authorities and root.ctlogs
    assert cfg is not None and cfg.fulcio() is not None and cfg.fulcio().url.startswith("https://fulcio")


@pytest.mark.parametrize("legacy", [False, True], ids=["bundle", "legacy-att"])
def test_keyless_attestation_round_trip(run: Callable[..., Any], sigstore_stack: Any,
                                        layout: Callable[..., str], tmp_path: Path, legacy: bool) -> None:
    """attest keylessly (bundle referrer, or .att with certificate + Rekor bundle), then verify it."""
    img = layout()
    predicate = tmp_path / "sbom.json"
    predicate.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": []}))
    fmt = [*LEGACY, "--fulcio-url", sigstore_stack.fulcio_url, "--rekor-url", sigstore_stack.rekor_url,
           "--trusted-root", str(sigstore_stack.trusted_root)] if legacy else _trust(sigstore_stack)
    token = sigstore_stack.minter.mint_github()
    r = run("attest", "--yes", "--identity-token", token, "--type", "cyclonedx",
            "--predicate", str(predicate), *fmt, img)
    assert r.code == 0, r.err
    r = run("verify-attestation", "--type", "cyclonedx", "--trusted-root", str(sigstore_stack.trusted_root),
            *_who(), img)
    assert r.code == 0, r.err
    (line,) = r.out.splitlines()
    payload = json.loads(base64.b64decode(json.loads(line)["payload"]))
    assert payload["predicateType"] == "https://cyclonedx.org/bom"
    r = run("verify-attestation", "--type", "cyclonedx", "--trusted-root", str(sigstore_stack.trusted_root),
            *_who(identity="https://github.com/evil/x/.github/workflows/y.yml@refs/heads/main"), img)
    assert r.code != 0 and "certificate identity: expected" in r.err
