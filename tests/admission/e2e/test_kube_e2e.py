"""The seed blog's two ClusterImagePolicies enforced by sigward through a real kube-apiserver.

``kubectl apply`` in a namespace labelled ``policy.sigstore.dev/include: "true"``: a pod whose image is
signed as the policy requires is created with its image pinned to the digest that was verified (the
mutating webhook); an unsigned one, or one signed by the wrong pipeline, is refused with
policy-controller's message naming the policy and the field; a Deployment is checked through its pod
template. Outside the opted-in namespace nothing is enforced.
"""

from __future__ import annotations

import secrets
from typing import Any

from tests.admission.e2e.conftest import (
    E2E,
    GITLAB_BRANCH,
    GITLAB_ISSUER,
    GITLAB_MAIN,
    KNATIVE_ISSUER,
    KNATIVE_SIGNER,
    NAMESPACE,
    WEBHOOK,
)

GITLAB_CIP = "registry-gitlab-com-bobymcbobs-is-signed"
KNATIVE_CIP = "knative-signed"


def pod(image: str, namespace: str = NAMESPACE) -> dict[str, Any]:
    name = f"app-{secrets.token_hex(4)}"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "app", "image": image}]}}


def deployment(image: str) -> dict[str, Any]:
    name = f"app-{secrets.token_hex(4)}"
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}


def created_image(e2e: E2E, kind: str, manifest: dict[str, Any], path: tuple[str, ...]) -> str:
    e2e.kube.apply(manifest)
    obj: Any = e2e.kube.get_json(kind, manifest["metadata"]["name"], "-n", manifest["metadata"]["namespace"])
    for key in path:
        obj = obj[key]
    return str(obj)


def refused(e2e: E2E, manifest: dict[str, Any]) -> str:
    result = e2e.kube.apply(manifest, check=False)
    assert result.returncode != 0, f"admitted but must be refused:\n{result.stdout}"
    assert f'admission webhook "{WEBHOOK}" denied the request' in result.stderr, result.stderr
    return result.stderr


def test_gitlab_signed_pod_created_and_pinned(e2e: E2E) -> None:
    image, digest = e2e.image("bobymcbobs/sigward-demo")
    e2e.sign_keyless(image, GITLAB_MAIN, GITLAB_ISSUER)  # cosign v3's default: a Sigstore bundle
    got = created_image(e2e, "pod", pod(image), ("spec", "containers", 0, "image"))
    assert got == f"{image}@{digest}"


def test_unsigned_pod_refused(e2e: E2E) -> None:
    image, _ = e2e.image("bobymcbobs/unsigned")
    stderr = refused(e2e, pod(image))
    assert f"failed policy: {GITLAB_CIP}: spec.containers[0].image" in stderr


def test_pod_signed_by_another_branch_refused(e2e: E2E) -> None:
    image, _ = e2e.image("bobymcbobs/from-a-branch")
    e2e.sign_keyless(image, GITLAB_BRANCH, GITLAB_ISSUER)
    stderr = refused(e2e, pod(image))
    assert f"failed policy: {GITLAB_CIP}: spec.containers[0].image" in stderr
    assert "none of the expected identities matched" in stderr


def test_knative_signed_pod_created(e2e: E2E) -> None:
    image, digest = e2e.image("knative-releases/serving/controller")
    e2e.sign_keyless(image, KNATIVE_SIGNER, KNATIVE_ISSUER, legacy=True)
    got = created_image(e2e, "pod", pod(image), ("spec", "containers", 0, "image"))
    assert got == f"{image}@{digest}"


def test_knative_image_signed_by_someone_else_refused(e2e: E2E) -> None:
    image, _ = e2e.image("knative-releases/serving/webhook")
    e2e.sign_keyless(image, GITLAB_MAIN, GITLAB_ISSUER)
    stderr = refused(e2e, pod(image))
    assert f"failed policy: {KNATIVE_CIP}: spec.containers[0].image" in stderr


def test_deployment_checked_through_its_template(e2e: E2E) -> None:
    signed, digest = e2e.image("bobymcbobs/deployed")
    e2e.sign_keyless(signed, GITLAB_MAIN, GITLAB_ISSUER)
    path = ("spec", "template", "spec", "containers", 0, "image")
    assert created_image(e2e, "deployment", deployment(signed), path) == f"{signed}@{digest}"
    unsigned, _ = e2e.image("bobymcbobs/deployed-unsigned")
    stderr = refused(e2e, deployment(unsigned))
    assert f"failed policy: {GITLAB_CIP}: spec.template.spec.containers[0].image" in stderr


def test_image_no_policy_covers_refused(e2e: E2E) -> None:
    image, _ = e2e.image("somebody/else")
    stderr = refused(e2e, pod(image))
    assert "no matching policies" in stderr


def test_namespace_not_opted_in_is_not_enforced(e2e: E2E) -> None:
    image, _ = e2e.image("bobymcbobs/unsigned-elsewhere")
    got = created_image(e2e, "pod", pod(image, namespace="default"), ("spec", "containers", 0, "image"))
    assert got == image  # neither checked nor rewritten
