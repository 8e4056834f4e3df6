"""Same image, same ClusterImagePolicy: sigward's verdict is policy-controller's (its real policy-tester).

The matrix: key, keyless (local Sigstore stack + TrustRoot), attestations with Rego and CUE, static, warn,
k-of-n through a CIP-level policy, several CIPs (AND) and several authorities (OR), no matching policy, and
invalid CIPs. Every signature here is sigward's, in the legacy ``.sig``/``.att`` format policy-tester reads;
the one bundle-format case is where the two differ on purpose (sigward admits, policy-tester cannot).
"""

from __future__ import annotations

import json

import pytest

from tests.admission.oracle.conftest import (
    CUSTOM_PREDICATE,
    CUSTOM_TYPE_URI,
    KEYLESS_IDENTITY,
    Keyless,
    Oracle,
    assert_same,
    cip,
    documents,
    key_authority,
)

REGO_PASSES = f"""package sigstore
default isCompliant = false
isCompliant {{
  input.predicateType == "{CUSTOM_TYPE_URI}"
  input.predicate.Data == "{CUSTOM_PREDICATE}"
}}
"""
REGO_FAILS = REGO_PASSES.replace(CUSTOM_PREDICATE, "something else")
CUE_PASSES = f"""predicateType: "{CUSTOM_TYPE_URI}"
predicate: Data: "{CUSTOM_PREDICATE}"
"""
CUE_FAILS = CUE_PASSES.replace(CUSTOM_PREDICATE, "something else")


def attestation(policy_type: str, data: str, name: str = "custom-match") -> dict[str, object]:
    return {"name": name, "predicateType": "custom", "policy": {"type": policy_type, "data": data}}


# -- key ----------------------------------------------------------------------------------------------------


def test_key_signed_admitted(oracle: Oracle) -> None:
    image = oracle.image("key-ok")
    oracle.sign_key(image, "a")
    tester, ours = oracle.both(documents(cip("key-ok", oracle.glob("key-ok"),
                                             [key_authority(oracle.key_pair("a").pem)])), image)
    assert_same(tester, ours, allowed=True)


def test_key_other_signer_denied(oracle: Oracle) -> None:
    image = oracle.image("key-other")
    oracle.sign_key(image, "b")
    tester, ours = oracle.both(documents(cip("key-other", oracle.glob("key-other"),
                                             [key_authority(oracle.key_pair("a").pem)])), image)
    assert_same(tester, ours, allowed=False,
                contains=["signature key validation failed for authority authority-0"])


def test_unsigned_denied(oracle: Oracle) -> None:
    image = oracle.image("unsigned")
    tester, ours = oracle.both(documents(cip("unsigned", oracle.glob("unsigned"),
                                             [key_authority(oracle.key_pair("a").pem)])), image)
    assert_same(tester, ours, allowed=False,
                contains=["signature key validation failed for authority authority-0", "no signatures found"])


def test_authorities_are_ored(oracle: Oracle) -> None:
    image = oracle.image("key-or")
    oracle.sign_key(image, "b")
    authorities = [key_authority(oracle.key_pair("a").pem), key_authority(oracle.key_pair("b").pem)]
    tester, ours = oracle.both(documents(cip("key-or", oracle.glob("key-or"), authorities)), image)
    assert_same(tester, ours, allowed=True)


def test_matching_policies_are_anded(oracle: Oracle) -> None:
    image = oracle.image("key-and")
    oracle.sign_key(image, "a")
    glob = oracle.glob("key-and")
    policies = documents(cip("key-and-a", glob, [key_authority(oracle.key_pair("a").pem)]),
                         cip("key-and-b", glob, [key_authority(oracle.key_pair("b").pem)]))
    tester, ours = oracle.both(policies, image)
    assert_same(tester, ours, allowed=False, contains=["signature key validation failed"])


def test_no_matching_policy_denied(oracle: Oracle) -> None:
    image = oracle.image("nomatch")
    oracle.sign_key(image, "a")
    tester, ours = oracle.both(documents(cip("elsewhere", "ghcr.io/someone-else/**",
                                             [key_authority(oracle.key_pair("a").pem)])), image)
    assert_same(tester, ours, allowed=False)
    assert "uncovered by policy" in tester.text
    assert "no matching policies" in ours.text


