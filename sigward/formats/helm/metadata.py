"""The chart model: Chart.yaml (``ChartMetadata``), Chart.lock, files, and a chart loaded from files.

Chart.yaml is parsed the way sigs.k8s.io/yaml does it (YAML → JSON → struct): numbers given for string
fields become strings, unknown keys vanish, keys match case-insensitively; strings are sanitised as Helm
does, and everything Helm's ``Validate`` refuses is refused with its reason."""

from __future__ import annotations

import calendar
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from sigward import gojson
from sigward.formats.helm.common import API_V1, API_V2, CHART_TYPES, ChartError
from sigward.formats.helm.goyaml import (
    GO_FLOAT_NAMES,
    check_values_yaml,
    go_format_float,
    go_yaml_marshal,
    kind_of,
    load_yaml,
    sanitize,
)
from sigward.formats.helm.versions import check_version

_ALIAS_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
_RFC3339_RE = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


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
    raise ChartError(f"{where}: {what} must be a string, not {kind_of(v)}")


def _as_str_list(v: Any, where: str, what: str) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise ChartError(f"{where}: {what} must be a list of strings, not {kind_of(v)}")
    return [_as_str(x, where, f"{what}[{i}]") for i, x in enumerate(v)]


def _as_bool(v: Any, where: str, what: str) -> bool:
    if v is None:
        return False
    if not isinstance(v, bool):
        raise ChartError(f"{where}: {what} must be true or false, not {kind_of(v)}")
    return v


def _key_str(k: Any) -> str:
    if isinstance(k, bool):
        return "true" if k else "false"
    if isinstance(k, float):
        s = go_format_float(k, 32)
        return GO_FLOAT_NAMES.get(s, s)
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
            raise ChartError(f"{where}: {what} must be a mapping, not {kind_of(obj)}")
        f = _fields(obj, cls._FIELDS)
        iv = f.get("import-values")
        if iv is not None and not isinstance(iv, list):
            raise ChartError(f"{where}: {what}.import-values must be a list, not {kind_of(iv)}")
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
        obj = load_yaml(data, where)
        if obj is None:
            return
        if not isinstance(obj, dict):
            raise ChartError(f"{where}: expected a mapping of chart fields, not {kind_of(obj)}")
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
                raise ChartError(f"{where}: maintainers must be a list, not {kind_of(ms)}")
            self.maintainers = []
            for i, m in enumerate(ms or []):
                if m is None:
                    self.maintainers.append(None)
                    continue
                if not isinstance(m, dict):
                    raise ChartError(f"{where}: maintainers[{i}] must be a mapping, not {kind_of(m)}")
                mf = _fields(m, ("name", "email", "url"))
                self.maintainers.append(Maintainer(*(
                    _as_str(mf.get(k), where, f"maintainers[{i}].{k}") for k in ("name", "email", "url"))))
        if "annotations" in f:
            ann = f["annotations"]
            if ann is not None and not isinstance(ann, dict):
                raise ChartError(f"{where}: annotations must be a mapping of strings, not {kind_of(ann)}")
            self.annotations = {_key_str(k): _as_str(v, where, f"annotations.{_key_str(k)}")
                                for k, v in (ann or {}).items()}
        if "dependencies" in f:
            deps = f["dependencies"]
            if deps is not None and not isinstance(deps, list):
                raise ChartError(f"{where}: dependencies must be a list, not {kind_of(deps)}")
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
        obj = load_yaml(data, where)
        if obj is None:
            obj = {}
        if not isinstance(obj, dict):
            raise ChartError(f"{where}: expected a mapping, not {kind_of(obj)}")
        f = _fields(obj, ("generated", "digest", "dependencies"))
        gen = f.get("generated")
        if gen is None:
            generated, mtime = "0001-01-01T00:00:00Z", file_mtime  # Go's zero time (Helm: now)
        else:
            generated, mtime = _rfc3339(_as_str(gen, where, "generated"), where)
        deps = f.get("dependencies")
        if deps is not None and not isinstance(deps, list):
            raise ChartError(f"{where}: dependencies must be a list, not {kind_of(deps)}")
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
            from sigward.formats.helm.archive import load_chart_archive  # archives hold charts: a cycle

            chart.dependencies.append(load_chart_archive(sub[0].data, sub_where))
        else:
            inner = [ChartFile(s.name.split("/", 1)[1], s.data, s.mtime) for s in sub if "/" in s.name]
            if not inner:
                raise ChartError(f"{sub_where}: not a chart (only chart directories and .tgz archives "
                                 "belong in charts/)")
            chart.dependencies.append(load_chart(inner, sub_where))
    return chart
