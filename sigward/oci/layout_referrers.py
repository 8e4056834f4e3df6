"""The referrers index of an OCI image layout: subject digest → referrer descriptors.

Why an index: a layout has no referrers API. cosign's ``save`` writes referrer manifests into ``blobs/``
without listing them in index.json, so finding the referrers of a digest means looking at every blob.
Doing that per lookup made an index copy quadratic (200 platforms: 80,400 manifest parses). Here the
blobs are scanned once per store and the result is kept, so a lookup costs O(its referrers).

Kept correct on writes, ours and other processes' (several sigward or cosign processes may write one
layout): every blob lands in ``blobs/<alg>/`` by an atomic rename, and adding, replacing or removing a
directory entry updates the directory's mtime. Before answering, each ``blobs/<alg>`` directory is
``stat``ed; only a changed one is listed again, and only names that are new (or whose inode changed)
are opened and parsed, vanished ones dropped. A directory changed less than ``RACY_SECONDS`` ago is
listed again on the next lookup whatever its mtime says (like git's "racily clean" files): two renames
within one clock tick leave the mtime equal, so a listing taken in between could otherwise miss the
second. index.json (replaced atomically under its flock) is re-read when its inode, mtime or size
changes; it only supplies media-type hints for manifests that lack a ``mediaType``.

Blobs are verified against their digest when parsed, as every read of a layout is; a corrupt or
unreadable blob is simply not a referrer (it is never trusted).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sigward.oci import digest as _digest
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import MAX_MANIFEST_SIZE, Descriptor, Manifest

RACY_SECONDS = 2.0

# (digest, size, media type hint) → the manifest, or None when the blob is not a (valid) manifest.
ReadFn = Callable[[str, int, "str | None"], "Manifest | None"]


class _Entry:
    __slots__ = ("descriptor", "hint", "inode", "subject")

    def __init__(self, inode: int, subject: str | None, descriptor: Descriptor | None,
                 hint: str | None) -> None:
        self.inode, self.subject, self.descriptor, self.hint = inode, subject, descriptor, hint


class ReferrersIndex:
    """One layout's referrers, refreshed incrementally before each lookup (thread-safe)."""

    def __init__(self, root: Path, read_manifest: ReadFn) -> None:
        self.root = root
        self._read = read_manifest
        self._lock = threading.Lock()
        self._dirs: dict[str, tuple[int, int]] = {}  # alg → (inode, mtime_ns) at the last listing
        self._racy: set[str] = set()
        self._entries: dict[str, _Entry] = {}  # blob digest → what it is
        self._by_subject: dict[str, dict[str, Descriptor]] = {}
        self._index_sig: tuple[int, int, int] | None = None
        self._hints: dict[str, str] = {}  # digest → media type named by index.json
        self.parsed = 0  # blobs opened and parsed so far (the benchmark and tests read it)

    def lookup(self, digest: str) -> list[Descriptor]:
        """Referrer descriptors of ``digest`` (sorted by digest), as of now."""
        with self._lock:
            self._refresh()
            found = self._by_subject.get(digest, {})
            return sorted((d for k, d in found.items() if k != digest), key=lambda d: d.digest)

    # -- refresh ------------------------------------------------------------------------------------

    def _refresh(self) -> None:
        self._refresh_hints()
        blobs = self.root / "blobs"
        try:
            algs = [e for e in os.scandir(blobs) if e.is_dir()]
        except OSError:
            algs = []
        present = {e.name for e in algs}
        for alg in [a for a in self._dirs if a not in present]:
            self._forget_dir(alg)
        for entry in algs:
            self._refresh_dir(entry.name, Path(entry.path))

    def _refresh_hints(self) -> None:
        path = self.root / "index.json"
        try:
            st = path.stat()
        except OSError:
            sig = None
        else:
            sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        if sig == self._index_sig and sig is not None and not recent(st.st_mtime_ns):
            return
        self._index_sig = sig
        hints: dict[str, str] = {}
        try:
            obj = json.loads(path.read_bytes())
            for e in obj.get("manifests") or []:
                if isinstance(e, dict) and e.get("mediaType") in mt.IMAGE_MANIFEST_TYPES \
                        and isinstance(e.get("digest"), str):
                    hints[e["digest"]] = e["mediaType"]
        except (OSError, ValueError, AttributeError):
            pass
        changed = {d for d in set(hints) | set(self._hints) if hints.get(d) != self._hints.get(d)}
        self._hints = hints
        for d in changed:  # re-read with the new hint on the next directory pass
            old = self._entries.get(d)
            if old is not None and old.hint != hints.get(d):
                self._drop(d)
                self._dirs.pop(_digest.algorithm(d), None)

    def _refresh_dir(self, alg: str, path: Path) -> None:
        try:
            st = path.stat()
        except OSError:
            self._forget_dir(alg)
            return
        sig = (st.st_ino, st.st_mtime_ns)
        if self._dirs.get(alg) == sig and alg not in self._racy:
            return
        self._racy.discard(alg)
        if recent(st.st_mtime_ns):
            self._racy.add(alg)
        seen: set[str] = set()
        try:
            listing = list(os.scandir(path))
        except OSError:
            listing = []
        for e in listing:
            dig = f"{alg}:{e.name}"
            if not _digest.is_digest(dig):
                continue  # unknown files (temp files, strays) are tolerated
            seen.add(dig)
            try:
                inode = e.inode()
            except OSError:
                continue
            old = self._entries.get(dig)
            if old is not None and old.inode == inode:
                continue
            self._drop(dig)
            self._add(dig, e, inode)
        for dig in [d for d in self._entries if _digest.algorithm(d) == alg and d not in seen]:
            self._drop(dig)
        self._dirs[alg] = sig

    def _add(self, dig: str, e: os.DirEntry[str], inode: int) -> None:
        hint = self._hints.get(dig)
        entry = _Entry(inode, None, None, hint)
        self._entries[dig] = entry
        try:
            if not e.is_file():
                return
            size = e.stat().st_size
            if size > MAX_MANIFEST_SIZE or size < 2:
                return
            with open(e.path, "rb") as f:
                if f.read(1) != b"{":
                    return
        except OSError:
            return
        self.parsed += 1
        m = self._read(dig, size, hint)
        if m is None or m.is_index:
            return
        subject = m.subject
        if subject is None:
            return
        entry.subject, entry.descriptor = subject.digest, m.referrer_descriptor()
        self._by_subject.setdefault(subject.digest, {})[dig] = entry.descriptor

    def _drop(self, dig: str) -> None:
        old = self._entries.pop(dig, None)
        if old is not None and old.subject is not None:
            refs = self._by_subject.get(old.subject)
            if refs is not None:
                refs.pop(dig, None)
                if not refs:
                    del self._by_subject[old.subject]

    def _forget_dir(self, alg: str) -> None:
        self._dirs.pop(alg, None)
        self._racy.discard(alg)
        for dig in [d for d in self._entries if _digest.algorithm(d) == alg]:
            self._drop(dig)


def recent(mtime_ns: int) -> bool:
    """Changed less than ``RACY_SECONDS`` ago: a same-tick change could hide behind this mtime."""
    return time.time_ns() - mtime_ns < RACY_SECONDS * 1e9