# -- static and warn ----------------------------------------------------------------------------------------


def test_static_pass(oracle: Oracle) -> None:
    image = oracle.image("static-pass")
    tester, ours = oracle.both(documents(cip("static-pass", oracle.glob("static-pass"),
                                             [{"static": {"action": "pass"}}])), image)
    assert_same(tester, ours, allowed=True)


def test_static_fail_with_message(oracle: Oracle) -> None:
    image = oracle.image("static-fail")
    static = {"static": {"action": "fail", "message": "frozen for audit"}}
    tester, ours = oracle.both(documents(cip("static-fail", oracle.glob("static-fail"), [static])), image)
    assert_same(tester, ours, allowed=False, contains=["disallowed by static policy: frozen for audit"])


def test_warn_mode_admits_a_failure(oracle: Oracle) -> None:
    image = oracle.image("warn")
    oracle.sign_key(image, "b")
    tester, ours = oracle.both(documents(cip("warn", oracle.glob("warn"),
                                             [key_authority(oracle.key_pair("a").pem)], mode="warn")), image)
    assert_same(tester, ours, allowed=True, warned=True)
    assert any("signature key validation failed" in w for w in ours.warnings), ours.report()


def test_warn_and_enforce_together_denied(oracle: Oracle) -> None:
    image = oracle.image("warn-enforce")
    oracle.sign_key(image, "b")
    glob = oracle.glob("warn-enforce")
    policies = documents(cip("warn-a", glob, [key_authority(oracle.key_pair("a").pem)], mode="warn"),
                         cip("enforce-static", glob, [{"static": {"action": "fail", "message": "no"}}]))
    tester, ours = oracle.both(policies, image)
    assert_same(tester, ours, allowed=False, contains=["disallowed by static policy: no"])


# -- attestations -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("policy_type", "policy", "allowed"), [
    ("rego", REGO_PASSES, True), ("rego", REGO_FAILS, False),
    ("cue", CUE_PASSES, True), ("cue", CUE_FAILS, False),
], ids=["rego-passes", "rego-fails", "cue-passes", "cue-fails"])
def test_key_attestation_policy(oracle: Oracle, policy_type: str, policy: str, allowed: bool) -> None:
    case = f"att-{policy_type}"
    image = oracle.image(case)
    oracle.attest_key(image, "a")
    authority = key_authority(oracle.key_pair("a").pem, attestations=[attestation(policy_type, policy)])
    tester, ours = oracle.both(documents(cip(case, oracle.glob(case), [authority])), image)
    assert_same(tester, ours, allowed=allowed,
                contains=[] if allowed else [f"failed evaluating {policy_type}"])


def test_attestation_of_another_type_denied(oracle: Oracle) -> None:
    image = oracle.image("att-type")
    oracle.attest_key(image, "a")
    att = {"name": "vuln-scan", "predicateType": "vuln"}
    authority = key_authority(oracle.key_pair("a").pem, attestations=[att])
    tester, ours = oracle.both(documents(cip("att-type", oracle.glob("att-type"), [authority])), image)
    assert_same(tester, ours, allowed=False, contains=["no matching attestations"])


def test_signature_is_not_an_attestation(oracle: Oracle) -> None:
    image = oracle.image("sig-not-att")
    oracle.sign_key(image, "a")
    authority = key_authority(oracle.key_pair("a").pem, attestations=[attestation("cue", CUE_PASSES)])
    tester, ours = oracle.both(documents(cip("sig-not-att", oracle.glob("sig-not-att"), [authority])), image)
    assert_same(tester, ours, allowed=False)


# -- k-of-n: a CIP-level policy over authorityMatches -------------------------------------------------------

# policy-controller evaluates CUE without requiring concreteness, so a validator such as struct.MinFields(2)
# never fails there (its own e2e policies force a conflict instead); a bound on len() does fail.
K_OF_N = {
    "cue": "authorityMatches: _\npassed: len(authorityMatches) & >=2\n",
    "rego": ("package sigstore\ndefault isCompliant = false\n"
             "isCompliant {\n  count(input.authorityMatches) >= 2\n}\n"),
}


