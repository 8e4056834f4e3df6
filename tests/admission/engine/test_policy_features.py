"""The rest of a ClusterImagePolicy, each against real images: ``match[]`` with label selectors,
``includeSpec``/``includeObjectMeta``/``includeTypeMeta``/``fetchConfigFile`` in the CIP-level policy,
``configMapRef`` policies, ``source`` (``oci``, ``tagPrefix``), ``signatureFormat``, ``hashAlgorithm``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from sigward.oci.reference import parse_reference
from sigward.oci.store import StoreOptions, open_store
from tests.admission.engine.conftest import KeyPair, Run, cip
from tests.admission.engine.test_key_static import HTTP, key_cip, sign
from tests.fixtures.registries import RegistryServer

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "web", "namespace": "shop", "labels": {"team": "a"}},
              "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "image": "x"}]}}}}
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"team": "a"}},
       "spec": {"containers": [{"name": "web", "image": "x"}]}}

RESOURCE_REGO = """package sigstore
default isCompliant = false
isCompliant {
  input.spec.replicas == 2
  input.metadata.labels.team == "a"
  input.typemeta.kind == "Deployment"
  some platform
  input.config[platform].os == "linux"
}
"""


def test_match_with_label_selectors(run: Callable[..., Run], write: Callable[..., str],
                                    image: Callable[..., str], keys: KeyPair) -> None:
    img = image()
    sign(run, keys, img)
    policy = key_cip("deployments-of-team-a", keys, match=[
        {"group": "apps", "version": "*", "resource": "deployments",
         "selector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "b"]}]}}])
    path = write(policy)
    r = run("policy", "test", "--policy", path, "--resource", write(DEPLOYMENT), HTTP, img)
    assert r.code == 0, r.out
    # A Pod is not a deployment; other labels do not select; no resource matches nothing.
    other_team = {**DEPLOYMENT, "metadata": {"name": "web", "labels": {"team": "c"}}}
    for resource in (POD, other_team, None):
        extra = ["--resource", write(resource)] if resource else []
        r = run("policy", "test", "--policy", path, *extra, HTTP, "-o", "json", img)
        assert r.code == 1 and r.json()["errors"] == ["no matching policies"], resource


def test_include_and_fetch_config_file(run: Callable[..., Run], write: Callable[..., str],
                                       image: Callable[..., str], keys: KeyPair) -> None:
    img = image()
    sign(run, keys, img)
    policy = key_cip("resource-aware", keys, policy={
        "type": "rego", "data": RESOURCE_REGO, "includeSpec": True, "includeObjectMeta": True,
        "includeTypeMeta": True, "fetchConfigFile": True})
    path = write(policy)
    r = run("policy", "test", "--policy", path, "--resource", write(DEPLOYMENT), HTTP, img)
    assert r.code == 0, r.out
    one_replica = {**DEPLOYMENT, "spec": {"replicas": 1}}
    r = run("policy", "test", "--policy", path, "--resource", write(one_replica), HTTP, "-o", "json", img)
    assert r.code == 1
    assert "failed evaluating rego policy for type ClusterImagePolicy" in r.json()["errors"][-1]


def test_config_map_ref_policies(run: Callable[..., Run], write: Callable[..., str],
                                 layout: Callable[..., str], keys: KeyPair) -> None:
    img = layout()
    sign(run, keys, img)
    policy = key_cip("cm", keys, glob="oci:**", policy={
        "type": "rego", "configMapRef": {"name": "policies", "namespace": "cosign-system", "key": "two"}})
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "policies", "namespace": "cosign-system"},
          "data": {"two": "package sigstore\nisCompliant { count(input.authorityMatches) == 2 }\n",
                   "one": "package sigstore\nisCompliant { count(input.authorityMatches) == 1 }\n"}}
    r = run("policy", "test", "--policy", write(policy, cm), "-o", "json", img)
    assert r.code == 1 and "policy is not compliant" in r.json()["errors"][-1]
    policy["spec"]["policy"]["configMapRef"]["key"] = "one"
    r = run("policy", "test", "--policy", write(policy, cm), img)
    assert r.code == 0, r.out
    # Without the ConfigMap: a clear not-yet error, never a pass.
    r = run("policy", "test", "--policy", write(policy), "-o", "json", img)
    assert r.code == 1 and r.json()["errors"][-1].endswith(
        "configMapRef cosign-system/policies: not supported yet without the ConfigMap "
        "(give its manifest with --policy)")


def test_signature_format_narrows_discovery(run: Callable[..., Run], write: Callable[..., str],
                                            image: Callable[..., str], keys: KeyPair) -> None:
    img = image()
    sign(run, keys, img)  # a cosign v3 bundle referrer only
    for fmt, admitted in (("", True), ("bundle", True), ("legacy", False)):
        policy = cip("p", {"images": [{"glob": "**"}],
                           "authorities": [{"key": {"data": keys.pem}, "signatureFormat": fmt}]})
        r = run("policy", "test", "--policy", write(policy), HTTP, "-o", "json", img)
        assert (r.code == 0) is admitted, (fmt, r.out)
    assert r.json()["errors"] == [f"signature key validation failed for authority authority-0 for {img}: "
                                  "no signatures found"]


def test_hash_algorithm(run: Callable[..., Run], write: Callable[..., str], layout: Callable[..., str],
                        keys: KeyPair) -> None:
    img = layout()
    sign(run, keys, img, "--new-bundle-format=false")
    for alg, admitted in (("SHA256", True), ("sha512", False)):
        policy = cip("p", {"images": [{"glob": "oci:**"}],
                           "authorities": [{"key": {"data": keys.pem, "hashAlgorithm": alg}}]})
        r = run("policy", "test", "--policy", write(policy), img)
        assert (r.code == 0) is admitted, (alg, r.out)


def test_source_oci_and_tag_prefix(run: Callable[..., Run], write: Callable[..., str],
                                   image: Callable[..., str], keys: KeyPair, registry: RegistryServer,
                                   unique_repo: str, monkeypatch: pytest.MonkeyPatch) -> None:
    img = image()
    sigs = f"{registry.host}/{unique_repo}-signatures"
    monkeypatch.setenv("COSIGN_REPOSITORY", sigs)
    sign(run, keys, img, "--new-bundle-format=false")
    monkeypatch.delenv("COSIGN_REPOSITORY")
    here = write(key_cip("p", keys))
    r = run("policy", "test", "--policy", here, HTTP, img)
    assert r.code == 1  # the signatures are not beside the image
    there = key_cip("p", keys)
    there["spec"]["authorities"][0]["source"] = [{"oci": sigs}]
    r = run("policy", "test", "--policy", write(there), HTTP, img)
    assert r.code == 0, r.out
    # tagPrefix: the .sig image under a prefixed tag (cosign's WithPrefix).
    digest = img.split("@")[1]
    tag = f"sha256-{digest.split(':')[1]}.sig"
    with open_store(parse_reference(f"{sigs}:{tag}"), StoreOptions(allow_http_registry=True)) as store:
        store.put_manifest(store.get_manifest(tag), "release-" + tag)
    for prefix, admitted in (("release-", True), ("nightly-", False)):
        prefixed: dict[str, Any] = yaml.safe_load(yaml.safe_dump(there))
        prefixed["spec"]["authorities"][0]["source"][0]["tagPrefix"] = prefix
        r = run("policy", "test", "--policy", write(prefixed), HTTP, img)
        assert (r.code == 0) is admitted, (prefix, r.out)


def test_signature_pull_secrets(run: Callable[..., Run], write: Callable[..., str],
                                image: Callable[..., str], keys: KeyPair, tls_registry: RegistryServer,
                                unique_repo: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Signatures in a registry that needs credentials (TLS + basic auth), the image in another: the
    workload namespace's pull secret is used for the signature pulls."""
    import base64
    import json

    assert tls_registry.ca_file is not None and tls_registry.username and tls_registry.password
    img = image()
    sigs = f"{tls_registry.host}/{unique_repo}-sigs"
    creds = ["--registry-username", tls_registry.username, "--registry-password", tls_registry.password,
             "--registry-cacert", str(tls_registry.ca_file)]
    monkeypatch.setenv("COSIGN_REPOSITORY", sigs)
    sign(run, keys, img, "--new-bundle-format=false", *creds)
    monkeypatch.delenv("COSIGN_REPOSITORY")
    auth = base64.b64encode(f"{tls_registry.username}:{tls_registry.password}".encode()).decode()
    dockerconfig = json.dumps({"auths": {tls_registry.host: {"auth": auth}}})
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
              "metadata": {"name": "signature-pull", "namespace": "shop"},
              "data": {".dockerconfigjson": base64.b64encode(dockerconfig.encode()).decode()}}
    policy = key_cip("pulls", keys)
    policy["spec"]["authorities"][0]["source"] = [
        {"oci": sigs, "signaturePullSecrets": [{"name": "signature-pull"}]}]
    common = ["--policy", write(policy), "--registry-cacert", str(tls_registry.ca_file), HTTP, "-o", "json"]
    r = run("policy", "test", *common, "--secret", write(secret), "--resource", write(DEPLOYMENT), img)
    assert r.code == 0, r.out
    # Without the Secret the authority cannot even be evaluated; with it in another namespace, not found.
    r = run("policy", "test", *common, "--resource", write(DEPLOYMENT), img)
    assert r.code == 1 and 'signaturePullSecrets: secret "signature-pull" not found' in r.json()["errors"][0]
    elsewhere = {**secret, "metadata": {"name": "signature-pull", "namespace": "other"}}
    r = run("policy", "test", *common, "--secret", write(elsewhere), "--resource", write(DEPLOYMENT), img)
    assert r.code == 1


