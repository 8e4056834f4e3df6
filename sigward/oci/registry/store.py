"""``RegistryStore``: the Store interface over the OCI distribution-spec v1.1 API.

Everything read is verified against the digest it was asked for; manifests keep their exact bytes.
Referrers use the API when the registry has it and the ``sha256-<hex>`` tag-schema fallback otherwise;
which one works is remembered per store so a registry without the API is probed once.

Deleting a tag: distribution 2.8 cannot delete a tag alone, so ``delete(tag)`` resolves the tag and
deletes the manifest by digest (every tag pointing at it goes too). ``delete(tag, tag_only=True)`` sends
the OCI 1.1 tag DELETE for registries that support it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin

from sigward import gojson
from sigward.errors import DigestMismatchError, InvalidManifestError, NotFoundError, StoreError
from sigward.oci import digest as _digest
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import MAX_MANIFEST_SIZE, Descriptor, Manifest
from sigward.oci.reference import Reference
from sigward.oci.registry.auth import pull_scope, push_scope
from sigward.oci.registry.client import RegistryClient, registry_errors
from sigward.oci.registry.upload import BlobUploads, int_header
from sigward.oci.store import MAX_SMALL_BLOB, BlobContent, ProgressFn, Store, StoreOptions

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")

# Blobs at least this big go up as one streamed PATCH (then PUT ?digest=), which a registry keeps as it
# arrives, so a broken upload resumes where the registry stands; smaller ones as one streamed PUT.
STREAM_THRESHOLD = 64 * 1024 * 1024
# Uploading in PATCH chunks of CHUNK_SIZE from this size up: off unless set on a store (a test hook, and
# what a registry refusing one large PATCH is answered with: the resume goes chunk by chunk).
CHUNKED_THRESHOLD = 1 << 62
CHUNK_SIZE = 8 * 1024 * 1024
# How often a manifest PUT is sent while the registry answers MANIFEST_BLOB_UNKNOWN (see _put_manifest_bytes).
BLOB_UNKNOWN_ATTEMPTS = 5


def fallback_tag(digest: str) -> str:
    """The referrers tag-schema tag: ``<alg>-<hex>``, the hex part limited to 64 characters."""
    _digest.validate_digest(digest)
    return f"{_digest.algorithm(digest)}-{_digest.hex_part(digest)[:64]}"


class RegistryStore(BlobUploads, Store):
    """One repository in a registry."""

    overlaps_io = True  # every read and write is a round trip: copy and verify overlap them

    def __init__(self, ref: Reference, options: StoreOptions | None = None,
                 client: RegistryClient | None = None) -> None:
        self.ref = ref
        self.options = options or StoreOptions()
        self.repository = ref.repository
        self.client = client or RegistryClient(ref.api_host, self.options, ref.registry)
        self.chunked_threshold = CHUNKED_THRESHOLD
        self.stream_threshold = STREAM_THRESHOLD
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

    def _put_manifest_bytes(self, ident: str, data: bytes, headers: dict[str, str]) -> httpx.Response:
        """PUT manifest bytes, again (same bytes, so idempotent) while the registry says a blob it refers
        to is unknown although it was uploaded.

        distribution's filesystem driver rewrites a blob's link file in place when another writer uploads
        the same blob (the empty config every signature shares), and an S3-backed one is eventually
        consistent: for a moment a present blob reads as unknown (``MANIFEST_BLOB_UNKNOWN``, with
        ``DIGEST_INVALID`` when the link read back empty). A blob that is really missing stays missing and
        the last answer is returned to the caller.
        """
        for attempt in range(BLOB_UNKNOWN_ATTEMPTS):
            resp = self._req("PUT", self._path("manifests", ident), self._push(),
                             headers=headers, content=data)
            if resp.status_code != 400 or attempt + 1 == BLOB_UNKNOWN_ATTEMPTS:
                return resp
            resp.read()
            if "MANIFEST_BLOB_UNKNOWN" not in {code for code, _msg in registry_errors(resp)}:
                return resp
            resp.close()
            time.sleep(0.05 * 2 ** attempt)
        raise AssertionError("unreachable")

    def put_manifest(self, manifest: Manifest, tag: str | None = None) -> Descriptor:
        ident = tag or manifest.digest
        resp = self._put_manifest_bytes(ident, manifest.data, {"Content-Type": manifest.media_type})
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
            # The pieces as they arrive (re-chunking to chunk_size costs a copy of every byte).
            raw = resp.iter_bytes()
            yield from _digest.verified_chunks(raw, desc.digest, desc.size, f"blob {self.name}@")
        except httpx.HTTPError as e:
            raise DigestMismatchError(
                f"blob {self.name}@{desc.digest}: download broke off ({e}); nothing was kept")
        finally:
            resp.close()

    def put_blob(
        self, desc: Descriptor, content: BlobContent, *, progress: ProgressFn | None = None,
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
            min_chunk = int_header(resp, "OCI-Chunk-Min-Length")
        if desc.size >= self.chunked_threshold:
            if location is None:
                location, min_chunk = self._start_upload(scopes)
            self._chunked(desc, content, location, min_chunk, scopes, progress)
            return True
        if desc.size >= self.stream_threshold:
            if location is None:
                location, min_chunk = self._start_upload(scopes)
            self._streamed(desc, content, location, min_chunk, scopes, progress)
            return True
        self._monolithic(desc, content, location, scopes, progress)
        return True

    def check_writable(self) -> None:
        """Open a blob upload session (the first step of every push) and cancel it: nothing is stored."""
        location, _ = self._start_upload(self._push())
        self._cancel(location, self._push())

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

    def tags_if_cheap(self, max_requests: int) -> list[str] | None:
        out: list[str] = []
        path: str = self._path("tags", "list")
        params: Any = {"n": str(self.tags_page_size)}
        for _ in range(max(1, max_requests)):
            try:
                resp = self._req("GET", path, self._pull(), params=params)
            except StoreError:
                return None
            if resp.status_code != 200:
                resp.close()
                return None
            try:
                page = resp.json().get("tags") or []
            except (ValueError, AttributeError):
                return None
            out += [t for t in page if isinstance(t, str)]
            nxt = _next_link(resp)
            if not nxt:
                return out
            path, params = nxt, None
        return None

    @property
    def referrers_only_in_fallback_tag(self) -> bool:
        return self.referrers_api is False

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

    def referrers_without_fallback_tag(self, digest: str) -> list[Descriptor]:
        _digest.validate_digest(digest)
        if self.referrers_api is not False:
            got = self._referrers_api(digest, None)
            if got is not None:
                return got
        return []  # no referrers API, and the caller saw no fallback tag: nothing to read

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

    def _read_fallback(self, subject: str, strict: bool = False) -> tuple[dict[str, Any] | None, str | None,
                                                                         bool]:
        """(index JSON, ETag, exists) of the fallback tag; (None, _, True) when it is not an index.
        ``strict`` (before a write) raises an unparsable answer instead, so the writer reads again."""
        try:
            m, resp = self._get_manifest_raw(fallback_tag(subject))
        except NotFoundError:
            return None, None, False
        except InvalidManifestError:
            if strict:
                raise
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
            state = self._read_fallback(subject, strict=True)
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
                if not kept:
                    self._delete_empty_fallback(idx)
                return
        raise StoreError(f"{self.name}:{fallback_tag(subject)} keeps changing under us; referrer not removed")

    def _delete_empty_fallback(self, idx: dict[str, Any]) -> None:
        """Remove a fallback index that lists nothing (cosign's clean deletes the referrers index too).

        Deleted by the digest of the empty index just written: if another writer has re-pointed the tag
        at a non-empty index meanwhile, the tag is not touched (distribution deletes only the tags that
        point at the deleted digest).
        """
        import hashlib

        dig = "sha256:" + hashlib.sha256(gojson.marshal(idx)).hexdigest()
        resp = self._req("DELETE", self._path("manifests", dig), self._delete())
        if resp.status_code not in (200, 202, 204, 404):
            raise self._fail(resp)

    def _put_index(self, subject: str, idx: dict[str, Any], etag: str | None) -> bool:
        """PUT the fallback index; False when ``If-Match`` lost a race (412) and the caller should retry."""
        data = gojson.marshal(idx)
        headers = {"Content-Type": mt.OCI_INDEX}
        if etag:
            headers["If-Match"] = etag
        resp = self._put_manifest_bytes(fallback_tag(subject), data, headers)
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