@pytest.mark.parametrize("policy_type", ["cue", "rego"])
@pytest.mark.parametrize("signers", [("a",), ("a", "b")], ids=["one-of-two", "two-of-two"])
def test_two_of_two_signatures(oracle: Oracle, policy_type: str, signers: tuple[str, ...]) -> None:
    case = f"kofn-{policy_type}"
    image = oracle.image(case)
    for signer in signers:
        oracle.sign_key(image, signer)
    authorities = [key_authority(oracle.key_pair("a").pem, name="signer-a"),
                   key_authority(oracle.key_pair("b").pem, name="signer-b")]
    policy = {"type": policy_type, "data": K_OF_N[policy_type]}
    tester, ours = oracle.both(documents(cip(case, oracle.glob(case), authorities, policy=policy)), image)
    # The messages differ: policy-tester reports the failed authority first (and prints only that).
    assert_same(tester, ours, allowed=len(signers) == 2)


def test_cue_validator_policy_controller_ignores(oracle: Oracle) -> None:
    """``authorityMatches: struct.MinFields(2)`` with one of two signers: policy-controller admits (it
    evaluates CUE without requiring concrete values, so a validator never fails: its own e2e policies force a
    conflict instead); sigward, which runs the real ``cue vet``, denies. A difference that fails closed."""
    image = oracle.image("cue-validator")
    oracle.sign_key(image, "a")
    authorities = [key_authority(oracle.key_pair("a").pem, name="signer-a"),
                   key_authority(oracle.key_pair("b").pem, name="signer-b")]
    policy = {"type": "cue", "data": 'import "struct"\nauthorityMatches: struct.MinFields(2)\n'}
    tester, ours = oracle.both(documents(cip("cue-validator", oracle.glob("cue-validator"), authorities,
                                             policy=policy)), image)
    assert tester.allowed, tester.report()
    assert not ours.allowed and "MinFields" in ours.text, ours.report()


# -- keyless ------------------------------------------------------------------------------------------------


def test_keyless_admitted(oracle: Oracle, keyless: Keyless) -> None:
    image = oracle.image("keyless")
    keyless.sign(image)
    policy = documents(cip("keyless", oracle.glob("keyless"), [keyless.authority()]))
    tester, ours = oracle.both(policy, image, trustroot=keyless.trustroot)
    assert_same(tester, ours, allowed=True)


def test_keyless_subject_regexp_admitted(oracle: Oracle, keyless: Keyless) -> None:
    image = oracle.image("keyless-re")
    keyless.sign(image)
    authority = keyless.authority(subject="https://github.com/example-org/.*", issuer=".*actions.*",
                                  regexp=True)
    tester, ours = oracle.both(documents(cip("keyless-re", oracle.glob("keyless-re"), [authority])), image,
                               trustroot=keyless.trustroot)
    assert_same(tester, ours, allowed=True)


def test_keyless_wrong_identity_denied(oracle: Oracle, keyless: Keyless) -> None:
    image = oracle.image("keyless-who")
    keyless.sign(image)
    authority = keyless.authority(subject=KEYLESS_IDENTITY.replace("example-org", "someone-else"))
    tester, ours = oracle.both(documents(cip("keyless-who", oracle.glob("keyless-who"), [authority])), image,
                               trustroot=keyless.trustroot)
    assert_same(tester, ours, allowed=False,
                contains=["signature keyless validation failed for authority authority-0",
                          "none of the expected identities matched what was in the certificate"])


@pytest.mark.parametrize(("policy_type", "policy", "allowed"), [
    ("rego", REGO_PASSES, True), ("cue", CUE_FAILS, False),
], ids=["rego-passes", "cue-fails"])
def test_keyless_attestation_policy(oracle: Oracle, keyless: Keyless, policy_type: str, policy: str,
                                    allowed: bool) -> None:
    case = f"keyless-att-{policy_type}"
    image = oracle.image(case)
    keyless.attest(image)
    authority = {**keyless.authority(), "attestations": [attestation(policy_type, policy)]}
    tester, ours = oracle.both(documents(cip(case, oracle.glob(case), [authority])), image,
                               trustroot=keyless.trustroot)
    assert_same(tester, ours, allowed=allowed,
                contains=[] if allowed else [f"failed evaluating {policy_type}"])


# -- where sigward differs on purpose -----------------------------------------------------------------------


