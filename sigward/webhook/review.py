"""admission.k8s.io/v1 AdmissionReview: what the API server sends, which images a workload runs, and the
responses policy-controller gives — pure functions, no I/O, so every rule here is unit-testable.

The kinds, subresources, skip rules (DELETE, ``deletionTimestamp``, status updates, scale-down) and field
paths follow policy-controller's ``cmd/webhook/main.go`` and ``pkg/webhook/validator.go`` (reference §2.2,
§2.4), so a denial names the same ``spec.template.spec.containers[0].image`` a policy-controller user knows.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

REVIEW_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")


class ReviewError(ValueError):
    """The body is not an AdmissionReview with a request: the server answers HTTP 400."""


@dataclass(frozen=True)
class Review:
    """The parts of an AdmissionReview request the webhook acts on."""

    api_version: str
    uid: str
    request: Mapping[str, Any]

    @property
    def operation(self) -> str:
        return str(self.request.get("operation") or "")

    @property
    def kind(self) -> str:
        kind = self.request.get("kind")
        return str(kind.get("kind") or "") if isinstance(kind, Mapping) else ""

    @property
    def group(self) -> str:
        kind = self.request.get("kind")
        return str(kind.get("group") or "") if isinstance(kind, Mapping) else ""

    @property
    def object(self) -> Mapping[str, Any]:
        obj = self.request.get("object")
        return obj if isinstance(obj, Mapping) else {}

    @property
    def old_object(self) -> Mapping[str, Any]:
        obj = self.request.get("oldObject")
        return obj if isinstance(obj, Mapping) else {}

    @property
    def namespace(self) -> str:
        meta = self.object.get("metadata")
        ns = meta.get("namespace") if isinstance(meta, Mapping) else None
        # k8s <= 1.24 could send objects without their namespace: the request carries it too.
        return str(ns or self.request.get("namespace") or "")


def parse_review(body: bytes) -> Review:
    """The request of an AdmissionReview body, or ReviewError (→ HTTP 400) for anything else."""
    from sigward import safejson

    try:
        doc = safejson.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ReviewError(f"decoding request failed: body is not JSON: {e}")
    if not isinstance(doc, dict) or doc.get("kind") != "AdmissionReview":
        raise ReviewError("decoding request failed: not an AdmissionReview")
    version = doc.get("apiVersion")
    if version not in REVIEW_VERSIONS:
        raise ReviewError(f"decoding request failed: unsupported apiVersion {version!r}")
    request = doc.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("uid"), str) or not request["uid"]:
        raise ReviewError("decoding request failed: AdmissionReview has no request with a uid")
    return Review(api_version=str(version), uid=request["uid"], request=request)


# --- which images, at which paths -----------------------------------------------------------------------

# (group, kind) → where the pod spec sits in the object; PodScalable kinds get the scale-down bypass.
POD_SPEC_AT: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): ("spec",),
    ("apps", "Deployment"): ("spec", "template", "spec"),
    ("apps", "ReplicaSet"): ("spec", "template", "spec"),
    ("apps", "StatefulSet"): ("spec", "template", "spec"),
    ("apps", "DaemonSet"): ("spec", "template", "spec"),
    ("batch", "Job"): ("spec", "template", "spec"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}
POD_SCALABLE = {("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet")}
CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")


@dataclass(frozen=True)
class ImageSite:
    """One image reference in the object: ``field`` is policy-controller's error path
    (``spec.containers[0].image``), ``pointer`` the JSON Pointer a patch replaces."""

    image: str
    field: str
    pointer: str


def skip_reason(review: Review) -> str | None:
    """Why this request is admitted without looking at images, or None when it must be checked."""
    key = (review.group, review.kind)
    if key not in POD_SPEC_AT:
        return f"{review.kind or 'object'} is not a workload kind"
    if review.operation not in ("CREATE", "UPDATE"):
        return f"operation {review.operation or '(none)'} is not checked"
    sub = str(review.request.get("subResource") or "")
    if sub and not (review.kind == "Pod" and sub == "ephemeralcontainers"):
        return f"subresource {sub} is not checked"
    meta = review.object.get("metadata")
    if isinstance(meta, Mapping) and meta.get("deletionTimestamp"):
        return "object is being deleted"
    if review.operation == "UPDATE" and key in POD_SCALABLE and _replicas(review.object) < _replicas(
            review.old_object):
        return "scale-down"
    return None


def _replicas(obj: Mapping[str, Any]) -> int:
    spec = obj.get("spec")
    value = spec.get("replicas", 1) if isinstance(spec, Mapping) else 1
    return value if isinstance(value, int) else 1


def image_sites(review: Review) -> list[ImageSite]:
    """Every image of the workload's pod spec: init, regular and ephemeral containers, image volumes."""
    path = POD_SPEC_AT.get((review.group, review.kind))
    if path is None:
        return []
    spec: Any = review.object
    for part in path:
        spec = spec.get(part) if isinstance(spec, Mapping) else None
    if not isinstance(spec, Mapping):
        return []
    dotted, pointer = ".".join(path), "/" + "/".join(path)
    sites: list[ImageSite] = []
    for name in CONTAINER_FIELDS:
        items = spec.get(name)
        for i, c in enumerate(items if isinstance(items, list) else []):
            if isinstance(c, Mapping) and isinstance(c.get("image"), str):
                sites.append(ImageSite(c["image"], f"{dotted}.{name}[{i}].image",
                                       f"{pointer}/{name}/{i}/image"))
    volumes = spec.get("volumes")
    for i, v in enumerate(volumes if isinstance(volumes, list) else []):
        img = v.get("image") if isinstance(v, Mapping) else None
        if isinstance(img, Mapping) and isinstance(img.get("reference"), str):
            sites.append(ImageSite(img["reference"], f"{dotted}.volumes[{i}].image",
                                   f"{pointer}/volumes/{i}/image/reference"))
    return sites


def pull_secret_names(review: Review) -> list[str]:
    """The pod spec's ``imagePullSecrets`` names, in order (the kubelet tries them in this order)."""
    path = POD_SPEC_AT.get((review.group, review.kind), ())
    spec: Any = review.object
    for part in path:
        spec = spec.get(part) if isinstance(spec, Mapping) else None
    refs = spec.get("imagePullSecrets") if isinstance(spec, Mapping) else None
    return [str(r["name"]) for r in (refs if isinstance(refs, list) else [])
            if isinstance(r, Mapping) and r.get("name")]


# --- responses ------------------------------------------------------------------------------------------


def _envelope(review: Review, response: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": review.api_version, "kind": "AdmissionReview", "response": {"uid": review.uid,
                                                                                     **response}}


def allow(review: Review, warnings: Sequence[str] = ()) -> dict[str, Any]:
    response: dict[str, Any] = {"allowed": True}
    if warnings:
        response["warnings"] = list(warnings)
    return _envelope(review, response)


def deny(review: Review, message: str, warnings: Sequence[str] = ()) -> dict[str, Any]:
    """knative's denial: Status ``Failure``/``BadRequest``/400 with the message as given."""
    response: dict[str, Any] = {"allowed": False, "status": {
        "metadata": {}, "status": "Failure", "message": message, "reason": "BadRequest", "code": 400}}
    if warnings:
        response["warnings"] = list(warnings)
    return _envelope(review, response)


def patch(review: Review, ops: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Allowed, with a JSONPatch when there is something to change (none: a plain allow)."""
    if not ops:
        return allow(review)
    data = json.dumps(list(ops), separators=(",", ":")).encode()
    return _envelope(review, {"allowed": True, "patchType": "JSONPatch",
                              "patch": base64.b64encode(data).decode()})
