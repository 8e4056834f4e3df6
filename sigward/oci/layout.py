"""``LayoutStore``: the Store interface over an OCI image layout directory (``oci:PATH``).

Layout facts (image-spec ``image-layout.md``): ``oci-layout`` holds ``{"imageLayoutVersion":"1.0.0"}``,
``index.json`` is the entry point, blobs live at ``blobs/<alg>/<hex>``, tags are the
``org.opencontainers.image.ref.name`` annotation of index.json entries, unknown files are tolerated.

Why the care with writes: several sigward processes (or a sigward and a cosign) may write one layout at
the same time, and a reader must never see half a blob or half an index. So every file is written to a
temporary name inside the layout (same filesystem), fsync'd and ``os.replace``d; blobs are verified
against their digest while they are written, so a wrong or interrupted stream never lands under
``blobs/``; index.json read-modify-write runs under an exclusive ``flock`` so concurrent writers keep each
other's entries.

Referrers: cosign's ``save`` writes referrer manifests into ``blobs/`` without listing them in index.json
(cosign-wire-formats.md §5.4) and cosign's own reader scans the blob directory; we do the same, once per
store, and keep the result as an index refreshed on every change (``layout_referrers.py``).

cosign's ``save`` also writes no tags at all: the image and its legacy signature and attestation images
are index.json entries told apart by a ``kind`` annotation. So that every reader (``verify
--local-image``, ``verify-attestation --local-image``, ``tree oci:DIR``, ``load``) sees such a layout as
it sees one of ours, tag lookups fall back to those entries: the default tag names the one saved image,
``sha256-<hex>.sig``/``.att`` its ``sigs``/``atts`` entry (``_cosign_kind_entry``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sigward import gojson, safejson
from sigward.errors import (
    DigestMismatchError,
    InvalidManifestError,
    InvalidReferenceError,
    NotFoundError,
    StoreError,
)
from sigward.fileio import SyncGroup, atomic_file, open_regular, read_regular, write_atomic
from sigward.oci import digest as _digest
from sigward.oci import mediatypes as mt
from sigward.oci.layout_referrers import ReferrersIndex
from sigward.oci.layout_referrers import recent as _recent
from sigward.oci.manifest import MAX_MANIFEST_SIZE, Descriptor, Manifest
from sigward.oci.reference import DEFAULT_TAG, ONLY_IMAGE, LayoutReference, validate_tag
from sigward.oci.store import BlobContent, ProgressFn, Store, StoreBlob, open_content

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
LOCK_FILE = ".sigward.lock"
MAX_INDEX_FILE = 64 * 1024 * 1024  # index.json: one entry per tag and referrer, far below this
_TMP_PREFIX = ".sigward-tmp-"
FILE_MODE = 0o644
LAYOUT_HEADER = b'{"imageLayoutVersion":"1.0.0"}'
# cosign's index.json annotation for what an entry is (cosign pkg/oci/layout; wire formats §5.4).
KIND = "kind"
KIND_IMAGE = "dev.cosignproject.cosign/image"
KIND_INDEX = "dev.cosignproject.cosign/imageIndex"
KIND_SIGS = "dev.cosignproject.cosign/sigs"
KIND_ATTS = "dev.cosignproject.cosign/atts"
_KIND_OF_SUFFIX = {"sig": KIND_SIGS, "att": KIND_ATTS}
_ATTACHED_TAG = re.compile(r"^(sha256|sha512)-([a-f0-9]+)\.(sig|att)$")
# cosign save's ``kind`` annotations of attached images (not images a user means).
_ATTACHMENT_KINDS = {KIND_SIGS, KIND_ATTS, "dev.cosignproject.cosign/sboms"}
# What a layout being created (by another thread or process, under the lock) may hold before its
# oci-layout file (or just after it appeared): not "a random non-empty directory".
_SKELETON = frozenset({"blobs", INDEX_FILE, LOCK_FILE, LAYOUT_FILE})


class LayoutStore(Store):
    """An OCI image layout on disk; created on first write when the directory is missing or empty."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._display = os.fspath(path)
        self.path = Path(path)
        self._referrers: ReferrersIndex | None = None
        self._index_cache: tuple[tuple[int, int, int], list[dict[str, Any]]] | None = None
        self._deferred: list[Any] | None = None  # index.json changes queued by batch()
        self._sync: SyncGroup | None = None  # blobs written in batch(), made durable and visible at its end
        # Within one batch() the layout is checked (or created) before the first write only, and each blob
        # directory made once: a 20-platform copy writes 61 files, and the checks were a tenth of its CPU.
        self._batch_ready = False
        self._batch_dirs: set[str] = set()

    # -- identity -----------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"oci:{self._display}"

    def reference(self, identifier: str) -> LayoutReference:
        if _digest.is_digest(identifier):
            return LayoutReference(self._display, None, identifier)
        return LayoutReference(self._display, validate_tag(identifier), None)

    # -- layout files -------------------------------------------------------------------------------

    def _check_layout(self) -> None:
        """Reads need a real layout: a missing path or a random directory is the user's mistake."""
        if not self.path.exists():
            raise NotFoundError(f"{self.name}: no such OCI image layout (the directory does not exist)")
        if not self.path.is_dir():
            raise StoreError(f"{self.name}: not an OCI image layout (not a directory)")
        header = self.path / LAYOUT_FILE
        if not header.exists():
            raise StoreError(f"{self.name}: not an OCI image layout (no {LAYOUT_FILE} file)")
        data = read_regular(str(header), 64 * 1024, f"{self.name}: unreadable {LAYOUT_FILE} file", StoreError)
        try:
            obj = safejson.loads(data)
        except ValueError as e:
            raise StoreError(f"{self.name}: unreadable {LAYOUT_FILE} file ({e})")
        version = obj.get("imageLayoutVersion") if isinstance(obj, dict) else None
        if not isinstance(version, str) or not version.startswith("1."):
            raise StoreError(f"{self.name}: unsupported {LAYOUT_FILE} imageLayoutVersion {version!r}")

    def check_writable(self) -> None:
        """A layout (or the empty/missing directory one would be created in) this process may write."""
        if self.path.is_dir() and (self.path / LAYOUT_FILE).exists():
            self._check_layout()
        elif self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise StoreError(f"{self.name}: not an OCI image layout (no {LAYOUT_FILE} file) and not empty")
        probe = self.path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not os.access(probe, os.W_OK | os.X_OK):
            raise StoreError(f"{self.name}: {probe} is not writable")

    def _ensure_layout(self) -> None:
        """Before a write: create the layout if the directory is missing or empty, else require one."""
        if self.path.is_dir() and (self.path / LAYOUT_FILE).exists():
            self._check_layout()
            return
        if self.path.exists() and (not self.path.is_dir() or any(
                p.name not in _SKELETON and not p.name.startswith(_TMP_PREFIX) for p in self.path.iterdir())):
            raise StoreError(
                f"{self.name}: not an OCI image layout (no {LAYOUT_FILE} file) and not empty; "
                "refusing to write into it"
            )
        try:
            (self.path / "blobs").mkdir(parents=True, exist_ok=True)
            with self._locked():
                if not (self.path / INDEX_FILE).exists():
                    self._write_file(self.path / INDEX_FILE, _index_bytes([]))
                if not (self.path / LAYOUT_FILE).exists():
                    self._write_file(self.path / LAYOUT_FILE, LAYOUT_HEADER)
        except OSError as e:
            raise StoreError(f"{self.name}: cannot create the OCI image layout ({e.strerror or e})")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StoreError(f"{self.name}: cannot open the lock file ({e.strerror or e})")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _write_file(self, dest: Path, data: bytes) -> None:
        """Atomically replace ``dest`` with ``data`` (``fileio``: temp file in the layout, fsync, rename).
        Mode 0644, not mkstemp's 0600: blobs must stay readable to other users of a shared layout."""
        write_atomic(dest, data, FILE_MODE, prefix=_TMP_PREFIX, tmp_dir=str(self.path))

    def _cached_index(self) -> list[dict[str, Any]]:
        """index.json entries for readers (not to be modified), parsed again only when the file changed:
        it is replaced by rename, so a change shows in its inode, mtime or size. A file changed within
        the last ``RACY_SECONDS`` is always re-read (two writes in one clock tick keep the mtime)."""
        try:
            st = (self.path / INDEX_FILE).stat()
        except OSError:
            return self._read_index()
        sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._index_cache is not None and self._index_cache[0] == sig and not _recent(st.st_mtime_ns):
            return self._index_cache[1]
        entries = self._read_index()
        self._index_cache = (sig, entries)
        return entries

    def _read_index(self) -> list[dict[str, Any]]:
        if not (self.path / INDEX_FILE).exists():
            raise StoreError(f"{self.name}: not an OCI image layout (no {INDEX_FILE})")
        data = read_regular(str(self.path / INDEX_FILE), MAX_INDEX_FILE,
                            f"{self.name}: cannot read {INDEX_FILE}", StoreError)
        try:
            obj = safejson.loads(data)
        except ValueError as e:
            raise InvalidManifestError(f"{self.name}: {INDEX_FILE} is not valid JSON ({e})")
        entries = obj.get("manifests") if isinstance(obj, dict) else None
        if entries is None and isinstance(obj, dict):
            entries = []
        if not isinstance(entries, list):
            raise InvalidManifestError(f"{self.name}: {INDEX_FILE} has no 'manifests' list")
        for i, entry in enumerate(entries):
            Descriptor.from_json(entry, f"{self.name}: {INDEX_FILE} manifests[{i}]")
        return entries

    def _update_index(self, change: Any) -> None:
        """Read-modify-write index.json under the lock; ``change(entries)`` edits the list in place."""
        with self._locked():
            entries = self._read_index()
            if change(entries) is False:
                return
            try:
                self._write_file(self.path / INDEX_FILE, _index_bytes(entries))
            except OSError as e:
                raise StoreError(f"{self.name}: cannot write {INDEX_FILE} ({e.strerror or e})")

    def _blob_path(self, digest: str) -> Path:
        # validate_digest restricts the hex part to [a-f0-9], so the path cannot escape blobs/.
        _digest.validate_digest(digest)
        alg, _, hexpart = digest.partition(":")
        return Path(f"{self.path}/blobs/{alg}/{hexpart}")  # one Path, not three joins: called per blob

    # -- reading ------------------------------------------------------------------------------------

    def resolve(self, identifier: str) -> Descriptor:
        self._check_layout()
        entries = self._cached_index()
        if identifier == ONLY_IMAGE:
            return self._only_image(entries)
        if _digest.is_digest(identifier):
            self._settle()
            for e in entries:
                if e.get("digest") == identifier:
                    return _plain(Descriptor.from_json(e))
            path = self._blob_path(identifier)
            if not path.is_file():
                raise NotFoundError(f"{self.name}@{identifier}: manifest not found")
            m = self._read_manifest(identifier, path.stat().st_size, None)
            return m.descriptor()
        validate_tag(identifier)
        found = [e for e in entries if _tag_of(e) == identifier]
        if not found:
            entry = _cosign_kind_entry(entries, identifier)
            if entry is None:
                raise NotFoundError(f"{self.name}:{identifier}: tag not found")
            return _plain(Descriptor.from_json(entry))
        return _plain(Descriptor.from_json(found[-1]))

    def _only_image(self, entries: list[dict[str, Any]]) -> Descriptor:
        """``oci:PATH`` read with no tag or digest: the one image the layout holds, attachments aside.

        Attachments are the ``sha256-<hex>[.sig|.att|.sbom]`` tags, cosign ``save``'s signature and
        attestation entries, and referrers (manifests with a subject). More than one image: the error
        lists the references to choose from.
        """
        images: dict[str, tuple[dict[str, Any], list[str]]] = {}
        for e in entries:
            tag = _tag_of(e)
            if tag and tag.startswith("sha256-"):
                continue
            if (e.get("annotations") or {}).get("kind") in _ATTACHMENT_KINDS:
                continue
            if not tag and e.get("mediaType") in mt.IMAGE_MANIFEST_TYPES:
                m = self._maybe_manifest(e["digest"], e["size"], e.get("mediaType"))
                if m is not None and m.subject is not None:
                    continue
            found = images.setdefault(e["digest"], (e, []))
            if tag:
                found[1].append(tag)
        if len(images) == 1:
            return _plain(Descriptor.from_json(next(iter(images.values()))[0]))
        if not images:
            raise NotFoundError(f"{self.name}: the layout holds no image")
        choices: list[str] = []
        for dig, (_, tags) in images.items():
            choices.extend(f"{self.name}:{t}" for t in sorted(tags))
            if not tags:
                choices.append(f"{self.name}@{dig}")
        raise InvalidReferenceError(
            f"{self.name} holds {len(images)} images; name one with a tag or digest: " + ", ".join(choices))

    def get_manifest(self, identifier: str) -> Manifest:
        desc = self.resolve(identifier)
        return self._read_manifest(desc.digest, desc.size, desc.media_type or None)

    def _read_manifest(self, digest: str, size: int, media_type: str | None) -> Manifest:
        if size > MAX_MANIFEST_SIZE:
            raise InvalidManifestError(
                f"{self.name}@{digest}: manifest larger than {MAX_MANIFEST_SIZE} bytes"
            )
        data = b"".join(self.iter_blob(Descriptor(media_type or "", digest, size)))
        return Manifest.parse(data, media_type, digest, where=f"{self.name}@{digest}")

    def has_blob(self, digest: str) -> bool:
        self._settle()
        return self._blob_path(digest).is_file()

    def iter_blob(self, desc: Descriptor, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        self._settle()
        path = self._blob_path(desc.digest)
        try:
            f = open_regular(str(path))
        except FileNotFoundError:
            raise NotFoundError(f"{self.name}: blob {desc.digest} not found")
        except OSError as e:
            raise StoreError(f"{self.name}: cannot read blob {desc.digest} ({e.strerror or e})")
        return _digest.verified_chunks(_read_chunks(f, chunk_size), desc.digest, desc.size,
                                       f"{self.name}: blob")

    def tags(self) -> list[str]:
        self._check_layout()
        return sorted({t for t in map(_tag_of, self._cached_index()) if t})

    def referrers(self, digest: str, artifact_type: str | None = None) -> list[Descriptor]:
        self._check_layout()
        _digest.validate_digest(digest)
        out = self.referrers_index.lookup(digest)
        if artifact_type:
            out = [d for d in out if d.artifact_type == artifact_type]
        return out

    @property
    def referrers_index(self) -> ReferrersIndex:
        """Built on first use, refreshed incrementally (see ``layout_referrers``)."""
        self._settle()
        if self._referrers is None:
            self._referrers = ReferrersIndex(self.path, self._maybe_manifest)
        return self._referrers

    def _maybe_manifest(self, dig: str, size: int, media_type: str | None) -> Manifest | None:
        """A blob as a manifest, or None when it is not one (or is corrupt: never trusted)."""
        try:
            return self._read_manifest(dig, size, media_type)
        except (StoreError, InvalidManifestError, DigestMismatchError):
            return None

    # -- writing ------------------------------------------------------------------------------------

    def put_blob(
        self,
        desc: Descriptor,
        content: BlobContent,
        *,
        progress: ProgressFn | None = None,
        mount_from: Store | None = None,
    ) -> bool:
        dest = self._blob_path(desc.digest)
        sync = self._sync
        if dest.is_file() or (sync is not None and sync.pending(dest)):
            return False
        if not self._batch_ready:
            self._ensure_layout()
            self._batch_ready = sync is not None
        chunks = open_content(content)
        try:
            parent = str(dest.parent)
            if parent not in self._batch_dirs:
                dest.parent.mkdir(parents=True, exist_ok=True)
                if sync is not None:
                    self._batch_dirs.add(parent)
            # Committed only if the stream ended with the right digest and size (fileio: temp + rename);
            # a StoreBlob's source checks that itself, so the bytes are not hashed a second time.
            if not (isinstance(content, StoreBlob) and content.verifies(desc)):
                chunks = _digest.verified_chunks(chunks, desc.digest, desc.size, f"blob for {self.name}")
            writer = atomic_file if sync is None else sync.file
            with writer(dest, FILE_MODE, prefix=_TMP_PREFIX, tmp_dir=str(self.path)) as f:
                for chunk in chunks:
                    f.write(chunk)
                    if progress is not None:
                        progress(len(chunk))
        except OSError as e:
            raise StoreError(f"{self.name}: cannot write blob {desc.digest} ({e.strerror or e})")
        return True

    def put_manifest(self, manifest: Manifest, tag: str | None = None) -> Descriptor:
        if tag is not None:
            validate_tag(tag)
        self.put_blob(manifest.descriptor(), manifest.data)
        entry = Descriptor(
            manifest.media_type, manifest.digest, len(manifest.data),
            {REF_NAME: tag} if tag else None, manifest.json.get("artifactType") or None,
        ).to_json()

        def change(entries: list[dict[str, Any]]) -> bool:
            if tag is None:
                if any(e.get("digest") == manifest.digest for e in entries):
                    return False  # already reachable
                entries.append(entry)
                return True
            # The tag moves: drop its old entry, and an untagged entry of this digest it replaces.
            entries[:] = [
                e for e in entries
                if _tag_of(e) != tag and not (e.get("digest") == manifest.digest and not _tag_of(e))
            ]
            entries.append(entry)
            return True

        if self._deferred is not None:
            self._deferred.append(change)
        else:
            self._update_index(change)
        return manifest.descriptor()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """index.json changes of ``put_manifest`` inside the block are applied together, in order, in one
        locked read-modify-write when it ends without error. A copy of a 200-platform index rewrote (and
        fsync'd) index.json 201 times, each time whole; now once. Blobs are written as they come but
        fsync'd and renamed into ``blobs/`` together at the end (``fileio.SyncGroup``: one wait for the
        journal instead of one per blob), before index.json, so index.json never names a blob a crash
        could lose. If the block fails, the blobs are still committed and index.json is left as it was
        (the blobs are unreferenced, never half-listed).
        """
        if self._deferred is not None:  # nested: the outer block applies everything
            yield
            return
        self._deferred = []
        self._sync = SyncGroup()
        try:
            try:
                yield
            finally:  # blobs written are kept even if the block fails (a retry need not fetch them again)
                self._settle()
                self._end_batch_writes()
            changes, self._deferred = self._deferred, None
            if changes:
                self._update_index(lambda entries: [c(entries) for c in changes].count(False) < len(changes))
        finally:
            self._deferred = None
            self._end_batch_writes()

    def _end_batch_writes(self) -> None:
        self._sync = None
        self._batch_ready = False
        self._batch_dirs.clear()

    def _settle(self) -> None:
        """Make the blobs staged by ``batch()`` durable and visible (fsync'd together, renamed, their
        directory fsync'd): at its end, before index.json is written, and before any read of blobs."""
        sync = self._sync
        if sync is not None and len(sync):
            try:
                sync.commit()
            except OSError as e:
                raise StoreError(f"{self.name}: cannot write blobs ({e.strerror or e})")

    def index_entries(self) -> list[Descriptor]:
        """The descriptors listed in index.json, annotations included (tags are ``ref.name``)."""
        self._check_layout()
        return [Descriptor.from_json(e) for e in self._cached_index()]

    def annotate(self, digest: str, annotations: dict[str, str]) -> None:
        """Merge ``annotations`` into every index.json entry for ``digest`` (adding one if none).

        Used by ``save`` for cosign's ``kind`` annotations, which is how cosign finds the image and
        its signature images in a layout.
        """
        desc = self.resolve(digest)

        def change(entries: list[dict[str, Any]]) -> bool:
            hits = [e for e in entries if e.get("digest") == digest]
            if not hits:
                entry = _plain(desc).to_json()
                entries.append(entry)
                hits = [entry]
            for e in hits:
                merged = {**(e.get("annotations") or {}), **annotations}
                e["annotations"] = {k: merged[k] for k in sorted(merged)}
            return True

        self._update_index(change)

    def delete(self, identifier: str) -> None:
        self._check_layout()
        if _digest.is_digest(identifier):
            path = self._blob_path(identifier)
            removed: list[bool] = []

            def drop_digest(entries: list[dict[str, Any]]) -> bool:
                before = len(entries)
                entries[:] = [e for e in entries if e.get("digest") != identifier]
                removed.append(len(entries) != before)
                return removed[-1]

            self._update_index(drop_digest)
            existed = path.is_file()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            if not removed[-1] and not existed:
                raise NotFoundError(f"{self.name}@{identifier}: manifest not found")
            return
        validate_tag(identifier)
        found: list[bool] = []

        def drop_tag(entries: list[dict[str, Any]]) -> bool:
            before = len(entries)
            entries[:] = [e for e in entries if _tag_of(e) != identifier]
            found.append(len(entries) != before)
            return found[-1]

        self._update_index(drop_tag)
        if not found[-1]:
            raise NotFoundError(f"{self.name}:{identifier}: tag not found")


def _kind_of(entry: dict[str, Any]) -> str | None:
    kind = (entry.get("annotations") or {}).get(KIND)
    return kind if isinstance(kind, str) else None


def _cosign_kind_entry(entries: list[dict[str, Any]], tag: str) -> dict[str, Any] | None:
    """What a tag means in a ``cosign save`` layout (no tags, ``kind`` annotations), else None.

    Only a layout holding exactly one saved image qualifies: the default tag is that image, and
    ``<alg>-<hex>.sig``/``.att`` of its digest is its ``sigs``/``atts`` entry.
    """
    images = {e.get("digest") for e in entries if _kind_of(e) in (KIND_IMAGE, KIND_INDEX)}
    if len(images) != 1:
        return None
    (image,) = images
    if tag == DEFAULT_TAG:
        return next(e for e in entries if e.get("digest") == image)
    m = _ATTACHED_TAG.match(tag)
    if m is None or f"{m.group(1)}:{m.group(2)}" != image:
        return None
    hits = [e for e in entries if _kind_of(e) == _KIND_OF_SUFFIX[m.group(3)]]
    return hits[-1] if len(hits) == 1 else None


def _tag_of(entry: dict[str, Any]) -> str | None:
    tag = (entry.get("annotations") or {}).get(REF_NAME)
    return tag if isinstance(tag, str) and tag else None


def _plain(desc: Descriptor) -> Descriptor:
    """An index.json entry as a resolve result: the tag annotation is layout bookkeeping, not content."""
    ann = {k: v for k, v in (desc.annotations or {}).items() if k != REF_NAME}
    return desc.with_annotations(ann or None)


def _index_bytes(entries: list[dict[str, Any]]) -> bytes:
    return gojson.marshal({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries})


def _read_chunks(f: Any, chunk_size: int) -> Iterator[bytes]:
    with f:
        while True:
            chunk = f.read(chunk_size)
            if not chunk:
                return
            yield chunk
