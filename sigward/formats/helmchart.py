"""Helm charts the way Helm writes and reads them: Chart.yaml, the chart archive, the OCI config.

Why so much care for bytes: a chart sigward packages or pushes must be the artifact ``helm`` would have
made — Helm has to pull and install it, and the digest that gets signed is a digest of these bytes.
Helm (``pkg/chart/v2``, ``pkg/registry``; oci-registry-helm-buildpacks-poc.md §3) does this:

- Chart.yaml is parsed by sigs.k8s.io/yaml (YAML → JSON → struct: numbers given for string fields become
  strings, unknown keys vanish, keys match case-insensitively), strings are sanitised, and the archive
  holds it *re-marshalled* — JSON, then go-yaml v2: keys in go-yaml's natural order, strings quoted only
  when go-yaml would read them back as something else.
- The OCI config blob is ``json.Marshal(metadata)``: struct field order, ``omitempty``, no whitespace.
- The archive comes from Go's archive/tar and compress/gzip: regular-file entries only (no directory
  entries), mode 0644, uid/gid 0, USTAR headers (PAX only for names USTAR cannot hold), mtimes rounded
  to the second, two zero blocks at the end; gzip with MTIME 0, OS 255, a fixed Extra field and the
  comment "Helm". Only the deflate stream differs (zlib's, not Go's compress/flate), so the .tgz bytes
  are not helm's although every entry, header field and file is.
- Reading an archive refuses absolute paths, ``..``, drive letters and oversized content (100 MiB in
  all, 5 MiB per file, Helm's limits); sigward also refuses links leading out of the chart, device
  files, and more than one top-level directory.
- ``.helmignore`` is Helm's own dialect (``pkg/ignore``), quirks included: Go ``filepath.Match``
  globs, no ``**``, and a ``!pattern`` line ignores every path that does *not* match it.

Pure: bytes in, objects out; reading directories and writing files is ``sigward/ops/chart.py``'s job.
"""

from __future__ import annotations

import calendar
import io
import json
import math
import posixpath
import re
import struct
import tarfile
import unicodedata
import zlib
from dataclasses import dataclass, field
from functools import cmp_to_key
from typing import Any

import yaml

from sigward import gojson
from sigward.errors import SigwardError
from sigward.oci import digest as _digest
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import Manifest


class ChartError(SigwardError):
    """A chart, chart archive or chart artifact that cannot be used (Helm would refuse it too)."""


# -- constants (facts: Helm's pkg/registry/constants.go, pkg/chart/v2/util/save.go, loader/archive) ----------

CONFIG_MEDIA_TYPE = mt.HELM_CONFIG
CHART_LAYER_MEDIA_TYPE = mt.HELM_CHART_CONTENT
PROV_LAYER_MEDIA_TYPE = mt.HELM_PROVENANCE
LEGACY_CHART_LAYER_MEDIA_TYPE = "application/tar+gzip"
CHART_LAYER_TYPES = (CHART_LAYER_MEDIA_TYPE, LEGACY_CHART_LAYER_MEDIA_TYPE)

# The gzip header Helm writes: an RFC 1952 Extra subfield (SI1 'r', SI2 'r', LEN 40) and comment "Helm".
GZIP_EXTRA = b"rr\x28\x00aHR0cHM6Ly95b3V0dS5iZS96OVV6MWljandyTQo="
GZIP_COMMENT = b"Helm"
GZIP_OS_UNKNOWN = 255  # Go's gzip.Writer default

MAX_CHART_SIZE = 100 * 1024 * 1024  # Helm's MaxDecompressedChartSize: all files of an archive together
MAX_FILE_SIZE = 5 * 1024 * 1024  # Helm's MaxDecompressedFileSize: one file
# The decompressed tar stream (headers and padding included) may exceed the file total only by this much;
# it bounds archives of many empty entries, which Helm's byte count does not see.
_STREAM_SLACK = 16 * 1024 * 1024

API_V1, API_V2 = "v1", "v2"
CHART_TYPES = ("", "application", "library")
HELMIGNORE = ".helmignore"

ANN_CREATED = "org.opencontainers.image.created"
ANN_AUTHORS = "org.opencontainers.image.authors"
ANN_URL = "org.opencontainers.image.url"
ANN_SOURCE = "org.opencontainers.image.source"
ANN_VERSION = "org.opencontainers.image.version"
ANN_TITLE = "org.opencontainers.image.title"
ANN_DESCRIPTION = "org.opencontainers.image.description"
_IMMUTABLE_ANNOTATIONS = (ANN_VERSION, ANN_TITLE)

UNDERSCORE_NOTICE = (
    "OCI tags cannot contain '+', so Helm stores SemVer build metadata with '_' instead "
    "(and maps it back to '+' on pull)"
)

_UTF8_BOM = b"\xef\xbb\xbf"
_SEMVER_RE = re.compile(
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_ALIAS_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
_DRIVE_RE = re.compile(r"^[a-zA-Z]:/")
_RFC3339_RE = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


# -- SemVer and tags -----------------------------------------------------------------------------------------

def is_semver(version: str) -> bool:
    """SemVer 2.0.0, strictly (no ``v`` prefix, all three numbers): what Helm's tag listing accepts."""
    return bool(_SEMVER_RE.match(version))


def semver_key(version: str) -> tuple[Any, ...]:
    """A sort key giving SemVer precedence (build metadata ignored); ``version`` must be valid."""
    m = _SEMVER_RE.match(version)
    if not m:
        raise ValueError(f"not a SemVer version: {version!r}")
    major, minor, patch, pre = int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)
    if pre is None:
        return (major, minor, patch, 1, ())
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (major, minor, patch, 0, ids)


def tag_for_version(version: str) -> str:
    """The OCI tag Helm pushes a chart version under (``+`` is not allowed in tags)."""
    return version.replace("+", "_")


def version_for_tag(tag: str) -> str:
    return tag.replace("_", "+")


# -- Go behaviours Helm inherits -----------------------------------------------------------------------------

def _go_isspace(c: str) -> bool:
    if ord(c) <= 0xFF:
        return c in "\t\n\v\f\r \x85\xa0"
    return c.isspace()


def sanitize(s: str) -> str:
    """Helm's ``sanitizeString``: white space becomes ' ', other non-printable characters vanish."""
    return "".join(" " if _go_isspace(c) else c for c in s if _go_isspace(c) or c.isprintable())


