"""Helm charts as OCI artifacts: ``chart package``, ``chart push``, ``chart pull``.

Why sigward does this at all: the seed pipeline releases its chart with ``helm package`` + ``helm push``
and signs the pushed digest. Doing the same three steps here keeps the whole release in one tool, and
the result must be indistinguishable from Helm's (see ``sigward/formats/helm/`` for the bytes),
so that ``helm pull``/``helm install`` take it and cosign signatures cover the same digest.

The differences from helm are deliberate: ``push`` prints a digest reference, never a tag; ``pull`` names
the exact version it fetched (no version ranges), verifies every blob against its digest and refuses an
archive with unsafe paths before anything is written; both work on OCI layouts (``oci:PATH``) too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from sigward.errors import InvalidReferenceError, NotFoundError, UsageError
from sigward.fileio import write_atomic
from sigward.formats import helm as hc
from sigward.oci import digest as _digest
from sigward.oci.manifest import Descriptor, Manifest
from sigward.oci.reference import (
    AnyReference,
    LayoutReference,
    Reference,
    parse_reference,
    parse_registry_reference,
    validate_tag,
)
from sigward.oci.store import MAX_SMALL_BLOB, Store, StoreOptions, open_store

Notify = Callable[[str], None]

# A pulled chart layer is read whole (it is checked before it is written); Helm's own limit on the
# decompressed chart is 100 MiB, so a compressed layer larger than this is not a chart.
MAX_CHART_LAYER = hc.MAX_CHART_SIZE + hc.MAX_CHART_SIZE // 4
MAX_CONFIG = 4 * 1024 * 1024


# -- package -------------------------------------------------------------------------------------------

def _round_mtime(st: os.stat_result) -> int:
    """archive/tar rounds ModTime to the nearest second."""
    return (st.st_mtime_ns + 500_000_000) // 1_000_000_000


def load_chart_dir(directory: str | os.PathLike[str]) -> hc.Chart:
    """Helm's ``LoadDir``: walk in lexical order, follow symlinks (refusing those that leave the chart),
    honour .helmignore, then load the files as Helm does."""
    shown = os.fspath(directory)
    top = os.path.abspath(shown)
    if not os.path.isdir(top):
        raise UsageError(f"{shown}: not a directory (give the chart's directory)")
    if not os.path.isfile(os.path.join(top, "Chart.yaml")):
        raise UsageError(f"{shown}: no Chart.yaml, so this is not a chart directory")
    rules = hc.IgnoreRules()
    ignore_file = os.path.join(top, hc.HELMIGNORE)
    if os.path.isfile(ignore_file):
        rules = hc.IgnoreRules.parse(_read(ignore_file, shown), f"{shown}/{hc.HELMIGNORE}")
    rules.add_defaults()
    real_top = os.path.realpath(top)
    files: list[hc.ChartFile] = []
    _walk(top, "", real_top, {real_top}, rules, files, shown)
    return hc.load_chart(files, shown.rstrip("/") or shown)


def _read(path: str, shown: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise UsageError(f"{shown}: cannot read {path}: {e.strerror or e}")


def _walk(path: str, rel: str, real_top: str, stack: set[str], rules: hc.IgnoreRules,
          out: list[hc.ChartFile], shown: str) -> None:
    try:
        names = sorted(os.listdir(path))
    except OSError as e:
        raise UsageError(f"{shown}: cannot list {path}: {e.strerror or e}")
    for name in names:
        full = os.path.join(path, name)
        relname = f"{rel}/{name}" if rel else name
        try:
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                resolved = os.path.realpath(full)
                if resolved != real_top and not resolved.startswith(real_top + os.sep):
                    raise UsageError(f"{shown}: symbolic link {relname} points outside the chart "
                                     f"(to {os.readlink(full)}); copy the file into the chart instead")
                st = os.stat(full)
        except FileNotFoundError:
            raise UsageError(f"{shown}: symbolic link {relname} points to nothing")
        except OSError as e:
            raise UsageError(f"{shown}: cannot read {relname}: {e.strerror or e}")
        if stat.S_ISDIR(st.st_mode):
            if rules.ignore(relname, True):
                continue
            real = os.path.realpath(full)
            if real in stack:
                raise UsageError(f"{shown}: symbolic link loop at {relname}")
            _walk(full, relname, real_top, stack | {real}, rules, out, shown)
            continue
        if rules.ignore(relname, False):
            continue
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{shown}: cannot package {relname}: not a regular file")
        if st.st_size > hc.MAX_FILE_SIZE:
            raise UsageError(f"{shown}: {relname} is larger than the maximum chart file size "
                             f"{hc.MAX_FILE_SIZE} bytes")
        data = _read(full, shown)
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        out.append(hc.ChartFile(relname, data, _round_mtime(st)))


def package_chart(directory: str | os.PathLike[str], dest_dir: str | os.PathLike[str],
                  version: str | None = None, app_version: str | None = None, *,
                  epoch: int | None = None) -> Path:
    """``helm package``: write ``<name>-<version>.tgz`` into ``dest_dir`` and return its path.

    Entry mtimes are ``epoch`` (the CLI passes ``SOURCE_DATE_EPOCH``) when set, else the files' own, so
    the same sources and epoch always give the same bytes.
    """
    chart = load_chart_dir(directory)
    if version:
        hc.check_version(version, "package_chart(version)")
        chart.metadata.version = version
    if app_version:
        chart.metadata.app_version = app_version
    if epoch is not None:
        chart.stamp_mtimes(epoch)
    missing = chart.missing_dependencies()
    if missing:
        raise UsageError(f"{os.fspath(directory)}: found in Chart.yaml, but missing in charts/ directory: "
                         f"{', '.join(missing)}")
    data = hc.write_chart_archive(chart)
    dest = Path(dest_dir)
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest}: not a directory")
    try:
        dest.mkdir(parents=True, exist_ok=True)
        out = dest / hc.archive_name(chart.metadata)
        write_atomic(str(out), data)
    except OSError as e:
        raise UsageError(f"cannot write the chart archive into {dest}: {e.strerror or e}")
    return out


# -- references ------------------------------------------------------------------------------------------

def _strip_scheme(text: str) -> str:
    return text[len("oci://"):] if text.startswith("oci://") else text


def _registry_ref(path: str, tag: str | None, digest: str | None, original: str) -> Reference:
    """``host/repo``: for ``oci://`` the first component is always the registry (as oras and Helm read
    it), even without a dot or port."""
    host, sep, repo = path.partition("/")
    if not sep or not host or not repo:
        raise UsageError(f"{original}: expected oci://REGISTRY/REPOSITORY")
    ref = parse_registry_reference(f"{host}/{repo}", default_tag=False)
    if ref.registry != host and not ("." in host or ":" in host or host == "localhost"):
        ref = Reference(host, parse_registry_reference(f"localhost/{repo}", default_tag=False).repository)
    if tag:
        ref = ref.with_tag(tag)
    if digest:
        ref = ref.with_digest(digest) if not tag else Reference(ref.registry, ref.repository, tag, digest)
    return ref


def parse_push_target(text: str, chart_name: str) -> AnyReference:
    """``oci://REGISTRY[/NAMESPACE]`` → ``REGISTRY/NAMESPACE/<chart name>``; ``oci:PATH`` → that layout."""
    if text.startswith("oci:") and not text.startswith("oci://"):
        ref = parse_reference(text, default_tag=False)
        if ref.tag or ref.digest:
            raise UsageError(f"{text}: give the layout without a tag; the chart version is the tag")
        return ref
    body = _strip_scheme(text).rstrip("/")
    if "@" in body or ("/" in body and ":" in body.rsplit("/", 1)[1]):
        raise UsageError(f"{text}: give the registry and namespace only (the chart name and version "
                         "make the repository and tag)")
    try:
        return _registry_ref(f"{body}/{chart_name}", None, None, text)
    except InvalidReferenceError as e:
        raise UsageError(f"cannot push chart {chart_name!r} to {text}: {e}")


