"""Build an image on top of a *verified* base, and push it by digest.

The seed's rules, enforced rather than documented: a base image is used only after its signature
verified (the same checks as ``sigward verify``, against the digest the user pinned — for a
multi-platform base, the index digest, which is what publishers sign), and everything is referenced by
digest. The API makes the order impossible to get wrong: ``plan_build`` takes a ``VerifiedBase``, which
only ``verify_base`` returns.

Three phases, as in ``ops.copy``: verify (nothing read beyond signatures), plan (read the base's
manifests and configs, build the new layers into temporary files, compute every config, manifest and
index — still nothing written to the target), push (blobs first, each manifest after its blobs, the
index last, so the target never holds a manifest whose content is missing). A failure in the first two
phases leaves the target untouched.

Reproducibility: the new layers are deterministic (``formats.layer``), the config is the base's with
changes applied in place (its keys and order kept), and every time stamp is ``SOURCE_DATE_EPOCH`` (or
the Unix epoch), so the same base, sources and flags give the same digest on any machine.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from dataclasses import replace as _replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sigward import gojson, safejson
from sigward.errors import SigwardError, UsageError, VerificationError
from sigward.formats import layer as layerfmt
from sigward.oci import digest as _digest
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import Descriptor, Manifest
from sigward.oci.platform import Platform, platform_text
from sigward.oci.reference import AnyReference
from sigward.oci.store import ProgressFn, Store
from sigward.ops.verify import VerifyOptions, VerifyResult, verify_image

if TYPE_CHECKING:
    from sigward.sigstore.policy import Policy

CREATED_BY = "sigward image build"
ANN_BASE_NAME = "org.opencontainers.image.base.name"
ANN_BASE_DIGEST = "org.opencontainers.image.base.digest"
ANN_CREATED = "org.opencontainers.image.created"
ANN_SOURCE = "org.opencontainers.image.source"
ANN_REVISION = "org.opencontainers.image.revision"
ANN_VERSION = "org.opencontainers.image.version"

DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_NONDISTRIBUTABLE_LAYER = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
# Docker v2s2 → OCI: same blob bytes, OCI names (what `crane mutate`/BuildKit do on conversion).
_LAYER_TYPES = {
    mt.DOCKER_LAYER: mt.OCI_LAYER_TAR_GZIP,
    "application/vnd.docker.image.rootfs.diff.tar": mt.OCI_LAYER_TAR,
    DOCKER_FOREIGN_LAYER: OCI_NONDISTRIBUTABLE_LAYER,
}
_NON_DISTRIBUTABLE = {DOCKER_FOREIGN_LAYER, OCI_NONDISTRIBUTABLE_LAYER,
                      "application/vnd.oci.image.layer.nondistributable.v1.tar"}
_CONFIG_TYPES = {mt.OCI_CONFIG, mt.DOCKER_CONFIG}
_PROTOCOLS = ("tcp", "udp", "sctp")


# --- options -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerSpec:
    """A new layer: the directory ``source`` placed under ``dest`` (absolute, default ``/``), or the
    tarball ``source`` appended as is (``dest`` None). The CLI parses ``--layer SRC[:DEST]`` into one."""

    source: str
    dest: str | None = None

    @property
    def is_tarball(self) -> bool:
        return not os.path.isdir(self.source)


def layer_problem(spec: LayerSpec) -> str | None:
    """Why ``spec`` cannot become a layer, or None: the source must exist, be a directory or a tarball,
    and only a directory takes a destination. Checked before the base is read (``plan_build``)."""
    src = spec.source
    if not os.path.exists(src):
        return f"{src} does not exist"
    if os.path.isdir(src):
        if spec.dest is not None:
            layerfmt.normalise_dest(spec.dest)
        return None
    if not os.path.isfile(src):
        return f"{src} is neither a directory nor a regular file"
    if not layerfmt.is_tarball(src):
        return ("a file layer must be a tarball (.tar, .tar.gz or .tgz); to add a single file, put it in "
                "a directory")
    if spec.dest is not None:
        return "a tarball is appended as is; LayerSpec.dest is only for directories"
    return None


@dataclass
class BuildOptions:
    """What to build on the base. Lists of ``K=V`` are kept as given (order matters for Env)."""

    layers: list[LayerSpec] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    owner: tuple[int, int] = (0, 0)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    user: str | None = None
    expose: list[str] = field(default_factory=list)
    source: str | None = None
    revision: str | None = None
    version: str | None = None
    platforms: list[str] = field(default_factory=list)
    epoch: int | None = None  # SOURCE_DATE_EPOCH; None → the Unix epoch, 1970-01-01T00:00:00Z
    base_name: str = ""  # org.opencontainers.image.base.name: the base repository as the user gave it
    tempdir: str | None = None  # where layer files are built (default: the system temp directory)

    @property
    def mtime(self) -> int:
        return self.epoch or 0

    @property
    def created(self) -> str:
        return datetime.fromtimestamp(self.mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def manifest_annotations(self, base_digest: str) -> dict[str, str]:
        ann = {ANN_BASE_NAME: self.base_name, ANN_BASE_DIGEST: base_digest, ANN_CREATED: self.created}
        for key, value in ((ANN_SOURCE, self.source), (ANN_REVISION, self.revision),
                           (ANN_VERSION, self.version)):
            if value:
                ann[key] = value
        ann.update(self.annotations)
        out = gojson.sorted_map(ann)
        assert out is not None
        return out


def parse_exposed_port(text: str) -> str:
    """``8080`` → ``8080/tcp``; ``53/udp`` stays; anything else is refused."""
    port, _, proto = text.partition("/")
    proto = (proto or "tcp").lower()
    if not port.isdigit() or not 0 < int(port) < 65536 or proto not in _PROTOCOLS:
        raise UsageError(f"invalid BuildOptions.expose {text!r}: expected PORT[/tcp|udp|sctp] with PORT in "
                         "1-65535")
    return f"{int(port)}/{proto}"


def _check_pairs(values: list[str], name: str) -> None:
    for v in values:
        key, sep, _ = v.partition("=")
        if not sep or not key:
            raise UsageError(f"invalid {name} {v!r}: expected KEY=VALUE")


# --- verification --------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedBase:
    """Proof that ``digest`` verified; only ``verify_base`` makes one."""

    digest: str
    display_name: str
    result: VerifyResult


def verify_base(store: Store, digest: str, policy: Policy, *, options: VerifyOptions,
                attach_store: Store | None = None, display_name: str | None = None) -> VerifiedBase:
    """Verify the base exactly as ``sigward verify`` would; a failure keeps verify's exit code."""
    if not _digest.is_digest(digest):
        raise UsageError(f"base image must be referenced by digest, not {digest!r}")
    name = display_name or str(store.reference(digest))
    # One signature passing every check is all a build needs: stop there (same checks, fewer fetches).
    options = _replace(options, first_match=True)
    try:
        result = verify_image(store, digest, policy, attach_store=attach_store, options=options)
    except VerificationError as e:
        raise type(e)(f"base image {name} does not verify: {e}; refusing to build") from None
    return VerifiedBase(result.digest, name, result)