def go_format_float(f: float, bits: int = 64) -> str:
    """Go's ``strconv.FormatFloat(f, 'g', -1, bits)``: shortest digits, exponent from 1e+06 or 1e-05."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1, f) < 0 else "0"
    neg = f < 0
    f = abs(f)
    if bits == 32:
        f32 = struct.unpack("<f", struct.pack("<f", f))[0]
        for p in range(1, 10):
            s = f"{f32:.{p - 1}e}"
            if struct.unpack("<f", struct.pack("<f", float(s)))[0] == f32:
                break
    else:
        s = f"{f:.16e}"
        for p in range(1, 18):
            cand = f"{f:.{p - 1}e}"
            if float(cand) == f:
                s = cand
                break
    mant, exp_s = s.split("e")
    digits = mant.replace(".", "").rstrip("0") or "0"
    exp = int(exp_s)
    if exp < -4 or exp >= 6:  # Go: %e when the exponent is < -4 or >= 6 for the shortest form
        out = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        out += f"e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    elif exp >= 0:
        if len(digits) <= exp + 1:
            out = digits + "0" * (exp + 1 - len(digits))
        else:
            out = digits[: exp + 1] + "." + digits[exp + 1:]
    else:
        out = "0." + "0" * (-exp - 1) + digits
    return ("-" if neg else "") + out


# -- go-yaml v2 (what sigs.k8s.io/yaml marshals with) --------------------------------------------------------

_V2_FLOAT_RE = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_V2_BASE60_RE = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_GO_INT_RE = re.compile(r"^[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")
_V2_MAP = frozenset([
    "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
    "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
    "~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF",
    "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
])
_GO_FLOAT_NAMES = {"+Inf": ".inf", "-Inf": "-.inf", "NaN": ".nan"}
_V2_TIMESTAMP_RES = (
    re.compile(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}[Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?"
               r"(Z|[+-][0-9]{2}:[0-9]{2})$"),
    re.compile(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2} [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?$"),
    re.compile(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}$"),
)


def _v2_timestamp(s: str) -> bool:
    if not any(r.match(s) for r in _V2_TIMESTAMP_RES):
        return False
    nums = [int(x) for x in re.findall(r"[0-9]+", s.split(".")[0].rstrip("Z"))[:6]]
    y, mo, d = nums[0], nums[1], nums[2]
    if not 1 <= mo <= 12 or not 1 <= d <= calendar.monthrange(y or 2000, mo)[1]:
        return False
    return len(nums) < 6 or (nums[3] < 24 and nums[4] < 60 and nums[5] < 60)


def _v2_is_string(s: str) -> bool:
    """Whether go-yaml v2 would read ``s`` back, unquoted, as a string (its ``resolve`` + base-60 rule)."""
    if s == "" or s in _V2_MAP:
        return False
    c = s[0]
    if c == ".":
        if re.match(r"^\.[0-9]+([eE][-+]?[0-9]+)?$", s):
            return False
    elif c in "+-0123456789":
        if _v2_timestamp(s):
            return False
        plain = s.replace("_", "")
        if _GO_INT_RE.match(plain) or re.match(r"^-0[bB][01]+$", plain):
            return False
        if _V2_FLOAT_RE.match(plain) and not math.isinf(float(plain)):
            return False
        if _V2_BASE60_RE.match(s):
            return False
    return True


def _is_letter(c: str) -> bool:
    return unicodedata.category(c).startswith("L")


def _is_digit(c: str) -> bool:
    return unicodedata.category(c) == "Nd"


def _v2_key_cmp(a: str, b: str) -> int:
    """go-yaml v2.4's ``keyList.Less`` for string keys (letters by code point, digit runs numerically)."""
    def less(ar: str, br: str) -> bool:
        for i in range(min(len(ar), len(br))):
            if ar[i] == br[i]:
                continue
            al, bl = _is_letter(ar[i]), _is_letter(br[i])
            if al and bl:
                return ar[i] < br[i]
            if al or bl:
                return bl
            an = bn = 0
            if ar[i] == "0" or br[i] == "0":
                j = i - 1
                while j >= 0 and _is_digit(ar[j]):
                    if ar[j] != "0":
                        an = bn = 1
                        break
                    j -= 1
            ai = i
            while ai < len(ar) and _is_digit(ar[ai]):
                an = an * 10 + ord(ar[ai]) - 48
                ai += 1
            bi = i
            while bi < len(br) and _is_digit(br[bi]):
                bn = bn * 10 + ord(br[bi]) - 48
                bi += 1
            if an != bn:
                return an < bn
            if ai != bi:
                return ai < bi
            return ar[i] < br[i]
        return len(ar) < len(br)

    if less(a, b):
        return -1
    return 1 if less(b, a) else 0


class _GoYamlDumper(yaml.SafeDumper):
    """Every plain scalar resolves to a string: the styles chosen in ``_node`` decide all quoting."""


_GoYamlDumper.yaml_implicit_resolvers = {}
_STR = "tag:yaml.org,2002:str"


def _node(value: Any) -> yaml.Node:
    if isinstance(value, dict):
        keys = sorted(value, key=cmp_to_key(_v2_key_cmp))
        return yaml.MappingNode("tag:yaml.org,2002:map", [(_node(k), _node(value[k])) for k in keys],
                                flow_style=False)
    if isinstance(value, list):
        return yaml.SequenceNode("tag:yaml.org,2002:seq", [_node(v) for v in value], flow_style=False)
    if value is None:
        return yaml.ScalarNode(_STR, "null")
    if isinstance(value, bool):
        return yaml.ScalarNode(_STR, "true" if value else "false")
    if isinstance(value, int):
        return yaml.ScalarNode(_STR, str(value))
    if isinstance(value, float):
        s = go_format_float(value)
        return yaml.ScalarNode(_STR, _GO_FLOAT_NAMES.get(s, s))
    s = str(value)
    if "\n" in s:
        style: str | None = "|"
    elif _v2_is_string(s):
        style = None
    else:
        style = '"'
    return yaml.ScalarNode(_STR, s, style=style)


