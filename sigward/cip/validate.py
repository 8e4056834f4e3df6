"""policy-controller's admission-time validation of ClusterImagePolicy and TrustRoot, rule for rule.

A platform team moving from policy-controller to sigward must get the same answer for the same YAML: a
policy policy-controller would refuse must not be quietly accepted (or the reverse), and the message must
be the one they know (``missing field(s): spec.images``). So every rule, message and field path here
follows policy-controller v0.13.1 (``pkg/apis/policy/v1alpha1|v1beta1/*_validation.go``, ``*_defaults.go``,
``pkg/apis/policy/common``, ``pkg/policy/validate.go``), including its path quirks (an attestation's
errors carry no index; a CIP-level ``policy``'s errors sit directly under ``spec``). The few places where
sigward deliberately says more are marked **[better]** and listed in docs/policy.md: policy-controller
drops all but the last TrustRoot ``sigstoreKeys`` list entry's errors, repeats the ``signaturePullSecrets``
prefix, and accepts ``sigstoreKeys`` whose PEM it cannot use until the reconciler fails on them.

Before validating, defaults are applied as policy-controller's mutating webhook (and ``policy-tester``) do:
``mode: enforce``, ``authority-<i>`` names, and the public-good Fulcio URL for a keyless authority with
neither ``url`` nor ``ca-cert``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from sigward.cip import schema
from sigward.cip.checks import validate_glob, validate_kms, validate_oci, validate_regex
from sigward.cip.fielderror import (
    FieldError,
    disallowed,
    invalid,
    merge,
    missing,
    missing_one_of,
    multiple_one_of,
    via_field,
    via_index,
)
from sigward.cip.fielderror import (
    render as render,  # re-exported: callers format what validate() returns
)

CONTROLLER_NAMESPACE = "cosign-system"
VALID_MODES = ("enforce", "warn")
VALID_STATIC_ACTIONS = ("fail", "pass")
# The resources policy-controller's webhook serves (cmd/webhook/main.go sets common.ValidResourceNames).
VALID_RESOURCE_NAMES = (
    "replicasets", "deployments", "pods", "cronjobs", "jobs", "statefulsets", "daemonsets")
# cosign's short predicate type names: accepted, with a deprecation warning.
SHORT_PREDICATE_TYPES = ("custom", "slsaprovenance", "spdx", "spdxjson", "cyclonedx", "link", "vuln")
HASH_ALGORITHMS = ("sha224", "sha256", "sha384", "sha512")
DEFAULT_FULCIO_URL = "https://fulcio.sigstore.dev"

Errs = list[FieldError]


# ---------------------------------------------------------------- reading a decoded object the Go way

def _obj(m: Any, key: str) -> dict[str, Any] | None:
    """A pointer-to-struct field: present (even ``{}``) unless absent or null."""
    v = m.get(key) if isinstance(m, Mapping) else None
    return v if isinstance(v, dict) else None


def _str(m: Any, key: str) -> str:
    v = m.get(key) if isinstance(m, Mapping) else None
    return v if isinstance(v, str) else ""


def _list(m: Any, key: str) -> list[Any]:
    v = m.get(key) if isinstance(m, Mapping) else None
    return v if isinstance(v, list) else []


def _set(m: Any, key: str) -> bool:
    """A pointer field (``*bool``, ``*apis.URL``, …) that is set."""
    return isinstance(m, Mapping) and m.get(key) is not None


# ---------------------------------------------------------------- defaults

def apply_defaults(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a CIP or TrustRoot with policy-controller's defaulting applied (``SetDefaults``)."""
    out: dict[str, Any] = copy.deepcopy(dict(doc))
    spec = out.get("spec")
    if not isinstance(spec, dict):
        return out
    if out.get("kind") == "TrustRoot":
        for form in ("repository", "remote"):
            if isinstance(spec.get(form), dict) and not spec[form].get("targets"):
                spec[form]["targets"] = "targets"
        return out
    if not spec.get("mode"):
        spec["mode"] = "enforce"
    for i, a in enumerate(_list(spec, "authorities")):
        if not isinstance(a, dict):
            continue
        if not a.get("name"):
            a["name"] = f"authority-{i}"
        kl = _obj(a, "keyless")
        if _obj(a, "key") is None and _obj(a, "static") is None and kl is not None \
                and kl.get("ca-cert") is None and kl.get("url") is None:
            kl["url"] = DEFAULT_FULCIO_URL
    return out