def parse_pull_source(text: str) -> AnyReference:
    """``oci://REGISTRY/REPO[:VERSION|@DIGEST]`` or ``oci:PATH[:VERSION|@DIGEST]``; ``+`` in a version
    becomes ``_`` (the tag Helm pushed)."""
    layout = text.startswith("oci:") and not text.startswith("oci://")
    body = text[len("oci:"):] if layout else _strip_scheme(text)
    digest = None
    if "@" in body:
        body, digest = body.rsplit("@", 1)
    tag = None
    head, sep, tail = body.rpartition(":")
    if sep and head and "/" not in tail:
        body, tag = head, hc.tag_for_version(tail)
    if layout:
        if not body:
            raise UsageError(f"{text}: the layout path is empty")
        return LayoutReference(body, validate_tag(tag) if tag else None,
                               _digest.validate_digest(digest) if digest else None)
    return _registry_ref(body, tag, digest, text)


# -- push --------------------------------------------------------------------------------------------------

def _created(tgz: Path, creation_time: str | None, epoch: int | None) -> str:
    if creation_time:
        if not hc.is_rfc3339(creation_time):
            raise UsageError(f"push_chart(creation_time) {creation_time!r}: expected an RFC 3339 time "
                             "such as 2024-01-01T00:00:00Z")
        return creation_time
    if epoch is not None:
        return hc.rfc3339_utc(epoch)
    return hc.rfc3339_utc(int(tgz.stat().st_mtime))


