"""A PolicySet: the ClusterImagePolicies, TrustRoots, Secrets (and ConfigMaps) one evaluation sees.

Loaded from YAML/JSON files as ``kubectl apply -f`` takes them (multi-document, ``List`` kinds),
validated as policy-controller validates them (when ``sigward.cip.validate`` is present), defaulted
(``sigward.cip.model.parse_cip``). Every problem in every file is collected and raised at once as a
``PolicyError`` with one error per line, so a user fixes a policy directory in one pass.

``identity`` is a SHA-256 over the canonical content: two PolicySets with the same policies, roots and
secrets have the same identity, whatever the file order — a cache key part for the webhook.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigward.admission.roots import TrustRoot
from sigward.cip.model import ClusterImagePolicy, ModelError, parse_cip
from sigward.errors import SigwardError

CIP_KIND = "ClusterImagePolicy"
SUFFIXES = (".yaml", ".yml", ".json")
# policy-controller's namespace: a secretRef without a namespace names a Secret there.
CONTROLLER_NAMESPACE = "cosign-system"


class PolicyError(SigwardError):
    """Policies that cannot be loaded or are invalid; the message lists every error, one per line."""


@dataclass(frozen=True)
class Document:
    """One resource from a file (the shape of ``sigward.cip.documents.Document``)."""

    kind: str
    api_version: str
    name: str
    body: Mapping[str, Any]
    source: str = ""
    index: int = 0


def _load_file(data: bytes, source: str) -> list[Document]:
    """The resources of one file, read strictly by ``sigward.cip.documents`` (as ``kubectl apply -f``)."""
    from sigward.cip.documents import load_documents

    return [Document(d.kind, d.apiVersion, d.name, d.body, source, d.index)
            for d in load_documents(data, source)]


def _validate(doc: Document) -> tuple[list[str], list[str]]:
    """(errors, warnings): policy-controller's rules, from ``sigward.cip.validate``."""
    from sigward.cip.validate import errors_only, validate, warnings_only

    found = list(validate(doc.body))
    return [str(e) for e in errors_only(found)], [str(w) for w in warnings_only(found)]


def _secret_data(doc: Document) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for k, v in (doc.body.get("data") or {}).items():
        try:
            out[str(k)] = base64.b64decode(str(v), validate=True)
        except (binascii.Error, ValueError):
            raise PolicyError(f"{doc.source}: Secret {doc.name}: data.{k} is not base64")
    for k, v in (doc.body.get("stringData") or {}).items():
        out[str(k)] = str(v).encode()
    return out


def _namespace(doc: Document) -> str:
    meta = doc.body.get("metadata") or {}
    return str(meta.get("namespace") or "") if isinstance(meta, Mapping) else ""


