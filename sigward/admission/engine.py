"""The admission engine: an image (and the resource it comes in) against a PolicySet → an ImageVerdict.

policy-controller's evaluation order (reference §2.4): every ClusterImagePolicy whose globs (and
``match``) select the image applies, and all of them must pass (AND); within one, a single authority
passing is enough (OR); then, if the policy has a CIP-level ``policy``, it is evaluated over the
``authorityMatches`` of the authorities that passed (k-of-n lives there), with ``config``, ``spec``,
``metadata`` and ``typemeta`` as the policy asks. No matching policy: ``EngineOptions.no_match``
(deny by default, as policy-tester).

The decision is computed apart from the messages (reference §2.9: policy-controller's
``errorsToFieldErrors`` mixes warn and enforce labels): a ``mode: warn`` policy never denies and its
failures are warnings; an ``enforce`` policy's failures are errors. Error strings are policy-controller's.

Thread-safe: an Engine holds only immutable policies and options; each ``evaluate`` opens its own
stores. ``evaluate`` never raises for a policy outcome — an unreachable registry, a bad signature, a
timeout are verdicts with reasons.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sigward.admission.authorities import Outcome, Subject, check
from sigward.admission.matching import image_matches, resource_matches
from sigward.admission.policyset import PolicySet
from sigward.cip.model import ClusterImagePolicy
from sigward.errors import SigwardError

if TYPE_CHECKING:
    from sigward.oci.registry.keychain import Keychain
    from sigward.oci.store import StoreOptions

NO_MATCH = "no matching policies"


@dataclass(frozen=True)
class EngineOptions:
    store_options: StoreOptions
    keychain: Keychain | None = None
    cue: Path | None = None
    no_match: Literal["deny", "allow", "warn"] = "deny"
    timeout: float | None = None


@dataclass(frozen=True)
class AuthorityVerdict:
    name: str
    passed: bool
    errors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "errors": list(self.errors)}


@dataclass(frozen=True)
class PolicyVerdict:
    name: str
    mode: str
    passed: bool
    authorities: tuple[AuthorityVerdict, ...] = ()
    errors: tuple[str, ...] = ()
    # What the CIP-level policy sees (authorityMatches, config, spec, metadata, typemeta) once built.
    policy_input: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "passed": self.passed, "errors": list(self.errors),
                "authorities": {a.name: a.to_json() for a in self.authorities},
                "authorityMatches": dict(self.policy_input.get("authorityMatches") or {})}


@dataclass(frozen=True)
class ImageVerdict:
    image: str
    digest_ref: str | None
    allowed: bool
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    policies: Mapping[str, PolicyVerdict] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"image": self.image, "digest": self.digest_ref, "allowed": self.allowed,
                "errors": list(self.errors), "warnings": list(self.warnings),
                "policies": {n: p.to_json() for n, p in self.policies.items()}}


class Engine:
    """Evaluates images against a PolicySet. Keeps the HTTP connection (and the registry's ping facts) of
    every registry host it has talked to warm until ``close()``: an admission webhook evaluates the same
    few registries over and over, and a TLS handshake plus ``GET /v2/`` per image would dominate."""

    def __init__(self, policies: PolicySet, options: EngineOptions) -> None:
        self.policies = policies
        self.options = options
        self._warm: dict[tuple[str, Any], Any] = {}
        self._warm_lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        """Give back the warm connections."""
        with self._warm_lock:
            self._closed = True  # an evaluation still running (past its deadline) adds nothing after this
            leases = list(self._warm.values())
            self._warm.clear()
        for lease in leases:
            lease.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _keep_warm(self, ref: Any, opts: StoreOptions) -> None:
        """Hold a lease on ``ref``'s host with the options its stores use, so the shared client lives on."""
        from sigward import transport
        from sigward.oci.reference import Reference

        if not isinstance(ref, Reference):
            return
        client_opts = transport.ClientOptions(ca_file=opts.ca_file, insecure=opts.allow_insecure_registry,
                                              client_cert=opts.client_cert, client_key=opts.client_key,
                                              user_agent=opts.user_agent)
        key = (ref.api_host.lower(), client_opts)
        with self._warm_lock:
            if not self._closed and key not in self._warm:
                self._warm[key] = transport.lease(ref.api_host, client_opts)

    # --- matching ----------------------------------------------------------------------------------

    def matching(self, image: str, resource: Mapping[str, Any] | None = None) -> list[ClusterImagePolicy]:
        """The policies that apply to ``image`` (as written) in ``resource``; raises for a bad reference."""
        from sigward.cip.glob import image_name

        name = image_name(image)
        return [p for p in self.policies.policies if resource_matches(p, resource) and image_matches(p, name)]

    def resolve(self, image: str, keychain: Keychain | None = None) -> str:
        """``repo@sha256:…`` for ``image``; raises SigwardError when it cannot be resolved."""
        from sigward.oci.reference import parse_reference
        from sigward.oci.store import open_store

        ref = parse_reference(image)
        with open_store(ref, self._store_options(keychain)) as store:
            digest = store.resolve(ref.identifier).digest
        return str(ref.with_digest(digest))

    def _store_options(self, keychain: Keychain | None) -> StoreOptions:
        kc = keychain if keychain is not None else self.options.keychain
        base = self.options.store_options
        return replace(base, keychain=kc) if kc is not None else base

    # --- evaluation --------------------------------------------------------------------------------

    def evaluate(self, image: str, *, resource: Mapping[str, Any] | None = None,
                 keychain: Keychain | None = None) -> ImageVerdict:
        if self.options.timeout is None:
            return self._evaluate(image, resource, keychain)
        box: list[ImageVerdict] = []
        worker = threading.Thread(target=lambda: box.append(self._evaluate(image, resource, keychain)),
                                  name="sigward-admission-evaluate", daemon=True)
        worker.start()
        worker.join(self.options.timeout)
        if box:
            return box[0]
        return ImageVerdict(image, None, False,
                            (f"context was canceled before validation completed: {image} not evaluated "
                             f"within {self.options.timeout:g} s",))

    def _evaluate(self, image: str, resource: Mapping[str, Any] | None,
                  keychain: Keychain | None) -> ImageVerdict:
        try:
            matched = self.matching(image, resource)
        except SigwardError as e:
            return ImageVerdict(image, None, False, (f"could not parse reference: {image}: {e}",))
        warnings = list(self.policies.warnings)
        if not matched:
            if self.options.no_match == "allow":
                return ImageVerdict(image, None, True, (), tuple(warnings))
            if self.options.no_match == "warn":
                return ImageVerdict(image, None, True, (), (*warnings, NO_MATCH))
            return ImageVerdict(image, None, False, (NO_MATCH,), tuple(warnings))
        from sigward.oci.reference import parse_reference
        from sigward.oci.store import open_store

        opts = self._store_options(keychain)
        try:
            ref = parse_reference(image)
            store = open_store(ref, opts)
            self._keep_warm(ref, opts)
        except SigwardError as e:
            return ImageVerdict(image, None, False, (f"could not parse reference: {image}: {e}",))
        with store:
            try:
                digest = store.resolve(ref.identifier).digest
            except SigwardError as e:
                return ImageVerdict(image, None, False, (f"failed to resolve {image}: {e}",), tuple(warnings))
            digest_ref = ref.with_digest(digest)
            subject = Subject(digest=digest, name=str(digest_ref), store=store, ref=digest_ref,
                              store_options=opts, policies=self.policies, namespace=_namespace(resource),
                              cue=self.options.cue)
            kc = keychain if keychain is not None else self.options.keychain
            verdicts = {p.name: self._policy(subject, p, resource, kc) for p in matched}
        errors = [e for v in verdicts.values() if not v.passed and v.mode != "warn" for e in v.errors]
        warnings += [e for v in verdicts.values() if not v.passed and v.mode == "warn" for e in v.errors]
        allowed = all(v.passed or v.mode == "warn" for v in verdicts.values())
        return ImageVerdict(image, str(digest_ref), allowed, tuple(errors), tuple(warnings), verdicts)

    def _policy(self, subject: Subject, cip: ClusterImagePolicy, resource: Mapping[str, Any] | None,
                keychain: Any) -> PolicyVerdict:
        outcomes = self._authorities(subject, cip, keychain)
        auths = tuple(AuthorityVerdict(o.name, o.passed, (o.error,) if o.error else ()) for o in outcomes)
        passed = [o for o in outcomes if o.passed]
        errors = [o.error for o in outcomes if o.error]
        if not passed:
            return PolicyVerdict(cip.name, cip.mode, False, auths, tuple(errors))
        doc: dict[str, Any] = {"authorityMatches": {o.name: o.match for o in passed}}
        if cip.policy is None:
            return PolicyVerdict(cip.name, cip.mode, True, auths, (), doc)
        try:
            doc.update(_policy_extras(subject, cip, resource))
            from sigward.admission.evalpolicy import evaluate as eval_policy
            from sigward.admission.sources import policy_text

            warn, err = eval_policy("ClusterImagePolicy", cip.policy.type, policy_text(subject, cip.policy),
                                    doc, subject.cue)
        except SigwardError as e:
            warn, err = None, str(e)
        failure = err or warn  # a compliant-with-warning Rego result fails, as in policy-controller
        if failure:
            return PolicyVerdict(cip.name, cip.mode, False, auths, (*errors, failure), doc)
        return PolicyVerdict(cip.name, cip.mode, True, auths, (), doc)

    def _authorities(self, subject: Subject, cip: ClusterImagePolicy, keychain: Any) -> list[Outcome]:
        """Every authority, evaluated concurrently when there are several (each fetches over the network)."""
        if len(cip.authorities) <= 1:
            return [_safe_check(subject, a, keychain) for a in cip.authorities]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(cip.authorities)),
                                thread_name_prefix="sigward-authority") as pool:
            return list(pool.map(lambda a: _safe_check(subject, a, keychain), cip.authorities))


