"""The one store interface: a repository in a registry, or an OCI image layout on disk.

Operations (sign, verify, copy, …) are written against ``Store`` only, so every command works on both
(``oci:PATH`` wherever a registry reference is accepted). A store is scoped to one repository; tags and
digests are resolved inside it.

Contract for implementers:
- ``get_manifest`` returns exact bytes, verified against the digest when asked by digest.
- ``iter_blob`` yields chunks and raises ``DigestMismatchError`` when the stream ends wrong; callers commit
  only after it finished, so a corrupt download never lands anywhere.
- ``put_blob`` skips blobs already present (HEAD before PUT) and returns whether it transferred bytes.
- ``put_manifest`` of a manifest with a ``subject`` also makes it discoverable through ``referrers``
  (registries without the referrers API get the ``sha256-<hex>`` fallback index updated).
- ``referrers`` never filters fallback entries by ``artifactType`` unless asked to.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sigward.oci.manifest import Descriptor, Manifest
from sigward.oci.reference import AnyReference, LayoutReference, Reference

if TYPE_CHECKING:
    from sigward.oci.registry.keychain import Keychain

# Called with the number of bytes just transferred.
ProgressFn = Callable[[int], None]

# What put_blob uploads: bytes, a one-shot stream of chunks, or a factory opening the stream afresh (which
# lets an interrupted upload resume: the stream is re-read and only what the destination lacks is sent).
BlobContent = bytes | Iterable[bytes] | Callable[[], Iterable[bytes]]


class StoreBlob:
    """put_blob content read from another store: a replayable factory over ``source.iter_blob(desc)``.

    Every ``iter_blob`` verifies digest and size as the bytes flow and raises at the end of a wrong
    stream (before its consumer can commit), so a destination given this for the same descriptor does
    not hash the bytes a second time (copy's hot path: one SHA-256 pass per byte, not two).
    """

    def __init__(self, source: Store, desc: Descriptor) -> None:
        self.source, self.desc = source, desc

    def __call__(self) -> Iterable[bytes]:
        return self.source.iter_blob(self.desc)

    def verifies(self, desc: Descriptor) -> bool:
        """Whether this stream is checked against exactly ``desc`` already."""
        return self.desc.digest == desc.digest and self.desc.size == desc.size


def open_content(content: BlobContent) -> Iterable[bytes]:
    """``content`` as an iterable of chunks (calling a factory)."""
    if isinstance(content, bytes | bytearray):
        return (bytes(content),)
    if callable(content):
        return content()
    return content


def replayable(content: BlobContent) -> bool:
    """Whether ``content`` can be read again from the start (a one-shot iterator cannot)."""
    return callable(content) or isinstance(content, bytes | bytearray | list | tuple)

# Blobs read whole into memory (configs, signatures, bundles) are capped at this size.
MAX_SMALL_BLOB = 128 * 1024 * 1024  # cosign's COSIGN_MAX_ATTACHMENT_SIZE default


@dataclass
class StoreOptions:
    """How to reach registries: TLS and HTTP opt-ins, and credentials — a keychain
    (``oci.registry.keychain``), or explicit ones for every registry (the CLI's flags), else docker's
    config."""

    allow_insecure_registry: bool = False  # accept self-signed / unverifiable TLS certificates
    allow_http_registry: bool = False  # fall back to plain HTTP
    username: str | None = None
    password: str | None = None
    registry_token: str | None = None
    ca_file: str | None = None
    client_cert: str | None = None  # mutual TLS: client certificate (PEM) and key (PEM)
    client_key: str | None = None
    user_agent: str = field(default_factory=lambda: _user_agent())
    keychain: Keychain | None = None  # when set, the only source of credentials


def _user_agent() -> str:
    from sigward import __version__

    return f"sigward/{__version__}"


class Store(ABC):
    """One repository's worth of manifests, tags, blobs and referrers."""

    #: Whether this store's reads and writes wait on network round trips, so that several in flight at
    #: once finish sooner. A local layout's do not: they are page-cache copies that worker threads only
    #: slow down (thread start-up, GIL hand-offs; a 20-platform layout copy spent a fifth of its time
    #: there), so copy and verify do a layout's work in the calling thread.
    overlaps_io: bool = False

    @property
    @abstractmethod
    def name(self) -> str:
        """Display name of the repository: ``registry/repo`` or ``oci:PATH``."""

    @abstractmethod
    def reference(self, identifier: str) -> AnyReference:
        """A full reference to ``identifier`` (a tag or a digest) in this store."""

    @abstractmethod
    def resolve(self, identifier: str) -> Descriptor:
        """Tag or digest → descriptor (media type, digest, size). Raises NotFoundError."""

    @abstractmethod
    def get_manifest(self, identifier: str) -> Manifest:
        """Tag or digest → manifest with its exact bytes. Raises NotFoundError."""

    @abstractmethod
    def put_manifest(self, manifest: Manifest, tag: str | None = None) -> Descriptor:
        """Store a manifest by digest, and under ``tag`` if given; maintains referrers for ``subject``."""

    @abstractmethod
    def has_blob(self, digest: str) -> bool: ...

    @abstractmethod
    def iter_blob(self, desc: Descriptor, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Stream a blob; raises DigestMismatchError at the end if digest or size are wrong."""

    def get_blob(self, desc: Descriptor, max_size: int = MAX_SMALL_BLOB) -> bytes:
        """A small blob, whole and verified."""
        from sigward.errors import StoreError

        if desc.size > max_size:
            raise StoreError(f"blob {desc.digest} is {desc.size} bytes, more than the {max_size} allowed")
        return b"".join(self.iter_blob(desc))

    @abstractmethod
    def put_blob(
        self,
        desc: Descriptor,
        content: BlobContent,
        *,
        progress: ProgressFn | None = None,
        mount_from: Store | None = None,
    ) -> bool:
        """Upload unless present. ``content`` is verified against ``desc`` while it flows; a factory
        (``BlobContent``) is called only if bytes are needed, and again to resume a broken upload.

        ``mount_from`` names the store the blob comes from, so a registry can mount it across
        repositories instead of copying bytes. Returns True when bytes were transferred.
        """

    @abstractmethod
    def referrers(self, digest: str, artifact_type: str | None = None) -> list[Descriptor]:
        """Manifests whose ``subject`` is ``digest`` (referrers API, else the tag-schema fallback)."""

    @abstractmethod
    def tags(self) -> list[str]: ...

    def tags_if_cheap(self, max_requests: int) -> list[str] | None:
        """Every tag, if listing them takes at most ``max_requests`` requests; else (or when the store
        will not list them) None. Lets attachment discovery replace per-tag probes by one listing."""
        from sigward.errors import SigwardError

        try:
            return self.tags()
        except SigwardError:  # an optimisation only: the caller probes instead
            return None

    def referrers_without_fallback_tag(self, digest: str) -> list[Descriptor]:
        """``referrers(digest)`` for a caller that knows the ``sha256-<hex>`` fallback tag is absent (it
        listed the tags): a registry then asks only its referrers API, not for the tag as well. Stores that
        keep referrers some other way (a layout) answer as ``referrers``."""
        return self.referrers(digest)

    @property
    def referrers_only_in_fallback_tag(self) -> bool:
        """True when ``referrers`` is known to read the ``sha256-<hex>`` fallback tag and nothing else
        (a registry without the referrers API), so an absent tag means no referrers."""
        return False

    @abstractmethod
    def delete(self, identifier: str) -> None:
        """Delete a tag or a manifest by digest (and its fallback-index entry if it has a subject)."""

    def check_writable(self) -> None:  # noqa: B027 - stores that can tell override it
        """Raise ``StoreError`` unless a push here would be accepted; leaves nothing behind.

        For callers that must not start writing what they cannot finish (the buildpacks signer phase).
        """

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """A block whose manifest writes may be applied together at its end (a layout writes index.json
        once); nothing is promised about visibility before the block ends. Default: no batching."""
        return contextlib.nullcontext()

    def close(self) -> None:  # noqa: B027 - optional hook, most stores hold nothing
        """Release connections; stores are also context managers."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(ref: AnyReference, options: StoreOptions | None = None) -> Store:
    """The store holding ``ref``'s repository. Heavy clients are imported only when needed."""
    if isinstance(ref, LayoutReference):
        from sigward.oci.layout import LayoutStore

        return LayoutStore(ref.path)
    assert isinstance(ref, Reference)
    from sigward.oci.registry.store import RegistryStore

    return RegistryStore(ref, options or StoreOptions())