# ---------------------------------------------------------------- entry point

def validate(doc: Mapping[str, Any], *, fail_on_empty_authorities: bool = True) -> list[FieldError]:
    """Every error (and warning: ``level == "Warning"``) in one object, merged and sorted as knative does.

    ``doc`` is one decoded object (a :class:`sigward.cip.documents.Document`'s ``body``). Kinds:
    ClusterImagePolicy (policy.sigstore.dev/v1alpha1, v1beta1), TrustRoot (v1alpha1) and Secret (v1, for
    ``key.secretRef``); any other kind is an ``unknown type`` error, as in ``policy-tester``.
    ``fail_on_empty_authorities`` is policy-controller's ``fail-on-empty-authorities`` setting.
    """
    api_version, kind = _str(doc, "apiVersion"), _str(doc, "kind")
    if not api_version:
        return [missing("apiVersion")]
    if not kind:
        return [missing("kind")]
    group, _, version = api_version.rpartition("/")
    if kind == "Secret" and api_version == "v1":
        return merge(_secret(doc))
    if group == "policy.sigstore.dev" and kind == "ClusterImagePolicy" and version in ("v1alpha1", "v1beta1"):
        shape = schema.CIP

        def check(d: dict[str, Any]) -> Errs:
            return via_field(_cip_spec(d.get("spec") or {}, fail_on_empty_authorities), "spec")
    elif group == "policy.sigstore.dev" and kind == "TrustRoot" and version == "v1alpha1":
        shape = schema.TRUSTROOT

        def check(d: dict[str, Any]) -> Errs:
            return via_field(_trustroot_spec(d.get("spec") or {}), "spec")
    else:
        return [FieldError(f"unknown type: {group}/{version}, Kind={kind}")]
    errs = schema.check(dict(doc), shape)
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    if name is not None and not isinstance(name, str):
        errs += via_field(schema.check(name, schema.STR), "metadata.name")
    elif not name:
        errs.append(missing("metadata.name"))
    if errs:
        # Go's decoder stops at the first of these; checking the rules on a half-understood object would
        # only add noise.
        return merge(errs)
    return merge(check(apply_defaults(doc)))


def errors_only(errs: list[FieldError]) -> list[FieldError]:
    return [e for e in errs if e.level == "Error"]


def warnings_only(errs: list[FieldError]) -> list[FieldError]:
    return [e for e in errs if e.level == "Warning"]


def _secret(doc: Mapping[str, Any]) -> Errs:
    errs: Errs = []
    data = doc.get("data")
    if data is not None and not isinstance(data, dict):
        return [FieldError("json: cannot unmarshal into a field of type map[string][]byte", ("data",))]
    for k, v in (data or {}).items():
        if not isinstance(v, str):
            errs.append(FieldError("json: cannot unmarshal into a field of type []byte", (f"data[{k}]",)))
            continue
        try:
            schema.decode_bytes(v)
        except ValueError as e:
            errs.append(invalid(k, f"data[{k}]", f"illegal base64 data ({e})"))
    if not _str(doc.get("metadata"), "name"):
        errs.append(missing("metadata.name"))
    return errs


# ---------------------------------------------------------------- ClusterImagePolicy

def _cip_spec(spec: Mapping[str, Any], fail_on_empty_authorities: bool) -> Errs:
    errs: Errs = []
    images = _list(spec, "images")
    if not images:
        errs.append(missing("images"))
    for i, image in enumerate(images):
        errs += via_index(_image(image), "images", i)
    authorities = _list(spec, "authorities")
    if not authorities and fail_on_empty_authorities:
        errs.append(missing("authorities"))
    for i, a in enumerate(authorities):
        errs += via_index(_authority(a or {}), "authorities", i)
    mode = _str(spec, "mode")
    if mode and mode not in VALID_MODES:
        errs.append(invalid(mode, "mode", "unsupported mode"))
    for i, m in enumerate(_list(spec, "match")):
        errs += via_index(_match(m or {}), "match", i)
    # policy-controller validates the CIP-level policy without a ViaField("policy"): its errors read
    # `spec.type`, `spec.data, spec.configMapRef, spec.remote`. Kept, so the messages match.
    if _obj(spec, "policy") is not None:
        errs += _policy(spec["policy"], in_spec=True)
    return errs


