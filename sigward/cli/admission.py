"""`sigward admission serve|certs`: the Kubernetes admission webhook that enforces policy-controller's
ClusterImagePolicies (docs/admission.md).

This module only parses; the server (aiohttp, prometheus-client, redis) is imported when ``serve`` runs,
so no other command pays for it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from sigward.cli.common import add_registry_flags

SERVE_EPILOG = """\
examples:
  sigward admission certs --out /tmp/certs --host 127.0.0.1 --host sigward-admission.sigward-system.svc
  sigward admission serve --policies ./policies --tls-cert /tmp/certs/tls.crt --tls-key /tmp/certs/tls.key \\
      --listen 0.0.0.0:8443 --redis redis://redis:6379/0 --cache-ttl 10m
  sigward admission serve --policies-from-cluster --kubeconfig ~/.kube/config --namespace cosign-system \
      --tls-cert /tmp/certs/tls.crt --tls-key /tmp/certs/tls.key

paths: POST /validations, POST /mutations (admission.k8s.io/v1 AdmissionReview), POST /validating
(ClusterImagePolicy/TrustRoot validation, as policy-controller's), GET /healthz, /readyz
(ready once the policies are loaded), /metrics (Prometheus). Any error, timeout or overload denies.

--policies-from-cluster watches ClusterImagePolicies (policy.sigstore.dev v1alpha1/v1beta1) and TrustRoots
cluster-wide, and Secrets and ConfigMaps in --namespace (secretRef keys, configMapRef policies); a pod's
imagePullSecrets, its service account's and signaturePullSecrets are read in the pod's namespace. An
invalid resource is logged, counted and skipped; /readyz answers once everything has been listed."""


def _duration(text: str) -> float:
    from sigward.cli.globalflags import parse_duration

    try:
        value = parse_duration(text, "--duration")
    except Exception:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (Go syntax: 500ms, 8s, 10m, 1h)")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"duration must be positive, got {text!r}")
    return value


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"--listen wants HOST:PORT, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def register(sub: Any) -> None:
    p = sub.add_parser("admission", help="the Kubernetes admission webhook enforcing ClusterImagePolicies",
                       description="A drop-in for Sigstore policy-controller's webhook: the same "
                                   "ClusterImagePolicy resources, paths and messages, with a verdict cache.")
    asub = p.add_subparsers(dest="admission_command", metavar="COMMAND", parser_class=type(p))
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 1)[1])

    s = asub.add_parser("serve", help="serve /validations and /mutations over HTTPS", epilog=SERVE_EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--policies", action="append", default=[], metavar="DIR",
                   help="ClusterImagePolicy, TrustRoot and Secret manifests (a directory or file; "
                        "repeatable); reloaded when they change")
    s.add_argument("--policies-from-cluster", action="store_true",
                   help="watch ClusterImagePolicies, TrustRoots and --namespace's Secrets and ConfigMaps "
                        "through the Kubernetes API (with --policies, both; the cluster wins a name)")
    s.add_argument("--kubeconfig", default=None, metavar="FILE",
                   help="with --policies-from-cluster: kubeconfig to use (default: the in-cluster service "
                        "account, else $KUBECONFIG or ~/.kube/config)")
    s.add_argument("--namespace", default=None, metavar="NS",
                   help="with --policies-from-cluster: the webhook's own namespace, where secretRef Secrets "
                        "and ConfigMaps live (default: the pod's namespace in a cluster, else cosign-system)")
    s.add_argument("--watch-timeout", type=_duration, default=240.0, metavar="DURATION",
                   help="with --policies-from-cluster: server-side timeout of each watch request, after "
                        "which it resumes from the last resourceVersion (default 4m)")
    s.add_argument("--trustroot", action="append", default=[], metavar="FILE",
                   help="TrustRoot manifest, referenced by name from trustRootRef (repeatable)")
    s.add_argument("--tls-cert", required=True, metavar="FILE", help="serving certificate (PEM; reloaded)")
    s.add_argument("--tls-key", required=True, metavar="FILE", help="its private key (PEM; reloaded)")
    s.add_argument("--listen", type=_listen, default=("0.0.0.0", 8443), metavar="HOST:PORT",
                   help="address to listen on (default 0.0.0.0:8443; port 0 picks a free one)")
    s.add_argument("--redis", default=None, metavar="URL",
                   help="share verdicts between replicas through Redis (redis://host:6379/0)")
    s.add_argument("--cache-ttl", type=_duration, default=600.0, metavar="DURATION",
                   help="how long an admitted verdict is reused (default 10m; denials at most 10s)")
    s.add_argument("--cache-size", type=int, default=10000, metavar="N",
                   help="verdicts kept in memory (default 10000; 0 disables the in-process cache)")
    s.add_argument("--timeout", type=_duration, default=8.0, metavar="DURATION",
                   help="per-request deadline, below the API server's webhook timeout (default 8s)")
    s.add_argument("--no-match-policy", choices=["deny", "allow", "warn"], default="deny",
                   help="an image no policy matches: deny (default, as policy-controller), allow or warn")
    s.add_argument("--workers", type=int, default=16, metavar="N",
                   help="concurrent verifications (default 16)")
    s.add_argument("--max-pending", type=int, default=256, metavar="N",
                   help="pending verifications beyond which images are denied as overloaded (default 256)")
    s.add_argument("--reload-interval", type=_duration, default=2.0, metavar="DURATION",
                   help="how often policy and certificate files are checked for changes (default 2s)")
    add_registry_flags(s)
    s.set_defaults(func=_serve)

    c = asub.add_parser("certs", help="make a CA and a serving certificate; print the caBundle",
                        description="Write ca.crt, ca.key, tls.crt, tls.key into --out and print the base64 "
                                    "caBundle for the WebhookConfigurations.")
    c.add_argument("--out", required=True, metavar="DIR", help="directory to write the files to")
    c.add_argument("--host", action="append", required=True, metavar="NAME",
                   help="DNS name or IP address of the webhook (repeatable), e.g. "
                        "sigward-admission.sigward-system.svc")
    c.add_argument("--days", type=int, default=365, help="validity in days (default 365)")
    c.set_defaults(func=_certs)


def _certs(args: argparse.Namespace) -> int:
    from sigward.errors import UsageError
    from sigward.webhook.certs import issue

    if args.days <= 0:
        raise UsageError("--days must be positive")
    try:
        issued = issue(Path(args.out), args.host, days=args.days)
    except ValueError as e:
        raise UsageError(str(e))
    print(f"wrote {issued.ca_cert}, {issued.cert}, {issued.key} (CA key: {issued.ca_key})", file=sys.stderr)
    print(issued.ca_bundle)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from sigward.cli.common import store_options
    from sigward.errors import UsageError

    paths = [Path(p) for p in [*args.policies, *args.trustroot]]
    if not args.policies and not args.policies_from_cluster:
        raise UsageError("give the policies: --policies DIR and/or --policies-from-cluster")
    if (args.kubeconfig or args.namespace) and not args.policies_from_cluster:
        raise UsageError("--kubeconfig and --namespace go with --policies-from-cluster")
    if args.kubeconfig and not Path(args.kubeconfig).is_file():
        raise UsageError(f"{args.kubeconfig}: no such file")
    for p in paths:
        if not p.exists():
            raise UsageError(f"{p}: no such file or directory")
    for f in (args.tls_cert, args.tls_key):
        if not Path(f).is_file():
            raise UsageError(f"{f}: no such file")
    if args.workers <= 0 or args.max_pending <= 0:
        raise UsageError("--workers and --max-pending must be positive")
    try:
        import aiohttp  # noqa: F401
        import prometheus_client  # noqa: F401
        if args.redis:
            import redis  # noqa: F401
        if args.policies_from_cluster:
            import kubernetes  # noqa: F401
    except ImportError as e:
        extra = "k8s" if e.name == "kubernetes" else "admission"
        raise UsageError(f"the admission server needs {e.name}: pip install 'sigward[{extra}]'")

    from sigward.oci.registry.keychain import default_keychain
    from sigward.webhook import loading
    from sigward.webhook.cache import MemoryCache, RedisCache, VerdictCache
    from sigward.webhook.metrics import Metrics
    from sigward.webhook.server import AdmissionServer, ServerConfig, run
    from sigward.webhook.service import AdmissionService

    sopts = store_options(args)
    base = default_keychain(args.registry_username, args.registry_password, args.registry_token)
    cue = os.environ.get("SIGWARD_CUE") or shutil.which("cue")
    options = loading.engine_options(store_options=sopts, keychain=base, cue=Path(cue) if cue else None,
                            no_match=args.no_match_policy, timeout=args.timeout)
    metrics = Metrics()
    shared = RedisCache(args.redis, args.cache_ttl, on_error=metrics.redis_error) if args.redis else None
    cache = VerdictCache(MemoryCache(args.cache_ttl, args.cache_size), shared)
    source = _cluster_source(args, metrics) if args.policies_from_cluster else None
    service = AdmissionService(cache, metrics, timeout=args.timeout, no_match=args.no_match_policy,
                               workers=args.workers, max_pending=args.max_pending, base_keychain=base,
                               cache_ttl=args.cache_ttl, cluster_secrets=source)
    host, port = args.listen
    config = ServerConfig(host=host, port=port, tls_cert=Path(args.tls_cert), tls_key=Path(args.tls_key),
                          watch=paths, reload_interval=args.reload_interval,
                          controller_namespace=source.namespace if source is not None else None)
    if source is None:
        server = AdmissionServer(service, config, lambda: loading.load(paths, options))
        return run(server)
    server = AdmissionServer(service, config, lambda: loading.load_cluster(paths, source, options),
                             source_stamp=source.stamp)
    source.start()
    return run(server)


def _cluster_source(args: argparse.Namespace, metrics: Any) -> Any:
    from sigward.errors import UsageError
    from sigward.webhook.cluster import ClusterSource, api_client, in_cluster_namespace

    try:
        client = api_client(args.kubeconfig)
    except Exception as e:
        where = f" from {args.kubeconfig}" if args.kubeconfig else ""
        cause = " ".join(str(e).split())[:300]  # a YAML error spans lines: keep all of it, on one
        raise UsageError(f"cannot configure the Kubernetes client{where}: {cause}")
    namespace = args.namespace or in_cluster_namespace() or "cosign-system"
    return ClusterSource(client, namespace, metrics, watch_seconds=int(args.watch_timeout))
