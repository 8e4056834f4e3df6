"""`sigward admission serve --policies-from-cluster` against a real kube-apiserver + etcd
(tests/fixtures/kube.py, the session's one control plane): the policy.sigstore.dev CRDs from the chart,
ClusterImagePolicies, TrustRoots, Secrets and ServiceAccounts applied with the real kubectl, and the
server's verdicts (real AdmissionReview bodies over real HTTPS, images in a real registry signed by
sigward) following them: a policy created is enforced, an edit changes the verdict (no stale cache), a
deletion leaves no match, an invalid policy is skipped and counted, a key comes from a secretRef Secret
made as ``cosign generate-key-pair k8s://`` makes it, and a private registry (basic auth, TLS) is read with
a pod's imagePullSecrets or its service account's.

Everything polls with generous deadlines (a watch event reaches the server, which swaps the policy set on
its next reload tick); nothing asserts a duration.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import CHART, KUBE_VERSION
from tests.fixtures import gotools
from tests.fixtures.images import push_image
from tests.fixtures.kube import KubeCluster
from tests.webhook.reviews import body, pod_spec, workload
from tests.webhook.world import (
    ServerProcess,
    key_cip,
    keyless_cip,
    make_keys,
    sign_key,
    sign_keyless,
    trustroot,
)

POLL_SECONDS = 60.0
CRDS = ("clusterimagepolicies.policy.sigstore.dev", "trustroots.policy.sigstore.dev")


@dataclass
class World:
    kube: KubeCluster
    server: ServerProcess
    system: str  # the webhook's namespace (secretRef Secrets)
    team: str  # the admitted workloads' namespace (pull secrets)
    host: str
    key: Path
    pub: Path
    other_pub: Path
    created: list[tuple[str, str]]  # (kind, name) of cluster-scoped resources to delete

    def apply(self, doc: dict[str, Any], *args: str) -> None:
        if not doc["metadata"].get("namespace") and doc["kind"] in ("ClusterImagePolicy", "TrustRoot"):
            self.created.append((doc["kind"].lower(), doc["metadata"]["name"]))
        self.kube.apply(doc, *args)

    def validate(self, obj: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = self.server.review("/validations", body(obj))["response"]
        return response

    def pod(self, image: str, **kw: Any) -> dict[str, Any]:
        sa = kw.pop("service_account", None)
        spec = pod_spec(image, **kw)
        if sa:
            spec["serviceAccountName"] = sa
        return workload("Pod", spec, namespace=self.team)

    def until(self, image: str, check: Callable[[dict[str, Any]], bool], **kw: Any) -> dict[str, Any]:
        """Poll /validations until CHECK holds for the response (or fail with the last one)."""
        deadline = time.monotonic() + POLL_SECONDS
        while True:
            r = self.validate(self.pod(image, **kw))
            if check(r) or time.monotonic() > deadline:
                return r
            time.sleep(0.2)


def _why(r: dict[str, Any]) -> str:
    return json.dumps(r, indent=1)


def _allowed(r: dict[str, Any]) -> bool:
    return r["allowed"] is True


def _no_match(r: dict[str, Any]) -> bool:
    return "no matching policies" in r.get("status", {}).get("message", "")


def _unreadable(r: dict[str, Any]) -> bool:
    return r["allowed"] is False and "401 Unauthorized" in r["status"]["message"]


def _failed(policy: str) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r["allowed"] is False and f"failed policy: {policy}" in r["status"]["message"]


def _crds(tmp: Path, ca_file: Path) -> list[dict[str, Any]]:
    import subprocess

    import yaml

    env = {"HELM_CONFIG_HOME": str(tmp / "c"), "HELM_CACHE_HOME": str(tmp / "k"),
           "HELM_DATA_HOME": str(tmp / "d"), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([str(gotools.go_tool("helm")), "template", "rel", str(CHART), *KUBE_VERSION,
                        "--set", f"image.digest=sha256:{'ab' * 32}", "--set",
                        f"tls.caBundle={base64.b64encode(ca_file.read_bytes()).decode()}",
                        "--set", "tls.existingSecret=x"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d and d["kind"] == "CustomResourceDefinition"]


@pytest.fixture(scope="module")
def world(kube_cluster: KubeCluster, registry: Any, tls_registry: Any, webhook_certs: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("from-cluster")
    kube_cluster.apply({"apiVersion": "v1", "kind": "List", "items": _crds(tmp, webhook_certs / "ca.crt")})
    kube_cluster.kubectl("wait", "--for=condition=Established", "--timeout=120s", *[f"crd/{n}" for n in CRDS])
    suffix = secrets.token_hex(3)
    system, team = f"sigward-src-{suffix}", f"team-src-{suffix}"
    for ns in (system, team):
        kube_cluster.kubectl("create", "namespace", ns)
    key, pub = make_keys(tmp / "keys")
    _, other_pub = make_keys(tmp / "other-keys")
    files = tmp / "policies"  # --policies and --policies-from-cluster together: the directory is empty
    files.mkdir()
    docker = tmp / "docker"  # no ambient registry credentials
    docker.mkdir()
    server = ServerProcess(files, webhook_certs, "--policies-from-cluster", "--kubeconfig",
                           str(kube_cluster.kubeconfig), "--namespace", system, "--allow-http-registry",
                           "--registry-cacert", str(tls_registry.ca_file), env={"DOCKER_CONFIG": str(docker)})
    w = World(kube_cluster, server, system, team, registry.host, key, pub, other_pub, [])
    try:
        server.wait_ready(timeout=120)
        yield w
    finally:
        server.stop()
        for kind, name in w.created:
            kube_cluster.kubectl("delete", kind, name, "--ignore-not-found", "--wait=false", check=False)
        for ns in (system, team):
            kube_cluster.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)


def _signed(registry: Any, repo: str, key: Path) -> str:
    digest = push_image(registry, repo, "v1")
    image = f"{registry.host}/{repo}@{digest}"
    sign_key(image, key)
    return image


def test_a_policy_is_enforced_when_created_edited_and_deleted(world: World, registry: Any) -> None:
    repo = f"from-cluster/lifecycle-{secrets.token_hex(3)}"
    image = _signed(registry, repo, world.key)
    assert _no_match(world.validate(world.pod(image)))
    name = f"lifecycle-{secrets.token_hex(3)}"
    cip = key_cip(name, f"{world.host}/{repo}*", world.pub)
    world.apply(cip)
    r = world.until(image, _allowed)
    assert _allowed(r), _why(r)
    # Edited to trust another key: the cached admission of the old policy must not survive.
    cip["spec"]["authorities"][0]["key"]["data"] = world.other_pub.read_text()
    world.apply(cip)
    r = world.until(image, _failed(name))
    assert _failed(name)(r), _why(r)
    world.kube.kubectl("delete", "clusterimagepolicy", name)
    r = world.until(image, _no_match)
    assert _no_match(r), _why(r)


def test_a_v1alpha1_policy_and_a_keyless_one_through_a_cluster_trustroot(world: World, registry: Any,
                                                                        sigstore_stack: Any) -> None:
    repo = f"from-cluster/alpha-{secrets.token_hex(3)}"
    image = _signed(registry, repo, world.key)
    name = f"alpha-{secrets.token_hex(3)}"
    cip = key_cip(name, f"{world.host}/{repo}*", world.pub)
    cip["apiVersion"] = "policy.sigstore.dev/v1alpha1"
    world.apply(cip)
    assert _allowed(world.until(image, _allowed))
    # Keyless, trusting the local Sigstore stack through a TrustRoot resource (trustRootRef).
    repo = f"from-cluster/keyless-{secrets.token_hex(3)}"
    digest = push_image(registry, repo, "v1")
    keyless_image = f"{registry.host}/{repo}@{digest}"
    sign_keyless(keyless_image, sigstore_stack)
    root = f"root-{secrets.token_hex(3)}"
    world.apply(trustroot(root, sigstore_stack))
    keyless = f"keyless-{secrets.token_hex(3)}"
    world.apply(keyless_cip(keyless, f"{registry.host}/{repo}*", root))
    r = world.until(keyless_image, _allowed)
    assert _allowed(r), _why(r)


def test_an_invalid_policy_is_skipped_and_counted(world: World, registry: Any) -> None:
    repo = f"from-cluster/invalid-{secrets.token_hex(3)}"
    image = _signed(registry, repo, world.key)
    good = f"good-{secrets.token_hex(3)}"
    bad = f"bad-{secrets.token_hex(3)}"
    world.apply(key_cip(good, f"{world.host}/{repo}*", world.pub))
    broken = key_cip(bad, f"{world.host}/{repo}*", world.other_pub)
    broken["spec"]["mode"] = "bogus"  # the CRD schema lets it through; policy-controller's validation not
    world.apply(broken)
    metric = "sigward_admission_invalid_resources_total"
    deadline = time.monotonic() + POLL_SECONDS
    while time.monotonic() < deadline and f"ClusterImagePolicy {bad} is invalid" \
            not in world.server.log.read_text():
        time.sleep(0.2)
    assert f"ClusterImagePolicy {bad} is invalid, skipped: " in world.server.log.read_text()
    assert "spec.mode" in world.server.log.read_text()
    assert world.server.metric(metric, kind="ClusterImagePolicy") >= 1
    # The valid policy is enforced, the invalid one (which would fail the image) is not.
    r = world.until(image, _allowed)
    assert _allowed(r), _why(r)
    assert world.server.get("/readyz")[0] == 200
    # An edit that breaks the valid policy (and would trust another key) is refused by policy-controller's
    # webhook, which leaves the old version in force: here the last valid version stays enforced.
    edited = key_cip(good, f"{world.host}/{repo}*", world.other_pub)
    edited["spec"]["mode"] = "bogus"
    world.apply(edited)
    deadline = time.monotonic() + POLL_SECONDS
    while time.monotonic() < deadline and f"ClusterImagePolicy {good} is invalid" \
            not in world.server.log.read_text():
        time.sleep(0.2)
    assert f"ClusterImagePolicy {good} is invalid, skipped: " in world.server.log.read_text()
    time.sleep(1.0)  # not a timing assertion: lets a (wrong) reload happen before checking it did not
    r = world.validate(world.pod(image))
    assert _allowed(r), _why(r)


def test_a_secret_ref_key_from_a_k8s_generated_secret(world: World, registry: Any) -> None:
    repo = f"from-cluster/secretref-{secrets.token_hex(3)}"
    image = _signed(registry, repo, world.key)
    secret = f"cosign-{secrets.token_hex(3)}"
    # The shape `cosign generate-key-pair k8s://NS/NAME` writes: the three entries.
    world.apply({"apiVersion": "v1", "kind": "Secret",
                 "metadata": {"name": secret, "namespace": world.system},
                 "data": {"cosign.key": base64.b64encode(world.key.read_bytes()).decode(),
                          "cosign.pub": base64.b64encode(world.pub.read_bytes()).decode(),
                          "cosign.password": base64.b64encode(b"test-password").decode()}})
    name = f"secretref-{secrets.token_hex(3)}"
    _key_ref_policy(world, name, f"{world.host}/{repo}*", secret)
    r = world.until(image, _allowed)
    assert _allowed(r), _why(r)
    # The Secret replaced by one holding another key: the verdict follows.
    _replace_with_other_key(world, secret)
    r = world.until(image, _failed(name))
    assert _failed(name)(r), _why(r)


def _key_ref_policy(world: World, name: str, glob: str, secret: str, namespace: str | None = None) -> None:
    """A ClusterImagePolicy with one key authority read from Secret ``secret`` (``namespace`` if given)."""
    ref = {"name": secret, **({"namespace": namespace} if namespace else {})}
    world.apply({"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
                 "metadata": {"name": name},
                 "spec": {"images": [{"glob": glob}], "authorities": [{"key": {"secretRef": ref}}]}})


def _replace_with_other_key(world: World, secret: str) -> None:
    """Secret ``secret`` of the webhook's namespace replaced by one holding a key that signed nothing."""
    world.kube.kubectl("delete", "secret", secret, "-n", world.system)
    world.apply({"apiVersion": "v1", "kind": "Secret",
                 "metadata": {"name": secret, "namespace": world.system},
                 "data": {"cosign.pub": base64.b64encode(world.other_pub.read_bytes()).decode()}})


