"""Descriptors and manifests, keeping the exact bytes.

A ``Manifest`` is its raw bytes plus media type and digest: signatures and ``subject`` descriptors are
computed over stored bytes, never over a re-serialisation. Parsed JSON is a read-only view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sigward import gojson, safejson
from sigward.errors import InvalidManifestError
from sigward.oci import digest as _digest
from sigward.oci import mediatypes as mt

# Manifests larger than this are refused (distribution-spec: registries SHOULD accept 4 MB).
MAX_MANIFEST_SIZE = 4 * 1024 * 1024


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor."""

    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] | None = None
    artifact_type: str | None = None
    platform: dict[str, Any] | None = None
    urls: list[str] | None = None
    data: str | None = None

    @classmethod
    def from_json(cls, obj: Any, where: str = "descriptor") -> Descriptor:
        if not isinstance(obj, dict):
            raise InvalidManifestError(f"{where}: expected a JSON object")
        try:
            media_type = obj.get("mediaType", "")
            dig = obj["digest"]
            size = obj["size"]
        except KeyError as e:
            raise InvalidManifestError(f"{where}: missing {e.args[0]!r}")
        if not isinstance(dig, str) or not _digest.is_digest(dig):
            raise InvalidManifestError(f"{where}: invalid digest {dig!r}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidManifestError(f"{where}: invalid size {size!r}")
        if not isinstance(media_type, str):
            raise InvalidManifestError(f"{where}: invalid mediaType")
        ann = obj.get("annotations")
        if ann is not None and (
            not isinstance(ann, dict) or not all(isinstance(v, str) for v in ann.values())
        ):
            raise InvalidManifestError(f"{where}: annotations must map strings to strings")
        return cls(
            media_type=media_type,
            digest=dig,
            size=size,
            annotations=ann or None,
            artifact_type=obj.get("artifactType"),
            platform=obj.get("platform"),
            urls=obj.get("urls"),
            data=obj.get("data"),
        )

    def to_json(self) -> dict[str, Any]:
        """Field order of go-containerregistry's v1.Descriptor (what cosign writes)."""
        out: dict[str, Any] = {"mediaType": self.media_type, "size": self.size, "digest": self.digest}
        if self.data is not None:
            out["data"] = self.data
        if self.urls:
            out["urls"] = self.urls
        if self.annotations:
            out["annotations"] = gojson.sorted_map(self.annotations)
        if self.platform:
            out["platform"] = self.platform
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    def with_annotations(self, annotations: dict[str, str] | None) -> Descriptor:
        return Descriptor(
            self.media_type, self.digest, self.size, annotations or None,
            self.artifact_type, self.platform, self.urls, self.data,
        )


@dataclass(frozen=True)
class Manifest:
    """A manifest or index: exact bytes, media type and digest (always computed from the bytes)."""

    data: bytes
    media_type: str
    digest: str = field(default="")

    def __post_init__(self) -> None:
        if not self.digest:
            object.__setattr__(self, "digest", _digest.compute(self.data))

    @classmethod
    def parse(
        cls, data: bytes, content_type: str | None = None, expected_digest: str | None = None,
        where: str = "manifest",
    ) -> Manifest:
        """Validate bytes as a manifest/index; media type from the body, else Content-Type, else shape."""
        if len(data) > MAX_MANIFEST_SIZE:
            raise InvalidManifestError(f"{where}: larger than {MAX_MANIFEST_SIZE} bytes")
        if expected_digest:
            _digest.check(data, expected_digest, where)
        try:
            obj = safejson.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidManifestError(f"{where}: not valid JSON ({e})")
        if not isinstance(obj, dict):
            raise InvalidManifestError(f"{where}: expected a JSON object")
        media_type = obj.get("mediaType")
        if media_type is not None and not isinstance(media_type, str):
            raise InvalidManifestError(f"{where}: invalid mediaType")
        ct = (content_type or "").split(";")[0].strip()
        if not media_type:
            if ct in mt.MANIFEST_TYPES:
                media_type = ct
            elif "manifests" in obj:
                media_type = mt.OCI_INDEX
            elif "config" in obj:
                media_type = mt.OCI_MANIFEST
            else:
                raise InvalidManifestError(f"{where}: cannot tell whether it is a manifest or an index")
        if obj.get("schemaVersion") != 2:
            raise InvalidManifestError(f"{where}: unsupported schemaVersion {obj.get('schemaVersion')!r}")
        dig = expected_digest or _digest.compute(data)
        m = cls(data=data, media_type=media_type, digest=dig)
        m._validate(obj, where)
        return m

    @classmethod
    def from_json(cls, obj: dict[str, Any], media_type: str | None = None) -> Manifest:
        """Build a manifest from a dict, serialised the way Go would (key order as given)."""
        return cls(gojson.marshal(obj), media_type or obj.get("mediaType") or mt.OCI_MANIFEST)

    def _validate(self, obj: dict[str, Any], where: str) -> None:
        if self.is_index:
            ms = obj.get("manifests")
            if not isinstance(ms, list):
                raise InvalidManifestError(f"{where}: index without a 'manifests' list")
            for i, d in enumerate(ms):
                Descriptor.from_json(d, f"{where}: manifests[{i}]")
        elif self.media_type in mt.IMAGE_MANIFEST_TYPES:
            Descriptor.from_json(obj.get("config"), f"{where}: config")
            layers = obj.get("layers", [])
            if not isinstance(layers, list):
                raise InvalidManifestError(f"{where}: 'layers' must be a list")
            for i, d in enumerate(layers):
                Descriptor.from_json(d, f"{where}: layers[{i}]")
        else:
            raise InvalidManifestError(f"{where}: unsupported media type {self.media_type!r}")
        if obj.get("subject") is not None:
            Descriptor.from_json(obj["subject"], f"{where}: subject")

    @cached_property
    def json(self) -> dict[str, Any]:
        obj: dict[str, Any] = safejson.loads(self.data)
        return obj

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEX_TYPES

    @property
    def config(self) -> Descriptor | None:
        c = self.json.get("config")
        return Descriptor.from_json(c) if c is not None else None

    @property
    def layers(self) -> list[Descriptor]:
        return [Descriptor.from_json(d) for d in self.json.get("layers") or []]

    @property
    def manifests(self) -> list[Descriptor]:
        return [Descriptor.from_json(d) for d in self.json.get("manifests") or []]

    @property
    def subject(self) -> Descriptor | None:
        s = self.json.get("subject")
        return Descriptor.from_json(s) if s is not None else None

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.json.get("annotations") or {})

    @property
    def artifact_type(self) -> str | None:
        """``artifactType``, else the config media type (how referrers descriptors are typed)."""
        at = self.json.get("artifactType")
        if at:
            return str(at)
        c = self.json.get("config")
        if isinstance(c, dict) and c.get("mediaType"):
            return str(c["mediaType"])
        return None

    def children(self) -> list[Descriptor]:
        """Everything this manifest references: config and layers, or child manifests."""
        if self.is_index:
            return self.manifests
        cfg = self.config
        return ([cfg] if cfg else []) + self.layers

    def descriptor(self, annotations: dict[str, str] | None = None) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.data), annotations)

    def referrer_descriptor(self) -> Descriptor:
        """How this manifest appears in a referrers list: artifactType and all annotations copied."""
        return Descriptor(
            self.media_type, self.digest, len(self.data), self.annotations or None, self.artifact_type
        )
