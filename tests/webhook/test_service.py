"""The admission decisions (sigward/webhook/service.py, review.py, messages.py) over AdmissionReview bodies,
with the Engine API test double (fakeengine.py): paths per kind, skip rules, policy-controller's messages,
warn mode, no-match, digest requirement, mutation patches, caching, deadline and overload. The same
behaviour against the real engine, registry and HTTPS server is in test_real_server.py."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from sigward.webhook.cache import MemoryCache, VerdictCache
from sigward.webhook.metrics import Metrics
from sigward.webhook.review import ReviewError, parse_review
from sigward.webhook.service import AdmissionService, Loaded
from tests.webhook.fakeengine import FakeEngine, FakePolicy
from tests.webhook.reviews import body, pod_spec, workload

GOOD = "sha256:" + "a" * 64
BAD = "sha256:" + "b" * 64
IMG = f"registry.local/team/app:v1@{GOOD}"
BAD_IMG = f"registry.local/team/app:v1@{BAD}"


def service(engine: FakeEngine, **kw: Any) -> AdmissionService:
    metrics = Metrics()
    svc = AdmissionService(VerdictCache(MemoryCache(600)), metrics, **kw)
    svc.install(Loaded(engine=engine, identity="id-1", policy_count=len(engine.policies)))
    return svc


def validate(svc: AdmissionService, obj: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return svc.validate(parse_review(body(obj, **kw)))["response"]


def engine(**kw: Any) -> FakeEngine:
    return FakeEngine([FakePolicy("team-policy", "registry.local/team/")], good={GOOD}, **kw)


def test_not_an_admission_review_is_rejected() -> None:
    for bad in (b"not json", b"[]", b'{"kind":"Pod"}', b'{"kind":"AdmissionReview","apiVersion":"v1"}',
                b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{}}'):
        with pytest.raises(ReviewError):
            parse_review(bad)


@pytest.mark.parametrize(("kind", "prefix"), [
    ("Pod", "spec"), ("Deployment", "spec.template.spec"), ("ReplicaSet", "spec.template.spec"),
    ("StatefulSet", "spec.template.spec"), ("DaemonSet", "spec.template.spec"), ("Job", "spec.template.spec"),
    ("CronJob", "spec.jobTemplate.spec.template.spec")])
def test_denial_names_policy_and_field_path_per_kind(kind: str, prefix: str) -> None:
    svc = service(engine())
    r = validate(svc, workload(kind, pod_spec(IMG, BAD_IMG)))
    assert r["allowed"] is False and r["status"]["code"] == 400 and r["status"]["reason"] == "BadRequest"
    assert r["status"]["message"] == (
        f"validation failed: failed policy: team-policy: {prefix}.containers[1].image\n"
        f"{BAD_IMG} signature key validation failed for authority authority-0 for "
        f"registry.local/team/app@{BAD}: no matching signatures")
    assert validate(svc, workload(kind, pod_spec(IMG)))["allowed"] is True


def test_init_ephemeral_and_image_volumes_are_checked() -> None:
    svc = service(engine())
    spec = pod_spec(IMG, init=(BAD_IMG,), ephemeral=(BAD_IMG,), volumes=(BAD_IMG,))
    r = validate(svc, workload("Pod", spec))
    msg = r["status"]["message"]
    # knative merges identical message+details: one error listing the three paths, sorted.
    assert msg.startswith("validation failed: failed policy: team-policy: spec.ephemeralContainers[0].image, "
                          "spec.initContainers[0].image, spec.volumes[0].image\n")


def test_digest_required_and_unparsable_reference() -> None:
    svc = service(engine())
    r = validate(svc, workload("Pod", pod_spec("registry.local/team/app:v1")))
    assert r["status"]["message"] == ("validation failed: invalid value: registry.local/team/app:v1 must be "
                                      "an image digest: spec.containers[0].image")
    r = validate(svc, workload("Pod", pod_spec("Bad Image!")))
    assert r["status"]["message"] == ("validation failed: could not parse reference: Bad Image!: "
                                      "spec.containers[0].image\nBad Image!")


@pytest.mark.parametrize("mode", ["deny", "warn", "allow"])
def test_no_matching_policy(mode: str) -> None:
    svc = service(engine(), no_match=mode)
    other = f"elsewhere.local/x@{GOOD}"
    r = validate(svc, workload("Pod", pod_spec(other)))
    if mode == "deny":
        assert r["allowed"] is False
        assert r["status"]["message"] == ("validation failed: no matching policies: spec.containers[0].image"
                                          f"\n{other}")
    elif mode == "warn":
        assert r["allowed"] is True
        assert r["warnings"] == ["no matching policies: spec.containers[0].image", other]
    else:
        assert r == {"uid": r["uid"], "allowed": True}


def test_warn_mode_admits_with_warnings_split_on_newlines() -> None:
    eng = FakeEngine([FakePolicy("warn-policy", "registry.local/", mode="warn")], good={GOOD})
    r = validate(service(eng), workload("Deployment", pod_spec(BAD_IMG)))
    assert r["allowed"] is True
    assert r["warnings"] == ["failed policy: warn-policy: spec.template.spec.containers[0].image",
                             f"{BAD_IMG} signature key validation failed for authority authority-0 for "
                             f"registry.local/team/app@{BAD}: no matching signatures"]


def test_warn_and_enforce_together_keep_their_levels() -> None:
    eng = FakeEngine([FakePolicy("enforced", "registry.local/team/"),
                      FakePolicy("warned", "registry.local/", mode="warn")], good={GOOD})
    r = validate(service(eng), workload("Pod", pod_spec(BAD_IMG)))
    assert r["allowed"] is False
    assert r["status"]["message"].startswith("validation failed: failed policy: enforced: ")
    assert "warned" not in r["status"]["message"]
    assert r["warnings"][0] == "failed policy: warned: spec.containers[0].image"


def test_skipped_requests() -> None:
    svc = service(engine())
    bad = workload("Deployment", pod_spec(BAD_IMG), replicas=1)
    old = workload("Deployment", pod_spec(BAD_IMG), replicas=3)
    assert validate(svc, bad, operation="DELETE")["allowed"] is True
    assert validate(svc, bad, operation="UPDATE", old=old)["allowed"] is True  # scale-down bypass
    assert validate(svc, old, operation="UPDATE", old=bad)["allowed"] is False  # scale-up is checked
    deleting = workload("Pod", pod_spec(BAD_IMG))
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert validate(svc, deleting, operation="UPDATE", old=deleting)["allowed"] is True
    assert validate(svc, workload("Pod", pod_spec(BAD_IMG)), operation="UPDATE", sub_resource="status",
                    old=workload("Pod", pod_spec(BAD_IMG)))["allowed"] is True
    assert validate(svc, workload("Pod", pod_spec(BAD_IMG)), operation="UPDATE",
                    sub_resource="ephemeralcontainers",
                    old=workload("Pod", pod_spec(IMG)))["allowed"] is False
    assert validate(svc, workload("Pod", pod_spec(BAD_IMG)), dry_run=True)["allowed"] is False


def test_uid_echoed_and_envelope() -> None:
    svc = service(engine())
    out = svc.validate(parse_review(body(workload("Pod", pod_spec(IMG)), uid="abc-123")))
    assert out == {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                   "response": {"uid": "abc-123", "allowed": True}}


def test_verdicts_are_cached_and_the_warm_path_needs_no_thread() -> None:
    eng = engine()
    svc = service(eng)
    review = parse_review(body(workload("Pod", pod_spec(IMG, BAD_IMG))))
    assert svc.fast_validate(review) is None  # cold: needs the engine
    first = svc.validate(review)
    assert sorted(eng.calls) == sorted([IMG, BAD_IMG])
    again = svc.fast_validate(review)
    assert again == first and len(eng.calls) == 2
    # Another tag of the same digest is the same verdict.
    other = parse_review(body(workload("Pod", pod_spec(f"registry.local/team/app:v2@{GOOD}"))))
    assert svc.fast_validate(other) is not None and len(eng.calls) == 2
    # A new policy generation (new identity) does not reuse the old verdicts.
    svc.install(Loaded(engine=eng, identity="id-2", policy_count=1))
    assert svc.fast_validate(review) is None


def test_concurrent_images_and_deadline() -> None:
    eng = engine(delay=0.5)
    svc = service(eng, timeout=2.0)
    imgs = [f"registry.local/team/app{i}@{GOOD}" for i in range(6)]
    t0 = time.monotonic()
    assert validate(svc, workload("Pod", pod_spec(*imgs)))["allowed"] is True
    # Six 0.5 s verifications: one after the other they would take 3 s (the bound leaves room for a
    # loaded machine and still tells concurrent from sequential).
    assert time.monotonic() - t0 < 2.7

    slow = service(engine(delay=3.0), timeout=0.5)
    t0 = time.monotonic()
    r = validate(slow, workload("Pod", pod_spec(IMG)))
    assert time.monotonic() - t0 < 2.7  # the deadline (0.5 s) ends it, not the 3 s verification
    assert r["allowed"] is False
    assert r["status"]["message"] == ("validation failed: failed to verify image: spec.containers[0].image\n"
                                      f"{IMG} verification did not finish within the 0.5s admission deadline")


def test_overload_denies() -> None:
    svc = service(engine(delay=1.0), max_pending=1, timeout=0.2)
    r = validate(svc, workload("Pod", pod_spec(IMG, f"registry.local/team/other@{GOOD}")))
    assert r["allowed"] is False and "overloaded" in r["status"]["message"]


def test_engine_exception_denies() -> None:
    class Broken(FakeEngine):
        def evaluate(self, image: str, **kw: Any) -> Any:
            raise RuntimeError("boom")

    svc = service(Broken([FakePolicy("p", "registry.local/")]))
    r = validate(svc, workload("Pod", pod_spec(IMG)))
    assert r["allowed"] is False and r["status"]["message"].endswith(f"{IMG} internal error: boom")


def test_not_ready_denies() -> None:
    svc = AdmissionService(VerdictCache(MemoryCache(60)), Metrics())
    r = svc.validate(parse_review(body(workload("Pod", pod_spec(IMG)))))["response"]
    assert r["allowed"] is False and "not loaded" in r["status"]["message"]


def test_mutation_pins_tags_to_digests() -> None:
    eng = engine(resolved={"registry.local/team/app:v1": GOOD, "registry.local/team/init:v2": BAD})
    svc = service(eng)
    obj = workload("Deployment", pod_spec("registry.local/team/app:v1", IMG, "registry.local/team/missing:v1",
                                          init=("registry.local/team/init:v2",)))
    out = svc.mutate(parse_review(body(obj)))["response"]
    assert out["allowed"] is True and out["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(out["patch"]))
    assert sorted(ops, key=lambda o: o["path"]) == [
        {"op": "replace", "path": "/spec/template/spec/containers/0/image",
         "value": f"registry.local/team/app:v1@{GOOD}"},
        {"op": "replace", "path": "/spec/template/spec/initContainers/0/image",
         "value": f"registry.local/team/init:v2@{BAD}"}]
    # Nothing to pin: a plain allow.
    out = svc.mutate(parse_review(body(workload("Pod", pod_spec(IMG)))))["response"]
    assert out == {"uid": out["uid"], "allowed": True}


def test_resource_is_part_of_the_key_only_when_a_policy_looks_at_it() -> None:
    from types import SimpleNamespace

    looks = SimpleNamespace(include_spec=True, include_object_meta=False, include_type_meta=False)
    blind = SimpleNamespace(include_spec=False, include_object_meta=False, include_type_meta=False)
    for policy, evaluations in ((looks, 2), (blind, 1), (None, 1)):
        eng = FakeEngine([FakePolicy("p", "registry.local/", policy=policy)], good={GOOD})
        svc = service(eng)
        a = workload("Deployment", pod_spec(IMG), name="a")
        b = workload("Deployment", pod_spec(IMG), name="b")
        b["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "X", "value": "1"}]
        validate(svc, a)
        validate(svc, b)
        assert len(eng.calls) == evaluations, policy


def test_pull_secret_context_keys_verdicts_apart() -> None:
    eng = engine()
    svc = service(eng)
    secret = {".dockerconfigjson": b'{"auths": {"registry.local": {"auth": "dTpw"}}}'}
    svc.install(Loaded(engine=eng, identity="id-1", secrets={("default", "regcred"): secret}))
    validate(svc, workload("Pod", pod_spec(IMG)))
    validate(svc, workload("Pod", pod_spec(IMG, pull_secrets=("regcred",))))
    validate(svc, workload("Pod", pod_spec(IMG, pull_secrets=("unknown",))))  # not a loaded Secret
    assert len(eng.calls) == 2


@pytest.mark.parametrize(("error", "auth"), [
    ("HEAD https://r/v2/a/manifests/sha256:1: 401 Unauthorized (registry r: no credentials found; …)", True),
    ("GET https://r/v2/a/manifests/sha256-1.sig: UNAUTHORIZED: authentication required "
     "(registry r: the credentials were refused or lack permission)", True),
    ("GET https://r/v2/a/manifests/x: DENIED: requested access to the resource is denied", True),
    ("token server https://r/token refused the credentials for registry r (401); check them", True),
    ("no matching signatures", False),
    ("GET https://r/v2/a/manifests/x: MANIFEST_UNKNOWN: manifest unknown", False),
])
def test_a_registry_auth_denial_is_recognised(error: str, auth: bool) -> None:
    from sigward.webhook.service import registry_auth_denial

    assert registry_auth_denial({"allowed": False, "errors": [error], "failures": []}) is auth
    assert registry_auth_denial({"allowed": False, "errors": [],
                                 "failures": [{"policy": "p", "warn": False, "errors": [error]}]}) is auth
    assert registry_auth_denial({"allowed": True, "errors": [error], "failures": []}) is False
