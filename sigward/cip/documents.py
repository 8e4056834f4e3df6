"""Kubernetes manifests as ``kubectl apply -f`` takes them: the input of ``sigward policy validate|test``.

A file holds one or more YAML documents (``---`` separated) or JSON; a ``kind: List`` (or any ``…List``
kind with ``items``, as kubectl accepts ``kubectl get -o yaml`` output) expands into its items. Each
resulting object becomes a :class:`Document` that knows where it came from (file and document index), so
every later error can name it.

YAML is read with PyYAML's safe loader, made to behave like the Go decoder policy-controller sees
(sigs.k8s.io/yaml): timestamps stay strings (a ``date``-looking string field must not become a
``datetime``), ``y``/``n`` are booleans as in go-yaml, and a key given twice in one mapping is an error
rather than "last one wins" (two ``authorities:`` keys silently dropping one would weaken a policy
without a word).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from sigward.errors import SigwardError

CIP_GROUP = "policy.sigstore.dev"
CIP_VERSIONS = ("v1alpha1", "v1beta1")
TRUSTROOT_VERSIONS = ("v1alpha1",)


class DocumentError(SigwardError):
    """A file that is not a readable manifest (bad YAML, not an object, …): one line naming where."""


@dataclass(frozen=True)
class Document:
    """One Kubernetes object from a file. ``index`` is the YAML document's position (0-based);
    ``item`` is the position inside a ``List`` document, None otherwise."""

    kind: str
    apiVersion: str  # the Kubernetes field name, as the contract spells it
    name: str
    body: Mapping[str, Any] = field(repr=False)
    source: str
    index: int
    item: int | None = None

    @property
    def where(self) -> str:
        """``FILE: document N`` (1-based, as a person counts), plus the list item when there is one."""
        s = f"{self.source}: document {self.index + 1}"
        return s if self.item is None else f"{s}, item {self.item + 1}"

    @property
    def label(self) -> str:
        """``clusterimagepolicy/NAME`` as kubectl names objects (kind lower-cased)."""
        return f"{self.kind.lower() or 'object'}/{self.name or '<unnamed>'}"

    @property
    def group_version(self) -> tuple[str, str]:
        """(group, version) of ``apiVersion``; the core group is ``""`` (``v1`` → ("", "v1"))."""
        g, _, v = self.apiVersion.rpartition("/")
        return g, v

    @property
    def is_cip(self) -> bool:
        g, v = self.group_version
        return self.kind == "ClusterImagePolicy" and g == CIP_GROUP and v in CIP_VERSIONS

    @property
    def is_trustroot(self) -> bool:
        g, v = self.group_version
        return self.kind == "TrustRoot" and g == CIP_GROUP and v in TRUSTROOT_VERSIONS

    @property
    def is_secret(self) -> bool:
        return self.kind == "Secret" and self.apiVersion == "v1"


class _Loader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver and with duplicate keys refused (see the module doc)."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, "found an unhashable key",
                key_node.start_mark)
        if key in out:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}",
                key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=deep)  # type: ignore[no-untyped-call]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

# go-yaml (YAML 1.1, what kubectl and policy-controller read with) also takes y/Y/n/N as booleans; PyYAML
# does not. `name: n` must be refused as a boolean where a string belongs, as the API server refuses it.
_GO_BOOLS = {"y": True, "n": False}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN"))


def _construct_bool(loader: _Loader, node: yaml.ScalarNode) -> bool:
    value = str(loader.construct_scalar(node)).lower()  # type: ignore[no-untyped-call]
    return _GO_BOOLS[value] if value in _GO_BOOLS else bool(loader.bool_values[value])


_Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


def _yaml_problem(e: yaml.YAMLError) -> str:
    """PyYAML's multi-line message → one line: the problem and where (line/column are 1-based)."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    context = getattr(e, "context", None)
    text = f"{context}: {problem}" if context and problem and context not in problem else str(problem)
    if mark is not None:
        text += f" (line {mark.line + 1}, column {mark.column + 1})"
    return text


def _split_raw(data: str) -> list[Any]:
    """Every document of a YAML stream (``None`` for an empty one). A parse error names its document."""
    docs: list[Any] = []
    loader = _Loader(data)
    try:
        while loader.check_data():  # type: ignore[no-untyped-call]
            docs.append(loader.get_data())  # type: ignore[no-untyped-call]
    except yaml.YAMLError as e:
        raise DocumentError(f"document {len(docs) + 1}: invalid YAML: {_yaml_problem(e)}")
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
    return docs


def _parse(data: bytes, source: str) -> list[Any]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DocumentError(f"{source}: not UTF-8 text (byte {e.start})")
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        # JSON (what `kubectl get -o json` writes): the JSON parser gives the better error messages.
        try:
            obj = json.loads(stripped)
        except ValueError as e:
            raise DocumentError(f"{source}: invalid JSON: {e}")
        return obj if isinstance(obj, list) else [obj]
    try:
        return _split_raw(text)
    except DocumentError as e:
        raise DocumentError(f"{source}: {e}")


def _str_field(obj: Mapping[str, Any], key: str) -> str:
    v = obj.get(key)
    return v if isinstance(v, str) else ""


def _document(obj: Mapping[str, Any], source: str, index: int, item: int | None) -> Document:
    meta = obj.get("metadata")
    name = _str_field(meta, "name") if isinstance(meta, Mapping) else ""
    return Document(kind=_str_field(obj, "kind"), apiVersion=_str_field(obj, "apiVersion"), name=name,
                    body=obj, source=source, index=index, item=item)


def load_documents(data: bytes, source: str) -> list[Document]:
    """Every object in ``data`` (YAML stream or JSON), ``List`` kinds expanded; empty documents skipped.

    Raises :class:`DocumentError` (one line: ``SOURCE: document N: …``) for text that is not YAML/JSON or
    a document that is not an object; what the objects *say* is :func:`sigward.cip.validate.validate`'s
    business.
    """
    out: list[Document] = []
    for index, obj in enumerate(_parse(data, source)):
        if obj is None:
            continue  # an empty document (`---` at the end, comments only): kubectl skips it too
        if not isinstance(obj, dict):
            raise DocumentError(f"{source}: document {index + 1}: expected a Kubernetes object "
                                f"(a mapping), got {_type_name(obj)}")
        kind = _str_field(obj, "kind")
        if kind.endswith("List") and "items" in obj:
            items = obj.get("items") or []
            if not isinstance(items, list):
                raise DocumentError(f"{source}: document {index + 1}: {kind}.items must be a list")
            for n, it in enumerate(items):
                if not isinstance(it, dict):
                    raise DocumentError(f"{source}: document {index + 1}, item {n + 1}: expected a "
                                        f"Kubernetes object (a mapping), got {_type_name(it)}")
                out.append(_document(it, source, index, n))
            continue
        out.append(_document(obj, source, index, None))
    return out


def _type_name(v: Any) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    return type(v).__name__
