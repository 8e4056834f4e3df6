"""One ClusterImagePolicy authority checked against one image, through the one verification pipeline.

A CIP authority becomes a pipeline authority (``sigward.sigstore.policy.KeyAuthority`` or
``KeylessAuthority``) with the transparency-log and timestamp checks policy-controller applies
(reference §1.4), and is evaluated over the image's candidates by ``sigward.sigstore.pipeline.evaluate`` —
no second verifier. What differs from policy-controller, deliberately:

- candidates: by default both cosign v3 bundle referrers **and** legacy ``.sig``/``.att`` images are read,
  for key and keyless authorities alike (policy-controller refuses bundle image signatures);
  ``signatureFormat: legacy`` or ``bundle`` narrows to one;
- every attestation is signature-checked before its predicate is looked at (OCI 1.1 referrers included):
  an unsigned attestation never counts;
- a ``secretRef`` Secret made by ``cosign generate-key-pair k8s://`` (cosign.key, cosign.pub,
  cosign.password) is accepted: its ``cosign.pub`` is the key.

Error strings are policy-controller's (``signature key validation failed for authority <n> for <ref>: …``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from threading import Lock
from typing import TYPE_CHECKING, Any, Literal

from sigward.cip import model
from sigward.errors import SigwardError

if TYPE_CHECKING:
    from sigward.admission.policyset import PolicySet
    from sigward.keys.interfaces import Verifier
    from sigward.oci.store import Store, StoreOptions
    from sigward.sigstore.pipeline import Candidate, VerifiedSignature
    from sigward.sigstore.policy import KeyAuthority, KeylessAuthority
    from sigward.sigstore.trust import TrustedRoot

# Fulcio's legacy GitHub workflow extensions, as policy-controller reports them.
GITHUB_FIELDS = (
    ("githubWorkflowTrigger", "1.3.6.1.4.1.57264.1.2"),
    ("githubWorkflowSha", "1.3.6.1.4.1.57264.1.3"),
    ("githubWorkflowName", "1.3.6.1.4.1.57264.1.4"),
    ("githubWorkflowRepo", "1.3.6.1.4.1.57264.1.5"),
    ("githubWorkflowRef", "1.3.6.1.4.1.57264.1.6"),
)


class AuthorityError(SigwardError):
    """An authority that cannot be evaluated (its keys, trust root or policy cannot be had)."""


@dataclass
class Outcome:
    """How one authority fared: ``match`` is its ``authorityMatches`` entry when it passed."""

    name: str
    passed: bool
    error: str | None = None
    match: dict[str, Any] = field(default_factory=dict)


@dataclass
class Subject:
    """The image being admitted, resolved, and what the authorities need around it."""

    digest: str
    name: str  # go-containerregistry's ref.Name() of the digest reference, as in the messages
    store: Store
    ref: Any  # sigward.oci.reference.AnyReference of the digest
    store_options: StoreOptions
    policies: PolicySet
    namespace: str | None = None
    cue: Any = None  # Path | None
    # Candidates fetched from the image's own store, by (kind, format, tag prefix): every policy and
    # authority that reads the same place shares one fetch (ten policies → one discovery).
    fetched: dict[tuple[str, str, str], list[Any]] = field(default_factory=dict)
    fetch_lock: Lock = field(default_factory=Lock)

    def candidates(self, store: Store, kind: Literal["sig", "att"], fmt: str, prefix: str) -> list[Candidate]:
        if store is not self.store:
            return list(candidates(store, self.digest, kind, fmt, prefix))
        key = (kind, fmt, prefix)
        with self.fetch_lock:  # held while fetching: the others wait for this fetch instead of repeating it
            if key not in self.fetched:
                self.fetched[key] = list(candidates(store, self.digest, kind, fmt, prefix))
            return list(self.fetched[key])


_PUBLIC_GOOD: dict[str, Any] = {}
_PUBLIC_GOOD_LOCK = Lock()


def public_good_root() -> TrustedRoot:
    """The public-good trusted root (sigstore-python's cached or embedded copy: no network at admission)."""
    with _PUBLIC_GOOD_LOCK:
        if "root" not in _PUBLIC_GOOD:
            from sigward.sigstore.trust import public_good

            _PUBLIC_GOOD["root"] = public_good(offline=True)[0]
        root: TrustedRoot = _PUBLIC_GOOD["root"]
        return root


def _trust_root(subject: Subject, ref: str) -> TrustedRoot:
    tr = subject.policies.trustroots.get(ref)
    if tr is None:
        raise AuthorityError(f"trustRootRef {ref} not found")
    root: TrustedRoot = tr.trusted_root()
    return root


# --- keys ------------------------------------------------------------------------------------------


def _pem_verifier(pem: bytes, hash_name: str, where: str) -> Verifier:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from sigward.keys.local import LocalVerifier

    try:
        pub = load_pem_public_key(pem.strip() + b"\n")
    except (ValueError, TypeError) as e:
        raise AuthorityError(f"{where}: not a PEM public key ({e})")
    return LocalVerifier(pub, hash_name=hash_name)  # type: ignore[arg-type]


def _secret_key(subject: Subject, ref: model.SecretRef) -> bytes:
    data = subject.policies.secret(ref.name, ref.namespace or None)
    if data is None and not ref.namespace:
        data = subject.policies.secret(ref.name, subject.policies.controller_namespace)
    if data is None:
        raise AuthorityError(f'secret "{ref.name}" not found (no Secret of that name in the PolicySet)')
    if not data:
        raise AuthorityError(f'secret "{ref.name}" contains no data')
    if len(data) == 1:
        return next(iter(data.values()))
    if "cosign.pub" in data:  # cosign generate-key-pair k8s://: cosign.key, cosign.pub, cosign.password
        return data["cosign.pub"]
    raise AuthorityError(f'secret "{ref.name}" contains multiple data entries, only one is supported')


def verifiers(subject: Subject, key: model.KeyRef) -> tuple[Verifier, ...]:
    if key.data:
        return (_pem_verifier(key.data.encode(), key.hash_name, "key.data"),)
    if key.secret_ref is not None:
        return (_pem_verifier(_secret_key(subject, key.secret_ref), key.hash_name,
                              f'secret "{key.secret_ref.name}"'),)
    if key.kms:
        from sigward.keys.providers import load_verifier

        return (load_verifier(key.kms, hash_name=key.hash_name),)
    return ()


# --- the pipeline authority --------------------------------------------------------------------------


def _tlog_root(subject: Subject, auth: model.Authority) -> TrustedRoot | None:
    """The root whose Rekor keys the log entries must verify under; None: the log is not checked.

    policy-controller's rule (``rekorClientAndKeysFromAuthority``): keyless with neither ``trustRootRef``
    nor ``ctlog`` → the public-good keys; ``ctlog.trustRootRef`` → that root's; ``ctlog.url`` → the
    public-good keys; anything else (a key without ``ctlog``, keyless with a ``trustRootRef`` but no
    ``ctlog``) → no log check."""
    if auth.keyless is not None and not auth.keyless.trust_root_ref and auth.ctlog is None:
        return public_good_root()
    if auth.ctlog is None:
        return None
    if auth.ctlog.trust_root_ref:
        return _trust_root(subject, auth.ctlog.trust_root_ref)
    return public_good_root() if auth.ctlog.url else None


def pipeline_authority(subject: Subject, auth: model.Authority) -> KeyAuthority | KeylessAuthority:
    """The CIP authority as a pipeline authority; raises AuthorityError (or any SigwardError)."""
    from sigward.sigstore.policy import Checks, Identity, KeyAuthority, KeylessAuthority

    tlog = _tlog_root(subject, auth)
    tsa = _trust_root(subject, auth.rfc3161timestamp) if auth.rfc3161timestamp else None
    ignore_tlog = tlog is None or tsa is not None  # a TSA turns the log off (policy-controller)
    if auth.key is not None:
        keys = verifiers(subject, auth.key)
        if not keys:
            raise AuthorityError(f"there are no public keys for authority {auth.name}")
        root = _combine(tlog, tlog, tsa)
        checks = Checks(ignore_tlog=ignore_tlog, use_signed_timestamps=tsa is not None)
        return KeyAuthority(keys, root, checks, auth.name)
    assert auth.keyless is not None
    kl = auth.keyless
    if not kl.url:
        raise AuthorityError("no Keyless URL specified")
    base = _trust_root(subject, kl.trust_root_ref) if kl.trust_root_ref else public_good_root()
    root = _combine(base, tlog, tsa)
    assert root is not None
    idents = tuple(Identity(subject=i.subject or None, issuer=i.issuer or None,
                            subject_regexp=i.subject_regexp or None, issuer_regexp=i.issuer_regexp or None)
                   for i in kl.identities)
    checks = Checks(ignore_tlog=ignore_tlog, ignore_sct=kl.insecure_ignore_sct,
                    use_signed_timestamps=tsa is not None)
    return KeylessAuthority(idents, root, checks, auth.name)


def _combine(base: TrustedRoot | None, tlog: TrustedRoot | None,
             tsa: TrustedRoot | None) -> TrustedRoot | None:
    """``base``'s CAs and CT logs, with ``tlog``'s Rekor keys and ``tsa``'s timestamp authorities when
    given (else ``base``'s own: a bundle's timestamps are checked against what its root trusts)."""
    root = base or tlog or tsa
    if root is None:
        return None
    return replace(root, tlogs=tlog.tlogs if tlog is not None else root.tlogs,
                   timestamp_authorities=tsa.timestamp_authorities if tsa is not None
                   else root.timestamp_authorities)


# --- candidates ------------------------------------------------------------------------------------


def _signature_store(subject: Subject, auth: model.Authority, keychain: Any) -> tuple[Store, bool, str]:
    """(store holding the signatures, whether the caller must close it, tag prefix)."""
    if not auth.sources:
        return subject.store, False, ""
    src = auth.sources[0]
    if not src.oci and not src.signature_pull_secrets:
        return subject.store, False, src.tag_prefix
    from sigward.oci.reference import Reference, parse_reference
    from sigward.oci.store import open_store

    opts = subject.store_options
    if src.signature_pull_secrets:
        from sigward.oci.registry.keychain import MultiKeychain, PullSecretKeychain, default_keychain

        datas = []
        for name in src.signature_pull_secrets:
            data = subject.policies.secret(name, subject.namespace)
            if data is None:
                raise AuthorityError(f'signaturePullSecrets: secret "{name}" not found')
            datas.append(data)
        pulls = PullSecretKeychain(datas, src.signature_pull_secrets)
        rest = keychain if keychain is not None else opts.keychain or default_keychain(
            opts.username, opts.password, opts.registry_token)
        opts = replace(opts, keychain=MultiKeychain(pulls, rest))
    target = parse_reference(src.oci, default_tag=False) if src.oci else subject.ref
    if isinstance(target, Reference):
        target = Reference(target.registry, target.repository)
    return open_store(target, opts), True, src.tag_prefix


def candidates(store: Store, digest: str, kind: Literal["sig", "att"], fmt: str,
               tag_prefix: str) -> Iterator[Candidate]:
    """Bundle referrers and/or legacy layers: ``legacy`` or ``bundle`` only when the authority says so,
    both otherwise (bundles first)."""
    from sigward.ops.verify import iter_bundles, legacy_candidates

    if fmt != "legacy":
        yield from iter_bundles(store, digest)
    if fmt != "bundle":
        yield from legacy_candidates(store, digest, kind, tag_prefix=tag_prefix)


# --- results as policy-controller reports them ------------------------------------------------------


def policy_signature(sig: VerifiedSignature) -> dict[str, Any]:
    """policy-controller's PolicySignature: id (sha256 of signature + certificate PEM), subject (first SAN),
    issuer, GitHub workflow claims; empty fields omitted as Go's ``omitempty`` does."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from sigward.formats._common import b64decode_std
    from sigward.sigstore.pipeline import LegacyCandidate

    raw = b""
    if sig.envelope is not None and sig.envelope.signatures:
        raw = sig.envelope.signatures[0].sig
    elif isinstance(sig.candidate, LegacyCandidate) and sig.candidate.signature_b64:
        raw = b64decode_std(sig.candidate.signature_b64, "signature")
    h = hashlib.sha256(raw)
    if sig.certificate is not None:
        h.update(sig.certificate.public_bytes(Encoding.PEM))
    out: dict[str, Any] = {"id": h.hexdigest()}
    if sig.identity is not None:
        if sig.identity.sans:
            out["subject"] = sig.identity.sans[0]
        if sig.identity.issuer:
            out["issuer"] = sig.identity.issuer
        for name, oid in GITHUB_FIELDS:
            if sig.identity.extensions.get(oid):
                out[name] = sig.identity.extensions[oid]
    return out


# The pipeline names its own settings; in a policy they are spelled as CIP fields.
_CIP_WORDS = (
    ("Checks.ignore_tlog skips this check", "not checked for a key authority without ctlog"),
    ("Checks.use_signed_timestamps needs", "rfc3161timestamp needs"),
    ("Checks.ignore_sct", "keyless.insecureIgnoreSCT"),
)


def _reason(err: str) -> str:
    """sigward's reason in a policy's words; an identity failure in cosign's (the e2e tests grep for them)."""
    for ours, theirs in _CIP_WORDS:
        err = err.replace(ours, theirs)
    if err.startswith("certificate identity:"):
        return "none of the expected identities matched what was in the certificate:" + err[len(
            "certificate identity:"):]
    return err


def _failures(reasons: list[str]) -> str:
    seen: dict[str, None] = {}
    for r in reasons:
        seen.setdefault(_reason(r), None)
    return "\n ".join(seen)


# --- evaluation ------------------------------------------------------------------------------------


def check(subject: Subject, auth: model.Authority, keychain: Any) -> Outcome:
    """Evaluate ``auth``; every failure becomes the Outcome's error, never an exception."""
    if auth.static is not None:
        if auth.static.action == "pass":
            return Outcome(auth.name, True, match={"static": True})
        return Outcome(auth.name, False, f"disallowed by static policy: {auth.static.message}")
    what = "key" if auth.key is not None else "keyless"
    kind: Literal["sig", "att"] = "att" if auth.attestations else "sig"
    label = "attestation" if auth.attestations else "signature"
    try:
        authority = pipeline_authority(subject, auth)
    except AuthorityError as e:
        msg = str(e)
        if msg.startswith(("there are no public keys", "no Keyless URL")):
            return Outcome(auth.name, False, msg)
        return Outcome(auth.name, False, f"constructing checkOpts for {auth.name}: {msg}")
    except SigwardError as e:
        return Outcome(auth.name, False, f"constructing checkOpts for {auth.name}: {e}")
    store = None
    close = False
    try:
        store, close, prefix = _signature_store(subject, auth, keychain)
        verified, reasons, seen = _verify(subject, authority, store, kind, auth.signature_format, prefix)
    except SigwardError as e:
        verified, reasons, seen = [], [str(e)], True
    finally:
        if close and store is not None:
            store.close()
    if not verified:
        if kind == "sig":
            inner = ("no matching signatures: " + _failures(reasons)) if seen else "no signatures found"
        else:
            inner = ("no matching attestations: " + _failures(reasons)) if seen else \
                "no matching attestations"
        return Outcome(auth.name, False, f"{label} {what} validation failed for authority {auth.name} "
                                         f"for {subject.name}: {inner}")
    if kind == "sig":
        return Outcome(auth.name, True, match={"signatures": [policy_signature(s) for s in verified]})
    return _attestations(subject, auth, verified)


def _verify(subject: Subject, authority: KeyAuthority | KeylessAuthority, store: Store,
            kind: Literal["sig", "att"], fmt: str,
            prefix: str) -> tuple[list[VerifiedSignature], list[str], bool]:
    from sigward.sigstore.pipeline import Target, evaluate

    cands = subject.candidates(store, kind, fmt, prefix)
    if not cands:
        return [], [], False
    expect: Literal["image-signature", "attestation"] = "attestation" if kind == "att" else "image-signature"
    result = evaluate(authority, cands, Target(digest=subject.digest), expect)
    return result.signatures, [str(e) for r in result.results for _w, e in r.failures], True


def _attestations(subject: Subject, auth: model.Authority, verified: list[VerifiedSignature]) -> Outcome:
    """Every listed attestation needs one verified statement of its predicate type that its policy passes
    (ANDed); the first policy failure, else ``no matching attestations with type …``, is the error."""
    from sigward.admission.evalpolicy import evaluate as eval_policy
    from sigward.admission.sources import policy_text
    from sigward.formats.predicates import policy_input

    matches: dict[str, list[dict[str, Any]]] = {}
    for want in auth.attestations:
        uri = want.predicate_type_uri
        checked: set[str] = set()
        first_error: str | None = None
        found: list[dict[str, Any]] = []
        for va in verified:
            if va.statement is None:
                continue
            got = va.predicate_type or ""
            checked.add(got)
            if got != uri:
                continue
            if want.policy is not None and want.policy.type:
                try:
                    body = policy_text(subject, want.policy)
                    warn, err = eval_policy(want.name, want.policy.type, body, policy_input(va.statement),
                                            subject.cue)
                except SigwardError as e:
                    warn, err = None, str(e)
                if err is not None or warn is not None:
                    first_error = first_error or err or warn
                    continue
            entry = policy_signature(va)
            entry["predicateType"] = want.predicate_type
            entry["digest"] = _candidate_digest(va)
            found.append(entry)
        if not found:
            if first_error is not None:
                return Outcome(auth.name, False, first_error)
            types = ",".join(sorted(checked))
            return Outcome(auth.name, False, f"no matching attestations with type {want.predicate_type}, "
                                             f"checked the following predicateTypes: {_go_quote(types)}")
        matches[want.name] = found
    return Outcome(auth.name, True, match={"attestations": matches})


def _candidate_digest(va: VerifiedSignature) -> str:
    where = va.candidate.where
    return where if where.startswith("sha256:") else ""


def _go_quote(s: str) -> str:
    import json

    return json.dumps(s, ensure_ascii=False)