def push_chart(
    tgz_path: str | os.PathLike[str], target: str, options: StoreOptions | None = None, *,
    creation_time: str | None = None, epoch: int | None = None, notify: Notify | None = None,
) -> tuple[AnyReference, Descriptor]:
    """``helm push``: config, chart layer (and ``.prov`` beside it) and Helm's manifest, tagged with the
    version (``+`` → ``_``). Returns the digest reference and the manifest descriptor. ``created`` is
    ``creation_time``, else ``epoch`` (``SOURCE_DATE_EPOCH``), else the archive's mtime."""
    tgz = Path(tgz_path)
    if tgz.is_dir():
        raise UsageError(f"{tgz}: cannot push a directory; package it first (sigward chart package)")
    try:
        data = tgz.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{tgz}: no such file")
    except OSError as e:
        raise UsageError(f"{tgz}: cannot read: {e.strerror or e}")
    meta = hc.load_chart_archive(data, str(tgz)).metadata
    layers = [(hc.CHART_LAYER_MEDIA_TYPE, data)]
    prov = Path(f"{tgz}.prov")
    if prov.is_file():
        layers.append((hc.PROV_LAYER_MEDIA_TYPE, prov.read_bytes()))
    config = meta.config_json()
    created = _created(tgz, creation_time, epoch)
    manifest = hc.chart_manifest(config, layers, hc.oci_annotations(meta, created))
    tag = hc.tag_for_version(meta.version)
    validate_tag(tag)
    ref = parse_push_target(target, meta.name)
    with open_store(ref, options) as store:
        store.put_blob(Descriptor(hc.CONFIG_MEDIA_TYPE, _digest.compute(config), len(config)), config)
        for media_type, blob in layers:
            store.put_blob(Descriptor(media_type, _digest.compute(blob), len(blob)), blob)
        desc = store.put_manifest(manifest, tag)
        pushed = store.reference(manifest.digest)
    if "_" in tag and notify is not None:
        notify(f"Notice: version {meta.version} is tagged {tag}: {hc.UNDERSCORE_NOTICE}")
    return pushed, desc


# -- pull --------------------------------------------------------------------------------------------------

def _pick_version(store: Store, where: str) -> str:
    """No version asked for: the highest release (non-prerelease) SemVer tag, as ``helm pull`` does."""
    try:
        tags = store.tags()
    except NotFoundError:
        tags = []
    versions = [hc.version_for_tag(t) for t in tags]
    releases = [v for v in versions if hc.is_semver(v) and "-" not in v.split("+", 1)[0]]
    if not releases:
        raise NotFoundError(f"{where}: no chart versions found (no SemVer tags); name one with "
                            "pull_chart(version)")
    return hc.tag_for_version(max(releases, key=hc.semver_key))


def _chart_manifest(store: Store, identifier: str, where: str) -> Manifest:
    manifest = store.get_manifest(identifier)
    if manifest.is_index:
        raise hc.ChartError(f"not a Helm chart: {where} is an image index")
    cfg = manifest.config
    if cfg is None or cfg.media_type != hc.CONFIG_MEDIA_TYPE:
        got = cfg.media_type if cfg is not None else "(none)"
        raise hc.ChartError(f"not a Helm chart: config media type {got} (expected {hc.CONFIG_MEDIA_TYPE})")
    return manifest