def _image(image: Any) -> Errs:
    g = _str(image, "glob")
    if not g:
        return [missing("glob")]
    return via_field(validate_glob(g), "glob")


def _authority(a: Mapping[str, Any]) -> Errs:
    key, keyless, static = _obj(a, "key"), _obj(a, "keyless"), _obj(a, "static")
    present = [x is not None for x in (key, keyless, static)]
    if not any(present):
        # policy-controller stops here ("a more concise and arguably more meaningful error message").
        return [missing_one_of("key", "keyless", "static")]
    if sum(present) > 1:
        return [multiple_one_of("key", "keyless", "static")]
    errs: Errs = []
    if key is not None:
        errs += via_field(_key_ref(key), "key")
    if keyless is not None:
        errs += via_field(_keyless(keyless), "keyless")
    sources = _list(a, "source")
    if static is not None:
        errs += via_field(_static(static), "static")
        if _list(a, "attestations"):
            errs.append(multiple_one_of("static", "attestations"))
        if sources:
            errs.append(multiple_one_of("static", "source"))
        if _obj(a, "ctlog") is not None:
            errs.append(multiple_one_of("static", "ctlog"))
        if _obj(a, "rfc3161timestamp") is not None:
            errs.append(multiple_one_of("static", "rfc3161timestamp"))
    if len(sources) > 1:
        errs.append(invalid("source", "source", "only single source is supported"))
    else:
        for i, s in enumerate(sources):
            errs += via_index(_source(s or {}), "source", i)
    for att in _list(a, "attestations"):
        # No index: policy-controller calls ViaField("attestations") (its paths read `attestations.name`).
        errs += via_field(_attestation(att or {}), "attestations")
    return errs


def _static(s: Mapping[str, Any]) -> Errs:
    action = _str(s, "action")
    if not action:
        return [missing("action")]
    if action not in VALID_STATIC_ACTIONS:
        return [invalid(action, "action", "unsupported action")]
    return []


def _match(m: Mapping[str, Any]) -> Errs:
    errs: Errs = []
    resource = _str(m, "resource")
    if resource and resource not in VALID_RESOURCE_NAMES:
        errs.append(invalid(resource, "resource", "unsupported resource name"))
    if _obj(m, "selector") is not None and not (resource or _str(m, "version") or _str(m, "group")):
        errs.append(invalid(resource, "selector", "selector requires a resource type to match the labels"))
    return errs


def _key_ref(key: Mapping[str, Any]) -> Errs:
    errs: Errs = []
    data, kms, secret_ref = _str(key, "data"), _str(key, "kms"), _obj(key, "secretRef")
    if not data and not kms and secret_ref is None:
        errs.append(missing_one_of("data", "kms", "secretref"))
    algo = _str(key, "hashAlgorithm")
    if algo and algo.strip().lower() not in HASH_ALGORITHMS:
        errs.append(invalid(algo, "hashAlgorithm"))
    if data:
        if kms or secret_ref is not None:
            errs.append(multiple_one_of("data", "kms", "secretref"))
        if not _pem_public_key_ok(data):
            errs.append(invalid(data, "data"))
    elif kms and secret_ref is not None:
        errs.append(multiple_one_of("data", "kms", "secretref"))
    if kms:
        errs += via_field(validate_kms(kms), "kms")
    ns = _str(secret_ref, "namespace")
    if secret_ref is not None and ns and ns != CONTROLLER_NAMESPACE:
        errs.append(invalid(ns, "secretref.namespace",
                            "secretref.namespace is invalid. If set, it should use the same namespace where "
                            "the policy-controller was deployed"))
    return errs