def _wait_log(world: World, text: str) -> str:
    deadline = time.monotonic() + POLL_SECONDS
    while time.monotonic() < deadline and text not in world.server.log.read_text():
        time.sleep(0.2)
    return world.server.log.read_text()


def test_a_secret_ref_in_another_namespace_is_refused_as_policy_controller_refuses_it(
        world: World, registry: Any) -> None:
    """policy-controller (v0.13.1 CIP validation) refuses a secretRef.namespace other than its own, and its
    reconciler reads every secretRef from its own namespace: a Secret in the workloads' namespace holding
    the right key must not make the policy pass."""
    repo = f"from-cluster/secretns-{secrets.token_hex(3)}"
    image = _signed(registry, repo, world.key)
    secret = f"pub-{secrets.token_hex(3)}"
    for ns in (world.team, world.system):
        world.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret, "namespace": ns},
                     "data": {"cosign.pub": base64.b64encode(world.pub.read_bytes()).decode()}})
    elsewhere = f"secretns-{secrets.token_hex(3)}"
    _key_ref_policy(world, elsewhere, f"{world.host}/{repo}*", secret, world.team)
    logged = _wait_log(world, f"ClusterImagePolicy {elsewhere} is invalid")
    assert (f"ClusterImagePolicy {elsewhere} is invalid, skipped: invalid value: {world.team}: "
            "spec.authorities[0].key.secretref.namespace; secretref.namespace is invalid. If set, it should "
            "use the same namespace where the policy-controller was deployed") in logged, logged
    time.sleep(1.0)  # not a timing assertion: lets a (wrong) reload happen before checking it did not
    r = world.validate(world.pod(image))
    assert _no_match(r), _why(r)
    # The webhook's own namespace, named explicitly, is what policy-controller accepts.
    here = f"secretns-{secrets.token_hex(3)}"
    _key_ref_policy(world, here, f"{world.host}/{repo}*", secret, world.system)
    r = world.until(image, _allowed)
    assert _allowed(r), _why(r)
    # …and it is read there: the system namespace's copy replaced by another key fails the policy even
    # though the workloads' namespace still holds the right one.
    _replace_with_other_key(world, secret)
    r = world.until(image, _failed(here))
    assert _failed(here)(r), _why(r)


