"""A chart as an OCI artifact: the config blob, the manifest annotations Helm ≥ 3.13 sets, and the
manifest Helm ≥ 3.18 pushes (Go's exact JSON bytes through ``gojson``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sigward import gojson, safejson
from sigward.formats.helm.common import (
    ANN_AUTHORS,
    ANN_CREATED,
    ANN_DESCRIPTION,
    ANN_SOURCE,
    ANN_TITLE,
    ANN_URL,
    ANN_VERSION,
    CONFIG_MEDIA_TYPE,
    IMMUTABLE_ANNOTATIONS,
    ChartError,
)
from sigward.formats.helm.metadata import ChartMetadata
from sigward.oci import digest as _digest
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import Manifest

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
        if k not in IMMUTABLE_ANNOTATIONS:
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
        obj = safejson.loads(data)
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
