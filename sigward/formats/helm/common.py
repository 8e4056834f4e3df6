"""What every part of a Helm chart shares: the error type and Helm's constants (media types, gzip header,
size limits, annotation names), facts from Helm's pkg/registry/constants.go, pkg/chart/v2/util/save.go and
pkg/chart/v2/loader/archive.go."""

from __future__ import annotations

from sigward.errors import SigwardError
from sigward.oci import mediatypes as mt


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
STREAM_SLACK = 16 * 1024 * 1024

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
IMMUTABLE_ANNOTATIONS = (ANN_VERSION, ANN_TITLE)

UNDERSCORE_NOTICE = (
    "OCI tags cannot contain '+', so Helm stores SemVer build metadata with '_' instead "
    "(and maps it back to '+' on pull)"
)

UTF8_BOM = b"\xef\xbb\xbf"
