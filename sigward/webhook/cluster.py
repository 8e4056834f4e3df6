"""Policies, trust roots and secrets read from the Kubernetes API server (``--policies-from-cluster``).

Why it is shaped this way:
- **Watched, not polled.** One thread per resource type lists it, then watches from the list's
  ``resourceVersion`` (server-side timeout, bookmarks); an expired version (410 Gone) re-lists, any other
  error re-lists after a backoff (0.5 s doubling to 30 s). The server's reload loop only compares
  ``stamp()``: a change bumps a generation counter, and the PolicySet is rebuilt and swapped atomically
  exactly as for a changed policy file, so requests never see a half-applied change.
- **Ready after the first list.** ``stamp()`` is None until every watched type has been listed once, so
  ``/readyz`` stays 503 (and the API server never routes to a replica that would deny everything).
- **An invalid resource is skipped, not fatal.** policy-controller's own validating webhook refuses an
  invalid ClusterImagePolicy at creation or edit; without it (or with a resource that slipped in), the
  one resource is logged and counted (``sigward_admission_invalid_resources_total``): a new one is left
  out, an edit that breaks a valid one keeps its last valid version enforced (what the refused edit would
  have left), and the rest of the set stays enforced.
- **Identity follows content.** Each resource enters the PolicySet with its ``resourceVersion``, so an
  edit changes the policy identity and so every verdict cache key: no stale verdict survives an edit.
- **Namespaces as policy-controller.** ``secretRef`` Secrets (including ``cosign generate-key-pair
  k8s://``'s) and ConfigMaps are watched in the webhook's own namespace; ``signaturePullSecrets`` and a
  pod's ``imagePullSecrets`` (and its service account's) are read, on demand and briefly cached, in the
  namespace of the admitted object.

The ``kubernetes`` client is imported only here, and only when the server is started this way.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sigward.webhook.metrics import Metrics

log = logging.getLogger("sigward.admission.cluster")

GROUP = "policy.sigstore.dev"
WATCH_SECONDS = 240  # server-side watch timeout; the watch then resumes from the last resourceVersion
REQUEST_TIMEOUT = 10.0  # every non-watch API call
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0
LOOKUP_TTL = 30.0  # on-demand Secrets / ServiceAccounts of admitted objects
LOOKUP_SIZE = 4096


class _Gone(Exception):
    """The watch's resourceVersion expired: list again."""


@dataclass
class _Kind:
    """One watched resource type: how to list it, and how its objects become policy documents."""

    kind: str
    lister: Callable[..., Any]
    args: tuple[Any, ...] = ()
    objects: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    synced: bool = False


def api_client(kubeconfig: str | None, context: str | None = None) -> Any:
    """An ApiClient from ``kubeconfig`` (or $KUBECONFIG / ~/.kube/config), else the in-cluster service
    account. Its own Configuration object: nothing global is touched."""
    from kubernetes import client
    from kubernetes import config as config_module

    config: Any = config_module
    if kubeconfig is None:
        try:
            cfg = client.Configuration()
            config.load_incluster_config(client_configuration=cfg)
            return client.ApiClient(cfg)
        except config.ConfigException:
            pass
    return config.new_client_from_config(config_file=kubeconfig, context=context)


def in_cluster_namespace() -> str | None:
    """The pod's namespace from its service account mount (None outside a cluster)."""
    p = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    try:
        return p.read_text().strip() or None
    except OSError:
        return None