# --- planning ------------------------------------------------------------------------------------


@dataclass
class _Blob:
    desc: Descriptor
    source: Store | layerfmt.Layer | bytes


@dataclass
class PlatformImage:
    platform: dict[str, Any] | None
    base_digest: str
    manifest: Manifest


@dataclass
class BuildPlan:
    """Everything to push, in order; made by ``plan_build``, run by ``push_build``, then ``close``d."""

    base: VerifiedBase
    root: Manifest  # the image manifest, or the index over ``images``
    images: list[PlatformImage]
    layers: list[layerfmt.Layer]  # the new layers, shared by every platform
    blobs: list[_Blob] = field(default_factory=list)
    tempdir: str | None = None

    @property
    def total_bytes(self) -> int:
        return sum(b.desc.size for b in self.blobs)

    def close(self) -> None:
        for layer in self.layers:
            layer.discard()
        if self.tempdir:
            shutil.rmtree(self.tempdir, ignore_errors=True)

    def __enter__(self) -> BuildPlan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def plan_build(base: VerifiedBase, base_store: Store, options: BuildOptions,
               progress: ProgressFn | None = None) -> BuildPlan:
    """Read the verified base, build the new layers and compute every manifest; writes nothing.

    ``progress`` gets the bytes read from the layer sources as they are built (a large layer takes
    seconds to compress, and a silent terminal looks hung).
    """
    if not isinstance(base, VerifiedBase):
        raise TypeError("plan_build needs the VerifiedBase returned by verify_base")
    _check_pairs(options.env, "BuildOptions.env")
    for spec in options.layers:
        problem = layer_problem(spec)
        if problem is not None:
            raise UsageError(f"layer {spec.source}: {problem}")
    exposed = [parse_exposed_port(p) for p in options.expose]
    wanted = [Platform.parse(p) for p in options.platforms]
    root = base_store.get_manifest(base.digest)
    targets = _select(base_store, root, wanted)
    # Everything about the base is read and checked before any layer is built.
    configs = [(plat, m, _read_config(base_store, m)) for plat, m in targets]
    if not root.is_index and wanted:
        cfg_platform = {k: configs[0][2].get(k) for k in ("os", "architecture", "variant")}
        missing = [w for w in wanted if not w.matches(cfg_platform)]
        if missing:
            raise UsageError(f"base image {base.display_name} is {platform_text(cfg_platform)}, not "
                             + ", ".join(str(w) for w in missing))
    tempdir = tempfile.mkdtemp(prefix="sigward-build-", dir=options.tempdir)
    plan = BuildPlan(base, root, [], [], tempdir=tempdir)
    try:
        for spec in options.layers:
            plan.layers.append(_build_layer(spec, options, tempdir, progress))
        ann = options.manifest_annotations
        seen: set[str] = set()
        for plat, m, cfg in configs:
            image = _derive(plan, base_store, m, cfg, options, exposed, ann(m.digest), seen)
            plan.images.append(PlatformImage(plat, m.digest, image))
        if root.is_index:
            plan.root = Manifest.from_json({
                "schemaVersion": 2,
                "mediaType": mt.OCI_INDEX,
                "manifests": [Descriptor(mt.OCI_MANIFEST, img.manifest.digest, len(img.manifest.data),
                                         platform=img.platform).to_json() for img in plan.images],
                "annotations": ann(root.digest),
            }, mt.OCI_INDEX)
        else:
            plan.root = plan.images[0].manifest
    except BaseException:
        plan.close()
        raise
    return plan


