"""The admission decisions, independent of the HTTP stack: an AdmissionReview in, a response out.

Why it is shaped this way:
- **Fail closed.** Every path that cannot produce a verdict (timeout, overload, engine exception, Redis
  trouble is only a cache miss) denies the image with the reason; nothing here can admit by accident.
- **Deadline.** Each request has ``timeout`` seconds (under the API server's webhook timeout, so the
  answer is ours and not the API server's ``context deadline exceeded``); the images of one request are
  verified concurrently in a bounded pool, and an image not decided in time is denied.
- **Warm path without threads.** When every image's verdict is in the in-process cache, ``fast_validate``
  answers on the event loop directly; only misses pay for a thread hop.
- **Single flight.** Concurrent requests for the same uncached verdict share one evaluation, so a rollout
  of 50 pods of one image costs one verification.
- **Reload.** The loaded policies are one immutable value (``Loaded``) swapped atomically; a request uses
  the value it started with, so a reload never drops or mixes requests.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sigward.webhook import messages as msg
from sigward.webhook.cache import VerdictCache, cache_key
from sigward.webhook.metrics import Metrics
from sigward.webhook.review import (
    ImageSite,
    Review,
    allow,
    deny,
    image_sites,
    patch,
    pull_secret_names,
    skip_reason,
)

# A registry's refusal as the OCI client words it: the status line of a body-less 401/403, the
# distribution spec's error codes, the advice it appends, a token server's refusal.
_REGISTRY_AUTH = re.compile(r"\b(401 Unauthorized|403 Forbidden)\b|\b(UNAUTHORIZED|DENIED): "
                            r"|\(registry \S+: (no credentials found|the credentials were refused)"
                            r"|token server \S+ refused the credentials")
MEMO_SIZE = 20000  # image classifications kept (see AdmissionService._classify)
NEGATIVE_TTL = 10.0  # a denial may be transient (registry down): it is not kept for the whole TTL


def registry_auth_denial(decision: Mapping[str, Any] | None) -> bool:
    """Whether a denial came from the registry refusing the credentials (or their absence).

    Such a denial is not cached at all: it says nothing about the image's signatures, and the cure — a pull
    secret created or corrected — must count on the next request, not after a negative TTL. (An admission
    reached under credentials that later change stays cached: the signatures it verified are unchanged.)"""
    if not decision or decision.get("allowed"):
        return False
    texts = [*decision.get("errors", [])]
    for f in decision.get("failures", []):
        texts += f.get("errors", [])
    return any(_REGISTRY_AUTH.search(str(t)) for t in texts)


class EngineLike(Protocol):
    """What the webhook needs of ``sigward.admission.Engine`` (ENGINE.md)."""

    def matching(self, image: str, resource: Mapping[str, Any] | None = None) -> list[Any]: ...

    def resolve(self, image: str, keychain: Any = None) -> str: ...

    def evaluate(self, image: str, *, resource: Mapping[str, Any] | None = None,
                 keychain: Any = None) -> Any: ...


@dataclass(frozen=True)
class Loaded:
    """One generation of policies: the engine over them and the identity that keys their verdicts."""

    engine: EngineLike
    identity: str
    secrets: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    policy_count: int = 0


@dataclass
class _Todo:
    site: ImageSite
    key: str
    decision: dict[str, Any] | None = None


@dataclass
class _Plan:
    errors: list[msg.FieldError]
    todo: list[_Todo]
    loaded: Loaded
    resource: Mapping[str, Any]


class AdmissionService:
    def __init__(self, cache: VerdictCache, metrics: Metrics, *, timeout: float = 8.0,
                 no_match: Literal["deny", "allow", "warn"] = "deny", workers: int = 16,
                 max_pending: int = 256, base_keychain: Any = None, cache_ttl: float = 600.0,
                 cluster_secrets: Any = None) -> None:
        """``cluster_secrets``: a ``ClusterSource`` (``--policies-from-cluster``): a pod's imagePullSecrets
        and its service account's are then read from the API server instead of the policy files."""
        self.cache, self.metrics = cache, metrics
        self.timeout, self.no_match, self.max_pending = timeout, no_match, max_pending
        self.base_keychain, self.cache_ttl = base_keychain, cache_ttl
        self.cluster_secrets = cluster_secrets
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sigward-verify")
        self.loaded: Loaded | None = None
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[dict[str, Any]]] = {}
        self._memo: dict[tuple[str, str, str], tuple[str, str, str, bool]] = {}
        self._memory_hits = metrics.cache_hits.labels("memory")

    # --- policies -----------------------------------------------------------------------------------

    def install(self, loaded: Loaded) -> None:
        """Make ``loaded`` the active generation (verdicts of the old one stay keyed by its identity)."""
        self.loaded = loaded
        self.metrics.policies_loaded.set(loaded.policy_count)

    @property
    def ready(self) -> bool:
        return self.loaded is not None

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.cache.shared is not None:
            self.cache.shared.close()

    # --- validation ---------------------------------------------------------------------------------

    def _plan(self, review: Review) -> _Plan | dict[str, Any]:
        """Sort the images: errors known without verifying (not a digest, no matching policy) and the
        verdicts to look up. Returns a finished response when nothing needs a verdict."""
        reason = skip_reason(review)
        if reason is not None:
            return allow(review)
        loaded = self.loaded
        if loaded is None:
            return deny(review, "validation failed: policies are not loaded yet")

        resource = review.object
        errors: list[msg.FieldError] = []
        todo: list[_Todo] = []
        context = _match_context(review)
        # Verdicts reached with a pod's pull secrets are kept apart from those reached without them.
        if self.cluster_secrets is not None:
            # Names only (no API call on the warm path): the credentials they stand for are fetched on a miss.
            creds = f"{review.namespace}|sa:{service_account(review)}|" + ",".join(pull_secret_names(review))
        else:
            creds = ",".join(f"{review.namespace}/{n}" for n in pull_secret_names(review)
                             if (review.namespace, n) in loaded.secrets)
        for site in image_sites(review):
            kind, digest_ref, names, looks = self._classify(loaded, site.image, context, resource)
            if kind == "unparsable":
                errors.append(msg.unparsable(site))
            elif kind == "not-digest":
                errors.append(msg.not_digest(site))
            elif kind.startswith("error:"):
                errors.append(msg.failed(site, f"matching policies failed: {kind[6:]}"))
            elif kind == "no-match":
                if self.no_match != "allow":
                    errors.append(msg.no_match(site, warning=self.no_match == "warn"))
            else:
                rhash = _resource_hash(resource, review) if looks else ""
                todo.append(_Todo(site, cache_key(digest_ref, f"{loaded.identity}|{names}|{creds}", rhash)))
        return _Plan(errors, todo, loaded, resource)

    def _classify(self, loaded: Loaded, image: str, context: str,
                  resource: Mapping[str, Any]) -> tuple[str, str, str, bool]:
        """(kind, repo@digest, matching policy names, whether they look at the object) of one image.

        Memoized per policy generation, image and match context (the object's group/version/kind and
        labels: all that ``match[]`` looks at), because parsing the reference and matching every glob is
        most of a warm request's CPU time."""
        memo_key = (loaded.identity, image, context)
        hit = self._memo.get(memo_key)
        if hit is not None:
            return hit
        from sigward.oci.reference import parse_registry_reference

        out: tuple[str, str, str, bool]
        try:
            ref = parse_registry_reference(image, default_tag=False)
        except Exception:
            out = ("unparsable", "", "", False)
        else:
            if not ref.digest:
                out = ("not-digest", "", "", False)
            else:
                try:
                    matched = loaded.engine.matching(image, resource)
                except Exception as e:
                    return (f"error:{e}", "", "", False)  # not memoized
                names = ",".join(sorted(str(getattr(p, "name", p)) for p in matched))
                out = (("ok" if matched else "no-match"), f"{ref.name}@{ref.digest}", names,
                       any(_looks_at_resource(p) for p in matched))
        if len(self._memo) >= MEMO_SIZE:
            self._memo.clear()
        self._memo[memo_key] = out
        return out

    def fast_validate(self, review: Review) -> dict[str, Any] | None:
        """The answer when it needs no I/O (skipped, known errors, in-process cache hits), else None."""
        plan = self._plan(review)
        if isinstance(plan, dict):
            return plan
        for t in plan.todo:
            t.decision = self.cache.get_local(t.key)
            if t.decision is None:
                return None
        self._memory_hits.inc(len(plan.todo))
        return self._respond(review, plan)

    def validate(self, review: Review, started: float | None = None) -> dict[str, Any]:
        """The full path: cache tiers, then the engine for misses, concurrently, within the deadline."""
        deadline = (started or time.monotonic()) + self.timeout
        plan = self._plan(review)
        if isinstance(plan, dict):
            return plan
        keychain: Any = _UNSET
        futures: dict[int, Future[dict[str, Any]]] = {}
        for i, t in enumerate(plan.todo):
            t.decision, tier = self.cache.get(t.key)
            if t.decision is not None:
                self.metrics.cache_hits.labels(tier or "memory").inc()
                continue
            self.metrics.cache_misses.inc()
            if keychain is _UNSET:
                try:
                    keychain = self._keychain(review, plan.loaded)
                except Exception as e:  # the API server down: fail closed, with the reason
                    plan.errors.append(msg.failed(t.site, f"reading the pull secrets failed: {e}"))
                    self.metrics.failures.labels("error").inc()
                    continue
            fut = self._submit(plan.loaded, t, plan.resource, keychain)
            if fut is None:
                plan.errors.append(msg.failed(t.site, "the admission server is overloaded; retry later"))
                self.metrics.failures.labels("overload").inc()
            else:
                futures[i] = fut
        if futures:
            wait_futures(list(futures.values()), timeout=max(0.0, deadline - time.monotonic()))
        for i, fut in futures.items():
            t = plan.todo[i]
            if not fut.done():
                reason = f"verification did not finish within the {self.timeout:g}s admission deadline"
                plan.errors.append(msg.failed(t.site, reason))
                self.metrics.failures.labels("timeout").inc()
                continue
            exc = fut.exception()
            if exc is not None:
                plan.errors.append(msg.failed(t.site, f"internal error: {exc}"))
                self.metrics.failures.labels("error").inc()
                continue
            t.decision = fut.result()
        plan.todo = [t for t in plan.todo if t.decision is not None]
        if self.cluster_secrets is not None and any(registry_auth_denial(t.decision) for t in plan.todo):
            # The credentials read for this namespace did not open the registry: read them again next time,
            # so a pull secret created or fixed now counts on the very next request.
            self.cluster_secrets.forget(review.namespace)
        return self._respond(review, plan)

    def _respond(self, review: Review, plan: _Plan) -> dict[str, Any]:
        errors = list(plan.errors)
        for t in plan.todo:
            assert t.decision is not None
            errors += msg.field_errors(t.site, t.decision)
        message, warnings = msg.outcome(errors)
        return deny(review, message, warnings) if message else allow(review, warnings)

    def _submit(self, loaded: Loaded, t: _Todo, resource: Mapping[str, Any],
                keychain: Any) -> Future[dict[str, Any]] | None:
        """One evaluation per key at a time (single flight); None when too many are pending."""
        with self._lock:
            fut = self._inflight.get(t.key)
            if fut is not None:
                return fut
            if len(self._inflight) >= self.max_pending:
                return None
            fut = self.pool.submit(self._evaluate, loaded, t.key, t.site.image, resource, keychain)
            self._inflight[t.key] = fut
        fut.add_done_callback(self._done_callback(t.key))
        return fut

    def _done_callback(self, key: str) -> Callable[[Future[dict[str, Any]]], None]:
        def done(_fut: Future[dict[str, Any]]) -> None:
            with self._lock:
                self._inflight.pop(key, None)
        return done

    def _evaluate(self, loaded: Loaded, key: str, image: str, resource: Mapping[str, Any],
                  keychain: Any) -> dict[str, Any]:
        """In a worker thread: the engine's verdict as plain data, cached even when the request that
        asked has already timed out (its retry then finds it)."""
        verdict = loaded.engine.evaluate(image, resource=resource, keychain=keychain)
        decision = msg.decision_of(verdict)
        for name, passed in decision["policies"].items():
            self.metrics.policy_verdicts.labels(name, "pass" if passed else "fail").inc()
        if decision["digest_ref"] and not registry_auth_denial(decision):
            ttl = self.cache_ttl if decision["allowed"] else min(self.cache_ttl, NEGATIVE_TTL)
            self.cache.set(key, decision, ttl)
        return decision

    def _keychain(self, review: Review, loaded: Loaded) -> Any:
        """The pod's imagePullSecrets (from the Secrets loaded with the policies), before the base keychain;
        None (the engine's default) when the pod names none that are known."""
        names = pull_secret_names(review)
        if self.cluster_secrets is not None:
            found = list(self.cluster_secrets.pull_secrets(review.namespace, service_account(review), names))
        else:
            found = [(f"{review.namespace}/{n}", loaded.secrets[(review.namespace, n)]) for n in names
                     if (review.namespace, n) in loaded.secrets]
        if not found:
            return None
        from sigward.oci.registry.keychain import MultiKeychain, PullSecretKeychain, default_keychain

        pull = PullSecretKeychain([data for _, data in found], [label for label, _ in found])
        return MultiKeychain(pull, self.base_keychain or default_keychain())

    # --- mutation -----------------------------------------------------------------------------------

    def mutate(self, review: Review, started: float | None = None) -> dict[str, Any]:
        """Tag → ``repo:tag@sha256:…`` for every image that has no digest, as a JSONPatch. An image that does
        not resolve is left alone: the validating webhook then denies it (``must be an image digest``)."""
        deadline = (started or time.monotonic()) + self.timeout
        loaded = self.loaded
        if skip_reason(review) is not None or loaded is None:
            return allow(review)
        from sigward.oci.reference import parse_registry_reference

        keychain: Any = _UNSET
        jobs: list[tuple[ImageSite, Future[str]]] = []
        for site in image_sites(review):
            try:
                ref = parse_registry_reference(site.image, default_tag=False)
            except Exception:
                continue
            if ref.digest:
                continue
            if keychain is _UNSET:
                try:
                    keychain = self._keychain(review, loaded)
                except Exception:
                    return allow(review)  # left unpinned: the validating webhook denies it, with a reason
            jobs.append((site, self.pool.submit(loaded.engine.resolve, site.image, keychain)))
        if jobs:
            wait_futures([f for _, f in jobs], timeout=max(0.0, deadline - time.monotonic()))
        ops = []
        for site, fut in jobs:
            if not fut.done() or fut.exception() is not None:
                continue
            digest = fut.result().rpartition("@")[2]
            if digest.startswith("sha256:"):
                ops.append({"op": "replace", "path": site.pointer, "value": f"{site.image}@{digest}"})
        return patch(review, ops)