class ClusterSource:
    """The cluster's ClusterImagePolicies, TrustRoots, and the Secrets and ConfigMaps of ``namespace``."""

    def __init__(self, client: Any, namespace: str, metrics: Metrics, *,
                 watch_seconds: int = WATCH_SECONDS) -> None:
        """``watch_seconds``: the server-side timeout of each watch request (``--watch-timeout``)."""
        from kubernetes import client as k8s

        self.client, self.namespace, self.metrics = client, namespace, metrics
        self.watch_seconds = max(1, int(watch_seconds))
        # Typed Any: responses are read raw (``_preload_content=False``), not as the client's models.
        custom: Any = k8s.CustomObjectsApi(client)
        core: Any = k8s.CoreV1Api(client)
        self.core = core
        self.kinds = [
            _Kind("ClusterImagePolicy", custom.list_cluster_custom_object,
                  (GROUP, "v1beta1", "clusterimagepolicies")),
            _Kind("TrustRoot", custom.list_cluster_custom_object, (GROUP, "v1alpha1", "trustroots")),
            _Kind("Secret", core.list_namespaced_secret, (namespace,)),
            _Kind("ConfigMap", core.list_namespaced_config_map, (namespace,)),
        ]
        self._lock = threading.Lock()
        self._generation = 0
        self._stop = threading.Event()
        self._lookups: dict[tuple[str, str, str], tuple[float, Any]] = {}

    # --- what the server reads -----------------------------------------------------------------------

    def start(self) -> None:
        for k in self.kinds:
            threading.Thread(target=self._run, args=(k,), name=f"sigward-watch-{k.kind}", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def stamp(self) -> int | None:
        """The change counter, or None until every type has been listed once."""
        with self._lock:
            return self._generation if all(k.synced for k in self.kinds) else None

    def documents(self) -> list[Any]:
        """The valid resources as PolicySet documents (a consistent snapshot)."""
        from sigward.admission.policyset import Document

        with self._lock:
            snapshot = [(k.kind, dict(k.objects)) for k in self.kinds]
        docs = []
        for kind, objects in snapshot:
            for name, body in sorted(objects.items()):
                docs.append(Document(kind, str(body.get("apiVersion", "")), name, body,
                                     f"cluster {kind} {name}"))
        return docs

    # --- the watch loops -----------------------------------------------------------------------------

    def _run(self, k: _Kind) -> None:
        delay = BACKOFF_FIRST
        while not self._stop.is_set():
            try:
                version = self._list(k)
                delay = BACKOFF_FIRST
                while not self._stop.is_set():
                    version = self._watch(k, version)
            except _Gone:
                self.metrics.watch_expired.labels(k.kind).inc()
                log.info("%s watch expired; listing again", k.kind)
            except Exception as e:
                self.metrics.watch_errors.labels(k.kind).inc()
                log.warning("%s list/watch failed (retrying in %.1fs): %s", k.kind, delay, _short(e))
                self._stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX)

    def _list(self, k: _Kind) -> str:
        resp = k.lister(*k.args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT)
        listing = json.loads(resp.data)
        api_version = str(listing.get("apiVersion", ""))
        objects: dict[str, Mapping[str, Any]] = {}
        for item in listing.get("items") or []:
            # A list's items carry no apiVersion/kind of their own.
            body = self._admit(k, {"apiVersion": api_version, "kind": k.kind, **item})
            name = _name(item)
            with self._lock:
                last_good = k.objects.get(name)
            if body is not None:
                objects[name] = body
            elif last_good is not None:  # an invalid edit: the last valid version stays
                objects[name] = last_good
        with self._lock:
            if objects != k.objects or not k.synced:
                self._generation += 1
            k.objects, k.synced = objects, True
        return str((listing.get("metadata") or {}).get("resourceVersion") or "")

    def _watch(self, k: _Kind, version: str) -> str:
        from kubernetes import watch as watch_module
        from kubernetes.client.exceptions import ApiException

        watch: Any = watch_module
        w: Any = watch.Watch()
        try:
            for event in w.stream(k.lister, *k.args, resource_version=version,
                                  timeout_seconds=self.watch_seconds, allow_watch_bookmarks=True,
                                  _request_timeout=self.watch_seconds + 30):
                if self._stop.is_set():
                    break
                obj = event.get("raw_object") or {}
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                kind = event.get("type")
                if kind == "BOOKMARK":
                    continue
                name = _name(obj)
                if kind == "DELETED":
                    with self._lock:
                        if k.objects.pop(name, None) is not None:
                            self._generation += 1
                    continue
                body = self._admit(k, obj)
                if body is None:
                    continue  # a new invalid resource is left out; an invalid edit keeps the last valid one
                with self._lock:
                    if k.objects.get(name) != body:
                        k.objects[name] = body
                        self._generation += 1
        except ApiException as e:
            if e.status == 410:
                raise _Gone() from e
            raise
        finally:
            w.stop()
        return version

    def _admit(self, k: _Kind, obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The resource as the PolicySet will see it, or None (logged and counted) when it is invalid."""
        body = _clean(obj, k.kind)
        if k.kind not in ("ClusterImagePolicy", "TrustRoot"):
            return body
        from sigward.admission.policyset import Document, PolicySet

        problems: list[str] = []
        if k.kind == "ClusterImagePolicy":
            from sigward.cip.fielderror import render

            body, ref_errors = secret_refs_here(body, self.namespace)
            problems += [render(ref_errors)] if ref_errors else []
        try:
            PolicySet.from_documents([Document(k.kind, str(body.get("apiVersion", "")), _name(body), body)])
        except Exception as e:
            problems.append(str(e))
        if problems:
            why = "\n".join(problems)
            self.metrics.invalid_resources.labels(k.kind).inc()
            log.error("%s %s is invalid and is not enforced: %s", k.kind, _name(body), why)
            import sys

            print(f"sigward admission: {k.kind} {_name(body)} is invalid, skipped: {why}".replace("\n", "; "),
                  file=sys.stderr, flush=True)
            return None
        return body

    # --- secrets of the admitted object's namespace --------------------------------------------------

    def _cached(self, key: tuple[str, str, str], fetch: Callable[[], Any]) -> Any:
        now = time.monotonic()
        hit = self._lookups.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = fetch()
        if len(self._lookups) >= LOOKUP_SIZE:
            self._lookups.clear()
        self._lookups[key] = (now + LOOKUP_TTL, value)
        return value

    def forget(self, namespace: str) -> None:
        """Drop what was read of ``namespace`` (its Secrets, service accounts): read it again when next
        needed. Called when those credentials did not open a registry."""
        for key in [k for k in list(self._lookups) if k[1] == namespace]:
            self._lookups.pop(key, None)

    def secret(self, namespace: str, name: str) -> Mapping[str, bytes] | None:
        """Secret ``namespace/name``'s data, decoded; None when it does not exist."""
        def fetch() -> Mapping[str, bytes] | None:
            from kubernetes.client.exceptions import ApiException

            try:
                resp = self.core.read_namespaced_secret(name, namespace, _preload_content=False,
                                                        _request_timeout=REQUEST_TIMEOUT)
            except ApiException as e:
                if e.status == 404:
                    return None
                raise
            return _decode(json.loads(resp.data).get("data") or {})

        result: Mapping[str, bytes] | None = self._cached(("secret", namespace, name), fetch)
        return result

    def service_account_pull_secrets(self, namespace: str, name: str) -> list[str]:
        def fetch() -> list[str]:
            from kubernetes.client.exceptions import ApiException

            try:
                resp = self.core.read_namespaced_service_account(name, namespace, _preload_content=False,
                                                                 _request_timeout=REQUEST_TIMEOUT)
            except ApiException as e:
                if e.status == 404:  # as k8schain: a missing service account adds no credentials
                    return []
                raise
            refs = json.loads(resp.data).get("imagePullSecrets") or []
            return [str(r["name"]) for r in refs if isinstance(r, Mapping) and r.get("name")]

        result: list[str] = self._cached(("sa", namespace, name), fetch)
        return result

    def pull_secrets(self, namespace: str, service_account: str,
                     names: Sequence[str]) -> list[tuple[str, Mapping[str, bytes]]]:
        """The pod's imagePullSecrets then its service account's, as k8schain orders them; missing ones
        are skipped (the kubelet would skip them too)."""
        out: list[tuple[str, Mapping[str, bytes]]] = []
        seen: set[str] = set()
        for n in [*names, *self.service_account_pull_secrets(namespace, service_account)]:
            if n in seen:
                continue
            seen.add(n)
            data = self.secret(namespace, n)
            if data is not None:
                out.append((f"{namespace}/{n}", data))
        return out


def with_cluster_secrets(policies: Any, source: ClusterSource) -> Any:
    """``policies`` (a PolicySet) whose ``secret(name, namespace)`` also asks the cluster, for
    ``signaturePullSecrets`` in the admitted object's namespace."""
    from sigward.admission.policyset import PolicySet

    @dataclass(frozen=True)
    class ClusterPolicySet(PolicySet):
        def secret(self, name: str, namespace: str | None) -> Mapping[str, bytes] | None:
            found = PolicySet.secret(self, name, namespace)
            if found is None and namespace:
                try:
                    return source.secret(namespace, name)
                except Exception as e:  # reported as "not found" by the engine: the image is denied
                    log.warning("reading Secret %s/%s failed: %s", namespace, name, _short(e))
            return found

    kept = {f.name: getattr(policies, f.name) for f in fields(policies)}
    return ClusterPolicySet(**{**kept, "controller_namespace": source.namespace})


def merge(first: Any, second: Any) -> Any:
    """Two PolicySets as one (files and cluster); the second wins a name both define."""
    from sigward.admission.policyset import PolicySet

    policies = {p.name: p for p in first.policies}
    policies.update({p.name: p for p in second.policies})
    return PolicySet(tuple(policies.values()), {**first.trustroots, **second.trustroots},
                     {**first.secrets, **second.secrets}, {**first.configmaps, **second.configmaps},
                     (*first.warnings, *second.warnings))


def secret_refs_here(body: Mapping[str, Any], namespace: str) -> tuple[dict[str, Any], list[Any]]:
    """policy-controller's rule for ``secretRef.namespace``, with this webhook's namespace as the
    controller's: unset or ``namespace`` is accepted, anything else is the error its CIP validation gives
    (``secretref.namespace is invalid…``, as knative FieldErrors). Its reconciler then reads every secretRef
    Secret from its own namespace whatever the field says, so the returned copy drops the field: the Secret
    is looked for in ``namespace`` (``PolicySet.controller_namespace``), never in the namespace it names."""
    import copy

    from sigward.cip.fielderror import invalid

    out = copy.deepcopy(dict(body))
    errors = []
    spec = out.get("spec")
    authorities = spec.get("authorities") if isinstance(spec, Mapping) else None
    for i, a in enumerate(authorities if isinstance(authorities, list) else []):
        if not isinstance(a, Mapping):
            continue
        keyless = a.get("keyless")
        for where, keyref in ((f"spec.authorities[{i}].key", a.get("key")),
                              (f"spec.authorities[{i}].keyless.ca-cert",
                               keyless.get("ca-cert") if isinstance(keyless, Mapping) else None)):
            ref = keyref.get("secretRef") if isinstance(keyref, Mapping) else None
            if not isinstance(ref, dict) or not isinstance(ref.get("namespace"), str):
                continue  # absent, or not a string (the schema check reports that)
            ns = ref["namespace"]
            del ref["namespace"]
            if ns and ns != namespace:
                errors.append(invalid(ns, f"{where}.secretref.namespace",
                                      "secretref.namespace is invalid. If set, it should use the same "
                                      "namespace where the policy-controller was deployed"))
    return out, errors


def _name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata")
    return str(meta.get("name") or "") if isinstance(meta, Mapping) else ""


def _clean(obj: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The object without what changes on every write but means nothing to a policy (managedFields)."""
    body = dict(obj)
    body.setdefault("kind", kind)
    meta = body.get("metadata")
    if isinstance(meta, Mapping):
        body["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return body


def _decode(data: Mapping[str, Any]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for k, v in data.items():
        try:
            out[str(k)] = base64.b64decode(str(v), validate=True)
        except (binascii.Error, ValueError):
            continue
    return out


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
