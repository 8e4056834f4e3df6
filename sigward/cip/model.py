"""ClusterImagePolicy as typed values: v1alpha1 and v1beta1 (identical fields upstream) into one model,
with policy-controller's defaults applied (``SetDefaults``).

``parse_cip`` assumes a document that ``sigward.cip.validate`` accepted: it does not repeat the checks,
it only refuses shapes it cannot represent (a non-mapping where a mapping must be) with ``ModelError``.
Keeping parsing and validation apart is what lets validation report every error with policy-controller's
field paths, while the engine works on values that cannot be half-valid.

Defaults, as ``clusterimagepolicy_defaults.go``: ``mode`` ``enforce``; an authority without a name is
``authority-<index>``; a keyless authority with neither ``url`` nor ``ca-cert`` gets
``https://fulcio.sigstore.dev``. ``key.hashAlgorithm`` defaults to ``sha256`` when the key is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sigward.errors import UsageError

DEFAULT_FULCIO_URL = "https://fulcio.sigstore.dev"
API_GROUP = "policy.sigstore.dev"
API_VERSIONS = ("policy.sigstore.dev/v1alpha1", "policy.sigstore.dev/v1beta1")



class ModelError(UsageError):
    """A document whose shape cannot be a ClusterImagePolicy (validation would have refused it)."""


def predicate_type_uri(name: str) -> str:
    """cosign's short name (``custom``, ``slsaprovenance``, ``spdxjson``…) → URI; anything else is taken
    as the URI itself (validation has already refused what is neither)."""
    from sigward.formats.intoto import PREDICATE_SHORT_NAMES

    return PREDICATE_SHORT_NAMES.get(name, name)


@dataclass(frozen=True)
class SecretRef:
    name: str
    namespace: str = ""


@dataclass(frozen=True)
class KeyRef:
    """``data`` (PEM), ``secretRef`` or ``kms``; exactly one is set in a valid policy."""

    data: str = ""
    secret_ref: SecretRef | None = None
    kms: str = ""
    hash_algorithm: str = ""

    @property
    def hash_name(self) -> str:
        """hashlib's name for ``hashAlgorithm`` (case-insensitive, default sha256)."""
        return (self.hash_algorithm or "sha256").lower()


@dataclass(frozen=True)
class IdentityRef:
    issuer: str = ""
    subject: str = ""
    issuer_regexp: str = ""
    subject_regexp: str = ""


@dataclass(frozen=True)
class KeylessRef:
    url: str = ""
    ca_cert: KeyRef | None = None
    identities: tuple[IdentityRef, ...] = ()
    trust_root_ref: str = ""
    insecure_ignore_sct: bool = False


@dataclass(frozen=True)
class StaticRef:
    action: str
    message: str = ""


@dataclass(frozen=True)
class Source:
    oci: str = ""
    signature_pull_secrets: tuple[str, ...] = ()
    tag_prefix: str = ""


@dataclass(frozen=True)
class TLog:
    url: str = ""
    trust_root_ref: str = ""


@dataclass(frozen=True)
class RemotePolicy:
    url: str
    sha256sum: str = ""


@dataclass(frozen=True)
class ConfigMapRef:
    name: str
    namespace: str = ""
    key: str = ""


@dataclass(frozen=True)
class Policy:
    """A CUE or Rego policy: inline ``data``, ``remote`` (https + sha256) or ``configMapRef``; the
    ``fetch_config_file``/``include_*`` switches are CIP-level only."""

    type: str
    data: str = ""
    remote: RemotePolicy | None = None
    config_map_ref: ConfigMapRef | None = None
    fetch_config_file: bool = False
    include_spec: bool = False
    include_object_meta: bool = False
    include_type_meta: bool = False


@dataclass(frozen=True)
class Attestation:
    name: str
    predicate_type: str
    policy: Policy | None = None

    @property
    def predicate_type_uri(self) -> str:
        return predicate_type_uri(self.predicate_type)