def _safe_check(subject: Subject, auth: Any, keychain: Any) -> Outcome:
    try:
        return check(subject, auth, keychain)
    except SigwardError as e:  # check() turns failures into outcomes; this is a last line
        return Outcome(auth.name, False, f"failed to process authority: {auth.name}: {e}")


def _namespace(resource: Mapping[str, Any] | None) -> str | None:
    if not resource:
        return None
    meta = resource.get("metadata") or {}
    ns = meta.get("namespace") if isinstance(meta, Mapping) else None
    return str(ns) if ns else "default"


def _policy_extras(subject: Subject, cip: ClusterImagePolicy,
                   resource: Mapping[str, Any] | None) -> dict[str, Any]:
    """``config`` (fetchConfigFile), ``spec``, ``metadata``, ``typemeta`` for the CIP-level policy."""
    assert cip.policy is not None
    out: dict[str, Any] = {}
    if cip.policy.fetch_config_file:
        from sigward.admission.sources import config_files

        out["config"] = config_files(subject.store, subject.digest)
    res = resource or {}
    if cip.policy.include_spec and res.get("spec") is not None:
        out["spec"] = res["spec"]
    if cip.policy.include_object_meta and res.get("metadata") is not None:
        out["metadata"] = res["metadata"]
    if cip.policy.include_type_meta and res.get("kind"):
        out["typemeta"] = {"apiVersion": res.get("apiVersion", ""), "kind": res.get("kind", "")}
    return out
