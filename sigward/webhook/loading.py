"""Policies from files (``--policies DIR``, ``--trustroot FILE…``) and/or the cluster, through the engine's
PolicySet (the same loading and validation as ``sigward policy test``), into one immutable generation the
service swaps in."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sigward.webhook.service import Loaded


def load(paths: Sequence[Path], options: Any) -> Loaded:
    """Load and validate every document under ``paths``; raises with all errors when anything is invalid
    (the caller keeps the previous generation)."""
    from sigward.admission import Engine, PolicySet

    policies = PolicySet.load(list(paths))
    engine = Engine(policies, options)
    _warm_up(policies)
    return Loaded(engine=engine, identity=policies.identity, secrets=dict(policies.secrets),
                  policy_count=len(policies.policies))


def load_cluster(paths: Sequence[Path], source: Any, options: Any) -> Loaded:
    """The cluster's resources (``source``: a ``ClusterSource``), plus the files under ``paths`` if any
    (the cluster wins a name both define). The cluster's resources were validated one by one as they
    arrived; the files are all-or-nothing, as in file mode."""
    from sigward.admission import Engine, PolicySet
    from sigward.webhook.cluster import merge, with_cluster_secrets

    policies = PolicySet.from_documents(source.documents())
    if paths:
        policies = merge(PolicySet.load(list(paths)), policies)
    policies = with_cluster_secrets(policies, source)
    engine = Engine(policies, options)
    _warm_up(policies)
    return Loaded(engine=engine, identity=policies.identity, secrets=dict(policies.secrets),
                  policy_count=len(policies.policies))


def engine_options(**kw: Any) -> Any:
    """``sigward.admission.EngineOptions(**kw)``."""
    from sigward.admission import EngineOptions

    return EngineOptions(**kw)


# What the first verification would otherwise import while an admission request waits on it.
_VERIFY_MODULES = ("sigward.sigstore.pipeline", "sigward.sigstore.verify", "sigward.sigstore.trust",
                   "sigward.ops.verify", "sigward.oci.registry", "sigward.transport", "httpx")


def _warm_up(policies: Any) -> None:
    """Pay one-time costs at load rather than in the first admission request (a cold decision is measured
    against 1 s): the verification modules, and each TrustRoot converted to a trusted root. A failure here
    is left for the request that needs it to report."""
    import importlib

    for name in _VERIFY_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    for root in getattr(policies, "trustroots", {}).values():
        try:
            root.trusted_root()
        except Exception:
            pass
