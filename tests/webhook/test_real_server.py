"""`sigward admission serve` as its own process, with the real engine, over real HTTPS: AdmissionReview
bodies for images in a real registry (docker-registry) signed by sigward with a key and keylessly through
the local Sigstore stack, in the cosign v3 bundle and the legacy format. Admitted, denied with
policy-controller's message, warned, mutated (the JSONPatch applied and checked); two processes sharing a
real Redis; faults (registry down, trust root missing, a registry slower than the deadline)."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.images import push_image
from tests.fixtures.redis_server import RedisServer
from tests.webhook.reviews import body, pod_spec, workload
from tests.webhook.world import (
    ServerProcess,
    key_cip,
    keyless_cip,
    make_keys,
    sign_key,
    sign_keyless,
    trustroot,
    write_policies,
)


@dataclass
class World:
    host: str
    pub: Path
    key: Path
    policies: Path
    images: dict[str, str]  # name → repo@digest
    tags: dict[str, str]  # name → repo:tag


@pytest.fixture(scope="module")
def world(registry: Any, sigstore_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("webhook-world")
    key, pub = make_keys(tmp / "keys")
    host = registry.host
    images: dict[str, str] = {}
    tags: dict[str, str] = {}
    for name, repo in [("key", "webhook/key/signed"), ("key-legacy", "webhook/key/legacy"),
                       ("unsigned", "webhook/key/unsigned"), ("keyless", "webhook/keyless/bundle"),
                       ("keyless-legacy", "webhook/keyless/legacy"), ("wrong-id", "webhook/strict/app"),
                       ("warn", "webhook/warn/unsigned"), ("nomatch", "elsewhere/app")]:
        digest = push_image(registry, repo, "v1")
        images[name] = f"{host}/{repo}@{digest}"
        tags[name] = f"{host}/{repo}:v1"
    sign_key(images["key"], key)
    sign_key(images["key-legacy"], key, legacy=True)
    sign_keyless(images["keyless"], sigstore_stack)
    sign_keyless(images["keyless-legacy"], sigstore_stack, legacy=True)
    sign_keyless(images["wrong-id"], sigstore_stack)
    policies = tmp / "policies"
    write_policies(policies, [
        trustroot("local-stack", sigstore_stack),
        key_cip("key-policy", f"{host}/webhook/key/**", pub),
        keyless_cip("keyless-policy", f"{host}/webhook/keyless/**", "local-stack"),
        keyless_cip("strict-policy", f"{host}/webhook/strict/**", "local-stack",
                    subject="https://github.com/someone-else/repo/.github/workflows/release.yml@refs/tags/1"),
        key_cip("warn-policy", f"{host}/webhook/warn/**", pub, mode="warn"),
    ])
    return World(host, pub, key, policies, images, tags)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.webhook.world import sigward

    out = tmp_path_factory.mktemp("certs")
    sigward("admission", "certs", "--out", out, "--host", "127.0.0.1")
    return out


@pytest.fixture
def start() -> Iterator[Callable[..., ServerProcess]]:
    servers: list[ServerProcess] = []

    def make(policies: Path, certs: Path, *extra: str) -> ServerProcess:
        s = ServerProcess(policies, certs, "--allow-http-registry", *extra)
        servers.append(s)
        s.wait_ready()
        return s

    yield make
    for s in servers:
        s.stop()


@pytest.fixture(scope="module")
def server(world: World, certs: Path) -> Iterator[ServerProcess]:
    s = ServerProcess(world.policies, certs, "--allow-http-registry")
    s.wait_ready()
    yield s
    s.stop()


def validate(server: ServerProcess, obj: dict[str, Any], **kw: Any) -> dict[str, Any]:
    out = server.review("/validations", body(obj, **kw))
    assert out["apiVersion"] == "admission.k8s.io/v1" and out["kind"] == "AdmissionReview"
    response: dict[str, Any] = out["response"]
    return response


def apply_patch(obj: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902 ``replace`` operations (the only kind the webhook emits) applied to a copy of OBJ."""
    out = copy.deepcopy(obj)
    for op in ops:
        assert op["op"] == "replace"
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        target: Any = out
        for p in parts[:-1]:
            target = target[int(p)] if isinstance(target, list) else target[p]
        last = parts[-1]
        if isinstance(target, list):
            target[int(last)] = op["value"]
        else:
            assert last in target, op
            target[last] = op["value"]
    return out


