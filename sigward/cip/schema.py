"""The shape of ClusterImagePolicy and TrustRoot objects: field names and JSON types, nothing more.

policy-controller decodes an object into its Go types with ``DisallowUnknownFields`` before it validates
anything (knative's admission decoder, and the ``policy-tester``'s ``unable to unmarshal`` step), so a
misspelt field (``authorites:``, ``subjectRegex:``) is refused instead of silently ignored — a misspelt
field in a *security policy* must never quietly widen what it admits. This module is that decoding step
for parsed YAML: it reports every unknown field and every value of the wrong JSON type, with its path, as
``FieldError``s. The tables mirror the Go structs' ``json`` tags at policy-controller v0.13.1
(``pkg/apis/policy/v1alpha1|v1beta1/*_types.go``; both versions have the same fields).

``metadata`` and ``status`` are not checked (knative skips ``metadata`` in its strict decode: the API
server owns it), and JSON ``null`` is "absent", as it is for Go's decoder.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from sigward.cip.fielderror import FieldError, via_field

# A type is a leaf name, ("list", T), ("map", T) or a dict of field name → type (a struct).
Type = Any

STR, BOOL, URL, BYTES, ANY = "string", "boolean", "url", "bytes", "any"

_KEY_REF: dict[str, Type] = {
    "secretRef": {"name": STR, "namespace": STR},
    "data": STR, "kms": STR, "hashAlgorithm": STR,
}
_POLICY: dict[str, Type] = {
    "type": STR, "data": STR,
    "remote": {"url": URL, "sha256sum": STR},
    "configMapRef": {"name": STR, "namespace": STR, "key": STR},
    "fetchConfigFile": BOOL, "includeSpec": BOOL, "includeObjectMeta": BOOL, "includeTypeMeta": BOOL,
}
_LABEL_SELECTOR: dict[str, Type] = {
    "matchLabels": ("map", STR),
    "matchExpressions": ("list", {"key": STR, "operator": STR, "values": ("list", STR)}),
}
_AUTHORITY: dict[str, Type] = {
    "name": STR,
    "key": _KEY_REF,
    "keyless": {
        "url": URL,
        "identities": ("list", {"issuer": STR, "subject": STR, "issuerRegExp": STR, "subjectRegExp": STR}),
        "ca-cert": _KEY_REF,
        "trustRootRef": STR,
        "insecureIgnoreSCT": BOOL,
    },
    "static": {"action": STR, "message": STR},
    "source": ("list", {"oci": STR, "signaturePullSecrets": ("list", {"name": STR}), "tagPrefix": STR}),
    "ctlog": {"url": URL, "trustRootRef": STR},
    "attestations": ("list", {"name": STR, "predicateType": STR, "policy": _POLICY}),
    "rfc3161timestamp": {"trustRootRef": STR},
    "signatureFormat": STR,
}
CIP_SPEC: dict[str, Type] = {
    "images": ("list", {"glob": STR}),
    "authorities": ("list", _AUTHORITY),
    "policy": _POLICY,
    "mode": STR,
    "match": ("list", {"group": STR, "version": STR, "resource": STR, "selector": _LABEL_SELECTOR}),
}
_CA: dict[str, Type] = {"subject": {"organization": STR, "commonName": STR}, "uri": URL, "certChain": BYTES}
_TLOG: dict[str, Type] = {"baseURL": URL, "hashAlgorithm": STR, "publicKey": BYTES}
TRUSTROOT_SPEC: dict[str, Type] = {
    "remote": {"root": BYTES, "mirror": URL, "targets": STR, "trustedRootTarget": STR},
    "repository": {"root": BYTES, "mirrorFS": BYTES, "targets": STR, "trustedRootTarget": STR},
    "sigstoreKeys": {
        "certificateAuthorities": ("list", _CA),
        "tLogs": ("list", _TLOG),
        "ctLogs": ("list", _TLOG),
        "timestampAuthorities": ("list", _CA),
    },
}


def _object(spec: Mapping[str, Type]) -> dict[str, Type]:
    return {"apiVersion": STR, "kind": STR, "metadata": ANY, "spec": spec, "status": ANY}


CIP: dict[str, Type] = _object(CIP_SPEC)
TRUSTROOT: dict[str, Type] = _object(TRUSTROOT_SPEC)


def _json_type(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _type_name(t: Type) -> str:
    if isinstance(t, dict):
        return "object"
    if isinstance(t, tuple):
        return f"[]{_type_name(t[1])}" if t[0] == "list" else f"map[string]{_type_name(t[1])}"
    return t if t != URL and t != BYTES else "string"


def _wrong(value: Any, t: Type) -> FieldError:
    """Go's ``json: cannot unmarshal <json type> into … of type <go type>``, with the field path."""
    return FieldError(f"json: cannot unmarshal {_json_type(value)} into a field of type {_type_name(t)}",
                      ("",))


def decode_bytes(value: str) -> bytes:
    """A ``[]byte`` field as Go's JSON decoder reads it: standard base64, padded; CR/LF ignored."""
    cleaned = value.replace("\r", "").replace("\n", "")
    return base64.b64decode(cleaned, validate=True)


def check(value: Any, t: Type) -> list[FieldError]:
    """Every unknown field and wrongly typed value under ``value`` (paths relative to it)."""
    if value is None or t == ANY:
        return []
    if isinstance(t, dict):
        if not isinstance(value, dict):
            return [_wrong(value, t)]
        errs: list[FieldError] = []
        for k, v in value.items():
            if not isinstance(k, str) or k not in t:
                errs.append(FieldError(f'json: unknown field "{k}"', (str(k),)))
            else:
                errs += via_field(check(v, t[k]), k)
        return errs
    if isinstance(t, tuple):
        kind, elem = t
        if kind == "list":
            if not isinstance(value, list):
                return [_wrong(value, t)]
            errs = []
            for i, v in enumerate(value):
                errs += via_field(check(v, elem), f"[{i}]")
            return errs
        if not isinstance(value, dict):
            return [_wrong(value, t)]
        errs = []
        for k, v in value.items():
            errs += via_field(check(v, elem), f"[{k}]")
        return errs
    if t == BOOL:
        return [] if isinstance(value, bool) else [_wrong(value, t)]
    if not isinstance(value, str):
        return [_wrong(value, t)]
    if t == BYTES:
        try:
            decode_bytes(value)
        except (binascii.Error, ValueError) as e:
            return [FieldError(f"invalid value: {_short(value)}", ("",), f"illegal base64 data ({e})")]
    if t == URL:
        from urllib.parse import urlsplit

        try:
            urlsplit(value)
        except ValueError as e:
            return [FieldError(f"invalid value: {value}", ("",), f"not a URL ({e})")]
    return []


def _short(value: str) -> str:
    return value if len(value) <= 40 else value[:37] + "..."
