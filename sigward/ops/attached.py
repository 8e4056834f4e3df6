"""What hangs off an artifact: cosign's legacy ``.sig``/``.att``/``.sbom`` tags and OCI 1.1 referrers.

Shared by copy, tree, sign and verify so they agree on names (cosign-wire-formats.md §2.1) and on where
attached artifacts live: ``COSIGN_REPOSITORY`` moves them to another repository (tag names unchanged),
which is why every function takes an ``attach_store`` separate from the image's store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sigward.errors import NotFoundError
from sigward.oci import digest as _digest
from sigward.oci.manifest import Descriptor, Manifest
from sigward.oci.reference import AnyReference, LayoutReference, parse_reference, parse_repository
from sigward.oci.store import Store, StoreOptions, open_store

SIG, ATT, SBOM = "sig", "att", "sbom"
# The order copy and tree walk them in (tree prints signatures, attestations, SBOMs).
LEGACY_SUFFIXES: tuple[str, ...] = (SIG, ATT, SBOM)
REPO_OVERRIDE_ENV = "COSIGN_REPOSITORY"


def fallback_tag(digest: str) -> str:
    """``sha256-<hex>``: the referrers tag-schema fallback index tag (distribution-spec truncates the
    hex part to 64 characters so a sha512 digest still makes a valid tag)."""
    _digest.validate_digest(digest)
    return f"{_digest.algorithm(digest)}-{_digest.hex_part(digest)[:64]}"


def attached_tag(digest: str, suffix: str) -> str:
    """``sha256-<hex>.sig`` (or ``.att``/``.sbom``): always the digest of the signed manifest."""
    _digest.validate_digest(digest)
    return f"{_digest.algorithm(digest)}-{_digest.hex_part(digest)}.{suffix}"


@dataclass
class Attached:
    """Everything found attached to ``digest`` in ``store`` (the attachment store)."""

    digest: str
    store: Store
    legacy: dict[str, Manifest] = field(default_factory=dict)  # suffix → manifest, present ones only
    referrers: list[Descriptor] = field(default_factory=list)  # sorted by digest

    @property
    def empty(self) -> bool:
        return not self.legacy and not self.referrers

    def tag(self, suffix: str) -> str:
        return attached_tag(self.digest, suffix)


def find_attached(
    store: Store,
    digest: str,
    attach_store: Store | None = None,
    *,
    suffixes: tuple[str, ...] = LEGACY_SUFFIXES,
    referrers: bool = True,
) -> Attached:
    """Legacy tags and referrers of ``digest``; ``attach_store`` (COSIGN_REPOSITORY) defaults to ``store``."""
    where = attach_store or store
    found = Attached(digest, where)
    for suffix in suffixes:
        try:
            found.legacy[suffix] = where.get_manifest(attached_tag(digest, suffix))
        except NotFoundError:
            continue
    if referrers:
        found.referrers = sorted(where.referrers(digest), key=lambda d: d.digest)
    return found


def attachment_reference(ref: AnyReference, override: str | None = None) -> AnyReference:
    """The repository attached artifacts of ``ref`` live in: ``override`` (the CLI passes
    ``COSIGN_REPOSITORY``) if given, else ``ref``'s.

    cosign accepts only a registry repository there; ``oci:PATH`` is also accepted (a sigward extension).
    """
    override = (override or "").strip()
    if not override:
        return ref
    if override.startswith("oci:"):
        lref = parse_reference(override, default_tag=False)
        assert isinstance(lref, LayoutReference)
        return LayoutReference(lref.path)
    return parse_repository(override)


def attachment_store(ref: AnyReference, options: StoreOptions | None = None,
                     image_store: Store | None = None, override: str | None = None) -> Store:
    """Open the store for attached artifacts; reuses ``image_store`` when there is no override."""
    target = attachment_reference(ref, override)
    if target is ref and image_store is not None:
        return image_store
    return open_store(target, options)