def _pem_public_key_ok(data: str) -> bool:
    """sigstore ``cryptoutils.UnmarshalPEMToPublicKey``: the first PEM block is a PKIX or PKCS#1 key."""
    from cryptography.hazmat.primitives import serialization

    m = re.search(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", data, re.S)
    if not m or m.group(1) not in ("PUBLIC KEY", "RSA PUBLIC KEY"):
        return False
    try:
        serialization.load_pem_public_key(m.group(0).encode())
    except (ValueError, TypeError):
        return False
    return True


def _keyless(kl: Mapping[str, Any]) -> Errs:
    errs: Errs = []
    has_url, ca = _set(kl, "url"), _obj(kl, "ca-cert")
    if not has_url and ca is None:
        errs.append(missing_one_of("url", "ca-cert"))
    if has_url and ca is not None:
        errs.append(multiple_one_of("url", "ca-cert"))
    if ca is not None:
        errs += via_field(_key_ref(ca), "ca-cert")
    identities = _list(kl, "identities")
    if not identities:
        errs.append(missing("identities"))
    for i, ident in enumerate(identities):
        errs += via_index(_identity(ident or {}), "identities", i)
    return errs


def _identity(ident: Mapping[str, Any]) -> Errs:
    errs: Errs = []
    issuer, subject = _str(ident, "issuer"), _str(ident, "subject")
    issuer_re, subject_re = _str(ident, "issuerRegExp"), _str(ident, "subjectRegExp")
    if issuer and issuer_re:
        errs.append(multiple_one_of("issuer", "issuerRegExp"))
    if subject and subject_re:
        errs.append(multiple_one_of("subject", "subjectRegExp"))
    if issuer_re:
        errs += via_field(validate_regex(issuer_re), "issuerRegExp")
    if subject_re:
        errs += via_field(validate_regex(subject_re), "subjectRegExp")
    if not subject and not subject_re:
        errs.append(missing("subject", "subjectRegExp"))
    if not issuer and not issuer_re:
        errs.append(missing("issuer", "issuerRegExp"))
    return errs


def _source(s: Mapping[str, Any]) -> Errs:
    errs: Errs = []
    oci = _str(s, "oci")
    if oci:
        problem = validate_oci(oci)
        if problem:
            errs.append(invalid(oci, "oci", problem))
    for i, secret in enumerate(_list(s, "signaturePullSecrets")):
        if not _str(secret, "name"):
            # [better] policy-controller re-prefixes every earlier error with each index here.
            errs += via_index([missing("name")], "signaturePullSecrets", i)
    return errs


def _attestation(att: Mapping[str, Any]) -> Errs:
    errs: Errs = []
    if not _str(att, "name"):
        errs.append(missing("name"))
    pt = _str(att, "predicateType")
    deprecated = FieldError(f"invalid value: {pt}", ("predicateType",),
                            "deprecated value, please use RFC 3986 conformant values", "Warning")
    if not pt:
        errs.append(missing("predicateType"))
    elif pt in SHORT_PREDICATE_TYPES or not _request_uri_ok(pt):
        errs.append(deprecated)
    if _obj(att, "policy") is not None:
        errs += via_field(_policy(att["policy"], in_spec=False), "policy")
    return errs


def _request_uri_ok(uri: str) -> bool:
    """Go ``url.ParseRequestURI`` succeeds: an absolute URI or an absolute path, no fragment-only."""
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri) or uri.startswith("/")) and " " not in uri


def _policy(p: Mapping[str, Any], *, in_spec: bool) -> Errs:
    errs: Errs = []
    ptype = _str(p, "type")
    if ptype not in ("cue", "rego"):
        errs.append(invalid(ptype, "type", "only [cue,rego] are supported at the moment"))
    data, cm, remote = _str(p, "data"), _obj(p, "configMapRef"), _obj(p, "remote")
    if not data and cm is None and remote is None:
        errs.append(missing("data", "configMapRef", "remote"))
    if sum((bool(data), cm is not None, remote is not None)) > 1:
        errs.append(multiple_one_of("data", "configMapRef", "remote"))
    if remote is not None:
        errs += via_field(_remote_policy(remote), "remote")
    if cm is not None:
        if not _str(cm, "name"):
            errs.append(missing("configMapRef.name"))
        if not _str(cm, "key"):
            errs.append(missing("configMapRef.key"))
    if not in_spec:
        for f in ("fetchConfigFile", "includeSpec", "includeObjectMeta", "includeTypeMeta"):
            if _set(p, f):
                errs.append(disallowed(f))
    return errs


def _remote_policy(r: Mapping[str, Any]) -> Errs:
    from urllib.parse import urlsplit

    errs: Errs = []
    url = _str(r, "url")
    try:
        u = urlsplit(url)
        ok = bool(u.netloc) and u.scheme == "https"
    except ValueError:
        ok = False
    if not ok:
        errs.append(invalid(url, "url", "url valid is invalid. host and https scheme are expected"))
    if not _str(r, "sha256sum"):
        errs.append(missing("sha256sum"))
    return errs


# ---------------------------------------------------------------- TrustRoot