def pull_chart(source: str, version: str | None, dest: str | os.PathLike[str], untar: bool,
               options: StoreOptions | None = None, *, notify: Notify | None = None,
               on_resolved: Callable[[AnyReference, str], None] | None = None) -> Path:
    """``helm pull``: fetch by tag (the version) or digest, check it is a chart, write
    ``DEST/<name>-<version>.tgz`` (or, with ``untar``, the chart directory ``DEST/<name>``)."""
    ref = parse_pull_source(source)
    want_tag = hc.tag_for_version(version) if version else None
    if want_tag and ref.tag and ref.tag != want_tag:
        raise UsageError(f"chart reference and version mismatch: {version} is not "
                         f"{hc.version_for_tag(ref.tag)}")
    if want_tag:
        validate_tag(want_tag)
    with open_store(ref, options) as store:
        tag = ref.tag or want_tag
        if ref.digest:
            identifier = ref.digest
            if tag:
                try:
                    tagged = store.resolve(tag).digest
                except NotFoundError:
                    tagged = ref.digest  # a digest need not be tagged
                if tagged != ref.digest:
                    raise UsageError(f"chart reference digest mismatch: {source} names {ref.digest}, "
                                     f"but version {hc.version_for_tag(tag)} is {tagged}")
        else:
            identifier = tag or _pick_version(store, store.name)
        manifest = _chart_manifest(store, identifier, f"{store.name}:{identifier}")
        cfg = manifest.config
        assert cfg is not None
        where = f"{store.name}@{manifest.digest}"
        config = hc.parse_config(store.get_blob(cfg, max_size=MAX_CONFIG), where)
        chart_layers = [d for d in manifest.layers if d.media_type in hc.CHART_LAYER_TYPES]
        if not chart_layers:
            raise hc.ChartError(f"{where}: the manifest has no layer with media type "
                                f"{hc.CHART_LAYER_MEDIA_TYPE}")
        if len(chart_layers) > 1:
            raise hc.ChartError(f"{where}: the manifest has {len(chart_layers)} chart layers; expected one")
        layer = chart_layers[0]
        if layer.media_type == hc.LEGACY_CHART_LAYER_MEDIA_TYPE and notify is not None:
            notify(f"Warning: chart media type {hc.LEGACY_CHART_LAYER_MEDIA_TYPE} is deprecated")
        data = store.get_blob(layer, max_size=min(MAX_CHART_LAYER, MAX_SMALL_BLOB))
        resolved = store.reference(manifest.digest)
    archive = hc.read_chart_archive(data, f"{where} (chart layer)")
    chart = hc.load_chart(archive.files, f"{where} (chart layer)")
    if on_resolved is not None:
        on_resolved(resolved, manifest.digest)
    dest_dir = Path(dest)
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create {dest_dir}: {e.strerror or e}")
    if untar:
        return _expand(archive.files, chart.name, dest_dir)
    out = dest_dir / f"{config.name}-{config.version}.tgz"
    try:
        write_atomic(str(out), data)
    except OSError as e:
        raise UsageError(f"cannot write {out}: {e.strerror or e}")
    return out


def _expand(files: list[hc.ChartFile], name: str, dest: Path) -> Path:
    """Helm's ``Expand`` into ``dest/<name>``, all or nothing: built in a temp dir, then renamed."""
    if not name or name in (".", "..") or "/" in name:
        raise hc.ChartError(f"chart name {name!r} is not allowed")
    final = dest / name
    if final.exists() or final.is_symlink():
        raise UsageError(f"failed to untar: a file or directory with the name {final} already exists")
    tmp = Path(tempfile.mkdtemp(prefix=".sigward-untar-", dir=dest))
    try:
        root = tmp / "chart"
        root.mkdir()
        for f in files:
            parts = f.name.split("/")
            if any(p in ("", ".", "..") for p in parts):
                raise hc.ChartError(f"refusing to extract {f.name!r}")
            target = root.joinpath(*parts)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.is_dir():
                    raise hc.ChartError(f"refusing to extract {f.name!r}: a directory of that name exists")
                target.write_bytes(f.data)
                os.chmod(target, 0o644)
            except (NotADirectoryError, FileExistsError):
                raise hc.ChartError(f"refusing to extract {f.name!r}: a file is in its way")
        for d, _, _ in os.walk(root):
            os.chmod(d, 0o755)
        os.rename(root, final)
    except OSError as e:
        raise UsageError(f"cannot extract into {dest}: {e.strerror or e}")
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
    return final

