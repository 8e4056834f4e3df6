"""Key and static authorities end to end: images signed by sigward in a real registry (distribution) and
in layouts, evaluated by ``sigward policy test`` and the Engine API. Bundle (cosign v3 default) and legacy
formats; warn mode; no match; the CIP-level policy over authorityMatches (k-of-n); secretRef Secrets."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from sigward.admission import Engine, EngineOptions, PolicySet
from sigward.oci.store import StoreOptions
from tests.admission.engine.conftest import KeyPair, Run, cip

HTTP = "--allow-http-registry"


def sign(run: Callable[..., Run], keys: KeyPair, img: str, *extra: str) -> None:
    r = run("sign", "--key", keys.key, "--tlog-upload=false", HTTP, *extra, img)
    assert r.code == 0, r.err


def key_cip(name: str, keys: KeyPair, glob: str = "**", **extra: Any) -> dict[str, Any]:
    return cip(name, {"images": [{"glob": glob}], "authorities": [{"key": {"data": keys.pem}}], **extra})


@pytest.mark.parametrize("fmt", ["bundle", "legacy"])
def test_key_signed_image_is_admitted_and_other_key_denied(run: Callable[..., Run], write: Callable[..., str],
                                                          image: Callable[..., str], keys: KeyPair,
                                                          other_keys: KeyPair, fmt: str) -> None:
    img = image()
    sign(run, keys, img, *(["--new-bundle-format=false"] if fmt == "legacy" else []))
    good = write(key_cip("signed-by-key", keys))
    r = run("policy", "test", "--policy", good, HTTP, img)
    assert r.code == 0, r.out + r.err
    assert "policy signed-by-key (mode enforce): passed" in r.out and "verdict: admitted" in r.out

    bad = write(key_cip("signed-by-other", other_keys))
    r = run("policy", "test", "--policy", bad, HTTP, "-o", "json", img)
    assert r.code == 1
    out = r.json()
    assert out["allowed"] is False
    (err,) = out["errors"]
    # policy-controller's wording: the authority, the digest reference, cosign's inner error
    assert err.startswith(f"signature key validation failed for authority authority-0 for {img}: "
                          "no matching signatures: ")
    assert out["policies"]["signed-by-other"]["authorities"]["authority-0"]["passed"] is False


def test_unsigned_image_has_no_signatures(run: Callable[..., Run], write: Callable[..., str],
                                          image: Callable[..., str], keys: KeyPair) -> None:
    img = image()
    r = run("policy", "test", "--policy", write(key_cip("p", keys)), HTTP, "-o", "json", img)
    assert r.code == 1
    assert r.json()["errors"] == [f"signature key validation failed for authority authority-0 for {img}: "
                                  "no signatures found"]


def test_static_warn_no_match_and_and_of_policies(run: Callable[..., Run], write: Callable[..., str],
                                                  image: Callable[..., str], keys: KeyPair) -> None:
    img = image()
    sign(run, keys, img)
    passing = key_cip("keyed", keys)
    failing_warn = cip("static-warn", {"images": [{"glob": "**"}], "mode": "warn",
                                       "authorities": [{"static": {"action": "fail", "message": "not yet"}}]})
    # A warn policy failing admits, with the failure as a warning.
    r = run("policy", "test", "--policy", write(passing, failing_warn), HTTP, "-o", "json", img)
    assert r.code == 0, r.out
    out = r.json()
    assert out["allowed"] is True and out["errors"] == []
    assert out["warnings"] == ["disallowed by static policy: not yet"]
    # The same policy enforced denies: every matching policy must pass (AND).
    failing = cip("static-fail", {"images": [{"glob": "**"}],
                                  "authorities": [{"static": {"action": "fail", "message": "not yet"}}]})
    r = run("policy", "test", "--policy", write(passing, failing), HTTP, "-o", "json", img)
    assert r.code == 1 and r.json()["errors"] == ["disallowed by static policy: not yet"]
    # Authorities are ORed: static pass rescues a failing key authority.
    either = cip("either", {"images": [{"glob": "**"}], "authorities": [
        {"key": {"data": keys.pem}}, {"static": {"action": "pass"}}]})
    r = run("policy", "test", "--policy", write(either), HTTP, image())
    assert r.code == 0, r.out
    # No glob matches: denied, as policy-tester's default no-match policy.
    r = run("policy", "test", "--policy", write(key_cip("elsewhere", keys, glob="ghcr.io/**")), HTTP,
            "-o", "json", img)
    assert r.code == 1 and r.json()["errors"] == ["no matching policies"] and r.json()["policies"] == {}


def test_k_of_n_with_a_cip_level_rego_policy(run: Callable[..., Run], write: Callable[..., str],
                                             image: Callable[..., str], keys: KeyPair,
                                             other_keys: KeyPair) -> None:
    rego = ('package sigstore\n'
            'isCompliant { count(input.authorityMatches) >= 2 }\n')
    two_of = cip("two-keys", {"images": [{"glob": "**"}], "authorities": [
        {"name": "first", "key": {"data": keys.pem}}, {"name": "second", "key": {"data": other_keys.pem}}],
        "policy": {"type": "rego", "data": rego}})
    path = write(two_of)
    img = image()
    sign(run, keys, img)
    r = run("policy", "test", "--policy", path, HTTP, "-o", "json", img)
    assert r.code == 1
    out = r.json()
    assert out["errors"][-1] == ("failed evaluating rego policy for type ClusterImagePolicy: policy is not "
                                 "compliant for query 'isCompliant = data.sigstore.isCompliant'")
    assert list(out["policies"]["two-keys"]["authorityMatches"]) == ["first"]
    sign(run, other_keys, img)
    r = run("policy", "test", "--policy", path, HTTP, "-o", "json", img)
    assert r.code == 0, r.out
    matches = r.json()["policies"]["two-keys"]["authorityMatches"]
    assert set(matches) == {"first", "second"}
    assert all(len(m["signatures"]) == 1 and len(m["signatures"][0]["id"]) == 64 for m in matches.values())


def test_secret_ref_from_cosign_generate_key_pair_k8s(run: Callable[..., Run], write: Callable[..., str],
                                                      layout: Callable[..., str], keys: KeyPair) -> None:
    img = layout()
    sign(run, keys, img)
    # cosign generate-key-pair k8s://cosign-system/signing-key writes three entries; policy-controller
    # refuses it ("contains multiple data entries"), sigward takes cosign.pub.
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "signing-key",
                                                                "namespace": "cosign-system"},
              "data": {k: base64.b64encode(v).decode() for k, v in {
                  "cosign.key": b"(encrypted private key)", "cosign.password": b"pw",
                  "cosign.pub": keys.pem.encode()}.items()}}
    policy = cip("from-secret", {"images": [{"glob": "oci:**"}], "authorities": [
        {"key": {"secretRef": {"name": "signing-key"}}}]})
    r = run("policy", "test", "--policy", write(policy), "--secret", write(secret), img)
    assert r.code == 0, r.out + r.err
    r = run("policy", "test", "--policy", write(policy), "-o", "json", img)
    assert r.code == 1
    assert r.json()["errors"][0].endswith('secret "signing-key" not found (give it with --secret FILE)')
    r = run("policy", "test", "--policy", write(policy), img)
    assert r.code == 1 and 'secret "signing-key" not found (give it with --secret FILE)\n' in r.out, r.out
    # The library names no flag: the CLI words it (cli/errors.py POLICY_TEST_WORDING).
    from sigward.admission.policyset import Document

    doc = Document("ClusterImagePolicy", policy["apiVersion"], "from-secret", policy)
    ps = PolicySet.from_documents([doc])
    with Engine(ps, EngineOptions(StoreOptions())) as engine:
        verdict = engine.evaluate(img)
    assert verdict.errors[0].endswith(
        'secret "signing-key" not found (no Secret of that name in the PolicySet)')


def test_engine_api_is_thread_safe_and_reports_the_digest(image: Callable[..., str], run: Callable[..., Run],
                                                          keys: KeyPair) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from sigward.admission.policyset import Document

    imgs = [image(f"m{i}") for i in range(4)]
    for img in imgs[:2]:
        sign(run, keys, img)
    doc = key_cip("keyed", keys)
    ps = PolicySet.from_documents([Document("ClusterImagePolicy", doc["apiVersion"], "keyed", doc)])
    tagged = imgs[0].split("@")[0] + ":v0"  # the fixture tagged it v0: a tag resolves to its digest
    with Engine(ps, EngineOptions(StoreOptions(allow_http_registry=True))) as engine, \
            ThreadPoolExecutor(4) as pool:
        verdicts = list(pool.map(engine.evaluate, imgs * 2))
        assert engine.resolve(tagged) == imgs[0]
        assert [p.name for p in engine.matching(imgs[0])] == ["keyed"]
    assert [v.allowed for v in verdicts] == [True, True, False, False] * 2
    assert all(v.digest_ref == v.image for v in verdicts)
    assert ps.identity == PolicySet.from_documents(
        [Document("ClusterImagePolicy", doc["apiVersion"], "keyed", doc)]).identity


def test_no_match_options_and_the_deadline(keys: KeyPair) -> None:
    """``no_match`` allow/warn/deny; a registry that never answers is a denial within the deadline."""
    import socket
    import time

    from sigward.admission.policyset import Document

    doc = key_cip("keyed", keys, glob="127.0.0.1:*/**")
    ps = PolicySet.from_documents([Document("ClusterImagePolicy", doc["apiVersion"], "keyed", doc)])
    outside = "ghcr.io/elsewhere/app@sha256:" + "0" * 64
    for mode, allowed, warnings in (("allow", True, ()), ("warn", True, ("no matching policies",)),
                                    ("deny", False, ())):
        v = Engine(ps, EngineOptions(StoreOptions(), no_match=mode)).evaluate(outside)  # type: ignore[arg-type]
        assert (v.allowed, v.warnings, v.digest_ref) == (allowed, warnings, None)
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        img = f"127.0.0.1:{silent.getsockname()[1]}/app@sha256:" + "0" * 64
        t0 = time.monotonic()
        with Engine(ps, EngineOptions(StoreOptions(allow_http_registry=True), timeout=1.0)) as engine:
            v = engine.evaluate(img)
        assert time.monotonic() - t0 < 5
    assert not v.allowed and v.digest_ref is None
    assert v.errors[0].startswith("context was canceled before validation completed")