@dataclass(frozen=True)
class Authority:
    name: str
    key: KeyRef | None = None
    keyless: KeylessRef | None = None
    static: StaticRef | None = None
    sources: tuple[Source, ...] = ()
    ctlog: TLog | None = None
    attestations: tuple[Attestation, ...] = ()
    rfc3161timestamp: str | None = None  # the TrustRoot name of rfc3161timestamp.trustRootRef
    signature_format: str = ""


@dataclass(frozen=True)
class LabelRequirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelSelector:
    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[LabelRequirement, ...] = ()


@dataclass(frozen=True)
class MatchResource:
    group: str = ""
    version: str = ""
    resource: str = ""
    selector: LabelSelector | None = None


@dataclass(frozen=True)
class ClusterImagePolicy:
    name: str
    globs: tuple[str, ...]
    authorities: tuple[Authority, ...] = ()
    policy: Policy | None = None
    mode: str = "enforce"
    match: tuple[MatchResource, ...] = ()
    api_version: str = "policy.sigstore.dev/v1beta1"
    uid: str = ""
    resource_version: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def warn(self) -> bool:
        return self.mode == "warn"


# --- parsing ---------------------------------------------------------------------------------------


def _map(v: Any, where: str) -> Mapping[str, Any]:
    if v is None:
        return {}
    if not isinstance(v, Mapping):
        raise ModelError(f"{where}: expected an object")
    return v


def _list(v: Any, where: str) -> list[Any]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise ModelError(f"{where}: expected a list")
    return v


def _str(v: Any) -> str:
    return "" if v is None else str(v)


def _key(d: Mapping[str, Any] | None, where: str) -> KeyRef | None:
    if d is None:
        return None
    d = _map(d, where)
    sr = d.get("secretRef")
    secret = None
    if sr is not None:
        srm = _map(sr, f"{where}.secretRef")
        secret = SecretRef(_str(srm.get("name")), _str(srm.get("namespace")))
    return KeyRef(data=_str(d.get("data")), secret_ref=secret, kms=_str(d.get("kms")),
                  hash_algorithm=_str(d.get("hashAlgorithm")))


def _policy(d: Any, where: str) -> Policy | None:
    if d is None:
        return None
    d = _map(d, where)
    remote = None
    if d.get("remote") is not None:
        r = _map(d["remote"], f"{where}.remote")
        remote = RemotePolicy(_str(r.get("url")), _str(r.get("sha256sum")))
    cm = None
    if d.get("configMapRef") is not None:
        c = _map(d["configMapRef"], f"{where}.configMapRef")
        cm = ConfigMapRef(_str(c.get("name")), _str(c.get("namespace")), _str(c.get("key")))
    return Policy(type=_str(d.get("type")), data=_str(d.get("data")), remote=remote, config_map_ref=cm,
                  fetch_config_file=bool(d.get("fetchConfigFile")), include_spec=bool(d.get("includeSpec")),
                  include_object_meta=bool(d.get("includeObjectMeta")),
                  include_type_meta=bool(d.get("includeTypeMeta")))


