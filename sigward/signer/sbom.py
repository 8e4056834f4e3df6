"""The launch SBOMs inside an exported image, read the way the platform API stores them.

The exporter adds one layer holding ``<layers>/sbom/launch/`` (lifecycle ``phase/exporter.go``
``addSBOMLaunchLayer``) and records its **diff ID** as ``sbom.sha`` in the
``io.buildpacks.lifecycle.metadata`` label. Inside, per buildpack (ID escaped ``/`` → ``_``):
``<bp>/sbom.<ext>`` (launch SBOM),
``<bp>/<layer>/sbom.<ext>`` (per launch layer), and ``buildpacksio_lifecycle/launcher/sbom.<ext>``, with
``<ext>`` one of ``cdx.json``, ``spdx.json``, ``syft.json`` (``buildpack/bomfile.go``). Tar entry names keep
the absolute layers path (``/layers/sbom/launch/…``), so the root is found, not assumed.

The compressed blob is digest-checked by the store; here the **uncompressed** stream is checked against
``sbom.sha`` before a single entry is read — an SBOM that is not the image's is never exported.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import zlib
from dataclasses import dataclass

from sigward.errors import DigestMismatchError, SigwardError

METADATA_LABEL = "io.buildpacks.lifecycle.metadata"
MAX_SBOM_LAYER = 512 << 20  # uncompressed bytes read at most

# format → (cosign attestation type name or None, cosign SBOM attachment media type)
FORMATS = {
    "cdx": ("cyclonedx", "application/vnd.cyclonedx+json"),
    "spdx": ("spdxjson", "text/spdx+json"),
    # Syft JSON has no in-toto predicate type cosign knows: it can be attached, not attested.
    "syft": (None, "application/vnd.syft+json"),
}
_FILE = re.compile(r"^(?:(?P<bp>[^/]+)/(?:(?P<layer>[^/]+)/)?)?sbom\.(?P<fmt>cdx|spdx|syft)\.json$")


@dataclass(frozen=True)
class SBOMFile:
    path: str  # relative to sbom/launch, e.g. "example_hello/web/sbom.cdx.json"
    format: str  # cdx | spdx | syft
    data: bytes

    @property
    def attestation_type(self) -> str | None:
        return FORMATS[self.format][0]

    @property
    def media_type(self) -> str:
        return FORMATS[self.format][1]


def sbom_diff_id(config: bytes) -> str | None:
    """``sbom.sha`` of the lifecycle metadata label, or None when the image has no SBOM layer."""
    try:
        cfg = json.loads(config)
        labels = (cfg.get("config") or {}).get("Labels") or {}
        raw = labels.get(METADATA_LABEL)
        if raw is None:
            return None
        meta = json.loads(raw)
    except (ValueError, AttributeError, TypeError) as e:
        raise SigwardError(f"image config: unreadable {METADATA_LABEL} label ({e})")
    sha = (meta.get("sbom") or {}).get("sha") if isinstance(meta, dict) else None
    return sha if isinstance(sha, str) and sha else None


def layer_index(config: bytes, diff_id: str) -> int:
    """The position of ``diff_id`` in ``rootfs.diff_ids`` (= the manifest layer holding it)."""
    diff_ids = (json.loads(config).get("rootfs") or {}).get("diff_ids") or []
    try:
        return list(diff_ids).index(diff_id)
    except ValueError:
        raise SigwardError(f"image config: the SBOM layer {diff_id} named by {METADATA_LABEL} is not in "
                           "rootfs.diff_ids")


def uncompress(blob: bytes, media_type: str, diff_id: str) -> bytes:
    """The layer tarball, checked against its diff ID; gzip or plain tar (what the lifecycle writes)."""
    if media_type.endswith("gzip"):
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        raw = d.decompress(blob, MAX_SBOM_LAYER + 1)
        if len(raw) > MAX_SBOM_LAYER or d.unconsumed_tail:
            raise SigwardError(f"SBOM layer {diff_id}: larger than {MAX_SBOM_LAYER >> 20} MiB uncompressed")
        raw += d.flush()
    elif media_type.endswith(".tar") or media_type.endswith("tar"):
        raw = blob
    else:
        raise SigwardError(f"SBOM layer {diff_id}: unsupported layer media type {media_type}")
    got = "sha256:" + hashlib.sha256(raw).hexdigest()
    if got != diff_id:
        raise DigestMismatchError(f"SBOM layer: uncompressed digest {got} is not the diff ID {diff_id} the "
                                  "image's label names; refusing to export it")
    return raw


def read_sbom_files(tarball: bytes) -> list[SBOMFile]:
    """The launch SBOM files in an SBOM layer tarball, sorted by path (deterministic output)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:") as tf:
            members = tf.getmembers()
            root = _root(members)
            out = []
            for m in members:
                name = m.name.lstrip("/")
                if not m.isfile() or not name.startswith(root):
                    continue
                rel = name[len(root):]
                match = _FILE.match(rel)
                if match is None:
                    continue  # sbom.legacy.json (pre-0.7 format) and anything else
                f = tf.extractfile(m)
                assert f is not None
                out.append(SBOMFile(rel, match.group("fmt"), f.read()))
    except tarfile.TarError as e:
        raise SigwardError(f"SBOM layer: not a valid tar archive ({e})")
    return sorted(out, key=lambda s: s.path)


def _root(members: list[tarfile.TarInfo]) -> str:
    """``…/sbom/launch/``: the shallowest directory of that name (the layers directory is not known here)."""
    dirs = [m.name.strip("/") for m in members if m.isdir()]
    cands = sorted((d for d in dirs if d == "sbom/launch" or d.endswith("/sbom/launch")), key=len)
    if cands:
        return cands[0] + "/"
    for m in members:  # no directory entries: the first path through sbom/launch/
        name = m.name.lstrip("/")
        i = name.find("sbom/launch/")
        if i == 0 or (i > 0 and name[i - 1] == "/"):
            return name[: i + len("sbom/launch/")]
    return "sbom/launch/"