def _select(store: Store, root: Manifest, wanted: list[Platform]
            ) -> list[tuple[dict[str, Any] | None, Manifest]]:
    """The base images to build on: the manifest itself, or the index's image entries (filtered)."""
    if not root.is_index:
        if root.media_type not in mt.IMAGE_MANIFEST_TYPES:
            raise UsageError(f"base {root.digest} is a {root.media_type}, not a container image")
        return [(None, root)]
    entries = [d for d in root.manifests
               if d.media_type in mt.IMAGE_MANIFEST_TYPES and platform_text(d.platform) != "unknown/unknown"]
    if wanted:
        for w in wanted:
            if not any(w.matches(d.platform) for d in entries):
                have = ", ".join(platform_text(d.platform) for d in entries) or "none"
                raise UsageError(f"base index {root.digest} has no image for platform {w} "
                                 f"(it has: {have})")
        entries = [d for d in entries if any(w.matches(d.platform) for w in wanted)]
    if not entries:
        raise UsageError(f"base index {root.digest} lists no platform images to build on")
    return [(d.platform, store.get_manifest(d.digest)) for d in entries]


def _read_config(store: Store, m: Manifest) -> dict[str, Any]:

    cfg = m.config
    if cfg is None or cfg.media_type not in _CONFIG_TYPES:
        kind = cfg.media_type if cfg else "no config"
        raise UsageError(f"base {m.digest} is not a container image (config: {kind})")
    try:
        obj = safejson.loads(store.get_blob(cfg))
    except ValueError as e:
        raise SigwardError(f"base {m.digest}: config {cfg.digest} is not valid JSON ({e})")
    if not isinstance(obj, dict):
        raise SigwardError(f"base {m.digest}: config {cfg.digest} is not a JSON object")
    return obj


def _build_layer(spec: LayerSpec, options: BuildOptions, tempdir: str,
                 progress: ProgressFn | None = None) -> layerfmt.Layer:
    if spec.is_tarball:
        return layerfmt.tarball_layer(spec.source, workdir=tempdir, progress=progress)
    return layerfmt.directory_layer(spec.source, spec.dest or "/", excludes=options.excludes,
                                    mtime=options.mtime, owner=options.owner, workdir=tempdir,
                                    progress=progress)


def derive_config(base: dict[str, Any], options: BuildOptions, diff_ids: list[str],
                  exposed: list[str] | None = None) -> dict[str, Any]:
    """The base config with the build's changes applied in place (keys and their order preserved)."""
    cfg = copy.deepcopy(base)
    cfg["created"] = options.created
    c = cfg.get("config")
    if not isinstance(c, dict):
        c = cfg["config"] = {}
    if options.entrypoint is not None:
        _set_list(c, "Entrypoint", options.entrypoint)
        if options.cmd is None:
            c.pop("Cmd", None)  # as docker: a new entrypoint does not inherit the old arguments
    if options.cmd is not None:
        _set_list(c, "Cmd", options.cmd)
    if options.env:
        env = [e for e in c.get("Env") or [] if isinstance(e, str)]
        for item in options.env:
            key = item.split("=", 1)[0]
            at = next((i for i, e in enumerate(env) if e.split("=", 1)[0] == key), None)
            if at is None:
                env.append(item)
            else:
                env[at] = item
        c["Env"] = env
    if options.labels:
        c["Labels"] = gojson.sorted_map({**(c.get("Labels") or {}), **options.labels})
    if options.working_dir is not None:
        c["WorkingDir"] = options.working_dir
    if options.user is not None:
        c["User"] = options.user
    if exposed:
        ports = dict(c.get("ExposedPorts") or {})
        for p in exposed:
            ports.setdefault(p, {})
        c["ExposedPorts"] = gojson.sorted_map(ports)
    rootfs = cfg.get("rootfs")
    if not isinstance(rootfs, dict):
        rootfs = cfg["rootfs"] = {"type": "layers", "diff_ids": []}
    rootfs["diff_ids"] = [*(rootfs.get("diff_ids") or []), *diff_ids]
    history = cfg.get("history")
    cfg["history"] = [*(history if isinstance(history, list) else []),
                      *({"created": options.created, "created_by": CREATED_BY} for _ in diff_ids)]
    return cfg