def test_a_private_registry_read_with_the_pods_pull_secrets(world: World, tls_registry: Any) -> None:
    user, password = tls_registry.username, tls_registry.password
    repo = f"from-cluster/private-{secrets.token_hex(3)}"
    digest = push_image(tls_registry, repo, "v1", auth=(user, password))
    image = f"{tls_registry.host}/{repo}@{digest}"
    from tests.webhook.world import sigward

    sigward("sign", "--yes", "--tlog-upload=false", "--key", world.key, "--registry-username", user,
            "--registry-password", password, "--registry-cacert", tls_registry.ca_file, image)
    name = f"private-{secrets.token_hex(3)}"
    world.apply(key_cip(name, f"{tls_registry.host}/{repo}*", world.pub))
    # Without credentials the image cannot be read: denied (once the policy is loaded).
    r = world.until(image, _unreadable)
    assert _unreadable(r), _why(r)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    config = json.dumps({"auths": {tls_registry.host: {"auth": auth}}})
    world.apply({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                 "metadata": {"name": "regcred", "namespace": world.team},
                 "data": {".dockerconfigjson": base64.b64encode(config.encode()).decode()}})
    r = world.until(image, _allowed, pull_secrets=("regcred",))
    assert _allowed(r), _why(r)
    # Through the pod's service account instead of its own imagePullSecrets.
    world.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                 "metadata": {"name": "builder", "namespace": world.team},
                 "imagePullSecrets": [{"name": "regcred"}]})
    r = world.until(image, _allowed, service_account="builder")
    assert _allowed(r), _why(r)
    # A service account without them is still denied.
    assert _unreadable(world.validate(world.pod(image)))


