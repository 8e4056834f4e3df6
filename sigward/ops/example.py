"""A small, realistic, reproducible OCI image (``sigward demo-image``).

It exists so the README quickstart and tests have a real image to sign and copy without any server or
download. Everything that could vary is pinned — tar member order, owners, modes, mtimes, the gzip header
(mtime 0, no file name), the config's ``created`` time, JSON key order — so the same inputs give the same
digest on every run (given the same zlib, whose output for a fixed level has been stable for decades).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass

from sigward import gojson
from sigward.oci import digest as _digest
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import Descriptor, Manifest
from sigward.oci.store import Store

# 2024-01-01T00:00:00Z: a fixed, plausible build time (0 would make tools print 1970).
EPOCH = 1704067200
CREATED = "2024-01-01T00:00:00Z"
DEFAULT_MESSAGE = "Hello from sigward!"
DEFAULT_PLATFORM = "linux/amd64"


@dataclass(frozen=True)
class DemoImage:
    """One platform's image: the layer and config blobs and the manifest that ties them."""

    layer: bytes
    config: bytes
    manifest: Manifest
    platform: dict[str, str]

    @property
    def blobs(self) -> list[tuple[Descriptor, bytes]]:
        cfg, layer = self.manifest.config, self.manifest.layers[0]
        assert cfg is not None
        return [(cfg, self.config), (layer, self.layer)]


def _tar(files: list[tuple[str, bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({name.rsplit("/", 1)[0] for name, _, _ in files if "/" in name})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, EPOCH
            tar.addfile(info)
        for name, data, mode in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, EPOCH
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build_demo_image(message: str = DEFAULT_MESSAGE, platform: str = DEFAULT_PLATFORM) -> DemoImage:
    """The image: ``/hello.txt`` with ``message``, ``/etc/os-release``, and an OCI config."""
    from sigward.oci.platform import Platform

    plat = Platform.parse(platform).to_dict()
    files = [
        ("etc/os-release", b'NAME="sigward demo"\nID=sigward-demo\nVERSION_ID=1\n', 0o644),
        ("hello.txt", f"{message}\nplatform: {platform}\n".encode(), 0o644),
    ]
    tar = _tar(files)
    layer = gzip.compress(tar, compresslevel=9, mtime=0)
    config_obj: dict[str, object] = {
        "created": CREATED,
        "architecture": plat["architecture"],
        **({"variant": plat["variant"]} if "variant" in plat else {}),
        "os": plat["os"],
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/hello.txt"],
            "Labels": {"org.opencontainers.image.title": "sigward demo image"},
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(tar).hexdigest()}"]},
        "history": [{"created": CREATED, "created_by": "sigward demo-image", "comment": "two files"}],
    }
    config = gojson.marshal(config_obj)
    manifest = Manifest.from_json({
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": Descriptor(mt.OCI_CONFIG, _digest.compute(config), len(config)).to_json(),
        "layers": [Descriptor(mt.OCI_LAYER_TAR_GZIP, _digest.compute(layer), len(layer)).to_json()],
        "annotations": {"org.opencontainers.image.created": CREATED},
    })
    return DemoImage(layer, config, manifest, plat)


def build_demo_index(images: list[DemoImage]) -> Manifest:
    """A multi-platform index over ``images`` (in the order given)."""
    return Manifest.from_json({
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {**img.manifest.descriptor().to_json(), "platform": img.platform} for img in images
        ],
    })


def write_demo_image(store: Store, tag: str | None, message: str = DEFAULT_MESSAGE,
                     platforms: list[str] | None = None) -> Descriptor:
    """Write the image (an index when several platforms are given) into ``store``; returns its descriptor."""
    plats = platforms or [DEFAULT_PLATFORM]
    images = [build_demo_image(message, p) for p in plats]
    for img in images:
        for desc, data in img.blobs:
            store.put_blob(desc, data)
    if len(images) == 1:
        return store.put_manifest(images[0].manifest, tag)
    for img in images:
        store.put_manifest(img.manifest)
    return store.put_manifest(build_demo_index(images), tag)