@dataclass(frozen=True)
class PolicySet:
    policies: tuple[ClusterImagePolicy, ...]
    trustroots: Mapping[str, TrustRoot] = field(default_factory=dict)
    secrets: Mapping[tuple[str, str], Mapping[str, bytes]] = field(default_factory=dict)
    configmaps: Mapping[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    # Where a secretRef without a namespace is looked for: policy-controller's own namespace (cosign-system
    # for policy files; the webhook's --namespace when the policies come from the cluster).
    controller_namespace: str = CONTROLLER_NAMESPACE

    @classmethod
    def from_documents(cls, docs: Iterable[Any]) -> PolicySet:
        """Validate and default; raises PolicyError listing every error. Unknown kinds are errors."""
        errors: list[str] = []
        warnings: list[str] = []
        policies: dict[str, ClusterImagePolicy] = {}
        roots: dict[str, TrustRoot] = {}
        secrets: dict[tuple[str, str], Mapping[str, bytes]] = {}
        cms: dict[tuple[str, str], Mapping[str, str]] = {}
        for d in docs:
            doc = d if isinstance(d, Document) else Document(
                d.kind, getattr(d, "apiVersion", getattr(d, "api_version", "")), d.name, d.body,
                getattr(d, "source", ""), getattr(d, "index", 0))
            where = f"{doc.source}: {doc.kind} {doc.name or '(unnamed)'}" if doc.source else \
                f"{doc.kind} {doc.name or '(unnamed)'}"
            try:
                if doc.kind == CIP_KIND:
                    problems, notes = _validate(doc)
                    warnings.extend(f"{where}: {n}" for n in notes)
                    if problems:
                        errors.extend(f"{where}: {p}" for p in problems)
                        continue
                    cip = parse_cip(doc.body)
                    if cip.name in policies:
                        warnings.append(f"duplicate policy named {cip.name!r}, skipping".replace("'", '"'))
                        continue
                    policies[cip.name] = cip
                elif doc.kind == "TrustRoot":
                    problems, _notes = _validate(doc)
                    if problems:
                        errors.extend(f"{where}: {p}" for p in problems)
                        continue
                    roots[doc.name] = TrustRoot(doc.name, doc.body)
                elif doc.kind == "Secret":
                    secrets[(_namespace(doc), doc.name)] = _secret_data(doc)
                elif doc.kind == "ConfigMap":
                    cms[(_namespace(doc), doc.name)] = {str(k): str(v) for k, v in
                                                        (doc.body.get("data") or {}).items()}
                else:
                    errors.append(f"{where}: unknown type {doc.kind!r} (expected ClusterImagePolicy, "
                                  "TrustRoot, Secret or ConfigMap)")
            except (ModelError, PolicyError) as e:
                errors.append(f"{where}: {e}")
        if errors:
            raise PolicyError("\n".join(errors))
        return cls(tuple(policies.values()), roots, secrets, cms, tuple(warnings))

    @classmethod
    def load(cls, paths: Sequence[Path | str]) -> PolicySet:
        """Files and directories (``*.yaml``, ``*.yml``, ``*.json``, sorted); every error at once.

        Hidden entries under a directory are skipped: a ConfigMap mounted as a volume holds each file
        twice (``name.yaml`` → ``..data/name.yaml`` → ``..<timestamp>/name.yaml``), and reading the
        hidden copies would load every policy twice."""
        docs: list[Document] = []
        errors: list[str] = []
        for p in paths:
            path = Path(p)
            files = sorted(f for f in path.rglob("*") if f.suffix in SUFFIXES and f.is_file()
                           and not any(part.startswith(".") for part in f.relative_to(path).parts)) \
                if path.is_dir() else [path]
            for f in files:
                try:
                    data = f.read_bytes()
                except OSError as e:
                    errors.append(f"cannot read {f}: {e.strerror or e}")
                    continue
                try:
                    docs.extend(_load_file(data, str(f)))
                except SigwardError as e:
                    errors.append(str(e))
        try:
            loaded = cls.from_documents(docs)
        except PolicyError as e:
            errors.extend(str(e).splitlines())
        if errors:
            raise PolicyError("\n".join(errors))
        return loaded

    @property
    def identity(self) -> str:
        canon = {
            "policies": sorted((p.name, _canon(p.raw)) for p in self.policies),
            "trustroots": sorted((n, _canon(r.body)) for n, r in self.trustroots.items()),
            "secrets": sorted((f"{ns}/{n}", sorted((k, hashlib.sha256(v).hexdigest()) for k, v in d.items()))
                              for (ns, n), d in self.secrets.items()),
            "configmaps": sorted((f"{ns}/{n}", sorted(d.items())) for (ns, n), d in self.configmaps.items()),
        }
        return hashlib.sha256(json.dumps(canon, sort_keys=True).encode()).hexdigest()

    def secret(self, name: str, namespace: str | None) -> Mapping[str, bytes] | None:
        """The Secret ``namespace/name``; with no namespace, the one Secret of that name if unique."""
        if namespace is not None:
            return self.secrets.get((namespace, name))
        found = [d for (_ns, n), d in self.secrets.items() if n == name]
        return found[0] if len(found) == 1 else None

    def configmap(self, name: str, namespace: str | None) -> Mapping[str, str] | None:
        if namespace:
            return self.configmaps.get((namespace, name))
        found = [d for (_ns, n), d in self.configmaps.items() if n == name]
        return found[0] if len(found) == 1 else None


def _canon(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)
