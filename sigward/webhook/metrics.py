"""Prometheus metrics of the admission server, in a registry of its own (not prometheus-client's global
one), so two servers in one process — as in tests — never share counters."""

from __future__ import annotations

from typing import Any


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("sigward_admission_requests", "AdmissionReview requests answered",
                                ["path", "kind", "verdict"], registry=self.registry)
        self.duration = Histogram("sigward_admission_request_duration_seconds",
                                  "time to answer an AdmissionReview", ["path"], registry=self.registry,
                                  buckets=(.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
        self.cache_hits = Counter("sigward_admission_cache_hits", "verdicts served from the cache",
                                  ["tier"], registry=self.registry)
        self.cache_misses = Counter("sigward_admission_cache_misses", "verdicts computed by the engine",
                                    registry=self.registry)
        self.policy_verdicts = Counter("sigward_admission_policy_verdicts",
                                       "per-policy outcomes of computed image verdicts",
                                       ["policy", "verdict"], registry=self.registry)
        self.redis_errors = Counter("sigward_admission_redis_errors", "failed Redis cache operations",
                                    registry=self.registry)
        self.failures = Counter("sigward_admission_failures",
                                "images denied for a timeout, overload or internal error",
                                ["reason"], registry=self.registry)
        self.policies_loaded = Gauge("sigward_admission_policies_loaded",
                                     "ClusterImagePolicies in the active policy set", registry=self.registry)
        self.reloads = Counter("sigward_admission_policy_reloads", "policy directory reloads",
                               ["result"], registry=self.registry)
        # --policies-from-cluster: resources left out as invalid, and list/watch failures (then retried).
        self.invalid_resources = Counter("sigward_admission_invalid_resources",
                                         "cluster resources skipped as invalid", ["kind"],
                                         registry=self.registry)
        self.watch_errors = Counter("sigward_admission_watch_errors", "failed list/watch calls (retried)",
                                    ["kind"], registry=self.registry)
        self.watch_expired = Counter("sigward_admission_watch_expired",
                                     "watches whose resourceVersion expired (410 Gone), listed again",
                                     ["kind"], registry=self.registry)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def redis_error(self, _e: Any) -> None:
        self.redis_errors.inc()