def test_signed_images_are_admitted(server: ServerProcess, world: World) -> None:
    """Key and keyless, bundle and legacy, in containers, init containers and image volumes."""
    imgs = world.images
    spec = pod_spec(imgs["key"], imgs["keyless"], init=(imgs["key-legacy"],),
                    volumes=(imgs["keyless-legacy"],))
    r = validate(server, workload("Pod", spec), uid="uid-admit-1")
    assert r == {"uid": "uid-admit-1", "allowed": True}
    assert validate(server, workload("CronJob", spec))["allowed"] is True
    assert server.metric("sigward_admission_policy_verdicts_total", policy="keyless-policy",
                         verdict="pass") == 2


def test_unsigned_image_is_denied_with_policy_controllers_message(server: ServerProcess,
                                                                  world: World) -> None:
    img = world.images["unsigned"]
    repo_digest = img
    r = validate(server, workload("Deployment", pod_spec(world.images["key"], img)))
    assert r["allowed"] is False and r["status"]["code"] == 400
    msg = r["status"]["message"]
    head = "validation failed: failed policy: key-policy: spec.template.spec.containers[1].image\n"
    assert msg.startswith(head + f"{img} signature key validation failed for authority authority-0 for "
                          f"{repo_digest}: "), msg
    assert "no signatures found" in msg or "no matching signatures" in msg


def test_wrong_keyless_identity_is_denied(server: ServerProcess, world: World) -> None:
    img = world.images["wrong-id"]
    msg = validate(server, workload("Pod", pod_spec(img)))["status"]["message"]
    assert msg.startswith(f"validation failed: failed policy: strict-policy: spec.containers[0].image\n{img} "
                          "signature keyless validation failed for authority authority-0 for "), msg
    assert "none of the expected identities matched what was in the certificate" in msg


def test_warn_policy_admits_with_warnings(server: ServerProcess, world: World) -> None:
    img = world.images["warn"]
    r = validate(server, workload("Job", pod_spec(img)))
    assert r["allowed"] is True
    assert r["warnings"][0] == "failed policy: warn-policy: spec.template.spec.containers[0].image"
    assert r["warnings"][1].startswith(f"{img} signature key validation failed for authority authority-0")
    assert all("\n" not in w for w in r["warnings"])


def test_tag_and_no_match_are_denied(server: ServerProcess, world: World) -> None:
    tag = world.tags["key"]
    msg = validate(server, workload("Pod", pod_spec(tag)))["status"]["message"]
    assert msg == f"validation failed: invalid value: {tag} must be an image digest: spec.containers[0].image"
    other = world.images["nomatch"]
    msg = validate(server, workload("Pod", pod_spec(other)))["status"]["message"]
    assert msg == f"validation failed: no matching policies: spec.containers[0].image\n{other}"