def _set_list(c: dict[str, Any], key: str, value: list[str]) -> None:
    if value:
        c[key] = list(value)
    else:
        c.pop(key, None)  # an empty list clears it (omitempty in the image spec)


def _derive(plan: BuildPlan, store: Store, base_m: Manifest, base_cfg: dict[str, Any],
            options: BuildOptions, exposed: list[str], annotations: dict[str, str],
            seen: set[str]) -> Manifest:
    config = gojson.marshal(derive_config(base_cfg, options, [la.diff_id for la in plan.layers], exposed))
    config_desc = Descriptor(mt.OCI_CONFIG, _digest.compute(config), len(config))
    layers: list[dict[str, Any]] = []
    for d in base_m.layers:
        oci = Descriptor(_LAYER_TYPES.get(d.media_type, d.media_type), d.digest, d.size, d.annotations,
                         urls=d.urls)
        layers.append(oci.to_json())
        if d.media_type not in _NON_DISTRIBUTABLE:
            _add_blob(plan, seen, _Blob(d, store))
    for la in plan.layers:
        layers.append(la.descriptor().to_json())
        _add_blob(plan, seen, _Blob(la.descriptor(), la))
    _add_blob(plan, seen, _Blob(config_desc, config))
    return Manifest.from_json({
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": layers,
        "annotations": annotations,
    }, mt.OCI_MANIFEST)


def _add_blob(plan: BuildPlan, seen: set[str], blob: _Blob) -> None:
    if blob.desc.digest not in seen:
        seen.add(blob.desc.digest)
        plan.blobs.append(blob)


# --- pushing -------------------------------------------------------------------------------------


@dataclass
class BuildResult:
    digest: str
    reference: AnyReference  # TARGET@digest
    media_type: str
    platforms: list[str]
    layers: list[Descriptor]  # the new layers
    blobs_pushed: int = 0
    blobs_skipped: int = 0
    bytes_pushed: int = 0


def push_build(plan: BuildPlan, base_store: Store, target: Store, *, tag: str | None = None,
               progress: ProgressFn | None = None) -> BuildResult:
    """Blobs (those TARGET lacks), then each platform manifest, then the index; by digest unless ``tag``."""
    result = BuildResult(plan.root.digest, target.reference(plan.root.digest), plan.root.media_type,
                         [platform_text(i.platform) for i in plan.images if i.platform],
                         [la.descriptor() for la in plan.layers])
    for blob in plan.blobs:
        if isinstance(blob.source, bytes):
            sent = target.put_blob(blob.desc, blob.source, progress=progress)
        elif isinstance(blob.source, layerfmt.Layer):
            sent = target.put_blob(blob.desc, blob.source.chunks(), progress=progress)
        else:
            sent = target.put_blob(blob.desc, _lazy(blob.source, blob.desc), progress=progress,
                                   mount_from=base_store)
        if sent:
            result.blobs_pushed += 1
            result.bytes_pushed += blob.desc.size
        else:
            result.blobs_skipped += 1
            if progress is not None:
                progress(blob.desc.size)
    if plan.root.is_index:
        for img in plan.images:
            target.put_manifest(img.manifest)
    target.put_manifest(plan.root, tag)
    return result


def _lazy(source: Store, desc: Descriptor) -> Iterator[bytes]:
    # Opened only if the target asks for the bytes (put_blob checks for the blob first).
    yield from source.iter_blob(desc)


def build_image(base: VerifiedBase, base_store: Store, target: Store, options: BuildOptions, *,
                tag: str | None = None, progress: ProgressFn | None = None) -> BuildResult:
    """``plan_build`` then ``push_build``, temporary layer files removed either way."""
    with plan_build(base, base_store, options) as plan:
        return push_build(plan, base_store, target, tag=tag, progress=progress)
