"""``RegistryStore``: the Store interface over the OCI distribution-spec v1.1 API.

Everything read is verified against the digest it was asked for; manifests keep their exact bytes.
Referrers use the API when the registry has it and the ``sha256-<hex>`` tag-schema fallback otherwise;
which one works is remembered per store so a registry without the API is probed once.

Deleting a tag: distribution 2.8 cannot delete a tag alone, so ``delete(tag)`` resolves the tag and
deletes the manifest by digest (every tag pointing at it goes too). ``delete(tag, tag_only=True)`` sends
the OCI 1.1 tag DELETE for registries that support it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin

from sigward import gojson
from sigward.errors import DigestMismatchError, InvalidManifestError, NotFoundError, StoreError
from sigward.oci import digest as _digest
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import MAX_MANIFEST_SIZE, Descriptor, Manifest
from sigward.oci.reference import Reference
from sigward.oci.registry.auth import pull_scope, push_scope
from sigward.oci.registry.client import RegistryClient
from sigward.oci.store import MAX_SMALL_BLOB, ProgressFn, Store, StoreOptions

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")

# Blobs at least this big go up in PATCH chunks instead of one PUT.
CHUNKED_THRESHOLD = 64 * 1024 * 1024
CHUNK_SIZE = 8 * 1024 * 1024


def fallback_tag(digest: str) -> str:
    """The referrers tag-schema tag: ``<alg>-<hex>``, the hex part limited to 64 characters."""
    _digest.validate_digest(digest)
    return f"{_digest.algorithm(digest)}-{_digest.hex_part(digest)[:64]}"


class RegistryStore(Store):
    """One repository in a registry."""

    def __init__(self, ref: Reference, options: StoreOptions | None = None,
                 client: RegistryClient | None = None) -> None:
        self.ref = ref
        self.options = options or StoreOptions()
        self.repository = ref.repository
        self.client = client or RegistryClient(ref.api_host, self.options, ref.registry)
        self.chunked_threshold = CHUNKED_THRESHOLD
        self.chunk_size = CHUNK_SIZE
        self.tags_page_size = 1000
        self.referrers_api: bool | None = None  # unknown until probed

    # -- basics ----------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def request_count(self) -> int:
        return self.client.request_count

    def reference(self, identifier: str) -> Reference:
        if _digest.is_digest(identifier):
            return self.ref.with_digest(identifier)
        return self.ref.with_tag(identifier)

    def close(self) -> None:
        self.client.close()

    def _path(self, kind: str, rest: str = "") -> str:
        return f"/v2/{self.repository}/{kind}/{rest}"

    def _pull(self) -> list[str]:
        return [pull_scope(self.repository)]

    def _push(self) -> list[str]:
        return [push_scope(self.repository)]

    def _delete(self) -> list[str]:
        # distribution's token auth wants the ``delete`` action for DELETE requests.
        return [f"repository:{self.repository}:delete"]

    def _req(self, method: str, path: str, scopes: list[str], **kw: Any) -> httpx.Response:
        return self.client.request(method, path, scopes=scopes, **kw)

    def _fail(self, resp: httpx.Response, what: str | None = None) -> StoreError:
        try:
            resp.read()
        except Exception:
            pass
        finally:
            resp.close()
        return self.client.error(resp, what)

    # -- manifests -------------------------------------------------------------------------------

    def _get_manifest_raw(self, identifier: str) -> tuple[Manifest, httpx.Response]:
        resp = self._req("GET", self._path("manifests", identifier), self._pull(),
                         headers={"Accept": mt.MANIFEST_ACCEPT}, stream=True)
        if resp.status_code != 200:
            raise self._fail(resp)
        where = f"manifest {self.name}@{identifier}" if _digest.is_digest(identifier) \
            else f"manifest {self.name}:{identifier}"
        try:
            data = _read_capped(resp, MAX_MANIFEST_SIZE, where)
        finally:
            resp.close()
        if _digest.is_digest(identifier):
            expected: str | None = identifier
        else:
            dcd = resp.headers.get("Docker-Content-Digest", "").strip()
            expected = dcd if dcd and _digest.is_digest(dcd) else None
        m = Manifest.parse(data, resp.headers.get("Content-Type"), expected, where)
        return m, resp

    def get_manifest(self, identifier: str) -> Manifest:
        return _refetch(lambda: self._get_manifest_raw(identifier)[0])

    def get_blob(self, desc: Descriptor, max_size: int = MAX_SMALL_BLOB) -> bytes:
        return _refetch(lambda: Store.get_blob(self, desc, max_size))

    def resolve(self, identifier: str) -> Descriptor:
        resp = self._req("HEAD", self._path("manifests", identifier), self._pull(),
                         headers={"Accept": mt.MANIFEST_ACCEPT})
        if resp.status_code == 404:
            raise self._fail(resp, f"HEAD {self.client.url(self._path('manifests', identifier))}")
        if resp.status_code == 200:
            dig = resp.headers.get("Docker-Content-Digest", "").strip()
            ct = resp.headers.get("Content-Type", "").split(";")[0].strip()
            size = resp.headers.get("Content-Length", "")
            if _digest.is_digest(dig) and ct in mt.MANIFEST_TYPES and size.isdigit():
                if _digest.is_digest(identifier) and dig != identifier:
                    raise DigestMismatchError(
                        f"manifest {self.name}@{identifier}: registry answered digest {dig}")
                return Descriptor(ct, dig, int(size))
        elif resp.status_code in (401, 403):
            raise self._fail(resp)
        # No usable digest from HEAD (or HEAD unsupported): fetch and compute.
        return self.get_manifest(identifier).descriptor()

    def put_manifest(self, manifest: Manifest, tag: str | None = None) -> Descriptor:
        ident = tag or manifest.digest
        resp = self._req("PUT", self._path("manifests", ident), self._push(),
                         headers={"Content-Type": manifest.media_type}, content=manifest.data)
        if resp.status_code not in (200, 201, 202):
            raise self._fail(resp)
        dcd = resp.headers.get("Docker-Content-Digest", "").strip()
        if dcd and dcd != manifest.digest and _digest.algorithm(dcd) == _digest.algorithm(manifest.digest):
            raise DigestMismatchError(
                f"PUT manifest {self.name}:{ident}: registry stored digest {dcd}, expected {manifest.digest}")
        subject = manifest.subject
        if subject is not None:
            if resp.headers.get("OCI-Subject"):
                self.referrers_api = True
            else:
                self._add_to_fallback(subject.digest, manifest)
        return manifest.descriptor()

    # -- blobs -----------------------------------------------------------------------------------

    def has_blob(self, digest: str) -> bool:
        resp = self._req("HEAD", self._path("blobs", digest), self._pull())
        if resp.status_code == 200:
            return True
        if resp.status_code == 404:
            return False
        raise self._fail(resp, f"HEAD {self.client.url(self._path('blobs', digest))}")

    def iter_blob(self, desc: Descriptor, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        import httpx

        resp = self._req("GET", self._path("blobs", desc.digest), self._pull(), stream=True)
        if resp.status_code != 200:
            raise self._fail(resp)
        try:
            raw = resp.iter_bytes(chunk_size)
            yield from _digest.verified_chunks(raw, desc.digest, desc.size, f"blob {self.name}@")
        except httpx.HTTPError as e:
            raise DigestMismatchError(
                f"blob {self.name}@{desc.digest}: download broke off ({e}); nothing was kept")
        finally:
            resp.close()

    def put_blob(
        self, desc: Descriptor, content: bytes | Iterable[bytes], *, progress: ProgressFn | None = None,
        mount_from: Store | None = None,
    ) -> bool:
        if self.has_blob(desc.digest):
            return False
        scopes = self._push()
        location: str | None = None
        if (isinstance(mount_from, RegistryStore) and mount_from.ref.api_host == self.ref.api_host
                and mount_from.repository != self.repository):
            scopes = [*scopes, pull_scope(mount_from.repository)]
            resp = self._req("POST", self._path("blobs", "uploads/"), scopes,
                             params={"mount": desc.digest, "from": mount_from.repository},
                             headers={"Content-Length": "0"}, content=b"")
            if resp.status_code == 201:
                return False
            if resp.status_code != 202:
                raise self._fail(resp)
            location = self._location(resp)
            min_chunk = _int_header(resp, "OCI-Chunk-Min-Length")
        if desc.size >= self.chunked_threshold:
            if location is None:
                location, min_chunk = self._start_upload(scopes)
            self._chunked(desc, content, location, min_chunk, scopes, progress)
            return True
        self._monolithic(desc, content, location, scopes, progress)
        return True

    def check_writable(self) -> None:
        """Open a blob upload session (the first step of every push) and cancel it: nothing is stored."""
        location, _ = self._start_upload(self._push())
        self._cancel(location, self._push())

    def _start_upload(self, scopes: list[str]) -> tuple[str, int]:
        resp = self._req("POST", self._path("blobs", "uploads/"), scopes,
                         headers={"Content-Length": "0"}, content=b"")
        if resp.status_code != 202:
            raise self._fail(resp)
        return self._location(resp), _int_header(resp, "OCI-Chunk-Min-Length")

    def _location(self, resp: httpx.Response) -> str:
        loc = resp.headers.get("Location")
        if not loc:
            raise StoreError(f"{resp.request.method} {resp.request.url}: registry sent no upload Location")
        return urljoin(str(resp.request.url), loc)

    def _flow(self, desc: Descriptor, content: bytes | Iterable[bytes],
              progress: ProgressFn | None) -> Iterator[bytes]:
        """The content, verified against ``desc``; the last chunk is held back until verification passed.

        Holding back one chunk means the registry never receives a complete body for content that turns
        out wrong (too long, or the wrong digest), so it cannot commit it.
        """
        chunks: Iterable[bytes] = (content,) if isinstance(content, bytes | bytearray) else content
        held: bytes | None = None
        for chunk in _digest.verified_chunks(chunks, desc.digest, desc.size, f"upload to {self.name}:"):
            if not chunk:
                continue
            if held is not None:
                yield held
                if progress:
                    progress(len(held))
            held = bytes(chunk)
        if held is not None:
            yield held
            if progress:
                progress(len(held))

    def _cancel(self, location: str, scopes: list[str]) -> None:
        try:
            self._req("DELETE", location, scopes, idempotent=False).close()
        except StoreError:
            pass

    def _monolithic(self, desc: Descriptor, content: bytes | Iterable[bytes], location: str | None,
                    scopes: list[str], progress: ProgressFn | None) -> None:
        """POST + PUT ?digest= with the whole body; restarted from POST when the content can be replayed."""
        replayable = isinstance(content, bytes | bytearray | list | tuple)
        tries = self.client.retry.attempts if replayable else 1
        for attempt in range(tries):
            if location is None:
                location, _ = self._start_upload(scopes)
            body = self._flow(desc, content, progress)
            try:
                resp = self._req("PUT", _with_digest(location, desc.digest), scopes,
                                 headers={"Content-Type": "application/octet-stream",
                                          "Content-Length": str(desc.size)},
                                 content=body, idempotent=False)
            except DigestMismatchError:
                self._cancel(location, scopes)
                raise
            except StoreError:
                self._cancel(location, scopes)
                if attempt + 1 < tries:
                    location = None
                    continue
                raise
            if resp.status_code in (201, 204):
                resp.close()
                return
            if resp.status_code in (429, 500, 502, 503, 504) and attempt + 1 < tries:
                resp.close()
                self._cancel(location, scopes)
                location = None
                self.client.retry.wait(attempt, resp)
                continue
            self._cancel(location, scopes)
            raise self._fail(resp)

    def _chunked(self, desc: Descriptor, content: bytes | Iterable[bytes], location: str, min_chunk: int,
                 scopes: list[str], progress: ProgressFn | None) -> None:
        """PATCH chunks of ``chunk_size`` (at least the registry's minimum), then PUT ?digest=.

        Only one chunk is held in memory; a 416 is recovered by asking the upload URL how much it has
        and resending the missing tail of the current chunk.
        """
        size = max(self.chunk_size, min_chunk or 0)
        offset = 0
        pieces: list[bytes] = []
        have = 0
        try:
            for chunk in self._flow(desc, content, None):
                pieces.append(chunk)
                have += len(chunk)
                while have >= size:
                    joined = b"".join(pieces)
                    pieces, have = ([joined[size:]] if have > size else []), have - size
                    location = self._patch(location, joined[:size] if len(joined) > size else joined,
                                           offset, scopes, progress)
                    del joined
                    offset += size
            if pieces:
                location = self._patch(location, b"".join(pieces), offset, scopes, progress)
                offset += have
                pieces.clear()
        except (DigestMismatchError, StoreError):
            self._cancel(location, scopes)
            raise
        resp = self._req("PUT", _with_digest(location, desc.digest), scopes,
                         headers={"Content-Length": "0"}, content=b"", idempotent=False)
        if resp.status_code not in (201, 204):
            self._cancel(location, scopes)
            raise self._fail(resp)
        resp.close()

    def _patch(self, location: str, data: bytes, offset: int, scopes: list[str],
               progress: ProgressFn | None) -> str:
        start = offset
        for _ in range(3):
            body = data if start == offset else data[start - offset:]
            end = start + len(body) - 1
            resp = self._req("PATCH", location, scopes, idempotent=False,
                             content=functools.partial(_pieces, body), headers={
                                 "Content-Type": "application/octet-stream",
                                 "Content-Range": f"{start}-{end}", "Content-Length": str(len(body))})
            if resp.status_code == 202:
                resp.close()
                location = self._location(resp)
                got = _range_end(resp)
                if got is not None and got != end:
                    raise StoreError(f"PATCH {location}: registry has bytes up to {got}, expected {end}")
                if progress:
                    progress(len(body))
                return location
            if resp.status_code != 416:
                raise self._fail(resp)
            resp.close()
            # Ask where the registry stands and resend what it lacks of this chunk.
            st = self._req("GET", location, scopes)
            if st.status_code not in (200, 204):
                raise self._fail(st)
            have = _range_end(st)
            # distribution answers "0-0" both for nothing and for one byte: assume nothing.
            nxt = 0 if have is None or (have == 0 and offset == 0) else have + 1
            if not offset <= nxt <= offset + len(data):
                raise StoreError(f"PATCH {location}: registry lost the upload at byte {nxt}; cannot resume")
            location = self._location(st) if st.headers.get("Location") else location
            if nxt == offset + len(data):
                return location
            start = nxt
        raise StoreError(f"PATCH {location}: registry keeps refusing the chunk at byte {start}")

    # -- tags ------------------------------------------------------------------------------------

    def tags(self) -> list[str]:
        out: list[str] = []
        path: str | None = self._path("tags", "list")
        params: Any = {"n": str(self.tags_page_size)}
        while path:
            resp = self._req("GET", path, self._pull(), params=params)
            if resp.status_code != 200:
                raise self._fail(resp)
            try:
                obj = resp.json()
                page = obj.get("tags") or []
            except (ValueError, AttributeError):
                raise StoreError(f"GET {resp.request.url}: invalid tag list")
            out += [t for t in page if isinstance(t, str)]
            nxt = _next_link(resp)
            path, params = (nxt, None) if nxt else (None, None)
        return out

    # -- delete ----------------------------------------------------------------------------------

    def delete(self, identifier: str, *, tag_only: bool = False) -> None:
        if tag_only and not _digest.is_digest(identifier):
            resp = self._req("DELETE", self._path("manifests", identifier), self._delete())
            if resp.status_code not in (200, 202, 204):
                raise self._fail(resp)
            return
        try:
            manifest: Manifest | None = self.get_manifest(identifier)
        except InvalidManifestError:
            manifest = None
        dig = manifest.digest if manifest else self.resolve(identifier).digest
        resp = self._req("DELETE", self._path("manifests", dig), self._delete())
        if resp.status_code not in (200, 202, 204):
            raise self._fail(resp)
        subject = manifest.subject if manifest else None
        if subject is not None and self.referrers_api is not True:
            self._remove_from_fallback(subject.digest, dig)

    # -- referrers -------------------------------------------------------------------------------

    def referrers(self, digest: str, artifact_type: str | None = None) -> list[Descriptor]:
        _digest.validate_digest(digest)
        if self.referrers_api is not False:
            got = self._referrers_api(digest, artifact_type)
            if got is not None:
                return got
        return self._referrers_fallback(digest, artifact_type)

    def _referrers_api(self, digest: str, artifact_type: str | None) -> list[Descriptor] | None:
        path: str | None = self._path("referrers", digest)
        params: Any = {"artifactType": artifact_type} if artifact_type else None
        out: list[Descriptor] = []
        filtered = True
        while path:
            resp = self._req("GET", path, self._pull(), params=params,
                             headers={"Accept": mt.OCI_INDEX})
            ct = resp.headers.get("Content-Type", "").split(";")[0].strip()
            if resp.status_code in (400, 404, 405) or (resp.status_code == 200 and ct != mt.OCI_INDEX):
                resp.close()
                if out:
                    raise StoreError(f"GET {resp.request.url}: referrers pagination broke off")
                self.referrers_api = False
                return None
            if resp.status_code != 200:
                raise self._fail(resp)
            try:
                idx = Manifest.parse(resp.content, ct, where=f"referrers of {self.name}@{digest}")
            except InvalidManifestError:
                self.referrers_api = False
                return None
            self.referrers_api = True
            applied = {f.strip() for f in resp.headers.get("OCI-Filters-Applied", "").split(",")}
            filtered = filtered and "artifactType" in applied
            out += idx.manifests
            nxt = _next_link(resp)
            path, params = (nxt, None) if nxt else (None, None)
        if artifact_type and not filtered:
            out = [d for d in out if d.artifact_type == artifact_type]
        return out

    def _read_fallback(self, subject: str) -> tuple[dict[str, Any] | None, str | None, bool]:
        """(index JSON, ETag, exists) of the fallback tag; (None, _, True) when it is not an index."""
        try:
            m, resp = self._get_manifest_raw(fallback_tag(subject))
        except NotFoundError:
            return None, None, False
        except InvalidManifestError:
            return None, None, True
        if not m.is_index:
            return None, None, True
        return dict(m.json), resp.headers.get("ETag"), True

    def _referrers_fallback(self, digest: str, artifact_type: str | None) -> list[Descriptor]:
        idx, _, _ = self._read_fallback(digest)
        if idx is None:
            return []
        out = [Descriptor.from_json(d) for d in idx.get("manifests") or []]
        if artifact_type:
            out = [d for d in out if d.artifact_type == artifact_type]
        return out

    def _add_to_fallback(self, subject: str, manifest: Manifest) -> None:
        """Record the referrer in the fallback index, read back until it holds (``oci/optimistic.py``)."""
        from sigward.oci.optimistic import merge_until_visible

        desc = manifest.referrer_descriptor()
        tag = fallback_tag(subject)
        seen: dict[str, dict[str, Any]] = {}  # every entry seen while we work: restored if overwritten

        def read() -> tuple[dict[str, Any] | None, str | None, bool]:
            state = self._read_fallback(subject)
            for e in (state[0] or {}).get("manifests") or []:
                if isinstance(e, dict) and isinstance(e.get("digest"), str):
                    seen.setdefault(e["digest"], e)
            return state

        def has(state: tuple[dict[str, Any] | None, str | None, bool]) -> bool:
            idx = state[0]
            return idx is not None and any(isinstance(e, dict) and e.get("digest") == desc.digest
                                           for e in idx.get("manifests") or [])

        def write(state: tuple[dict[str, Any] | None, str | None, bool]) -> bool:
            idx, etag, exists = state
            if idx is None:
                if exists:
                    raise StoreError(f"{self.name}:{tag} exists but is not an OCI index; "
                                     "cannot record the referrer")
                idx = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
            entries = [e for e in idx.get("manifests") or [] if isinstance(e, dict)]
            have = {e.get("digest") for e in entries}
            lost = [e for d, e in seen.items() if d not in have and d != desc.digest]
            idx["manifests"] = [*entries, *lost, desc.to_json()]
            return self._put_index(subject, idx, etag)

        def fingerprint(state: tuple[dict[str, Any] | None, str | None, bool]) -> object:
            return tuple(sorted(str(e.get("digest")) for e in (state[0] or {}).get("manifests") or []
                                if isinstance(e, dict)))

        merge_until_visible(read, has, write, f"referrers index {self.name}:{tag}", fingerprint=fingerprint)

    def _remove_from_fallback(self, subject: str, digest: str) -> None:
        for _ in range(3):
            idx, etag, _ = self._read_fallback(subject)
            if idx is None:
                return
            entries = list(idx.get("manifests") or [])
            kept = [e for e in entries if not (isinstance(e, dict) and e.get("digest") == digest)]
            if len(kept) == len(entries):
                return
            idx["manifests"] = kept
            if self._put_index(subject, idx, etag):
                return
        raise StoreError(f"{self.name}:{fallback_tag(subject)} keeps changing under us; referrer not removed")

    def _put_index(self, subject: str, idx: dict[str, Any], etag: str | None) -> bool:
        """PUT the fallback index; False when ``If-Match`` lost a race (412) and the caller should retry."""
        data = gojson.marshal(idx)
        headers = {"Content-Type": mt.OCI_INDEX}
        if etag:
            headers["If-Match"] = etag
        resp = self._req("PUT", self._path("manifests", fallback_tag(subject)), self._push(),
                         headers=headers, content=data)
        if resp.status_code == 412:
            resp.close()
            return False
        if resp.status_code not in (200, 201, 202):
            raise self._fail(resp)
        return True


def _refetch(fetch: Callable[[], T], attempts: int = 3) -> T:
    """A whole small download, fetched again when it broke off or came back with the wrong bytes.

    The transport retries what failed before a body arrived; a body cut short or altered on the way (a
    proxy or connection fault) only shows once it has been digested. Wrong bytes are never returned: the
    last failure is raised.
    """
    for attempt in range(attempts):
        try:
            return fetch()
        except (DigestMismatchError, _BrokenOff):
            if attempt + 1 == attempts:
                raise
            time.sleep(0.1 * 2 ** attempt)
    raise AssertionError("unreachable")


class _BrokenOff(StoreError):
    """A response body that ended before its Content-Length."""


def _pieces(data: bytes, size: int = 1 << 20) -> Iterator[bytes]:
    """``data`` in slices, so the HTTP stack never copies a whole chunk at once."""
    view = memoryview(data)
    for i in range(0, len(view), size):
        yield bytes(view[i:i + size])


def _read_capped(resp: httpx.Response, cap: int, where: str) -> bytes:
    import httpx

    buf = bytearray()
    try:
        for chunk in resp.iter_bytes():
            buf += chunk
            if len(buf) > cap:
                raise InvalidManifestError(f"{where}: larger than {cap} bytes")
    except httpx.HTTPError as e:
        raise _BrokenOff(f"{where}: download broke off: {e}")
    return bytes(buf)


def _with_digest(location: str, digest: str) -> str:
    from urllib.parse import quote

    return f"{location}{'&' if '?' in location else '?'}digest={quote(digest, safe='')}"


def _int_header(resp: httpx.Response, name: str) -> int:
    v = resp.headers.get(name, "").strip()
    return int(v) if v.isdigit() else 0


def _range_end(resp: httpx.Response) -> int | None:
    v = resp.headers.get("Range", "").strip()
    if v.startswith("bytes="):
        v = v[6:]
    if "-" not in v:
        return None
    end = v.split("-", 1)[1]
    return int(end) if end.isdigit() else None


def _next_link(resp: httpx.Response) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header (RFC 8288), resolved against the request URL."""
    for part in resp.headers.get_list("Link", split_commas=True):
        if "<" not in part or ">" not in part:
            continue
        target = part[part.index("<") + 1:part.index(">")]
        rel = part[part.index(">") + 1:].replace(" ", "").lower()
        if 'rel="next"' in rel or "rel=next" in rel:
            return urljoin(str(resp.request.url), target)
    return None