def test_bundle_signature_sigward_admits_policy_tester_refuses(oracle: Oracle) -> None:
    """cosign v3's default (bundle-format) signature: policy-controller v0.13.1 cannot read it (issue #17's
    reason for sigward), sigward admits it for a key authority. Deliberate difference, docs/policy.md."""
    image = oracle.image("bundle")
    oracle.sign_key(image, "a", legacy=False)
    tester, ours = oracle.both(documents(cip("bundle", oracle.glob("bundle"),
                                             [key_authority(oracle.key_pair("a").pem)])), image)
    assert not tester.allowed and "no signatures found" in tester.text, tester.report()
    assert ours.allowed, ours.report()


def test_keyless_bundle_sigward_admits_policy_tester_refuses(oracle: Oracle, keyless: Keyless) -> None:
    """The same for a keyless bundle signature (Rekor v1 entry in the bundle): deliberate difference."""
    image = oracle.image("keyless-bundle")
    keyless.sign(image, legacy=False)
    policy = documents(cip("keyless-bundle", oracle.glob("keyless-bundle"), [keyless.authority()]))
    tester, ours = oracle.both(policy, image, trustroot=keyless.trustroot)
    assert not tester.allowed and "no signatures found" in tester.text, tester.report()
    assert ours.allowed, ours.report()


# -- invalid CIPs: policy-tester's "CIP is invalid:" and sigward's validation say the same ------------------

INVALID = {
    "key-and-keyless": (
        {"images": [{"glob": "**"}],
         "authorities": [{"key": {"data": "x"}, "keyless": {"url": "https://fulcio.example"}}]},
        "expected exactly one, got both: spec.authorities[0].key, spec.authorities[0].keyless"),
    "no-images": (
        {"authorities": [{"static": {"action": "pass"}}]},
        "missing field(s): spec.images"),
    "bad-glob": (
        {"images": [{"glob": "["}], "authorities": [{"static": {"action": "pass"}}]},
        "invalid value: [: spec.images[0].glob"),
    "bad-mode": (
        {"images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}], "mode": "audit"},
        "invalid value: audit: spec.mode"),
    "no-authorities": (
        {"images": [{"glob": "**"}]},
        "missing field(s): spec.authorities"),
    "bad-policy-type": (
        {"images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}],
         "policy": {"type": "starlark", "data": "x"}},
        "only [cue,rego] are supported at the moment"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_cip(oracle: Oracle, case: str) -> None:
    spec, message = INVALID[case]
    doc = {"apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "ClusterImagePolicy",
           "metadata": {"name": f"invalid-{case}"}, "spec": spec}
    path = oracle.write(f"invalid-{case}.yaml", json.dumps(doc))
    image = oracle.image("invalid")
    tester = oracle.run_tester(path, image)
    assert not tester.allowed and "CIP is invalid:" in tester.stderr, tester.report()
    assert message in tester.stderr, tester.report()
    validated = oracle.sigward("policy", "validate", path, check=False)
    assert validated.returncode == 1, validated.stderr
    assert message in validated.stdout + validated.stderr
    tested = oracle.run_sigward(path, image)
    assert not tested.allowed and tested.returncode != 0, tested.report()
    assert message in tested.stdout + tested.stderr, tested.report()


# -- match[]: a CIP that applies only to some resources (policy-tester's -resource) --------------------------


@pytest.mark.parametrize(("team", "allowed"), [("payments", False), ("web", True)])
def test_match_label_selector(oracle: Oracle, team: str, allowed: bool) -> None:
    image = oracle.image("match")
    glob = oracle.glob("match")
    selector = {"group": "apps", "version": "v1", "resource": "deployments",
                "selector": {"matchLabels": {"team": "payments"}}}
    policies = documents(cip("everyone", glob, [{"static": {"action": "pass"}}]),
                         cip("payments-frozen", glob, [{"static": {"action": "fail", "message": "frozen"}}],
                             match=[selector]))
    resource = oracle.write("deployment.yaml", json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "app", "namespace": "default", "labels": {"team": team}},
        "spec": {"selector": {"matchLabels": {"app": "x"}},
                 "template": {"metadata": {"labels": {"app": "x"}},
                              "spec": {"containers": [{"name": "app", "image": image}]}}}}))
    tester, ours = oracle.both(policies, image, resource=resource)
    assert_same(tester, ours, allowed=allowed,
                contains=[] if allowed else ["disallowed by static policy: frozen"])
