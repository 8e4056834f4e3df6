"""End to end with the policies in the cluster: ``kubectl apply`` of a ClusterImagePolicy, then of pods and a
Deployment, through the real kube-apiserver calling ``sigward admission serve --policies-from-cluster``.

The file-policy counterpart is tests/admission/e2e/test_kube_e2e.py. Here the webhook configurations select
namespaces by a label unique to this run (not ``policy.sigstore.dev/include``), so they never meet the other
tests' namespaces or webhooks on the shared API server. Everything polls with generous deadlines; nothing
asserts a duration.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from pathlib import Path
from typing import Any

from tests.fixtures.images import make_layer, push_image
from tests.webhook.test_from_cluster import World, _allowed, _why
from tests.webhook.test_from_cluster import world as world  # the module-scoped fixture
from tests.webhook.world import key_cip, sign_key

POLL_SECONDS = 90.0
TIMEOUT_SECONDS = 30  # the API server's wait for the webhook (cold verifications on a loaded machine)


def _pod(name: str, namespace: str, image: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "app", "image": image}]}}


def _deployment(name: str, namespace: str, image: str) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}


def _register(world: World, name: str, label: str, ca: bytes) -> None:
    rules = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
              "resources": ["pods"]},
             {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
              "resources": ["deployments"]}]

    def hook(path: str) -> dict[str, Any]:
        return {"name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None",
                "failurePolicy": "Fail", "timeoutSeconds": TIMEOUT_SECONDS,
                "clientConfig": {"caBundle": base64.b64encode(ca).decode(),
                                 "url": f"{world.server.url}{path}"},
                "namespaceSelector": {"matchLabels": {label: "true"}}, "rules": rules}

    world.kube.apply({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
                      "metadata": {"name": name},
                      "webhooks": [{**hook("/mutations"), "reinvocationPolicy": "IfNeeded"}]})
    world.kube.apply({"apiVersion": "admissionregistration.k8s.io/v1",
                      "kind": "ValidatingWebhookConfiguration", "metadata": {"name": name},
                      "webhooks": [hook("/validations")]})


def test_kubectl_apply_of_a_cluster_policy_then_pods_through_the_api_server(
        world: World, registry: Any, webhook_certs: Path) -> None:
    suffix = secrets.token_hex(3)
    prefix = f"from-cluster/kubectl-{suffix}"
    signed_repo, unsigned_repo = f"{prefix}/signed", f"{prefix}/unsigned"
    digest = push_image(registry, signed_repo, "v1", [make_layer({"app.txt": f"signed {suffix}\n".encode()})])
    sign_key(f"{registry.host}/{signed_repo}@{digest}", world.key)
    push_image(registry, unsigned_repo, "v1", [make_layer({"app.txt": f"unsigned {suffix}\n".encode()})])
    signed, unsigned = f"{registry.host}/{signed_repo}:v1", f"{registry.host}/{unsigned_repo}:v1"

    policy = f"kubectl-{suffix}"
    world.apply(key_cip(policy, f"{registry.host}/{prefix}/**", world.pub))  # kubectl apply -f -
    # The webhook has the policy once its own endpoint admits the signed image.
    r = world.until(f"{registry.host}/{signed_repo}@{digest}", _allowed)
    assert _allowed(r), _why(r)

    label = f"sigward-test-{suffix}"
    hook = f"cluster-{suffix}.sigward.test"
    world.kube.kubectl("label", "namespace", world.team, f"{label}=true")
    _register(world, hook, label, (webhook_certs / "ca.crt").read_bytes())
    try:
        # The API server picks the configurations up asynchronously: poll with server-side dry runs until
        # an unsigned pod is refused by the webhook.
        refusal = f'admission webhook "{hook}" denied the request'
        deadline = time.monotonic() + POLL_SECONDS
        while True:
            probe = world.kube.apply(_pod(f"probe-{suffix}", world.team, unsigned), "--dry-run=server",
                                     check=False)
            if refusal in probe.stderr or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert refusal in probe.stderr, probe.stdout + probe.stderr

        # Unsigned: refused with policy-controller's message naming the policy and the field.
        denied = world.kube.apply(_pod(f"unsigned-{suffix}", world.team, unsigned), check=False)
        assert denied.returncode != 0
        assert f"{refusal}: validation failed: failed policy: {policy}: spec.containers[0].image" \
            in denied.stderr, denied.stderr
        missing = world.kube.kubectl("get", "pod", f"unsigned-{suffix}", "-n", world.team, check=False)
        assert missing.returncode != 0 and "NotFound" in missing.stderr

        # Signed, by tag: created, with the image rewritten to the digest that was verified.
        world.kube.apply(_pod(f"signed-{suffix}", world.team, signed))
        pod = world.kube.get_json("pod", f"signed-{suffix}", "-n", world.team)
        assert pod["spec"]["containers"][0]["image"] == f"{signed}@{digest}", json.dumps(pod["spec"])

        # A Deployment's pod template is checked the same way.
        denied = world.kube.apply(_deployment(f"unsigned-{suffix}", world.team, unsigned), check=False)
        assert denied.returncode != 0 and f"failed policy: {policy}: spec.template.spec.containers[0].image" \
            in denied.stderr, denied.stderr
        world.kube.apply(_deployment(f"signed-{suffix}", world.team, signed))
        deployment = world.kube.get_json("deployment", f"signed-{suffix}", "-n", world.team)
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"{signed}@{digest}"

        # The policy deleted with kubectl: the same signed image no longer matches any policy.
        world.kube.kubectl("delete", "clusterimagepolicy", policy)
        deadline = time.monotonic() + POLL_SECONDS
        while True:
            probe = world.kube.apply(_pod(f"probe2-{suffix}", world.team, signed), "--dry-run=server",
                                     check=False)
            if "no matching policies" in probe.stderr or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert f"{refusal}: validation failed: no matching policies" in probe.stderr, probe.stderr
    finally:
        for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
            world.kube.kubectl("delete", kind, hook, "--ignore-not-found", check=False)
        world.kube.kubectl("label", "namespace", world.team, f"{label}-", check=False)


def test_the_policy_resources_are_validated_at_kubectl_apply(world: World, webhook_certs: Path) -> None:
    """``/validating`` registered as policy-controller's ``validating.clusterimagepolicy.sigstore.dev``:
    an invalid ClusterImagePolicy or TrustRoot is refused by the API server with policy-controller's
    error. The configuration selects only objects labelled for this run (objectSelector), so the other
    tests' deliberately invalid policies on the shared API server are not affected."""
    suffix = secrets.token_hex(3)
    label = f"sigward-test-{suffix}"
    hook = f"validating-{suffix}.sigward.test"
    ca = (webhook_certs / "ca.crt").read_bytes()
    world.kube.apply({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": hook},
        "webhooks": [{"name": hook, "admissionReviewVersions": ["v1"], "sideEffects": "None",
                      "failurePolicy": "Fail", "timeoutSeconds": TIMEOUT_SECONDS,
                      "clientConfig": {"caBundle": base64.b64encode(ca).decode(),
                                       "url": f"{world.server.url}/validating"},
                      "objectSelector": {"matchLabels": {label: "true"}},
                      "rules": [{"apiGroups": ["policy.sigstore.dev"], "apiVersions": ["*"],
                                 "operations": ["CREATE", "UPDATE"],
                                 "resources": ["clusterimagepolicies", "trustroots"]}]}]})

    def cip(name: str, **spec: Any) -> dict[str, Any]:
        doc = key_cip(name, "registry.example/app*", world.pub)
        doc["metadata"]["labels"] = {label: "true"}
        doc["spec"].update(spec)
        return doc

    refusal = f'admission webhook "{hook}" denied the request: validation failed: '
    try:
        bogus = cip(f"bogus-{suffix}", mode="bogus")
        deadline = time.monotonic() + POLL_SECONDS
        while True:  # the API server picks the configuration up asynchronously
            r = world.kube.apply(bogus, "--dry-run=server", check=False)
            if refusal in r.stderr or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert f"{refusal}invalid value: bogus: spec.mode" in r.stderr, r.stdout + r.stderr
        # secretRef.namespace: the webhook's own namespace is the controller's; any other is refused.
        elsewhere = cip(f"elsewhere-{suffix}",
                        authorities=[{"key": {"secretRef": {"name": "k", "namespace": world.team}}}])
        r = world.kube.apply(elsewhere, check=False)
        assert (f"{refusal}invalid value: {world.team}: spec.authorities[0].key.secretref.namespace\n"
                "secretref.namespace is invalid. If set, it should use the same namespace where the "
                "policy-controller was deployed") in r.stderr, r.stderr
        here = cip(f"here-{suffix}",
                   authorities=[{"key": {"secretRef": {"name": "k", "namespace": world.system}}}])
        world.apply(here)
        # A valid policy is created; an edit that breaks it is refused and leaves it as it was.
        good = cip(f"good-{suffix}")
        world.apply(good)
        broken = cip(f"good-{suffix}", authorities=[])
        r = world.kube.apply(broken, check=False)
        assert f"{refusal}missing field(s): spec.authorities" in r.stderr, r.stderr
        stored = world.kube.get_json("clusterimagepolicy", f"good-{suffix}")
        assert stored["spec"]["authorities"][0]["key"]["data"] == world.pub.read_text()
        # A TrustRoot with none of its three forms.
        root = {"apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "TrustRoot",
                "metadata": {"name": f"root-{suffix}", "labels": {label: "true"}}, "spec": {}}
        r = world.kube.apply(root, check=False)
        assert r.returncode != 0 and refusal in r.stderr, r.stderr
    finally:
        world.kube.kubectl("delete", "validatingwebhookconfiguration", hook, "--ignore-not-found",
                           check=False)