def _json_roundtrip(value: Any) -> Any:
    """What go-yaml v2 sees after ``json.Marshal``: integral floats are integers."""
    if isinstance(value, dict):
        return {str(k): _json_roundtrip(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_roundtrip(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def go_yaml_marshal(obj: Any) -> bytes:
    """``sigs.k8s.io/yaml.Marshal`` of a JSON-shaped value: go-yaml v2 block style, 80 columns."""
    text = yaml.serialize(_node(_json_roundtrip(obj)), Dumper=_GoYamlDumper, allow_unicode=True,
                          width=80, indent=2)
    return text.encode("utf-8")


# -- reading YAML the way sigs.k8s.io/yaml does --------------------------------------------------------------

class _Loader(yaml.SafeLoader):
    """YAML 1.1 as go-yaml v2 reads it into ``interface{}``: timestamps stay strings."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _yaml_error(where: str, e: Exception) -> ChartError:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return ChartError(f"{where}: invalid YAML: {problem}{at}")


def _load_yaml(data: bytes, where: str) -> Any:
    try:
        return yaml.load(data.decode("utf-8"), Loader=_Loader)
    except UnicodeDecodeError:
        raise ChartError(f"{where}: not UTF-8 text")
    except (yaml.YAMLError, RecursionError) as e:
        raise _yaml_error(where, e)


def check_values_yaml(data: bytes, where: str) -> None:
    """Helm refuses a values.yaml whose documents are not mappings (or empty)."""
    try:
        docs = list(yaml.load_all(data.decode("utf-8"), Loader=_Loader))
    except UnicodeDecodeError:
        raise ChartError(f"{where}: not UTF-8 text")
    except (yaml.YAMLError, RecursionError) as e:
        raise _yaml_error(where, e)
    for i, doc in enumerate(docs):
        if doc is not None and not isinstance(doc, dict):
            raise ChartError(f"{where}: document {i + 1} must be a mapping of values, not {_kind(doc)}")


def _kind(v: Any) -> str:
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    if v is None:
        return "null"
    return f"a {type(v).__name__} ({v!r})" if not isinstance(v, str) else f"a string ({v!r})"


def _as_str(v: Any, where: str, what: str) -> str:
    """A YAML scalar for a Go string field, as sigs.k8s.io/yaml coerces it (1.10 becomes "1.1")."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_format_float(v, 32)
    raise ChartError(f"{where}: {what} must be a string, not {_kind(v)}")


def _as_str_list(v: Any, where: str, what: str) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise ChartError(f"{where}: {what} must be a list of strings, not {_kind(v)}")
    return [_as_str(x, where, f"{what}[{i}]") for i, x in enumerate(v)]


def _as_bool(v: Any, where: str, what: str) -> bool:
    if v is None:
        return False
    if not isinstance(v, bool):
        raise ChartError(f"{where}: {what} must be true or false, not {_kind(v)}")
    return v


def _key_str(k: Any) -> str:
    if isinstance(k, bool):
        return "true" if k else "false"
    if isinstance(k, float):
        s = go_format_float(k, 32)
        return _GO_FLOAT_NAMES.get(s, s)
    if k is None:
        return "null"
    return str(k)


def _plain(v: Any, budget: list[int]) -> Any:
    """An arbitrary YAML value as JSON-able data (keys as strings), with a cap against alias bombs."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ChartError("Chart.yaml: value too large")
    if isinstance(v, dict):
        return {_key_str(k): _plain(x, budget) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x, budget) for x in v]
    return v


def _fields(obj: dict[Any, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Map YAML keys to struct fields as encoding/json does: exact name first, else case-insensitive."""
    out: dict[str, Any] = {}
    exact: set[str] = set()
    for k, v in obj.items():
        ks = _key_str(k)
        if ks in names:
            out[ks] = v
            exact.add(ks)
            continue
        for n in names:
            if n not in exact and n.lower() == ks.lower():
                out[n] = v
    return out


# -- the chart model -----------------------------------------------------------------------------------------

@dataclass
class Maintainer:
    name: str = ""
    email: str = ""
    url: str = ""

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in (("name", self.name), ("email", self.email), ("url", self.url)) if v}


@dataclass
class Dependency:
    name: str = ""
    version: str = ""
    repository: str = ""
    condition: str = ""
    tags: list[str] = field(default_factory=list)
    enabled: bool = False
    import_values: list[Any] = field(default_factory=list)
    alias: str = ""

    _FIELDS = ("name", "version", "repository", "condition", "tags", "enabled", "import-values", "alias")

    @classmethod
    def from_yaml(cls, obj: Any, where: str, what: str) -> Dependency | None:
        if obj is None:
            return None
        if not isinstance(obj, dict):
            raise ChartError(f"{where}: {what} must be a mapping, not {_kind(obj)}")
        f = _fields(obj, cls._FIELDS)
        iv = f.get("import-values")
        if iv is not None and not isinstance(iv, list):
            raise ChartError(f"{where}: {what}.import-values must be a list, not {_kind(iv)}")
        return cls(
            name=_as_str(f.get("name"), where, f"{what}.name"),
            version=_as_str(f.get("version"), where, f"{what}.version"),
            repository=_as_str(f.get("repository"), where, f"{what}.repository"),
            condition=_as_str(f.get("condition"), where, f"{what}.condition"),
            tags=_as_str_list(f.get("tags"), where, f"{what}.tags"),
            enabled=_as_bool(f.get("enabled"), where, f"{what}.enabled"),
            import_values=_plain(iv or [], [100_000]),
            alias=_as_str(f.get("alias"), where, f"{what}.alias"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.version:
            out["version"] = self.version
        out["repository"] = self.repository
        if self.condition:
            out["condition"] = self.condition
        if self.tags:
            out["tags"] = self.tags
        if self.enabled:
            out["enabled"] = True
        if self.import_values:
            out["import-values"] = self.import_values
        if self.alias:
            out["alias"] = self.alias
        return out


_META_FIELDS = (
    "name", "home", "sources", "version", "description", "keywords", "maintainers", "icon", "apiVersion",
    "condition", "tags", "appVersion", "deprecated", "annotations", "kubeVersion", "dependencies", "type",
)
_META_STRINGS = {
    "name": "name", "home": "home", "version": "version", "description": "description", "icon": "icon",
    "apiVersion": "api_version", "condition": "condition", "tags": "tags", "appVersion": "app_version",
    "kubeVersion": "kube_version", "type": "type",
}


@dataclass
class ChartMetadata:
    """Helm's ``chart.Metadata`` (fields in Go struct order, which is the config JSON's key order)."""

    name: str = ""
    home: str = ""
    sources: list[str] = field(default_factory=list)
    version: str = ""
    description: str = ""
    keywords: list[str] = field(default_factory=list)
    maintainers: list[Maintainer | None] = field(default_factory=list)
    icon: str = ""
    api_version: str = ""
    condition: str = ""
    tags: str = ""
    app_version: str = ""
    deprecated: bool = False
    annotations: dict[str, str] = field(default_factory=dict)
    kube_version: str = ""
    dependencies: list[Dependency | None] = field(default_factory=list)
    type: str = ""

    def overlay(self, data: bytes, where: str) -> None:
        """Unmarshal a Chart.yaml (or requirements.yaml) over this metadata, as ``yaml.Unmarshal`` does."""
        obj = _load_yaml(data, where)
        if obj is None:
            return
        if not isinstance(obj, dict):
            raise ChartError(f"{where}: expected a mapping of chart fields, not {_kind(obj)}")
        f = _fields(obj, _META_FIELDS)
        for key, attr in _META_STRINGS.items():
            if key in f:
                setattr(self, attr, _as_str(f[key], where, key))
        if "sources" in f:
            self.sources = _as_str_list(f["sources"], where, "sources")
        if "keywords" in f:
            self.keywords = _as_str_list(f["keywords"], where, "keywords")
        if "deprecated" in f:
            self.deprecated = _as_bool(f["deprecated"], where, "deprecated")
        if "maintainers" in f:
            ms = f["maintainers"]
            if ms is not None and not isinstance(ms, list):
                raise ChartError(f"{where}: maintainers must be a list, not {_kind(ms)}")
            self.maintainers = []
            for i, m in enumerate(ms or []):
                if m is None:
                    self.maintainers.append(None)
                    continue
                if not isinstance(m, dict):
                    raise ChartError(f"{where}: maintainers[{i}] must be a mapping, not {_kind(m)}")
                mf = _fields(m, ("name", "email", "url"))
                self.maintainers.append(Maintainer(*(
                    _as_str(mf.get(k), where, f"maintainers[{i}].{k}") for k in ("name", "email", "url"))))
        if "annotations" in f:
            ann = f["annotations"]
            if ann is not None and not isinstance(ann, dict):
                raise ChartError(f"{where}: annotations must be a mapping of strings, not {_kind(ann)}")
            self.annotations = {_key_str(k): _as_str(v, where, f"annotations.{_key_str(k)}")
                                for k, v in (ann or {}).items()}
        if "dependencies" in f:
            deps = f["dependencies"]
            if deps is not None and not isinstance(deps, list):
                raise ChartError(f"{where}: dependencies must be a list, not {_kind(deps)}")
            self.dependencies = [Dependency.from_yaml(d, where, f"dependencies[{i}]")
                                 for i, d in enumerate(deps or [])]

    def validate(self, where: str) -> None:
        """Helm's ``Metadata.Validate`` (sanitising strings in place), with SemVer 2 for the version."""
        self.name = sanitize(self.name)
        self.description = sanitize(self.description)
        self.home = sanitize(self.home)
        self.icon = sanitize(self.icon)
        self.condition = sanitize(self.condition)
        self.tags = sanitize(self.tags)
        self.app_version = sanitize(self.app_version)
        self.kube_version = sanitize(self.kube_version)
        self.sources = [sanitize(s) for s in self.sources]
        self.keywords = [sanitize(s) for s in self.keywords]
        if self.api_version not in (API_V1, API_V2):
            raise ChartError(f"{where}: apiVersion {self.api_version!r} is not supported (v1 or v2)")
        if not self.name:
            raise ChartError(f"{where}: name is required")
        if self.name in (".", "..") or "/" in self.name:
            raise ChartError(f"{where}: name {self.name!r} is not allowed (it must be a plain file name)")
        if not self.version:
            raise ChartError(f"{where}: version is required")
        check_version(self.version, where)
        if self.type not in CHART_TYPES:
            raise ChartError(f"{where}: type must be application or library, not {self.type!r}")
        for m in self.maintainers:
            if m is None:
                raise ChartError(f"{where}: maintainers must not contain empty or null entries")
            m.name, m.email, m.url = sanitize(m.name), sanitize(m.email), sanitize(m.url)
        seen: set[str] = set()
        for d in self.dependencies:
            if d is None:
                raise ChartError(f"{where}: dependencies must not contain empty or null entries")
            d.name, d.version = sanitize(d.name), sanitize(d.version)
            d.repository, d.condition = sanitize(d.repository), sanitize(d.condition)
            d.tags = [sanitize(t) for t in d.tags]
            if d.alias and not _ALIAS_RE.match(d.alias):
                raise ChartError(f"{where}: dependency {d.name!r} has disallowed characters in its alias")
            key = d.alias or d.name
            if key in seen:
                raise ChartError(f"{where}: more than one dependency with name or alias {key!r}")
            seen.add(key)

    def to_json(self, with_dependencies: bool = True) -> dict[str, Any]:
        """``json.Marshal(chart.Metadata)`` as a dict in struct order, ``omitempty`` applied."""
        out: dict[str, Any] = {}

        def put(key: str, value: Any) -> None:
            if value:
                out[key] = value

        put("name", self.name)
        put("home", self.home)
        put("sources", self.sources)
        put("version", self.version)
        put("description", self.description)
        put("keywords", self.keywords)
        put("maintainers", [m.to_json() if m else None for m in self.maintainers])
        put("icon", self.icon)
        put("apiVersion", self.api_version)
        put("condition", self.condition)
        put("tags", self.tags)
        put("appVersion", self.app_version)
        put("deprecated", self.deprecated)
        put("annotations", gojson.sorted_map(self.annotations))
        put("kubeVersion", self.kube_version)
        if with_dependencies:
            put("dependencies", [d.to_json() if d else None for d in self.dependencies])
        put("type", self.type)
        return out

    def config_json(self) -> bytes:
        """The OCI config blob Helm pushes: ``json.Marshal(meta)``."""
        return gojson.marshal(self.to_json())

    def chart_yaml(self) -> bytes:
        """Chart.yaml as Helm writes it into an archive (v1 charts lose their dependencies)."""
        return go_yaml_marshal(self.to_json(with_dependencies=self.api_version != API_V1))


def check_version(version: str, where: str) -> None:
    if not is_semver(version):
        raise ChartError(
            f"{where}: version {version!r} is not a SemVer 2 version "
            "(MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], e.g. 1.2.3; quote it in YAML)"
        )


def parse_metadata(data: bytes, where: str) -> ChartMetadata:
    """A Chart.yaml on its own, validated (apiVersion defaults to v1, as Helm's loader does)."""
    meta = ChartMetadata()
    meta.overlay(data, where)
    if not meta.api_version:
        meta.api_version = API_V1
    meta.validate(where)
    return meta


def _rfc3339(text: str, where: str) -> tuple[str, int]:
    """A time as Go's ``time.Time`` re-marshals it (RFC 3339, trailing zeros trimmed) and its second."""
    m = _RFC3339_RE.match(text)
    if not m:
        raise ChartError(f"{where}: generated must be an RFC 3339 time, not {text!r}")
    y, mo, d, hh, mi, ss = (int(m.group(i)) for i in range(1, 7))
    frac = (m.group(7) or "")[1:10].rstrip("0")
    zone = m.group(8).upper()
    offset = 0
    if zone != "Z":
        offset = (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    try:
        unix = calendar.timegm((y, mo, d, hh, mi, ss)) - offset
        if not (1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1]
                and hh < 24 and mi < 60 and ss < 60):
            raise ValueError
    except ValueError:
        raise ChartError(f"{where}: generated is not a valid time: {text!r}")
    if frac and int(frac.ljust(9, "0")) >= 500_000_000:
        unix += 1  # archive/tar rounds to the nearest second
    out = f"{m.group(1)}-{m.group(2)}-{m.group(3)}T{m.group(4)}:{m.group(5)}:{m.group(6)}"
    out += (f".{frac}" if frac else "") + ("Z" if offset == 0 else zone)
    return out, unix


def is_rfc3339(text: str) -> bool:
    return bool(_RFC3339_RE.match(text))


def rfc3339_utc(unix: int) -> str:
    y, mo, d, hh, mi, ss = _gmtime(unix)
    return f"{y:04d}-{mo:02d}-{d:02d}T{hh:02d}:{mi:02d}:{ss:02d}Z"


def _gmtime(unix: int) -> tuple[int, int, int, int, int, int]:
    import datetime

    t = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=unix)
    return t.year, t.month, t.day, t.hour, t.minute, t.second


@dataclass
class ChartLock:
    """Chart.lock (or a v2 chart's requirements.lock); Helm re-marshals it into the archive."""

    generated: str
    mtime: int
    digest: str
    dependencies: list[Dependency | None] | None

    @classmethod
    def parse(cls, data: bytes, where: str, file_mtime: int) -> ChartLock:
        obj = _load_yaml(data, where)
        if obj is None:
            obj = {}
        if not isinstance(obj, dict):
            raise ChartError(f"{where}: expected a mapping, not {_kind(obj)}")
        f = _fields(obj, ("generated", "digest", "dependencies"))
        gen = f.get("generated")
        if gen is None:
            generated, mtime = "0001-01-01T00:00:00Z", file_mtime  # Go's zero time (Helm: now)
        else:
            generated, mtime = _rfc3339(_as_str(gen, where, "generated"), where)
        deps = f.get("dependencies")
        if deps is not None and not isinstance(deps, list):
            raise ChartError(f"{where}: dependencies must be a list, not {_kind(deps)}")
        return cls(generated, mtime, _as_str(f.get("digest"), where, "digest"),
                   None if deps is None else [Dependency.from_yaml(d, where, f"dependencies[{i}]")
                                              for i, d in enumerate(deps)])

    def to_yaml(self) -> bytes:
        deps = None if self.dependencies is None else [d.to_json() if d else None for d in self.dependencies]
        return go_yaml_marshal({"generated": self.generated, "digest": self.digest, "dependencies": deps})


@dataclass
class ChartFile:
    """One file of a chart: its path inside the chart, bytes (UTF-8 BOM removed, as Helm does), mtime."""

    name: str
    data: bytes
    mtime: int


@dataclass
class Chart:
    """A loaded chart, in the parts Helm's ``Save`` writes, in the order it writes them."""

    metadata: ChartMetadata
    mtime: int  # Chart.yaml's
    lock: ChartLock | None = None
    values: list[ChartFile] = field(default_factory=list)
    schema: ChartFile | None = None
    templates: list[ChartFile] = field(default_factory=list)
    files: list[ChartFile] = field(default_factory=list)
    dependencies: list[Chart] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.metadata.name

    def stamp_mtimes(self, unix: int) -> None:
        """SOURCE_DATE_EPOCH: every time stamp (and Chart.lock's ``generated``) becomes ``unix``."""
        self.mtime = unix
        if self.schema is not None and self.schema.data:
            self.schema.mtime = unix
        if self.lock is not None:
            self.lock.generated, self.lock.mtime = rfc3339_utc(unix), unix
        for f in [*self.values, *self.templates, *self.files]:
            f.mtime = unix
        for dep in self.dependencies:
            dep.stamp_mtimes(unix)

    def missing_dependencies(self) -> list[str]:
        """Chart.yaml dependencies with no chart of that name under charts/ (helm package refuses them)."""
        have = {d.name for d in self.dependencies}
        return [d.name for d in self.metadata.dependencies if d is not None and d.name not in have]


def load_chart(files: list[ChartFile], where: str) -> Chart:
    """Helm's ``LoadFiles``: classify files, parse Chart.yaml (+ requirements), load subcharts."""
    meta = ChartMetadata()
    has_chart_yaml = False
    mtime = 0
    for f in files:
        if f.name == "Chart.yaml":
            meta.overlay(f.data, f"{where}/Chart.yaml")
            if not meta.api_version:
                meta.api_version = API_V1
            has_chart_yaml, mtime = True, f.mtime
    chart = Chart(meta, mtime)
    subcharts: dict[str, list[ChartFile]] = {}
    for f in files:
        n = f.name
        if n == "Chart.yaml":
            continue
        if n == "Chart.lock":
            chart.lock = ChartLock.parse(f.data, f"{where}/{n}", f.mtime)
        elif n == "values.yaml":
            check_values_yaml(f.data, f"{where}/{n}")
            chart.values.append(f)
        elif n == "values.schema.json":
            chart.schema = f
        elif n == "requirements.yaml":
            meta.overlay(f.data, f"{where}/{n}")
            if meta.api_version == API_V1:
                chart.files.append(f)
        elif n == "requirements.lock":
            chart.lock = ChartLock.parse(f.data, f"{where}/{n}", f.mtime)
            if meta.api_version == API_V1:
                chart.files.append(f)
        elif n.startswith("templates/"):
            chart.templates.append(f)
        elif n.startswith("charts/"):
            if posixpath.splitext(n)[1] == ".prov":
                chart.files.append(f)
                continue
            rest = n[len("charts/"):]
            cname = rest.split("/", 1)[0]
            subcharts.setdefault(cname, []).append(ChartFile(rest, f.data, f.mtime))
        else:
            chart.files.append(f)
    if not has_chart_yaml:
        raise ChartError(f"{where}: Chart.yaml file is missing")
    meta.validate(f"{where}/Chart.yaml")
    for cname in sorted(subcharts):
        if cname[:1] in ("_", "."):
            continue
        sub = subcharts[cname]
        sub_where = f"{where}/charts/{cname}"
        if posixpath.splitext(cname)[1] == ".tgz":
            if sub[0].name != cname:
                raise ChartError(f"{sub_where}: expected a chart archive, found a directory")
            chart.dependencies.append(load_chart_archive(sub[0].data, sub_where))
        else:
            inner = [ChartFile(s.name.split("/", 1)[1], s.data, s.mtime) for s in sub if "/" in s.name]
            if not inner:
                raise ChartError(f"{sub_where}: not a chart (only chart directories and .tgz archives "
                                 "belong in charts/)")
            chart.dependencies.append(load_chart(inner, sub_where))
    return chart


# -- .helmignore ---------------------------------------------------------------------------------------------

class _BadPattern(ValueError):
    pass


def _glob_escape(pat: str, i: int) -> tuple[str, int]:
    """One character of a class (Go's ``getEsc``)."""
    if i >= len(pat) or pat[i] in "-]":
        raise _BadPattern
    if pat[i] == "\\":
        i += 1
        if i >= len(pat):
            raise _BadPattern
    ch = pat[i]
    i += 1
    if i >= len(pat):
        raise _BadPattern
    return ch, i


def glob_regex(pat: str) -> re.Pattern[str]:
    """Go's ``path/filepath.Match`` (Unix) as a regex: ``*``/``?`` never match '/', classes use ``^``."""
    out: list[str] = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            i += 1
            negated = i < n and pat[i] == "^"
            if negated:
                i += 1
            parts: list[str] = []
            count = 0
            while True:
                if i < n and pat[i] == "]" and count > 0:
                    i += 1
                    break
                lo, i = _glob_escape(pat, i)
                hi = lo
                if pat[i] == "-":
                    hi, i = _glob_escape(pat, i + 1)
                if lo <= hi:
                    parts.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
                count += 1
            if parts:
                out.append(f"[{'^' if negated else ''}{''.join(parts)}]")
            else:
                out.append("(?s:.)" if negated else "(?!)")
        elif c == "\\":
            if i + 1 >= n:
                raise _BadPattern
            out.append(re.escape(pat[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("(?s:" + "".join(out) + r")\Z")


@dataclass
class _IgnorePattern:
    raw: str
    regex: re.Pattern[str]
    negate: bool
    must_dir: bool
    basename_only: bool

    def match(self, path: str) -> bool:
        return bool(self.regex.match(_go_base(path) if self.basename_only else path))


def _go_base(path: str) -> str:
    """Go's ``filepath.Base``: trailing slashes do not count."""
    stripped = path.rstrip("/")
    if not stripped:
        return "/" if path else "."
    return posixpath.basename(stripped)


class IgnoreRules:
    """Helm's ``.helmignore`` rules (``pkg/ignore``); the first matching rule decides."""

    def __init__(self) -> None:
        self.patterns: list[_IgnorePattern] = []

    @classmethod
    def parse(cls, data: bytes, where: str = HELMIGNORE) -> IgnoreRules:
        rules = cls()
        if data.startswith(_UTF8_BOM):
            data = data[len(_UTF8_BOM):]
        text = data.decode("utf-8", errors="replace")
        for lineno, line in enumerate(text.split("\n"), 1):
            try:
                rules.add(line.rstrip("\r"))
            except ChartError as e:
                raise ChartError(f"{where}:{lineno}: {e}")
        return rules

    def add_defaults(self) -> None:
        """The one rule Helm always adds: dot files in templates/."""
        self.add("templates/.?*")

    def add(self, rule: str) -> None:
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            return
        if "**" in rule:
            raise ChartError(f"{rule!r}: double-star (**) syntax is not supported")
        raw = rule
        negate = rule.startswith("!")
        if negate:
            rule = rule[1:]
        must_dir = rule.endswith("/")
        if must_dir:
            rule = rule[:-1]
        anchored = rule.startswith("/")
        if anchored:
            rule = rule[1:]
        try:
            glob_regex(raw)  # Helm checks the whole line compiles as a pattern
            regex = glob_regex(rule)
        except _BadPattern:
            raise ChartError(f"{raw!r}: syntax error in pattern")
        self.patterns.append(_IgnorePattern(raw, regex, negate, must_dir,
                                            basename_only=not anchored and "/" not in rule))

    def ignore(self, path: str, is_dir: bool) -> bool:
        """Whether ``path`` (relative, '/'-separated) is left out. A ``!`` rule ignores what it does not
        match — Helm's semantics, not gitignore's."""
        if path in ("", ".", "./"):
            return False
        for p in self.patterns:
            if p.negate:
                if p.must_dir and not is_dir:
                    return True
                if not p.match(path):
                    return True
                continue
            if p.must_dir and not is_dir:
                continue
            if p.match(path):
                return True
        return False


# -- writing the archive: Go's archive/tar and compress/gzip -------------------------------------------------

_NAME_SIZE, _PREFIX_SIZE = 100, 155


def _fmt_str(blk: bytearray, off: int, size: int, s: bytes) -> None:
    n = min(len(s), size)
    blk[off:off + n] = s[:n]
    if len(s) < size:
        blk[off + len(s)] = 0
    elif len(s) > size and blk[off + size - 1] == ord("/"):
        # Go: a truncated name must not end in '/' (readers would take it for a directory).
        stripped = s[: size - 1].rstrip(b"/")
        blk[off + len(stripped)] = 0


def _fits_octal(size: int, x: int) -> bool:
    return 0 <= x < int(8 ** (size - 1))


def _fmt_octal(blk: bytearray, off: int, size: int, x: int) -> None:
    if not _fits_octal(size, x):
        x = 0
    _fmt_str(blk, off, size, format(x, "o").rjust(size - 1, "0").encode())


def _finish_block(blk: bytearray) -> bytes:
    blk[257:263] = b"ustar\x00"
    blk[263:265] = b"00"
    blk[148:156] = b" " * 8
    chksum = sum(blk)
    _fmt_octal(blk, 148, 7, chksum)
    blk[155] = ord(" ")
    return bytes(blk)


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    length = len(name)
    if length <= _NAME_SIZE or not name.isascii():
        return None
    if length > _PREFIX_SIZE + 1:
        length = _PREFIX_SIZE + 1
    elif name[length - 1:length] == b"/":
        length -= 1
    i = name.rfind(b"/", 0, length)
    nlen, plen = len(name) - i - 1, i
    if i <= 0 or nlen > _NAME_SIZE or nlen == 0 or plen > _PREFIX_SIZE:
        return None
    return name[:i], name[i + 1:]


def _pax_record(k: str, v: str) -> bytes:
    body = f" {k}={v}\n".encode()
    size = len(body) + len(str(len(body)))
    if len(str(size)) + len(body) != size:
        size = len(str(size)) + len(body)
    return str(size).encode() + body


def _to_ascii(s: bytes) -> bytes:
    return bytes(b for b in s if b < 0x80)


class GoTarWriter:
    """The subset of Go's ``archive/tar.Writer`` Helm uses: regular files, mode 0644, owner 0."""

    def __init__(self) -> None:
        self._out = io.BytesIO()

    def add(self, name: str, data: bytes, mtime: int) -> None:
        raw = name.encode("utf-8")
        long_name = len(raw) > _NAME_SIZE or not raw.isascii()
        split = _split_ustar(raw) if long_name else None
        pax: dict[str, str] = {}
        prefix = b""
        if (long_name and split is None) or not _fits_octal(12, mtime):
            # USTAR cannot hold it: Go writes PAX records for every field that does not fit.
            if long_name:
                pax["path"] = name
            if not _fits_octal(12, mtime):
                pax["mtime"] = str(mtime)
        elif split is not None:
            prefix, raw = split
        if pax:
            records = b"".join(_pax_record(k, pax[k]) for k in sorted(pax))
            d, f = posixpath.split(name)
            pname = _to_ascii(posixpath.join(d, "PaxHeaders.0", f).encode())[:_NAME_SIZE].rstrip(b"/")
            hdr = bytearray(512)
            hdr[156] = ord("x")
            _fmt_str(hdr, 0, 100, pname)
            for off, size, val in ((100, 8, 0), (108, 8, 0), (116, 8, 0), (124, 12, len(records)),
                                   (136, 12, 0)):
                _fmt_octal(hdr, off, size, val)
            self._write(_finish_block(hdr), records)
            raw = _to_ascii(name.encode("utf-8"))
        blk = bytearray(512)
        blk[156] = ord("0")
        _fmt_str(blk, 0, 100, raw)
        _fmt_str(blk, 157, 100, b"")
        _fmt_octal(blk, 100, 8, 0o644)
        _fmt_octal(blk, 108, 8, 0)
        _fmt_octal(blk, 116, 8, 0)
        _fmt_octal(blk, 124, 12, len(data))
        _fmt_octal(blk, 136, 12, mtime)
        _fmt_str(blk, 265, 32, b"")
        _fmt_str(blk, 297, 32, b"")
        _fmt_octal(blk, 329, 8, 0)
        _fmt_octal(blk, 337, 8, 0)
        if not pax:
            _fmt_str(blk, 345, _PREFIX_SIZE, prefix)
        self._write(_finish_block(blk), data)

    def _write(self, header: bytes, data: bytes) -> None:
        self._out.write(header)
        self._out.write(data)
        self._out.write(b"\0" * (-len(data) % 512))

    def close(self) -> bytes:
        self._out.write(b"\0" * 1024)
        return self._out.getvalue()


def go_gzip(data: bytes) -> bytes:
    """``gzip.NewWriter`` with Helm's Extra and Comment: MTIME 0, XFL 0, OS 255, default level."""
    header = b"\x1f\x8b\x08" + bytes([0x04 | 0x10]) + b"\0\0\0\0" + bytes([0, GZIP_OS_UNKNOWN])
    header += struct.pack("<H", len(GZIP_EXTRA)) + GZIP_EXTRA + GZIP_COMMENT + b"\0"
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = comp.compress(data) + comp.flush()
    return header + body + struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)


def _valid_json(data: bytes) -> bool:
    def reject(_: str) -> Any:
        raise ValueError

    try:
        json.loads(data.decode("utf-8", errors="surrogateescape"), parse_constant=reject)
    except (ValueError, RecursionError):
        return False
    return True


def _write_contents(tw: GoTarWriter, chart: Chart, prefix: str) -> None:
    name = chart.name
    if not name or name in (".", "..") or "/" in name:
        raise ChartError(f"chart name {name!r} is not allowed")
    base = f"{prefix}/{name}" if prefix else name
    tw.add(f"{base}/Chart.yaml", chart.metadata.chart_yaml(), chart.mtime)
    if chart.metadata.api_version == API_V2 and chart.lock is not None:
        tw.add(f"{base}/Chart.lock", chart.lock.to_yaml(), chart.lock.mtime)
    for f in chart.values:
        tw.add(f"{base}/values.yaml", f.data, f.mtime)
    if chart.schema is not None:
        if not _valid_json(chart.schema.data):
            raise ChartError(f"{base}/values.schema.json: invalid JSON")
        tw.add(f"{base}/values.schema.json", chart.schema.data, chart.schema.mtime)
    for f in [*chart.templates, *chart.files]:
        tw.add(f"{base}/{f.name}", f.data, f.mtime)
    for dep in chart.dependencies:
        _write_contents(tw, dep, f"{base}/charts")


def write_chart_archive(chart: Chart) -> bytes:
    """The ``<name>-<version>.tgz`` bytes ``helm package`` would write (up to the deflate stream)."""
    tw = GoTarWriter()
    _write_contents(tw, chart, "")
    return go_gzip(tw.close())


def archive_name(meta: ChartMetadata) -> str:
    return f"{meta.name}-{meta.version}.tgz"


# -- reading archives safely ---------------------------------------------------------------------------------

class _CappedReader(io.RawIOBase):
    """A decompressed stream that refuses to grow past ``cap`` bytes (gzip bombs)."""

    def __init__(self, raw: Any, cap: int, where: str) -> None:
        self.raw, self.cap, self.where, self.count = raw, cap, where, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.raw.read(len(b))
        self.count += len(data)
        if self.count > self.cap:
            raise ChartError(f"{self.where}: decompressed chart is larger than the maximum size "
                             f"{MAX_CHART_SIZE} bytes")
        b[: len(data)] = data
        return len(data)


@dataclass
class ArchiveContents:
    top: str
    files: list[ChartFile]


def read_chart_archive(data: bytes, where: str) -> ArchiveContents:
    """The files of a chart archive, with Helm's path checks and limits and a few more (see module doc)."""
    if not data.startswith(b"\x1f\x8b\x08"):
        raise ChartError(f"{where}: does not appear to be a gzipped chart archive")
    import gzip

    stream = _CappedReader(gzip.GzipFile(fileobj=io.BytesIO(data)), MAX_CHART_SIZE + _STREAM_SLACK, where)
    files: list[ChartFile] = []
    tops: set[str] = set()
    remaining = MAX_CHART_SIZE
    try:
        with tarfile.open(fileobj=io.BufferedReader(stream), mode="r|") as tar:
            for m in tar:
                name = m.name
                if any("\udc80" <= c <= "\udcff" for c in name):
                    raise ChartError(f"{where}: entry name {name!r} is not UTF-8")
                if name.startswith("/") or (name.startswith("\\")):
                    raise ChartError(f"{where}: chart illegally contains absolute paths ({name!r})")
                delim = "\\" if "\\" in name else "/"
                parts = name.split(delim)
                while len(parts) > 1 and parts[0] == ".":
                    parts = parts[1:]
                if m.isdir():
                    if parts[0] not in ("", "."):
                        tops.add(parts[0])
                        _check_tops(tops, where)
                    continue
                if parts[0] == "Chart.yaml":
                    raise ChartError(f"{where}: Chart.yaml is not in the chart's base directory")
                n = "/".join(parts[1:])
                if n.startswith("/"):
                    raise ChartError(f"{where}: chart illegally contains absolute paths ({name!r})")
                n = posixpath.normpath(n) if n else "."
                if n == ".":
                    raise ChartError(f"{where}: chart illegally contains content outside the base directory "
                                     f"({name!r})")
                if n.startswith(".."):
                    raise ChartError(f"{where}: chart illegally references parent directory ({name!r})")
                if _DRIVE_RE.match(n):
                    raise ChartError(f"{where}: chart contains illegally named files ({name!r})")
                tops.add(parts[0])
                _check_tops(tops, where)
                if m.issym() or m.islnk():
                    _check_link(m, parts[0], n, where)
                    continue  # links never reach a chart: Helm writes none, sigward loads none
                if not m.isreg():
                    raise ChartError(f"{where}: {name!r} is not a regular file "
                                     "(device, FIFO or unknown type)")
                if m.size > remaining:
                    raise ChartError(f"{where}: decompressed chart is larger than the maximum size "
                                     f"{MAX_CHART_SIZE} bytes")
                if m.size > MAX_FILE_SIZE:
                    raise ChartError(f"{where}: file {name!r} is larger than the maximum file size "
                                     f"{MAX_FILE_SIZE} bytes")
                fobj = tar.extractfile(m)
                body = fobj.read() if fobj is not None else b""
                remaining -= len(body)
                if body.startswith(_UTF8_BOM):
                    body = body[len(_UTF8_BOM):]
                files.append(ChartFile(n, body, math.floor(float(m.mtime) + 0.5)))
    except ChartError:
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise ChartError(f"{where}: not a valid chart archive ({e})")
    if not files:
        raise ChartError(f"{where}: no files in chart archive")
    return ArchiveContents(next(iter(tops)), files)


def _check_tops(tops: set[str], where: str) -> None:
    if len(tops) > 1:
        raise ChartError(f"{where}: more than one top-level directory ({', '.join(sorted(tops))}); "
                         "a chart archive holds exactly one")


def _check_link(m: tarfile.TarInfo, top: str, n: str, where: str) -> None:
    target = m.linkname
    if target.startswith("/"):
        raise ChartError(f"{where}: link {m.name!r} points outside the chart ({target!r})")
    if m.issym():
        resolved = posixpath.normpath(posixpath.join(top, posixpath.dirname(n), target))
    else:
        while target.startswith("./"):
            target = target[2:]
        resolved = posixpath.normpath(target)
    if resolved == top or not resolved.startswith(top + "/"):
        raise ChartError(f"{where}: link {m.name!r} points outside the chart ({target!r})")


def load_chart_archive(data: bytes, where: str) -> Chart:
    """Helm's ``LoadArchive``: read safely, then load (no .helmignore inside archives)."""
    return load_chart(read_chart_archive(data, where).files, where)


# -- OCI: config, annotations, manifest ----------------------------------------------------------------------

def oci_annotations(meta: ChartMetadata, created: str) -> dict[str, str]:
    """The manifest annotations Helm ≥ 3.13 sets; Chart.yaml annotations are copied over them, except
    title and version."""
    out: dict[str, str] = {}

    def add(key: str, value: str) -> None:
        if value.strip():
            out[key] = value

    add(ANN_DESCRIPTION, meta.description)
    add(ANN_TITLE, meta.name)
    add(ANN_VERSION, meta.version)
    add(ANN_URL, meta.home)
    add(ANN_CREATED, created)
    if meta.sources:
        add(ANN_SOURCE, meta.sources[0])
    if meta.maintainers:
        authors = []
        for m in meta.maintainers:
            s = m.name if m else ""
            if m and m.email:
                s += f" ({m.email})"
            authors.append(s)
        add(ANN_AUTHORS, ", ".join(authors))
    for k, v in meta.annotations.items():
        if k not in _IMMUTABLE_ANNOTATIONS:
            out[k] = v
    return {k: out[k] for k in sorted(out)}


def oci_descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    """An ``ocispec.Descriptor`` as Go marshals it: mediaType, digest, size."""
    return {"mediaType": media_type, "digest": _digest.compute(data), "size": len(data)}


def chart_manifest(config: bytes, layers: list[tuple[str, bytes]], annotations: dict[str, str]) -> Manifest:
    """The manifest Helm ≥ 3.18 pushes: no top-level mediaType or artifactType, layers sorted by digest."""
    layer_descs = sorted((oci_descriptor(t, d) for t, d in layers), key=lambda d: d["digest"])
    obj: dict[str, Any] = {
        "schemaVersion": 2,
        "config": oci_descriptor(CONFIG_MEDIA_TYPE, config),
        "layers": layer_descs,
    }
    if annotations:
        obj["annotations"] = gojson.sorted_map(annotations)
    return Manifest(gojson.marshal(obj), mt.OCI_MANIFEST)


@dataclass(frozen=True)
class ChartConfig:
    name: str
    version: str


def parse_config(data: bytes, where: str) -> ChartConfig:
    """Name and version from a pulled config blob; both end up in a file name, so both are checked."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ChartError(f"{where}: the chart config is not valid JSON")
    if not isinstance(obj, dict):
        raise ChartError(f"{where}: the chart config is not a JSON object")
    name, version = obj.get("name"), obj.get("version")
    for what, v in (("name", name), ("version", version)):
        if not isinstance(v, str) or not v:
            raise ChartError(f"{where}: the chart config has no {what}")
        if v in (".", "..") or v.startswith(".") or any(c in v for c in "/\\\0") or not v.isprintable():
            raise ChartError(f"{where}: the chart config has an unusable {what} {v!r}")
    assert isinstance(name, str) and isinstance(version, str)
    return ChartConfig(name, version)
