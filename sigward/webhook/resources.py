"""``POST /validating``: policy-controller's validating webhook for its own resources.

policy-controller refuses an invalid ClusterImagePolicy or TrustRoot at ``kubectl apply`` through
``validating.clusterimagepolicy.sigstore.dev`` (knative's resource validation at ``/validating``, unknown
fields disallowed). sigward serves the same path with the same rules (``sigward.cip.validate``, defaults
applied first as ``/defaulting`` would) and the same answer: denied with ``validation failed: <knative
FieldError text>``, admitted with the deprecation warnings. With ``--policies-from-cluster`` a
``secretRef.namespace`` is checked against the webhook's own ``--namespace`` (the controller namespace),
as the cluster source checks it. Pure functions, no I/O.
"""

from __future__ import annotations

from typing import Any

from sigward.webhook.review import Review, allow, deny

GROUP = "policy.sigstore.dev"
KINDS = {("ClusterImagePolicy", "v1alpha1"), ("ClusterImagePolicy", "v1beta1"), ("TrustRoot", "v1alpha1")}


def validate_resource(review: Review, controller_namespace: str | None = None) -> dict[str, Any]:
    """The AdmissionReview response for a CIP or TrustRoot CREATE/UPDATE (anything else: allowed when
    there is nothing to check, as knative skips DELETE and CONNECT; an unhandled kind is denied)."""
    from sigward.cip.fielderror import render
    from sigward.cip.validate import errors_only, validate, warnings_only

    if review.operation not in ("CREATE", "UPDATE"):
        return allow(review)
    kind = review.request.get("kind")
    version = str(kind.get("version") or "") if isinstance(kind, dict) else ""
    if review.group != GROUP or (review.kind, version) not in KINDS:
        return deny(review, f"validation failed: unhandled kind: {review.group}/{version}, "
                            f"Kind={review.kind}")
    if review.request.get("subResource"):  # status updates are the controller's, not validated
        return allow(review)
    obj = dict(review.object)
    ref_errors: list[Any] = []
    if review.kind == "ClusterImagePolicy" and controller_namespace:
        from sigward.webhook.cluster import secret_refs_here

        obj, ref_errors = secret_refs_here(obj, controller_namespace)
    found = validate(obj)
    errors = [*ref_errors, *errors_only(found)]
    warnings = [str(w) for w in warnings_only(found)]
    if errors:
        return deny(review, "validation failed: " + render(errors), warnings)
    return allow(review, warnings)
