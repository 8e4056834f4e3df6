"""The chart against a real kube-apiserver (tests/fixtures/kube.py: etcd + kube-apiserver + kubectl from the
Go module proxy): the CRDs are established and policy-controller's own test policies are stored and read back
unchanged (nothing pruned, v1beta1 served as v1alpha1), and every other manifest of the release passes the
API server's validation (server-side dry run: the webhook configurations are not registered, so they cannot
deny the pods of other tests sharing the cluster).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.conftest import NAMESPACE, Helm, render

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "policy-controller"

CRDS = ("clusterimagepolicies.policy.sigstore.dev", "trustroots.policy.sigstore.dev")


def _vector_policies() -> list[dict[str, Any]]:
    docs = []
    for f in sorted(VECTORS.glob("policy-controller/valid/*.yaml")):
        docs += [d for d in yaml.safe_load_all(f.read_text())
                 if isinstance(d, dict) and d.get("kind") == "ClusterImagePolicy"]
    return docs


def test_the_release_applies_to_a_real_api_server(kube_cluster: Any, helm: Helm,
                                                  base_args: list[str]) -> None:
    docs = render(helm, *base_args)
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    rest = [d for d in docs if d["kind"] != "CustomResourceDefinition"]
    kube_cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    kube_cluster.apply({"apiVersion": "v1", "kind": "List", "items": crds})
    kube_cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                         *[f"crd/{name}" for name in CRDS])
    r = kube_cluster.apply({"apiVersion": "v1", "kind": "List", "items": rest}, "--dry-run=server")
    for d in rest:
        assert d["metadata"]["name"] in r.stdout, f"{d['kind']} {d['metadata']['name']}:\n{r.stdout}"

    policies = _vector_policies()
    assert len(policies) >= 10
    names = sorted({p["metadata"]["name"] for p in policies})
    try:
        for policy in policies:  # one at a time (several vectors share a name), each from scratch
            name = policy["metadata"]["name"]
            kube_cluster.kubectl("delete", "clusterimagepolicy", name, "--ignore-not-found")
            kube_cluster.kubectl("create", "-f", "-", input=json.dumps(policy))
            version = policy["apiVersion"].split("/")[1]
            stored = kube_cluster.get_json(f"clusterimagepolicies.{version}.policy.sigstore.dev",
                                           policy["metadata"]["name"])
            assert stored["spec"] == json.loads(json.dumps(policy["spec"])), policy["metadata"]["name"]
            if version == "v1beta1":  # the same object, served as the storage version
                alpha = kube_cluster.get_json("clusterimagepolicies.v1alpha1.policy.sigstore.dev",
                                              policy["metadata"]["name"])
                assert alpha["apiVersion"] == "policy.sigstore.dev/v1alpha1"
                assert alpha["spec"] == stored["spec"]
    finally:
        kube_cluster.kubectl("delete", "clusterimagepolicies", *names, "--ignore-not-found", check=False)
