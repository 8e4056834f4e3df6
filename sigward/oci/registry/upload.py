"""Blob uploads of ``RegistryStore`` (distribution-spec "pushing blobs"): monolithic, streamed, chunked.

- Below ``stream_threshold``: POST + one PUT ?digest= carrying the whole (streamed) body; restarted from
  the POST when the content can be read again.
- From ``stream_threshold`` up: POST, one PATCH carrying the whole stream, PUT ?digest= — what docker
  push does. The registry keeps what a PATCH delivered, so when it breaks off or is refused, the upload
  URL is asked how much it holds and the rest goes up in ``chunk_size`` PATCHes from there (if the
  content can be read again: copy hands over a factory). Memory stays one chunk whatever the size.
- From ``chunked_threshold`` up (off by default): ``chunk_size`` PATCHes from the start.

Every path verifies the content against its descriptor while it flows and holds the last chunk back
until the digest checked, so a registry never receives a complete body for wrong content.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from sigward.errors import DigestMismatchError, StoreError
from sigward.oci import digest as _digest
from sigward.oci.manifest import Descriptor
from sigward.oci.store import BlobContent, ProgressFn, StoreBlob, open_content, replayable

if TYPE_CHECKING:
    import httpx

    from sigward.oci.registry.client import RegistryClient

# Statuses after which a streamed PATCH is resumed in chunks rather than given up.
_RESUMABLE = frozenset({400, 408, 413, 416, 429, 500, 502, 503, 504})


class BlobUploads:
    """The upload half of ``RegistryStore`` (a mixin: it uses the store's request helpers)."""

    client: RegistryClient
    chunk_size: int

    @property
    def name(self) -> str:  # the store's display name (RegistryStore defines it)
        raise NotImplementedError

    def _req(self, method: str, path: str, scopes: list[str], **kw: Any) -> httpx.Response:
        raise NotImplementedError

    def _fail(self, resp: httpx.Response, what: str | None = None) -> StoreError:
        raise NotImplementedError

    def _path(self, kind: str, rest: str = "") -> str:
        raise NotImplementedError

    def _streamed(self, desc: Descriptor, content: BlobContent, location: str, min_chunk: int,
                  scopes: list[str], progress: ProgressFn | None) -> None:
        """One PATCH carrying the whole stream, then PUT ?digest= (what docker push does): two requests
        after the POST whatever the size, one chunk of memory.

        When the PATCH breaks off or is refused (too large, server error), the upload URL is asked how
        much it holds and, if the content can be read again, the rest goes up in ``chunk_size`` PATCHes
        from there (the stream is re-read from the start to verify the digest; only the missing bytes are
        sent). A one-shot stream cannot resume: the upload is cancelled and the error raised.
        """
        report = _HighWater(progress)
        try:
            resp = self._req("PATCH", location, scopes, idempotent=False,
                             content=self._flow(desc, content, report),
                             headers={"Content-Type": "application/octet-stream",
                                      "Content-Range": f"0-{desc.size - 1}",
                                      "Content-Length": str(desc.size)})
        except DigestMismatchError:
            self._cancel(location, scopes)
            raise
        except StoreError as e:
            failure: StoreError = e
        else:
            if resp.status_code == 202:
                resp.close()
                self._commit(desc, self._location(resp), scopes)
                return
            if resp.status_code not in _RESUMABLE:
                self._cancel(location, scopes)
                raise self._fail(resp)
            failure = self._fail(resp)
        if not replayable(content):
            self._cancel(location, scopes)
            raise failure
        start, location = self._upload_offset(location, scopes, failure)
        report.rewind(start)
        self._chunked(desc, content, location, min_chunk, scopes, report, start=start)

    def _upload_offset(self, location: str, scopes: list[str], failure: StoreError) -> tuple[int, str]:
        """(bytes the upload holds, its current URL), asked of the registry after a broken PATCH."""
        try:
            st = self._req("GET", location, scopes)
        except StoreError:
            self._cancel(location, scopes)
            raise failure
        if st.status_code not in (200, 204):
            self._cancel(location, scopes)
            st.close()
            raise failure
        st.close()
        have = _range_end(st)
        # distribution answers "0-0" both for nothing and for one byte: assume nothing.
        nxt = 0 if have is None or have == 0 else have + 1
        return nxt, self._location(st) if st.headers.get("Location") else location

    def _commit(self, desc: Descriptor, location: str, scopes: list[str]) -> None:
        resp = self._req("PUT", _with_digest(location, desc.digest), scopes,
                         headers={"Content-Length": "0"}, content=b"", idempotent=False)
        if resp.status_code not in (201, 204):
            self._cancel(location, scopes)
            raise self._fail(resp)
        resp.close()

    def _start_upload(self, scopes: list[str]) -> tuple[str, int]:
        resp = self._req("POST", self._path("blobs", "uploads/"), scopes,
                         headers={"Content-Length": "0"}, content=b"")
        if resp.status_code != 202:
            raise self._fail(resp)
        return self._location(resp), int_header(resp, "OCI-Chunk-Min-Length")

    def _location(self, resp: httpx.Response) -> str:
        loc: str | None = resp.headers.get("Location")
        if not loc:
            raise StoreError(f"{resp.request.method} {resp.request.url}: registry sent no upload Location")
        return urljoin(str(resp.request.url), loc)

    def _flow(self, desc: Descriptor, content: BlobContent,
              progress: ProgressFn | None) -> Iterator[bytes]:
        """The content, verified against ``desc``; the last chunk is held back until verification passed.

        Holding back one chunk means the registry never receives a complete body for content that turns
        out wrong (too long, or the wrong digest), so it cannot commit it.
        """
        chunks = open_content(content)
        if not (isinstance(content, StoreBlob) and content.verifies(desc)):  # else the source verifies
            chunks = _digest.verified_chunks(chunks, desc.digest, desc.size, f"upload to {self.name}:")
        held: bytes | None = None
        for chunk in chunks:
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

    def _monolithic(self, desc: Descriptor, content: BlobContent, location: str | None,
                    scopes: list[str], progress: ProgressFn | None) -> None:
        """POST + PUT ?digest= with the whole body; restarted from POST when the content can be replayed."""
        tries = self.client.retry.attempts if replayable(content) else 1
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

    def _chunked(self, desc: Descriptor, content: BlobContent, location: str, min_chunk: int,
                 scopes: list[str], progress: ProgressFn | None, start: int = 0) -> None:
        """PATCH chunks of ``chunk_size`` (at least the registry's minimum), then PUT ?digest=.

        Only one chunk is held in memory; a 416 is recovered by asking the upload URL how much it has
        and resending the missing tail of the current chunk. ``start``: the upload already holds that
        many bytes (a resume); they are read and verified, not sent.
        """
        size = max(self.chunk_size, min_chunk or 0)
        offset = start
        pieces: list[bytes] = []
        have = 0
        skip = start
        try:
            for chunk in self._flow(desc, content, None):
                if skip:
                    if len(chunk) <= skip:
                        skip -= len(chunk)
                        continue
                    chunk, skip = chunk[skip:], 0
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
        self._commit(desc, location, scopes)

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


class _HighWater:
    """Progress for an upload that may resume: bytes are reported once, however often they are sent."""

    def __init__(self, progress: ProgressFn | None) -> None:
        self.progress, self.pos, self.top = progress, 0, 0

    def rewind(self, pos: int) -> None:
        self.pos = pos

    def __call__(self, n: int) -> None:
        self.pos += n
        if self.pos > self.top:
            if self.progress is not None:
                self.progress(self.pos - self.top)
            self.top = self.pos


def _pieces(data: bytes, size: int = 1 << 20) -> Iterator[bytes]:
    """``data`` in slices, so the HTTP stack never copies a whole chunk at once."""
    view = memoryview(data)
    for i in range(0, len(view), size):
        yield bytes(view[i:i + size])


def _with_digest(location: str, digest: str) -> str:
    from urllib.parse import quote

    return f"{location}{'&' if '?' in location else '?'}digest={quote(digest, safe='')}"


def int_header(resp: httpx.Response, name: str) -> int:
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