def test_mutation_pins_tags_and_the_result_validates(server: ServerProcess, world: World) -> None:
    obj = workload("StatefulSet", pod_spec(world.tags["key"], world.images["keyless"],
                                           init=(world.tags["key-legacy"],)))
    out = server.review("/mutations", body(obj, uid="m-1"))["response"]
    assert out["uid"] == "m-1" and out["allowed"] is True and out["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(out["patch"]))
    patched = apply_patch(obj, ops)
    spec = patched["spec"]["template"]["spec"]
    key_digest = world.images["key"].rpartition("@")[2]
    assert spec["containers"][0]["image"] == f"{world.tags['key']}@{key_digest}"
    assert spec["containers"][1]["image"] == world.images["keyless"]  # already a digest: untouched
    assert spec["initContainers"][0]["image"].endswith(world.images["key-legacy"].rpartition("@")[2])
    assert validate(server, patched)["allowed"] is True
    # The unsigned image is pinned too (mutation does not judge), then refused by validation.
    obj = workload("Pod", pod_spec(world.tags["unsigned"]))
    ops = json.loads(base64.b64decode(server.review("/mutations", body(obj))["response"]["patch"]))
    assert validate(server, apply_patch(obj, ops))["allowed"] is False


def test_repeat_is_a_cache_hit_and_bad_body_is_400(server: ServerProcess, world: World) -> None:
    obj = workload("DaemonSet", pod_spec(world.images["key"]))
    validate(server, obj)
    hits = server.metric("sigward_admission_cache_hits_total")
    assert validate(server, obj)["allowed"] is True
    assert server.metric("sigward_admission_cache_hits_total") == hits + 1
    assert server.request("POST", "/validations", b'{"apiVersion":"v1","kind":"Pod"}')[0] == 400
    assert server.metric("sigward_admission_requests_total", path="/validations", kind="DaemonSet",
                         verdict="allowed") >= 2


def test_two_servers_share_one_redis(world: World, certs: Path, registry: Any, tmp_path: Path,
                                     start: Callable[..., ServerProcess]) -> None:
    redis = RedisServer(tmp_path / "redis").start()
    try:
        a = start(world.policies, certs, "--redis", redis.url)
        b = start(world.policies, certs, "--redis", redis.url)
        obj = workload("Pod", pod_spec(world.images["key"], world.images["unsigned"]))
        first = validate(a, obj)
        assert first["allowed"] is False and "key-policy" in first["status"]["message"]
        assert a.metric("sigward_admission_cache_misses_total") == 2
        second = validate(b, obj)
        assert second["status"]["message"] == first["status"]["message"]
        assert b.metric("sigward_admission_cache_hits_total", tier="redis") == 2
        assert b.metric("sigward_admission_cache_misses_total") == 0
        redis.kill()
        # New images, so neither server has them in memory: verdicts are recomputed and still right.
        fresh = push_image(registry, "webhook/key/fresh", "v1")
        fresh_img = f"{world.host}/webhook/key/fresh@{fresh}"
        sign_key(fresh_img, world.key)
        assert validate(b, workload("Pod", pod_spec(fresh_img)))["allowed"] is True
        unsigned = push_image(registry, "webhook/key/fresh-unsigned", "v1")
        denied = validate(a, workload("Pod", pod_spec(f"{world.host}/webhook/key/fresh-unsigned@{unsigned}")))
        assert denied["allowed"] is False
        assert a.metric("sigward_admission_redis_errors_total") >= 1
    finally:
        redis.stop()


def test_faults_deny_with_a_reason(world: World, certs: Path, registry: Any, tmp_path: Path,
                                   fault_proxy: Callable[..., Any],
                                   start: Callable[..., ServerProcess]) -> None:
    proxy = fault_proxy(registry)
    digest = world.images["key"].rpartition("@")[2]
    slow = f"{proxy.host}/webhook/key/signed@{digest}"
    down = f"127.0.0.1:9/webhook/key/signed@{digest}"
    policies = write_policies(tmp_path / "faults", [
        key_cip("slow-policy", f"{proxy.host}/**", world.pub),
        key_cip("down-policy", "127.0.0.1:9/**", world.pub),
        keyless_cip("no-root-policy", f"{world.host}/webhook/keyless/**", "no-such-trustroot"),
    ]).parent
    s = start(policies, certs, "--timeout", "2s")
    # Through the proxy without faults the image is admitted: the proxy itself is fine.
    assert validate(s, workload("Pod", pod_spec(slow)))["allowed"] is True
    proxy.inject("delay", times=50, seconds=5)
    fresh = f"{proxy.host}/webhook/key/legacy@{world.images['key-legacy'].rpartition('@')[2]}"
    r = validate(s, workload("Pod", pod_spec(fresh)))
    assert r["allowed"] is False
    assert r["status"]["message"] == ("validation failed: failed to verify image: spec.containers[0].image\n"
                                      f"{fresh} verification did not finish within the 2s admission deadline")
    proxy.clear()
    r = validate(s, workload("Pod", pod_spec(down)))
    assert r["allowed"] is False
    assert r["status"]["message"].startswith(
        "validation failed: failed to verify image: spec.containers[0].image\n"
        f"{down} failed to resolve {down}: "
        "cannot reach registry 127.0.0.1:9"), r
    r = validate(s, workload("Pod", pod_spec(world.images["keyless"])))
    assert r["allowed"] is False
    assert r["status"]["message"] == (
        "validation failed: failed policy: no-root-policy: spec.containers[0].image\n"
        f"{world.images['keyless']} "
        "constructing checkOpts for authority-0: trustRootRef no-such-trustroot not found")


def test_pull_secrets_from_the_policy_directory(tls_registry: Any, world: World, certs: Path, tmp_path: Path,
                                                start: Callable[..., ServerProcess]) -> None:
    """A registry with basic auth: the pod's imagePullSecrets, given as a Secret manifest beside the
    policies, are the credentials; without them the image cannot be read and is denied."""
    from tests.webhook.world import sigward

    user, password = tls_registry.username, tls_registry.password
    digest = push_image(tls_registry, "webhook/private/app", "v1", auth=(user, password))
    img = f"{tls_registry.host}/webhook/private/app@{digest}"
    sigward("sign", "--yes", "--tlog-upload=false", "--key", world.key, "--registry-username", user,
            "--registry-password", password, "--registry-cacert", tls_registry.ca_file, img)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    config = json.dumps({"auths": {tls_registry.host: {"auth": auth}}})
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
              "metadata": {"name": "regcred", "namespace": "team"},
              "data": {".dockerconfigjson": base64.b64encode(config.encode()).decode()}}
    policies = write_policies(tmp_path / "private", [
        key_cip("private-policy", f"{tls_registry.host}/webhook/private/**", world.pub), secret]).parent
    empty_docker_config = tmp_path / "docker"
    empty_docker_config.mkdir()
    s = ServerProcess(policies, certs, "--registry-cacert", str(tls_registry.ca_file),
                      env={"DOCKER_CONFIG": str(empty_docker_config)})
    try:
        s.wait_ready()
        anonymous = validate(s, workload("Pod", pod_spec(img), namespace="team"))
        assert anonymous["allowed"] is False, anonymous
        # The registry client's reason, worded as the webhook's own registry flags.
        assert (f"no credentials found; run `sigward login {tls_registry.host}` or pass "
                "--registry-username/--registry-password") in anonymous["status"]["message"]
        spec = pod_spec(img, pull_secrets=("regcred",))
        assert validate(s, workload("Pod", spec, namespace="team"))["allowed"] is True
        # The same secret name in another namespace is not that Secret.
        assert validate(s, workload("Pod", spec, namespace="other"))["allowed"] is False
    finally:
        s.stop()


