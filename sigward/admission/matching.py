"""Which ClusterImagePolicies apply to an image in a resource: ``images[].glob`` and ``match[]``.

As policy-controller's ``GetMatchingPolicies``: a policy with ``match`` entries applies only when one
entry names the resource's group, version (or ``*``) and resource — the kind pluralised naively
(``UnsafeGuessKindToResource``: ``Deployment`` → ``deployments``, ``…s`` → ``…ses``, ``…y`` → ``…ies``) —
and its label selector (``matchLabels``, ``matchExpressions``) selects the object's own
``metadata.labels``; then one of its globs must match the image's name. With no resource, a policy with
``match`` entries never applies (policy-tester without ``--resource``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sigward.cip.model import ClusterImagePolicy, LabelSelector


def guess_resource(kind: str) -> str:
    if not kind:
        return ""
    singular = kind.lower()
    if singular.endswith("s"):
        return singular + "es"
    if singular.endswith("y"):
        return singular[:-1] + "ies"
    return singular + "s"


def group_version(api_version: str) -> tuple[str, str]:
    if "/" in api_version:
        g, v = api_version.split("/", 1)
        return g, v
    return "", api_version


def selector_matches(sel: LabelSelector, labels: Mapping[str, str]) -> bool:
    for k, v in sel.match_labels:
        if labels.get(k) != v:
            return False
    for req in sel.match_expressions:
        op = req.operator
        if op == "In" and labels.get(req.key) not in req.values:
            return False
        if op == "NotIn" and req.key in labels and labels[req.key] in req.values:
            return False
        if op == "Exists" and req.key not in labels:
            return False
        if op == "DoesNotExist" and req.key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False  # policy-controller: "policy with wrong match label selector"
    return True


def resource_matches(cip: ClusterImagePolicy, resource: Mapping[str, Any] | None) -> bool:
    if not cip.match:
        return True
    res = resource or {}
    group, version = group_version(str(res.get("apiVersion") or ""))
    plural = guess_resource(str(res.get("kind") or ""))
    meta = res.get("metadata") or {}
    raw = (meta.get("labels") or {}) if isinstance(meta, Mapping) else {}
    labels = {str(k): str(v) for k, v in raw.items()}
    for m in cip.match:
        if m.resource != plural or m.group != group:
            continue
        if m.version not in (version, "*"):
            continue
        if m.selector is not None and not selector_matches(m.selector, labels):
            continue
        return True
    return False


def image_matches(cip: ClusterImagePolicy, name: str) -> bool:
    """One of the policy's globs matches ``name`` (go-containerregistry's ``ref.Name()``); an invalid
    glob matches nothing (validation refuses it first)."""
    from sigward.cip.glob import GlobError, glob_matches

    for g in cip.globs:
        try:
            if g and glob_matches(g, name):
                return True
        except GlobError:
            continue
    return False