def _trustroot_spec(spec: Mapping[str, Any]) -> Errs:
    repo, remote, keys = _obj(spec, "repository"), _obj(spec, "remote"), _obj(spec, "sigstoreKeys")
    present = sum(x is not None for x in (repo, remote, keys))
    if present == 0:
        return [missing_one_of("repository", "remote", "sigstoreKeys")]
    if present > 1:
        return [multiple_one_of("repository", "remote", "sigstoreKeys")]
    if repo is not None:
        return via_field(_repository(repo), "repository")
    if remote is not None:
        errs: Errs = [] if _str(remote, "mirror") else [missing("mirror")]
        return via_field(errs + _root(remote), "remote")
    assert keys is not None
    return via_field(_sigstore_keys(keys), "sigstoreKeys")


def _root(form: Mapping[str, Any]) -> Errs:
    import json

    raw = form.get("root")
    if raw is None:
        return [missing("root")]
    try:
        root = json.loads(schema.decode_bytes(raw))
    except ValueError as e:
        return [invalid("failed to unmarshal", "root", str(e))]
    if not isinstance(root, dict) or root.get("signatures") is None:
        return [invalid("missing signatures in root.json", "root", "no signatures")]
    return []


def _repository(repo: Mapping[str, Any]) -> Errs:
    errs: Errs = [] if _str(repo, "targets") else [missing("targets")]
    errs += _root(repo)
    mirror_fs = _str(repo, "mirrorFS")
    if not mirror_fs:
        errs.append(missing("repository"))  # sic: policy-controller names the mirrorFS field so
        return errs
    if errs:
        return errs  # a TUF client cannot be built anyway; its error would only hide these
    from sigward.cip.trustroot import TrustRootError, repository_trusted_root

    try:
        repository_trusted_root(schema.decode_bytes(mirror_fs), schema.decode_bytes(repo["root"]),
                                targets=_str(repo, "targets"),
                                trusted_root_target=_str(repo, "trustedRootTarget") or "trusted_root.json")
    except TrustRootError as e:
        errs.append(invalid("failed to construct a TUF client", "mirrorFS", str(e)))
    return errs


def _sigstore_keys(keys: Mapping[str, Any]) -> Errs:
    from sigward.cip.trustroot import TrustRootError, convert_sigstore_keys

    errs: Errs = []
    cas, tsas = _list(keys, "certificateAuthorities"), _list(keys, "timestampAuthorities")
    if not cas and not tsas:
        errs.append(missing_one_of("certificateAuthority", "timestampAuthorities"))
    # [better] policy-controller assigns (not appends) each entry's errors, so only the last list's last
    # entry's errors survive; every entry's are reported here.
    for i, ca in enumerate(cas):
        errs += via_index(_certificate_authority(ca or {}, tsa=False), "certificateAuthority", i)
    for i, tsa in enumerate(tsas):
        errs += via_index(_certificate_authority(tsa or {}, tsa=True), "timestampAuthorities", i)
    for name in ("ctLogs", "tLogs"):
        for i, tl in enumerate(_list(keys, name)):
            tl = tl or {}
            tl_errs = [missing(f) for f in ("baseURL", "hashAlgorithm", "publicKey") if not _str(tl, f)]
            errs += via_index(tl_errs, name, i)
    if not errs:
        # [better] what the reconciler would fail on later (PEM that is not a certificate or key).
        try:
            convert_sigstore_keys(keys)
        except TrustRootError as e:
            errs.append(FieldError(e.message, (e.path,)))
    return errs


def _certificate_authority(ca: Mapping[str, Any], *, tsa: bool) -> Errs:
    from sigward.cip.trustroot import TrustRootError, split_pem_chain

    subject = ca.get("subject") if isinstance(ca.get("subject"), dict) else {}
    errs = via_field([missing(f) for f in ("organization", "commonName") if not _str(subject, f)], "subject")
    if not _str(ca, "uri"):
        errs.append(missing("uri"))
    chain = _str(ca, "certChain")
    if not chain:
        errs.append(missing("certchain"))
    if tsa:
        try:
            leaves = split_pem_chain(schema.decode_bytes(chain))[0] if chain else []
        except TrustRootError as e:
            errs.append(invalid("error splitting the certificates", "certChain", e.message))
            leaves = []
        if len(leaves) > 1:
            errs.append(invalid("certificate chain must contain at most one TSA certificate", "certChain"))
    return errs