def test_remote_policy_over_https(run: Callable[..., Run], write: Callable[..., str],
                                  layout: Callable[..., str], keys: KeyPair, registry_ca: Any,
                                  tmp_path: Any) -> None:
    """``policy.remote``: fetched over HTTPS (a loopback server with the test CA) and checked against its
    sha256sum; a wrong sum is a denial naming it."""
    import hashlib
    from http.server import BaseHTTPRequestHandler

    from tests.fixtures.loopback import serve
    from tests.fixtures.pki import make_server_cert

    body = b"package sigstore\nisCompliant { count(input.authorityMatches) == 1 }\n"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = serve(Handler, "remote-policy", tls=make_server_cert(tmp_path, registry_ca))
    try:
        url = f"https://127.0.0.1:{httpd.server_address[1]}/policies/one.rego"
        img = layout()
        sign(run, keys, img)
        for sha, admitted in ((hashlib.sha256(body).hexdigest(), True), ("0" * 64, False)):
            policy = key_cip("remote", keys, glob="oci:**",
                             policy={"type": "rego", "remote": {"url": url, "sha256sum": sha}})
            r = run("policy", "test", "--policy", write(policy), "--registry-cacert",
                    str(registry_ca.cert_file), "-o", "json", img)
            assert (r.code == 0) is admitted, r.out
        assert r.json()["errors"][-1] == f"failed to check sha256sum from policy remote {url}"
    finally:
        httpd.shutdown()
        httpd.server_close()