def _authority(d: Any, index: int) -> Authority:
    where = f"spec.authorities[{index}]"
    d = _map(d, where)
    keyless = None
    if d.get("keyless") is not None:
        k = _map(d["keyless"], f"{where}.keyless")
        idents = tuple(
            IdentityRef(_str(i.get("issuer")), _str(i.get("subject")), _str(i.get("issuerRegExp")),
                        _str(i.get("subjectRegExp")))
            for i in (_map(x, f"{where}.keyless.identities") for x in _list(k.get("identities"), where)))
        keyless = KeylessRef(url=_str(k.get("url")),
                             ca_cert=_key(k.get("ca-cert"), f"{where}.keyless.ca-cert"),
                             identities=idents, trust_root_ref=_str(k.get("trustRootRef")),
                             insecure_ignore_sct=bool(k.get("insecureIgnoreSCT")))
    key = _key(d.get("key"), f"{where}.key")
    static = None
    if d.get("static") is not None:
        s = _map(d["static"], f"{where}.static")
        static = StaticRef(_str(s.get("action")), _str(s.get("message")))
    if key is None and static is None and keyless is not None and keyless.ca_cert is None and not keyless.url:
        keyless = KeylessRef(DEFAULT_FULCIO_URL, None, keyless.identities, keyless.trust_root_ref,
                             keyless.insecure_ignore_sct)
    sources = []
    for j, s in enumerate(_list(d.get("source"), f"{where}.source")):
        sm = _map(s, f"{where}.source[{j}]")
        pulls = tuple(_str(_map(p, f"{where}.source[{j}].signaturePullSecrets").get("name"))
                      for p in _list(sm.get("signaturePullSecrets"), where))
        sources.append(Source(_str(sm.get("oci")), pulls, _str(sm.get("tagPrefix"))))
    ctlog = None
    if d.get("ctlog") is not None:
        c = _map(d["ctlog"], f"{where}.ctlog")
        ctlog = TLog(_str(c.get("url")), _str(c.get("trustRootRef")))
    tsa = None
    if d.get("rfc3161timestamp") is not None:
        tsa = _str(_map(d["rfc3161timestamp"], f"{where}.rfc3161timestamp").get("trustRootRef"))
    atts = tuple(
        Attestation(_str(a.get("name")), _str(a.get("predicateType")),
                    _policy(a.get("policy"), f"{where}.attestations[{j}].policy"))
        for j, a in enumerate(_map(x, f"{where}.attestations") for x in _list(d.get("attestations"), where)))
    return Authority(name=_str(d.get("name")) or f"authority-{index}", key=key, keyless=keyless,
                     static=static, sources=tuple(sources), ctlog=ctlog, attestations=atts,
                     rfc3161timestamp=tsa, signature_format=_str(d.get("signatureFormat")))


def _selector(d: Any, where: str) -> LabelSelector | None:
    if d is None:
        return None
    d = _map(d, where)
    labels = tuple(sorted((str(k), _str(v)) for k, v in _map(d.get("matchLabels"), where).items()))
    exprs = tuple(LabelRequirement(_str(e.get("key")), _str(e.get("operator")),
                                   tuple(_str(v) for v in _list(e.get("values"), where)))
                  for e in (_map(x, where) for x in _list(d.get("matchExpressions"), where)))
    return LabelSelector(labels, exprs)


def parse_cip(doc: Mapping[str, Any]) -> ClusterImagePolicy:
    """A (validated) ClusterImagePolicy document → the model, defaults applied."""
    doc = _map(doc, "document")
    meta = _map(doc.get("metadata"), "metadata")
    spec = _map(doc.get("spec"), "spec")
    globs = tuple(_str(_map(i, "spec.images").get("glob")) for i in _list(spec.get("images"), "spec.images"))
    auths = tuple(_authority(a, i) for i, a in enumerate(_list(spec.get("authorities"), "spec.authorities")))
    match = []
    for i, m in enumerate(_list(spec.get("match"), "spec.match")):
        mm = _map(m, f"spec.match[{i}]")
        match.append(MatchResource(_str(mm.get("group")), _str(mm.get("version")), _str(mm.get("resource")),
                                   _selector(mm.get("selector"), f"spec.match[{i}].selector")))
    return ClusterImagePolicy(
        name=_str(meta.get("name")), globs=globs, authorities=auths,
        policy=_policy(spec.get("policy"), "spec.policy"),
        mode=_str(spec.get("mode")) or "enforce", match=tuple(match),
        api_version=_str(doc.get("apiVersion")) or API_VERSIONS[1], uid=_str(meta.get("uid")),
        resource_version=_str(meta.get("resourceVersion")), raw=doc)