def _regcred(world: World, name: str, host: str, user: str, password: str) -> None:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    config = json.dumps({"auths": {host: {"auth": auth}}})
    world.apply({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                 "metadata": {"name": name, "namespace": world.team},
                 "data": {".dockerconfigjson": base64.b64encode(config.encode()).decode()}})


def test_a_denial_for_missing_or_wrong_credentials_does_not_outlive_the_pull_secret_fix(
        world: World, tls_registry: Any) -> None:
    """A denial because the registry refused the credentials is not cached and drops what was read of the
    namespace's pull secrets: the request right after the Secret is created or corrected is decided with
    it (no polling here: a stale verdict or a stale Secret would fail the assertion)."""
    from tests.webhook.world import sigward

    user, password = tls_registry.username, tls_registry.password
    repo = f"from-cluster/creds-{secrets.token_hex(3)}"
    digest = push_image(tls_registry, repo, "v1", auth=(user, password))
    image = f"{tls_registry.host}/{repo}@{digest}"
    sigward("sign", "--yes", "--tlog-upload=false", "--key", world.key, "--registry-username", user,
            "--registry-password", password, "--registry-cacert", tls_registry.ca_file, image)
    world.apply(key_cip(f"creds-{secrets.token_hex(3)}", f"{tls_registry.host}/{repo}*", world.pub))
    secret = f"regcred-{secrets.token_hex(3)}"
    # The pod names a pull secret that does not exist yet: denied (once the policy is loaded).
    r = world.until(image, _unreadable, pull_secrets=(secret,))
    assert _unreadable(r), _why(r)
    # Created with a wrong password: the next request reads it, and is refused by the registry.
    _regcred(world, secret, tls_registry.host, user, "not-the-password")
    r = world.validate(world.pod(image, pull_secrets=(secret,)))
    assert _unreadable(r) and "credentials were refused" in r["status"]["message"], _why(r)
    # Corrected: the very next request is admitted.
    _regcred(world, secret, tls_registry.host, user, password)
    r = world.validate(world.pod(image, pull_secrets=(secret,)))
    assert _allowed(r), _why(r)
    # That admission is cached (keyed by the pull secrets' names); its verdict is reused.
    hits = world.server.metric("sigward_admission_cache_hits_total")
    assert _allowed(world.validate(world.pod(image, pull_secrets=(secret,))))
    assert world.server.metric("sigward_admission_cache_hits_total") > hits


def test_not_ready_while_the_api_server_cannot_be_listed(webhook_certs: Path, tmp_path: Path,
                                                         kube_cluster: KubeCluster) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    config = json.loads(kube_cluster.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{dead}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps(config))
    files = tmp_path / "policies"
    files.mkdir()
    server = ServerProcess(files, webhook_certs, "--policies-from-cluster", "--kubeconfig", str(kubeconfig))
    try:
        deadline = time.monotonic() + POLL_SECONDS
        while time.monotonic() < deadline and server.metric("sigward_admission_watch_errors_total") < 2:
            time.sleep(0.2)
        assert server.metric("sigward_admission_watch_errors_total") >= 2
        assert server.get("/healthz")[0] == 200
        assert server.get("/readyz")[0] == 503
        image = f"127.0.0.1:1/x@sha256:{'ab' * 32}"
        r = server.review("/validations", body(workload("Pod", pod_spec(image))))["response"]
        assert r["allowed"] is False and "policies are not loaded yet" in r["status"]["message"]
    finally:
        server.stop()
