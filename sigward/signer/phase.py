"""The signer phase as an operation: check everything, then sign everything (CNB RFC "Cosign support").

The RFC's order, made all-or-nothing — no signature, attestation or attachment is written until:
1. every key loads (a wrong password fails here, before the network),
2. every image in ``report.toml`` is readable and every tag still resolves to the reported digest (a tag
   moved since the export is refused), the manifest has the reported size, and its SBOM layer (when a config
   exports SBOMs) is downloaded and checked against the diff ID the image's label names,
3. every destination — the image's repository or a config's ``repository`` — accepts a push (an upload
   session is opened and cancelled, so the check writes nothing),
4. keyless configs have their certificate.
Then every image is signed by digest, once per config, with the static annotations, and the SBOMs are
exported per ``export-sbom``. Only a registry failing midway can leave part of the work done; the error
then says what was already written.

Reads no environment and prints nothing: the CLI passes registry options and the default password in, and
receives progress through ``on_event``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sigward.errors import SigwardError
from sigward.signer import actions
from sigward.signer.config import CosignConfig, InputError, Report, SignConfig
from sigward.signer.sbom import SBOMFile

if TYPE_CHECKING:
    from sigward.oci.store import Store, StoreOptions

EventFn = Callable[[str, str], None]  # (level: debug|info|warn, message)


class PhaseError(SigwardError):
    """The phase refused or failed (lifecycle: the phase's own error code)."""


@dataclass
class PhaseOptions:
    cosign_path: str = "cosign.toml"  # for messages
    report_path: str = "report.toml"
    layout_dir: str | None = None  # -layout: the exporter wrote OCI layouts under this directory
    store_options: Callable[[str], StoreOptions] | None = None  # per registry host
    default_password: bytes | None = None  # for keys without a password file (the CLI: COSIGN_PASSWORD)
    # where keyless signing looks for an identity token (SIGSTORE_ID_TOKEN, CI credentials); the CLI:
    # the process environment
    environment: Mapping[str, str] = field(default_factory=dict)
    on_event: EventFn | None = None


@dataclass
class Image:
    name: str  # repository name: registry/repo (registry) or the exporter's name for a layout image
    store: Store
    digest: str
    tags: list[str] = field(default_factory=list)


@dataclass
class Written:
    config: int  # 1-based config index
    kind: str  # signature | attestation | attachment | attachment signature
    subject: str  # name@digest
    where: str


@dataclass
class PhaseResult:
    images: list[Image]
    written: list[Written]
    sboms: list[SBOMFile]


def run_phase(report: Report, cosign: CosignConfig, options: PhaseOptions | None = None) -> PhaseResult:
    opts = options or PhaseOptions()
    emit = opts.on_event or (lambda level, msg: None)
    stores: list[Any] = []
    try:
        keys = _load_keys(cosign.configs, opts)
        images = _read_images(report, opts, stores, emit)
        sboms = _read_sboms(images[0], cosign.configs, emit) if _wants_sbom(cosign) else []
        dests = _check_destinations(images, cosign.configs, opts, stores, emit)
        materials = [_material(cfg, keys[cfg.index], opts) for cfg in cosign.configs]
        written: list[Written] = []
        try:
            for cfg, material in zip(cosign.configs, materials, strict=True):
                for img in images:
                    _sign_one(cfg, material, img, dests[(cfg.index, img.name)], cosign.annotations, sboms,
                              written, emit)
        except SigwardError as e:
            done = f"; already written: {', '.join(w.where for w in written)}" if written else ""
            raise PhaseError(f"{e}{done}") from e
        return PhaseResult(images, written, sboms)
    finally:
        for s in stores:
            s.close()


# -- 1. keys ------------------------------------------------------------------------------------------


def _load_keys(configs: list[SignConfig], opts: PhaseOptions) -> dict[int, Any]:
    keys: dict[int, Any] = {}
    for cfg in configs:
        if cfg.keyless:
            keys[cfg.index] = None
            continue
        assert cfg.key is not None
        if ":" not in cfg.key and not os.path.exists(cfg.key):  # a file path (not env://, KMS, pkcs11:)
            raise InputError(f"{opts.cosign_path}: {cfg.label}.key: no such key file {cfg.key}")
        password = _password_fn(cfg, opts)
        try:
            keys[cfg.index] = actions.load_key(cfg.key, password)
        except SigwardError as e:
            raise PhaseError(f"{opts.cosign_path}: {cfg.label}: key {cfg.key}: {e}") from e
    return keys


def _password_fn(cfg: SignConfig, opts: PhaseOptions) -> Callable[[bool], bytes]:
    if cfg.password is None:
        return _constant(opts.default_password if opts.default_password is not None else b"")
    try:
        with open(cfg.password, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError(f"{opts.cosign_path}: {cfg.label}.password: cannot read {cfg.password}: "
                         f"{e.strerror}")
    # A file written by `echo` ends with a newline the password does not have.
    data = data[:-2] if data.endswith(b"\r\n") else data[:-1] if data.endswith(b"\n") else data
    return _constant(data)


def _constant(password: bytes) -> Callable[[bool], bytes]:
    """A password callback (``confirm`` is irrelevant: the phase never creates keys, never prompts)."""

    def read(_confirm: bool = False) -> bytes:
        return password

    return read


# -- 2. images and SBOMs --------------------------------------------------------------------------------


def _read_images(report: Report, opts: PhaseOptions, stores: list[Any], emit: EventFn) -> list[Image]:
    if report.digest is None and opts.layout_dir is None:
        if report.image_id:
            raise InputError(
                f"{opts.report_path}: the image was exported to a Docker daemon (image-id {report.image_id}, "
                "no digest): a daemon image has no registry digest to sign. Export to a registry, or to an "
                "OCI layout (-layout) and run the signer with -layout")
        raise InputError(f"{opts.report_path}: image.digest is missing: there is no digest to sign")
    by_name: dict[str, Image] = {}
    for tag in report.tags:
        found = (_layout_image(tag, opts, stores, emit) if opts.layout_dir
                 else _registry_image(tag, opts, stores))
        if found is None:
            continue
        name, store, desc = found
        if report.digest is not None and desc.digest != report.digest:
            raise PhaseError(f"{tag} resolves to {desc.digest}, not {report.digest} as {opts.report_path} "
                             "says: "
                             "the tag moved since the export; nothing was signed")
        manifest = store.get_manifest(desc.digest)  # by digest: the bytes are checked
        if report.manifest_size is not None and len(manifest.data) != report.manifest_size:
            raise PhaseError(f"{name}@{desc.digest}: manifest is {len(manifest.data)} bytes, "
                             f"{opts.report_path} "
                             f"says {report.manifest_size}; nothing was signed")
        emit("debug", f"{tag} is {desc.digest}")
        img = by_name.setdefault(name, Image(name, store, desc.digest))
        if img.digest != desc.digest:
            raise PhaseError(f"{tag} and {img.tags[0]} name different images ({desc.digest}, {img.digest}); "
                             "nothing was signed")
        img.tags.append(tag)
    if not by_name:
        raise PhaseError(f"none of the images in {opts.report_path} is in the layout {opts.layout_dir}")
    return list(by_name.values())


def _registry_image(tag: str, opts: PhaseOptions, stores: list[Any]) -> tuple[str, Store, Any]:
    from sigward.oci.reference import Reference, parse_reference
    from sigward.oci.store import open_store

    try:
        ref = parse_reference(tag)
    except SigwardError as e:
        raise InputError(f"{opts.report_path}: image.tags: {e}")
    if not isinstance(ref, Reference):
        raise InputError(f"{opts.report_path}: image.tags: {tag} is not a registry reference")
    store = open_store(ref, opts.store_options(ref.registry) if opts.store_options else None)
    stores.append(store)
    try:
        return ref.name, store, store.resolve(ref.identifier)
    except SigwardError as e:
        raise PhaseError(f"cannot read {tag}: {e}; nothing was signed") from e


def layout_path(tag: str, layout_dir: str) -> tuple[str, str]:
    """(image name, layout directory) of a tag as the exporter lays it out (imgutil ``ParseRefToPath``).

    ``<layout-dir>/<registry>/<repository>/<tag>`` (Docker Hub's registry is ``index.docker.io``); the
    report names the saved image by that path already, which is accepted as is.
    """
    from sigward.oci.reference import DOCKER_HUB, Reference, parse_reference

    root = os.path.normpath(layout_dir)
    norm = os.path.normpath(tag)
    if norm == root or norm.startswith(root + os.sep):
        rel = os.path.relpath(norm, root)
        repo, _, _ = rel.rpartition(os.sep)
        return repo.replace(os.sep, "/"), norm
    ref = parse_reference(tag)
    assert isinstance(ref, Reference)
    registry = "index.docker.io" if ref.registry == DOCKER_HUB else ref.registry
    ident = ref.digest.replace(":", os.sep) if ref.digest else (ref.tag or "latest")
    return ref.name, os.path.join(root, registry, *ref.repository.split("/"), ident)


def _layout_image(tag: str, opts: PhaseOptions, stores: list[Any],
                  emit: EventFn) -> tuple[str, Store, Any] | None:
    from sigward.oci.layout import LayoutStore

    assert opts.layout_dir is not None
    try:
        name, path = layout_path(tag, opts.layout_dir)
    except SigwardError as e:
        raise InputError(f"{opts.report_path}: image.tags: {e}")
    if not os.path.isdir(path):
        # The exporter lists additional names in the report but writes only the first to the layout.
        emit("warn", f"{tag}: no OCI layout at {path}; not signed")
        return None
    store = LayoutStore(path)
    stores.append(store)
    try:
        # The exporter names its image in index.json by the tag (org.opencontainers.image.ref.name) or, for
        # a digest reference, lays it out under sha256/<hex>; signatures added later do not change that.
        head, last = os.path.split(os.path.normpath(path))
        ident = f"sha256:{last}" if os.path.basename(head) == "sha256" else last
        return name, store, store.resolve(ident)
    except SigwardError as e:
        if isinstance(e, PhaseError):
            raise
        raise PhaseError(f"cannot read {path}: {e}; nothing was signed") from e


def _wants_sbom(cosign: CosignConfig) -> bool:
    return any(c.export_sbom != "none" for c in cosign.configs)


def _read_sboms(img: Image, configs: list[SignConfig], emit: EventFn) -> list[SBOMFile]:
    from sigward.signer import sbom

    subject = f"{img.name}@{img.digest}"
    try:
        manifest = img.store.get_manifest(img.digest)
        if manifest.config is None:
            raise PhaseError(f"{subject} is not an image (no config)")
        config = img.store.get_blob(manifest.config)
        diff_id = sbom.sbom_diff_id(config)
        if diff_id is None:
            emit("warn", f"{subject} has no SBOM layer (no sbom.sha in {sbom.METADATA_LABEL}); "
                         "no SBOM exported")
            return []
        layer = manifest.layers[sbom.layer_index(config, diff_id)]
        files = sbom.read_sbom_files(sbom.uncompress(img.store.get_blob(layer, max_size=sbom.MAX_SBOM_LAYER),
                                                     layer.media_type, diff_id))
    except SigwardError as e:
        if isinstance(e, PhaseError):
            raise
        raise PhaseError(f"{subject}: reading its SBOM layer: {e}; nothing was signed") from e
    if not files:
        emit("warn", f"{subject}: the SBOM layer holds no launch SBOM (sbom.{{cdx,spdx,syft}}.json)")
    if any(c.export_sbom == "attestation" for c in configs):
        for f in files:
            if f.attestation_type is None:
                emit("warn", f"{f.path}: Syft JSON has no attestation predicate type; it is exported only by "
                             "configs with export-sbom = \"attachment\"")
    for f in files:
        emit("debug", f"SBOM {f.path} ({len(f.data)} bytes)")
    return files


# -- 3. destinations ------------------------------------------------------------------------------------


def _check_destinations(images: list[Image], configs: list[SignConfig], opts: PhaseOptions,
                        stores: list[Any], emit: EventFn) -> dict[tuple[int, str], Store]:
    from sigward.oci.reference import parse_reference, parse_repository
    from sigward.oci.store import open_store

    dests: dict[tuple[int, str], Store] = {}
    opened: dict[str, Store] = {}
    for cfg in configs:
        for img in images:
            if cfg.repository is None:
                dest = img.store
            else:
                try:
                    ref = (parse_reference(cfg.repository, default_tag=False)
                           if cfg.repository.startswith("oci:") else parse_repository(cfg.repository))
                except SigwardError as e:
                    raise InputError(f"{opts.cosign_path}: {cfg.label}.repository: {e}")
                key = str(ref)
                if key not in opened:
                    host = getattr(ref, "registry", "")
                    sopts = opts.store_options(host) if opts.store_options and host else None
                    opened[key] = open_store(ref, sopts)
                    stores.append(opened[key])
                dest = opened[key]
            dests[(cfg.index, img.name)] = dest
    checked: set[int] = set()
    for (index, _name), dest in dests.items():
        if id(dest) in checked:
            continue
        checked.add(id(dest))
        try:
            dest.check_writable()
        except SigwardError as e:
            raise PhaseError(f"cannot write signatures to {dest.name} (configs[{index}]): {e}; nothing was "
                             "signed") from e
        emit("debug", f"{dest.name} accepts pushes")
    return dests


def _material(cfg: SignConfig, key: Any, opts: PhaseOptions) -> Any:
    try:
        return actions.material(cfg, key, opts.environment)
    except SigwardError as e:
        raise PhaseError(f"{opts.cosign_path}: {cfg.label}: {e}; nothing was signed") from e


# -- 4. writing -----------------------------------------------------------------------------------------


def _sign_one(cfg: SignConfig, material: Any, img: Image, dest: Store, annotations: dict[str, str],
              sboms: list[SBOMFile], written: list[Written], emit: EventFn) -> None:
    subject = f"{img.name}@{img.digest}"
    where = actions.sign(img.store, img.digest, material, dest, annotations=annotations,
                         new_bundle_format=cfg.new_bundle_format, docker_media_types=cfg.docker_media_types,
                         docker_reference=img.name)
    written.append(Written(cfg.index, "signature", subject, where))
    emit("info", f"Signed {subject} ({cfg.label}): {where}")
    if cfg.export_sbom == "attestation":
        for f in sboms:
            if f.attestation_type is None:
                continue
            where = actions.attest(img.store, img.digest, material, dest, sbom=f,
                                   type_name=f.attestation_type,
                                   new_bundle_format=cfg.new_bundle_format,
                                   docker_media_types=cfg.docker_media_types, subject_name=img.name)
            written.append(Written(cfg.index, "attestation", subject, where))
            emit("info", f"Attested SBOM {f.path} to {subject} ({cfg.label}): {where}")
    elif cfg.export_sbom == "attachment" and sboms:
        where, digest = actions.attach_sboms(img.store, img.digest, dest, sboms,
                                             docker_media_types=cfg.docker_media_types)
        written.append(Written(cfg.index, "attachment", subject, where))
        emit("info", f"Attached {len(sboms)} SBOM(s) to {subject} ({cfg.label}): {where}")
        sig = actions.sign(dest, digest, material, dest, annotations=annotations,
                           new_bundle_format=cfg.new_bundle_format, docker_media_types=cfg.docker_media_types,
                           docker_reference=dest.name)
        written.append(Written(cfg.index, "attachment signature", f"{dest.name}@{digest}", sig))
        emit("info", f"Signed the SBOM attachment {dest.name}@{digest} ({cfg.label}): {sig}")
