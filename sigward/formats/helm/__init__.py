"""Helm charts the way Helm writes and reads them: Chart.yaml, the chart archive, the OCI config.

Why so much care for bytes: a chart sigward packages or pushes must be the artifact ``helm`` would have
made — Helm has to pull and install it, and the digest that gets signed is a digest of these bytes.
Helm (``pkg/chart/v2``, ``pkg/registry``; oci-registry-helm-buildpacks-poc.md §3) is followed module by
module:

- ``common``    the error type and Helm's constants
- ``versions``  SemVer 2 versions and the OCI tag rule (the ``semver`` package)
- ``goyaml``    sigs.k8s.io/yaml reading and go-yaml v2 marshalling (Helm's exact Chart.yaml bytes)
- ``metadata``  the chart model: Chart.yaml, Chart.lock, files, loading a chart from files
- ``ignore``    ``.helmignore``, Helm's dialect of Go globs
- ``archive``   the .tgz: Go's archive/tar and compress/gzip headers, safe reading
- ``oci``       config blob, annotations and manifest of a pushed chart

Pure: bytes in, objects out; reading directories and writing files is ``sigward/ops/chart.py``'s job.
The names below are the package's interface (``from sigward.formats import helm``).
"""

from __future__ import annotations

from sigward.formats.helm.archive import (
    ArchiveContents,
    GoTarWriter,
    archive_name,
    go_gzip,
    load_chart_archive,
    read_chart_archive,
    write_chart_archive,
)
from sigward.formats.helm.common import (
    ANN_AUTHORS,
    ANN_CREATED,
    ANN_DESCRIPTION,
    ANN_SOURCE,
    ANN_TITLE,
    ANN_URL,
    ANN_VERSION,
    API_V1,
    API_V2,
    CHART_LAYER_MEDIA_TYPE,
    CHART_LAYER_TYPES,
    CHART_TYPES,
    CONFIG_MEDIA_TYPE,
    GZIP_COMMENT,
    GZIP_EXTRA,
    GZIP_OS_UNKNOWN,
    HELMIGNORE,
    LEGACY_CHART_LAYER_MEDIA_TYPE,
    MAX_CHART_SIZE,
    MAX_FILE_SIZE,
    PROV_LAYER_MEDIA_TYPE,
    UNDERSCORE_NOTICE,
    ChartError,
)
from sigward.formats.helm.goyaml import (
    check_values_yaml,
    go_format_float,
    go_yaml_marshal,
    sanitize,
)
from sigward.formats.helm.ignore import (
    IgnoreRules,
    glob_regex,
)
from sigward.formats.helm.metadata import (
    Chart,
    ChartFile,
    ChartLock,
    ChartMetadata,
    Dependency,
    Maintainer,
    is_rfc3339,
    load_chart,
    parse_metadata,
    rfc3339_utc,
)
from sigward.formats.helm.oci import (
    ChartConfig,
    chart_manifest,
    oci_annotations,
    oci_descriptor,
    parse_config,
)
from sigward.formats.helm.versions import (
    check_version,
    is_semver,
    semver_key,
    tag_for_version,
    version_for_tag,
)

__all__ = [
    "ANN_AUTHORS",
    "ANN_CREATED",
    "ANN_DESCRIPTION",
    "ANN_SOURCE",
    "ANN_TITLE",
    "ANN_URL",
    "ANN_VERSION",
    "API_V1",
    "API_V2",
    "CHART_LAYER_MEDIA_TYPE",
    "CHART_LAYER_TYPES",
    "CHART_TYPES",
    "CONFIG_MEDIA_TYPE",
    "GZIP_COMMENT",
    "GZIP_EXTRA",
    "GZIP_OS_UNKNOWN",
    "HELMIGNORE",
    "LEGACY_CHART_LAYER_MEDIA_TYPE",
    "MAX_CHART_SIZE",
    "MAX_FILE_SIZE",
    "PROV_LAYER_MEDIA_TYPE",
    "UNDERSCORE_NOTICE",
    "ArchiveContents",
    "Chart",
    "ChartConfig",
    "ChartError",
    "ChartFile",
    "ChartLock",
    "ChartMetadata",
    "Dependency",
    "GoTarWriter",
    "IgnoreRules",
    "Maintainer",
    "archive_name",
    "chart_manifest",
    "check_values_yaml",
    "check_version",
    "glob_regex",
    "go_format_float",
    "go_gzip",
    "go_yaml_marshal",
    "is_rfc3339",
    "is_semver",
    "load_chart",
    "load_chart_archive",
    "oci_annotations",
    "oci_descriptor",
    "parse_config",
    "parse_metadata",
    "read_chart_archive",
    "rfc3339_utc",
    "sanitize",
    "semver_key",
    "tag_for_version",
    "version_for_tag",
    "write_chart_archive",
]