_UNSET: Any = object()


def service_account(review: Review) -> str:
    """The pod spec's service account (``default`` when it names none, as the API server defaults it)."""
    from sigward.webhook.review import POD_SPEC_AT

    spec: Any = review.object
    for part in POD_SPEC_AT.get((review.group, review.kind), ()):
        spec = spec.get(part) if isinstance(spec, Mapping) else None
    if isinstance(spec, Mapping):
        name = spec.get("serviceAccountName") or spec.get("serviceAccount")
        if isinstance(name, str) and name:
            return name
    return "default"


def _looks_at_resource(cip: Any) -> bool:
    """Whether a policy's verdict can depend on the admitted object (CIP-level policy with includeSpec /
    includeObjectMeta / includeTypeMeta). Unknown shapes count as yes: a wrong cache hit is worse than a
    miss."""
    policy = getattr(cip, "policy", None)
    if policy is None:
        return False
    flags = [getattr(policy, n, None) for n in ("include_spec", "include_object_meta", "include_type_meta")]
    if all(f is None for f in flags):
        return True
    return any(bool(f) for f in flags)


def _match_context(review: Review) -> str:
    """What policy-controller's ``match[]`` looks at: the object's group/version/kind and its own labels."""
    meta = review.object.get("metadata")
    labels = meta.get("labels") if isinstance(meta, Mapping) else None
    return json.dumps([review.group, review.object.get("apiVersion"), review.kind,
                       sorted(labels.items()) if isinstance(labels, Mapping) else []], default=str)


def _resource_hash(resource: Mapping[str, Any], review: Review) -> str:
    meta = resource.get("metadata") if isinstance(resource.get("metadata"), Mapping) else {}
    assert isinstance(meta, Mapping)
    stable = {k: v for k, v in meta.items() if k not in ("resourceVersion", "uid", "generation",
                                                           "managedFields", "creationTimestamp")}
    doc = {"spec": resource.get("spec"), "metadata": stable, "kind": review.kind,
           "apiVersion": resource.get("apiVersion")}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def policy_names(policies: Sequence[Any]) -> list[str]:
    return [str(getattr(p, "name", p)) for p in policies]
