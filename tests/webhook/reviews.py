"""AdmissionReview request bodies as the API server sends them (admission.k8s.io/v1), for the tests."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

WORKLOADS = {
    "Pod": ("", "v1", "pods"),
    "Deployment": ("apps", "v1", "deployments"),
    "ReplicaSet": ("apps", "v1", "replicasets"),
    "StatefulSet": ("apps", "v1", "statefulsets"),
    "DaemonSet": ("apps", "v1", "daemonsets"),
    "Job": ("batch", "v1", "jobs"),
    "CronJob": ("batch", "v1", "cronjobs"),
}


def pod_spec(*images: str, init: tuple[str, ...] = (), ephemeral: tuple[str, ...] = (),
             volumes: tuple[str, ...] = (), pull_secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": img} for i, img in enumerate(images)]}
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": img} for i, img in enumerate(init)]
    if ephemeral:
        spec["ephemeralContainers"] = [{"name": f"e{i}", "image": img} for i, img in enumerate(ephemeral)]
    if volumes:
        spec["volumes"] = [{"name": f"v{i}", "image": {"reference": img}} for i, img in enumerate(volumes)]
    if pull_secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in pull_secrets]
    return spec


def workload(kind: str, spec: dict[str, Any], *, name: str = "w", namespace: str = "default",
             replicas: int | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    group, version, _ = WORKLOADS[kind]
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels or {"app": name}}
    obj: dict[str, Any] = {"apiVersion": f"{group}/{version}" if group else version, "kind": kind,
                           "metadata": meta}
    template = {"metadata": {"labels": labels or {"app": name}}, "spec": copy.deepcopy(spec)}
    if kind == "Pod":
        obj["spec"] = copy.deepcopy(spec)
    elif kind == "CronJob":
        obj["spec"] = {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}
    else:
        obj["spec"] = {"template": template}
        if replicas is not None:
            obj["spec"]["replicas"] = replicas
    return obj


def review(obj: dict[str, Any], *, operation: str = "CREATE", old: dict[str, Any] | None = None,
           dry_run: bool = False, sub_resource: str | None = None, uid: str | None = None) -> dict[str, Any]:
    kind = obj["kind"]
    group, version, resource = WORKLOADS[kind]
    req: dict[str, Any] = {
        "uid": uid or str(uuid.uuid4()),
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": resource},
        "requestKind": {"group": group, "version": version, "kind": kind},
        "requestResource": {"group": group, "version": version, "resource": resource},
        "name": obj["metadata"]["name"], "namespace": obj["metadata"].get("namespace", "default"),
        "operation": operation,
        "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
        "object": obj, "oldObject": old, "dryRun": dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": f"{operation.title()}Options"},
    }
    if sub_resource:
        req["subResource"] = sub_resource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}


def body(obj: dict[str, Any], **kw: Any) -> bytes:
    return json.dumps(review(obj, **kw)).encode()
