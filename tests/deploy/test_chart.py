"""The sigward-admission chart through the real Helm client: `helm lint`, `helm template`, and the rendered
manifests parsed and checked — fail-closed webhooks, opt-in namespaces with the release's own excluded,
two or more replicas under a PodDisruptionBudget, images by digest only, CRDs with policy-controller's exact
field tree — plus every value the templates refuse, each with its one clear message.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import CHART, DIGEST, KUBE_VERSION, NAMESPACE, Helm, render

REDIS_DIGEST = "sha256:" + "cd" * 32
FIELDS = Path(__file__).parent / "data" / "policy-controller-crd-fields.txt"
WORKLOADS = {("", "pods"), ("", "pods/ephemeralcontainers"), ("apps", "deployments"), ("apps", "replicasets"),
             ("apps", "statefulsets"), ("apps", "daemonsets"), ("batch", "jobs"), ("batch", "cronjobs")}


def render_error(helm: Helm, *args: str) -> str:
    r = helm("template", "rel", str(CHART), *args)
    assert r.returncode != 0, f"rendered although it should not:\n{r.stdout[:2000]}"
    assert "Traceback" not in r.stderr
    return r.stderr


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"{len(found)} {kind}s rendered"
    return found[0]


@pytest.fixture(scope="module")
def manifests(helm: Helm, base_args: list[str]) -> list[dict[str, Any]]:
    return render(helm, *base_args)


# --- lint and the whole release -------------------------------------------------------------------


def test_helm_lint_passes(helm: Helm, base_args: list[str]) -> None:
    r = helm("lint", "--strict", str(CHART), *base_args)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in r.stdout


def test_the_release_has_every_part(manifests: list[dict[str, Any]]) -> None:
    kinds = sorted(d["kind"] for d in manifests)
    assert kinds == sorted(["CustomResourceDefinition", "CustomResourceDefinition", "ServiceAccount",
                            "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ConfigMap",
                            "Service", "Deployment", "PodDisruptionBudget", "ValidatingWebhookConfiguration",
                            "MutatingWebhookConfiguration"])
    for d in manifests:
        if d["kind"] not in ("CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
                             "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            assert d["metadata"]["namespace"] == NAMESPACE, d["kind"]


# --- the Deployment -------------------------------------------------------------------------------


def test_deployment_runs_two_replicas_of_the_image_by_digest(manifests: list[dict[str, Any]]) -> None:
    dep = one(manifests, "Deployment")
    assert dep["spec"]["replicas"] >= 2
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == f"registry.example.com/sigward/sigward@{DIGEST}"
    assert "@sha256:" in container["image"]
    args = container["args"]
    assert "--listen=0.0.0.0:8443" in args
    assert "--tls-cert=/etc/sigward/tls/tls.crt" in args and "--tls-key=/etc/sigward/tls/tls.key" in args
    assert "--policies=/etc/sigward/policies" in args
    # The cluster's policies, and the release namespace for secretRef Secrets, by default.
    assert "--policies-from-cluster" in args and f"--namespace={NAMESPACE}" in args
    assert not any(a.startswith("--redis") for a in args)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/etc/sigward/tls"]]["secret"]["secretName"] == "webhook-tls"
    assert volumes[mounts["/etc/sigward/policies"]]["configMap"]["name"] == "rel-sigward-admission-policies"
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https", "scheme": "HTTPS"}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["serviceAccountName"] == "rel-sigward-admission"


def test_selectors_tie_the_deployment_service_and_budget_together(manifests: list[dict[str, Any]]) -> None:
    dep, svc = one(manifests, "Deployment"), one(manifests, "Service")
    pdb = one(manifests, "PodDisruptionBudget")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    for selector in (dep["spec"]["selector"]["matchLabels"], svc["spec"]["selector"],
                     pdb["spec"]["selector"]["matchLabels"]):
        assert selector and selector.items() <= pod_labels.items()
    assert pdb["spec"]["minAvailable"] == 1 < dep["spec"]["replicas"]
    (port,) = svc["spec"]["ports"]
    assert port["port"] == 443 and port["targetPort"] == "https"
    assert {"name": "https", "containerPort": 8443, "protocol": "TCP"} in dep["spec"]["template"]["spec"][
        "containers"][0]["ports"]


# --- the webhook configurations -------------------------------------------------------------------


@pytest.mark.parametrize("kind,path", [("ValidatingWebhookConfiguration", "/validations"),
                                       ("MutatingWebhookConfiguration", "/mutations")])
def test_webhooks_fail_closed_on_opted_in_namespaces_only(manifests: list[dict[str, Any]], ca_bundle: str,
                                                          kind: str, path: str) -> None:
    (hook,) = one(manifests, kind)["webhooks"]
    assert hook["failurePolicy"] == "Fail"
    assert hook["sideEffects"] == "None"
    assert hook["admissionReviewVersions"] == ["v1"]
    assert 1 <= hook["timeoutSeconds"] <= 30
    assert hook["clientConfig"]["service"] == {"name": "rel-sigward-admission", "namespace": NAMESPACE,
                                               "path": path, "port": 443}
    assert hook["clientConfig"]["caBundle"] == ca_bundle
    sel = hook["namespaceSelector"]
    assert sel["matchLabels"] == {"policy.sigstore.dev/include": "true"}
    assert {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [NAMESPACE]} in sel[
        "matchExpressions"]
    covered = {(g, r) for rule in hook["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert covered == WORKLOADS
    assert all(rule["operations"] == ["CREATE", "UPDATE"] for rule in hook["rules"])
    if kind == "MutatingWebhookConfiguration":
        assert hook["reinvocationPolicy"] == "IfNeeded"


def test_an_opt_out_selector_still_excludes_the_own_namespace(helm: Helm, base_args: list[str],
                                                                tmp_path: Path) -> None:
    values = tmp_path / "opt-out.yaml"
    # matchLabels: null removes the default opt-in label (Helm merges maps from -f files into the defaults).
    selector = {"matchLabels": None,
                "matchExpressions": [{"key": "policy.sigstore.dev/exclude", "operator": "DoesNotExist"}]}
    values.write_text(yaml.safe_dump({"webhook": {"namespaceSelector": selector}}))
    docs = render(helm, *base_args, "-f", str(values))
    (hook,) = one(docs, "ValidatingWebhookConfiguration")["webhooks"]
    assert hook["namespaceSelector"] == {"matchExpressions": [
        {"key": "policy.sigstore.dev/exclude", "operator": "DoesNotExist"},
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [NAMESPACE]}]}


# --- RBAC -----------------------------------------------------------------------------------------


def test_rbac_reads_policies_cluster_wide_and_secrets_in_its_namespace(
        manifests: list[dict[str, Any]]) -> None:
    cluster_rules = one(manifests, "ClusterRole")["rules"]
    assert {"apiGroups": ["policy.sigstore.dev"], "resources": ["clusterimagepolicies", "trustroots"],
            "verbs": ["get", "list", "watch"]} in cluster_rules
    for rule in cluster_rules:
        assert not set(rule["verbs"]) & {"create", "update", "patch", "delete", "*"}, rule
    role = one(manifests, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert any("secrets" in r["resources"] for r in role["rules"])
    for binding in (one(manifests, "ClusterRoleBinding"), one(manifests, "RoleBinding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "rel-sigward-admission",
                                        "namespace": NAMESPACE}]


# --- CRDs: policy-controller's schema, field for field --------------------------------------------


def _field_tree(schema: dict[str, Any], path: str = "") -> Iterator[str]:
    extra = " preserve-unknown" if schema.get("x-kubernetes-preserve-unknown-fields") else ""
    yield f"{path or '.'} {schema.get('type')}{extra}"
    for name, sub in (schema.get("properties") or {}).items():
        yield from _field_tree(sub, f"{path}.{name}" if path else name)
    if "items" in schema:
        yield from _field_tree(schema["items"], path + "[]")


def test_crds_have_policy_controllers_field_tree(manifests: list[dict[str, Any]]) -> None:
    expected = [line for line in FIELDS.read_text().splitlines() if line and not line.startswith("#")]
    ours: list[str] = []
    for crd in by_kind(manifests, "CustomResourceDefinition"):
        spec = crd["spec"]
        assert spec["group"] == "policy.sigstore.dev" and spec["scope"] == "Cluster"
        assert crd["metadata"]["name"] == f"{spec['names']['plural']}.policy.sigstore.dev"
        for version in spec["versions"]:
            ours += [f"{spec['names']['kind']} {version['name']} {line}"
                     for line in _field_tree(version["schema"]["openAPIV3Schema"])]
    assert sorted(ours) == sorted(expected)


def test_crd_versions_and_names(manifests: list[dict[str, Any]]) -> None:
    crds = {c["spec"]["names"]["kind"]: c for c in by_kind(manifests, "CustomResourceDefinition")}
    cip = crds["ClusterImagePolicy"]["spec"]
    assert [(v["name"], v["served"], v["storage"]) for v in cip["versions"]] == [
        ("v1alpha1", True, True), ("v1beta1", True, False)]
    assert cip["names"]["shortNames"] == ["cip"] and cip["names"]["categories"] == ["all", "sigstore"]
    assert cip["conversion"] == {"strategy": "None"}
    tr = crds["TrustRoot"]["spec"]
    assert [(v["name"], v["storage"]) for v in tr["versions"]] == [("v1alpha1", True)]
    assert all(c["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for c in crds.values())


def test_policies_from_files_only(helm: Helm, base_args: list[str]) -> None:
    docs = render(helm, *base_args, "--set", "policiesFromCluster=false")
    args = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--policies=/etc/sigward/policies" in args
    assert not any(a.startswith(("--policies-from-cluster", "--namespace")) for a in args)


def test_crds_can_be_left_to_an_existing_install(helm: Helm, base_args: list[str]) -> None:
    docs = render(helm, *base_args, "--set", "crds.install=false")
    assert not by_kind(docs, "CustomResourceDefinition")


# --- policies, trust roots, Redis -----------------------------------------------------------------


def test_policies_and_trustroots_become_files(helm: Helm, base_args: list[str], tmp_path: Path) -> None:
    cip = "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: p\n"
    values = tmp_path / "policies.yaml"
    values.write_text(yaml.safe_dump({"policies": {"seed.yaml": cip},
                                      "trustroots": {"private.json": '{"mediaType": "x"}'}}))
    docs = render(helm, *base_args, "-f", str(values))
    maps = {m["metadata"]["name"]: m for m in by_kind(docs, "ConfigMap")}
    assert maps["rel-sigward-admission-policies"]["data"] == {"seed.yaml": cip}
    assert maps["rel-sigward-admission-trustroots"]["data"] == {"private.json": '{"mediaType": "x"}'}
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "--trustroot=/etc/sigward/trustroots/private.json" in container["args"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"policies": {"../escape": cip}}))
    assert '"../escape" is not a file name' in render_error(helm, *base_args, "-f", str(bad))


def test_in_release_redis_is_deployed_by_digest_and_only_reachable_by_the_webhook(
        helm: Helm, base_args: list[str]) -> None:
    docs = render(helm, *base_args, "--set", "redis.deploy=true",
                  "--set", f"redis.image.digest={REDIS_DIGEST}")
    redis = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "rel-sigward-admission-redis"]
    assert len(redis) == 1
    assert redis[0]["spec"]["template"]["spec"]["containers"][0]["image"] == (
        f"docker.io/library/redis@{REDIS_DIGEST}")
    webhook = next(d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "rel-sigward-admission")
    args = webhook["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--redis=redis://rel-sigward-admission-redis:6379/0" in args
    policy = one(docs, "NetworkPolicy")
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"][0]["podSelector"]["matchLabels"] == webhook["spec"]["selector"]["matchLabels"]
    assert "redis.image.digest is required" in render_error(helm, *base_args, "--set", "redis.deploy=true")


def test_external_redis_url_from_a_secret(helm: Helm, base_args: list[str]) -> None:
    docs = render(helm, *base_args, "--set", "redis.existingSecret=cache", "--set", "server.cacheTTL=10m")
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "--redis=$(SIGWARD_REDIS_URL)" in container["args"] and "--cache-ttl=10m" in container["args"]
    assert {"name": "SIGWARD_REDIS_URL", "valueFrom": {"secretKeyRef": {"name": "cache", "key": "url"}}} in (
        container["env"])


def test_tls_secret_from_pem_values(helm: Helm, ca_bundle: str) -> None:
    docs = render(helm, *KUBE_VERSION, "--namespace", NAMESPACE, "--set", f"image.digest={DIGEST}",
                  "--set", f"tls.caBundle={ca_bundle}", "--set", "tls.cert=CERT", "--set", "tls.key=KEY")
    secret = one(docs, "Secret")
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["data"] == {"tls.crt": base64.b64encode(b"CERT").decode(),
                              "tls.key": base64.b64encode(b"KEY").decode()}


# --- refusals: one clear message each -------------------------------------------------------------


@pytest.mark.parametrize("overrides,message", [
    (["image.digest="], "image.digest is required (sha256:<64 hex>)"),
    (["image.digest=latest"], 'image.digest must be sha256:<64 lowercase hex>, not "latest"'),
    (["image.digest=sha256:abc"], "image.digest must be sha256:<64 lowercase hex>"),
    (["image.repository=registry.example.com/sigward:v1"], "must be a repository without tag or digest"),
    (["replicaCount=1"], "replicaCount must be at least 2, not 1"),
    (["podDisruptionBudget.minAvailable=2"], "podDisruptionBudget.minAvailable must be below replicaCount"),
    (["tls.caBundle="], "tls.caBundle is required"),
    (["tls.caBundle=bm90IGEgY2VydA=="], "tls.caBundle must be base64 of a PEM CA certificate"),
    (["tls.existingSecret="], "TLS: set tls.existingSecret"),
    (["webhook.timeoutSeconds=31"], "webhook.timeoutSeconds must be 1-30"),
    (["redis.deploy=true", f"redis.image.digest={REDIS_DIGEST}", "redis.url=redis://x:6379"],
     "redis: set either redis.deploy or an external"),
])
def test_bad_values_are_refused(helm: Helm, base_args: list[str], overrides: list[str], message: str) -> None:
    args = list(base_args)
    for o in overrides:
        args += ["--set", o]
    assert message in render_error(helm, *args)


# --- the chart's flags are the server's ---------------------------------------------------------------


def test_rendered_args_parse_with_the_real_admission_serve_parser(helm: Helm, base_args: list[str]) -> None:
    """Every flag the chart passes is one `sigward admission serve` accepts, with the values it renders."""
    from sigward.cli.main import build_parser

    docs = render(helm, *base_args, "--set", "redis.url=redis://cache:6379/0", "--set", "server.cacheTTL=10m",
                  "--set", "trustroots.private\\.json={}", "--set", "server.extraArgs={--timeout=20s}")
    (container,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    args = build_parser("admission").parse_args(["admission", "serve", *container["args"]])
    assert args.listen == ("0.0.0.0", 8443)
    assert (args.tls_cert, args.tls_key) == ("/etc/sigward/tls/tls.crt", "/etc/sigward/tls/tls.key")
    assert [str(p) for p in args.policies] == ["/etc/sigward/policies"]
    assert [str(p) for p in args.trustroot] == ["/etc/sigward/trustroots/private.json"]
    assert args.redis == "redis://cache:6379/0"
    assert args.cache_ttl == 600.0 and args.timeout == 20.0


# --- policy-controller's own test policies are stored unchanged ---------------------------------------------

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "policy-controller"
PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {"string": str, "boolean": bool, "integer": int,
                                                    "object": dict, "array": list}


def _pruned_or_mistyped(value: Any, schema: dict[str, Any], path: str) -> Iterator[str]:
    """Paths the API server would drop (unknown fields) or refuse (wrong type) under SCHEMA."""
    expected = PYTHON_TYPES.get(schema.get("type", ""))
    if expected is not None and not isinstance(value, expected):
        yield f"{path}: {type(value).__name__}, schema says {schema['type']}"
        return
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, sub in value.items():
            if key not in props:
                yield f"{path}.{key}: not in the schema (would be pruned)"
            else:
                yield from _pruned_or_mistyped(sub, props[key], f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            yield from _pruned_or_mistyped(item, schema["items"], f"{path}[{i}]")


def test_policy_controllers_test_policies_are_stored_unchanged(manifests: list[dict[str, Any]]) -> None:
    schemas = {(c["spec"]["names"]["kind"], f"{c['spec']['group']}/{v['name']}"):
               v["schema"]["openAPIV3Schema"]
               for c in by_kind(manifests, "CustomResourceDefinition") for v in c["spec"]["versions"]}
    files = sorted(VECTORS.glob("policy-controller/valid/*.yaml")) + sorted(VECTORS.glob(
        "policy-controller/e2e/*.yaml")) + sorted(VECTORS.glob("trustroot/*/*.yaml"))
    checked: dict[str, int] = {}
    problems: list[str] = []
    for f in files:
        for doc in yaml.safe_load_all(f.read_text()):
            if not isinstance(doc, dict) or (doc.get("kind"), doc.get("apiVersion")) not in schemas:
                continue
            schema = schemas[(doc["kind"], doc["apiVersion"])]
            body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
            problems += [f"{f.relative_to(VECTORS)}: {p}" for p in _pruned_or_mistyped(body, schema, "")]
            checked[doc["kind"]] = checked.get(doc["kind"], 0) + 1
    assert not problems, "\n".join(problems)
    assert checked.get("ClusterImagePolicy", 0) >= 40 and checked.get("TrustRoot", 0) >= 4, checked