def test_policies_reload_without_restart(world: World, certs: Path, tmp_path: Path,
                                         start: Callable[..., ServerProcess]) -> None:
    import shutil
    import time

    policies = tmp_path / "reloading"
    shutil.copytree(world.policies, policies)
    s = start(policies, certs)
    img = world.images["nomatch"]
    assert "no matching policies" in validate(s, workload("Pod", pod_spec(img)))["status"]["message"]
    static = {"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
              "metadata": {"name": "elsewhere-static"},
              "spec": {"images": [{"glob": f"{world.host}/elsewhere/**"}],
                       "authorities": [{"static": {"action": "pass"}}]}}
    write_policies(policies, [static], name="static.yaml")
    deadline = time.monotonic() + 20
    while not validate(s, workload("Pod", pod_spec(img)))["allowed"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert validate(s, workload("Pod", pod_spec(img)))["allowed"] is True
    (policies / "broken.yaml").write_text("kind: ClusterImagePolicy\nspec: [unclosed\n")
    reloads = "sigward_admission_policy_reloads_total"
    while s.metric(reloads, result="error") < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert s.metric("sigward_admission_policy_reloads_total", result="error") == 1
    assert validate(s, workload("Pod", pod_spec(img)))["allowed"] is True  # the last good set stays
    assert s.get("/readyz")[0] == 200
