"""Copy an image or index, and everything attached to it, between any two stores.

Two phases. *Planning* fetches every manifest involved (small, digest-verified), decides what goes where
and checks tag overwrites, without writing anything: a refused copy (``-f`` missing, platform absent,
unreadable manifest) leaves the destination untouched. *Execution* then streams blobs (``iter_blob`` →
``put_blob``; HEAD-before-PUT skips what is there) and pushes manifests children-first, so a destination
never holds a manifest whose content is missing.

Unlike cosign's copy we also carry OCI 1.1 referrers (bundle signatures/attestations), recursively: the
referrers of referrers, and the legacy tags of every entity (index children included).

An attachment that exists but cannot be read (a listed referrer or a ``.sig`` tag whose manifest or blobs
are missing or do not match their digest) refuses the copy at planning time, naming it; with
``skip_unreadable`` it is left out and named in ``CopyPlan.skipped`` (the CLI warns). Never a silent drop.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sigward.errors import DigestMismatchError, InvalidManifestError, NotFoundError, StoreError, UsageError
from sigward.oci.manifest import Descriptor, Manifest
from sigward.oci.reference import AnyReference
from sigward.oci.store import ProgressFn, Store
from sigward.ops.attached import LEGACY_SUFFIXES, attached_tag

ONLY_VALUES = ("sig", "sbom", "att")  # cosign's --only values
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
# Attachment blobs up to this size are downloaded (and digest-checked) while planning; bigger ones HEADed.
CHECK_FETCH_MAX = 4 * 1024 * 1024
_UNREADABLE = (NotFoundError, InvalidManifestError, DigestMismatchError, StoreError)


def parse_only(values: list[str] | None, sig_only: bool = False) -> frozenset[str] | None:
    """``--only sig,att`` (repeatable, comma separated) → the kinds to copy; None means everything."""
    kinds = {v.strip() for item in values or [] for v in item.split(",") if v.strip()}
    if sig_only:
        kinds.add("sig")
    for k in sorted(kinds):
        if k not in ONLY_VALUES:
            raise UsageError(
                f"invalid value for --only: {k}, only the following values are supported: "
                f"[{' '.join(ONLY_VALUES)}]"
            )
    return frozenset(kinds) or None


@dataclass
class _BlobStep:
    desc: Descriptor
    source: Store
    dest: Store


@dataclass
class _ManifestStep:
    manifest: Manifest
    tag: str | None
    dest: Store


@dataclass
class CopyPlan:
    """What a copy will do, in order; build with ``plan_copy``, run with ``execute``."""

    src: Store
    dst: Store
    root: Manifest
    dst_tag: str | None
    steps: list[_BlobStep | _ManifestStep] = field(default_factory=list)
    attached: list[str] = field(default_factory=list)  # human labels of attached artifacts copied
    skipped: list[str] = field(default_factory=list)  # unreadable attachments left out (skip_unreadable)
    counts: dict[str, int] = field(default_factory=dict)  # signatures / attestations / sboms that travel

    @property
    def total_bytes(self) -> int:
        return sum(s.desc.size for s in self.steps if isinstance(s, _BlobStep))

    @property
    def manifest_count(self) -> int:
        return sum(1 for s in self.steps if isinstance(s, _ManifestStep))


@dataclass
class CopyResult:
    digest: str
    reference: AnyReference  # the destination, by digest
    manifests: int = 0  # distinct manifests pushed (a tag push of the same manifest is not counted)
    blobs_copied: int = 0
    blobs_skipped: int = 0
    bytes_copied: int = 0
    attached: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


class _Planner:
    def __init__(self, src: Store, dst: Store, src_attach: Store, dst_attach: Store,
                 only: frozenset[str] | None, force: bool, skip_unreadable: bool = False) -> None:
        self.src, self.dst, self.src_attach, self.dst_attach = src, dst, src_attach, dst_attach
        self.only = only
        self.force = force
        self.skip_unreadable = skip_unreadable
        self.skipped: list[str] = []
        self.counts = {"signatures": 0, "attestations": 0, "sboms": 0}
        self._src_tags: set[str] | None = None
        self.steps: list[_BlobStep | _ManifestStep] = []
        self.attached: list[str] = []
        self._blobs: set[tuple[int, str]] = set()
        self._manifests: set[tuple[int, str, str | None]] = set()
        self._attached_done: set[str] = set()

    def content(self, m: Manifest, source: Store, dest: Store, tag: str | None,
                entities: list[str] | None = None) -> None:
        """Steps for ``m`` and what it references (children first), then ``m`` itself."""
        if entities is not None:
            entities.append(m.digest)
        if m.is_index:
            for child_desc in m.manifests:
                child = source.get_manifest(child_desc.digest)
                self.content(child, source, dest, None, entities)
        else:
            for desc in m.children():
                key = (id(dest), desc.digest)
                if key not in self._blobs:
                    self._blobs.add(key)
                    self.steps.append(_BlobStep(desc, source, dest))
        # A PUT by tag also stores the manifest by digest: one request, not two.
        self.manifest(m, dest, tag)

    def manifest(self, m: Manifest, dest: Store, tag: str | None) -> None:
        key = (id(dest), m.digest, tag)
        if key in self._manifests:
            return
        self._manifests.add(key)
        if tag is not None and not self.force:
            _refuse_overwrite(dest, tag, m.digest)
        self.steps.append(_ManifestStep(m, tag, dest))

    def attachments(self, digest: str) -> None:
        """Legacy tags and referrers of ``digest``, then recursively of what they contain/reference."""
        if digest in self._attached_done:
            return
        self._attached_done.add(digest)
        suffixes = tuple(s for s in LEGACY_SUFFIXES if self.only is None or s in self.only)
        for suffix in suffixes:
            tag = attached_tag(digest, suffix)
            try:
                m = self.src_attach.get_manifest(tag)
                self._check_readable(m)
            except NotFoundError as e:
                if tag not in self._tags():
                    continue  # most entities have no .att/.sbom: absence is normal (cosign ignores 404s)
                self._unreadable(str(self.src_attach.reference(tag)), e)
                continue
            except _UNREADABLE as e:
                self._unreadable(str(self.src_attach.reference(tag)), e)
                continue
            self.attached.append(f"{tag} ({m.digest})")
            self.counts[{"sig": "signatures", "att": "attestations", "sbom": "sboms"}[suffix]] += \
                len(m.layers) if suffix != "sbom" else 1
            entities: list[str] = []
            self.content(m, self.src_attach, self.dst_attach, tag, entities)
            for d in entities:
                self.attachments(d)
        if self.only is not None:
            return  # cosign's --only names legacy kinds; referrers are not among them
        for desc in sorted(self.src_attach.referrers(digest), key=lambda d: d.digest):
            try:
                m = self.src_attach.get_manifest(desc.digest)
                self._check_readable(m)
            except _UNREADABLE as e:
                self._unreadable(f"referrer {self.src_attach.reference(desc.digest)}", e)
                continue
            label = (desc.annotations or {}).get(PREDICATE_ANNOTATION) or desc.artifact_type
            self.attached.append(f"referrer {m.digest}" + (f" ({label})" if label else ""))
            predicate = (desc.annotations or {}).get(PREDICATE_ANNOTATION)
            if predicate == SIGN_PREDICATE:
                self.counts["signatures"] += 1
            elif predicate:
                self.counts["attestations"] += 1
            entities = []
            self.content(m, self.src_attach, self.dst_attach, None, entities)
            for d in entities:
                self.attachments(d)

    def _tags(self) -> set[str]:
        """The source attachment store's tags, listed once: tells "no .sig tag" from "a .sig tag whose
        manifest is gone" (both answer 404 to a manifest GET)."""
        if self._src_tags is None:
            try:
                self._src_tags = set(self.src_attach.tags())
            except StoreError:
                self._src_tags = set()
        return self._src_tags

    def _check_readable(self, m: Manifest) -> None:
        """Every blob of an attachment is there (small ones fetched and digest-checked) before we plan it."""
        if m.is_index:
            for d in m.manifests:
                self._check_readable(self.src_attach.get_manifest(d.digest))
            return
        for d in m.children():
            if d.size <= CHECK_FETCH_MAX:
                self.src_attach.get_blob(d)
            elif not self.src_attach.has_blob(d.digest):
                raise NotFoundError(f"blob {d.digest} is missing")

    def _unreadable(self, what: str, e: Exception) -> None:
        if not self.skip_unreadable:
            raise StoreError(f"cannot copy {what}: {e} (nothing was copied; --skip-unreadable copies "
                             "the rest without it)")
        self.skipped.append(f"{what}: {e}")


def _refuse_overwrite(dest: Store, tag: str, digest: str) -> None:
    try:
        existing = dest.resolve(tag)
    except NotFoundError:
        return
    if existing.digest != digest:
        raise StoreError(f'image "{dest.reference(tag)}" already exists. Use `-f` to overwrite')


def select_platform(store: Store, index: Manifest, platform: str) -> Manifest:
    """The child of ``index`` for ``os/arch[/variant]`` (cosign's ``--platform``)."""
    from sigward.oci.platform import Platform

    want = Platform.parse(platform)
    for d in index.manifests:
        if want.matches(d.platform):
            return store.get_manifest(d.digest)
    raise NotFoundError(f"{store.name}@{index.digest}: no manifest for platform {platform}")


def plan_copy(
    src: Store,
    src_identifier: str,
    dst: Store,
    dst_tag: str | None,
    *,
    src_attach: Store | None = None,
    dst_attach: Store | None = None,
    only: frozenset[str] | None = None,
    force: bool = False,
    platform: str | None = None,
    skip_unreadable: bool = False,
) -> CopyPlan:
    """Decide the whole copy without writing. ``only`` restricts to legacy kinds (cosign ``--only``):
    the image content is still copied (by digest) but the destination tag is left alone."""
    root = src.get_manifest(src_identifier)
    if platform and root.is_index:
        root = select_platform(src, root, platform)
    planner = _Planner(src, dst, src_attach or src, dst_attach or dst, only, force, skip_unreadable)
    entities: list[str] = []
    tag = dst_tag if only is None else None
    planner.content(root, src, dst, tag, entities)
    for d in entities:
        planner.attachments(d)
    return CopyPlan(src, dst, root, tag, planner.steps, planner.attached, planner.skipped, planner.counts)


def execute(plan: CopyPlan, progress: ProgressFn | None = None) -> CopyResult:
    """Run the steps in order (planning put every blob before the manifest that needs it)."""
    result = CopyResult(plan.root.digest, plan.dst.reference(plan.root.digest), attached=list(plan.attached),
                        skipped=list(plan.skipped), counts=dict(plan.counts))
    pushed: set[tuple[int, str]] = set()
    for step in plan.steps:
        if isinstance(step, _BlobStep):
            _copy_blob(step, result, progress)
        else:
            step.dest.put_manifest(step.manifest, step.tag)
            pushed.add((id(step.dest), step.manifest.digest))
    result.manifests = len(pushed)
    return result


def _copy_blob(step: _BlobStep, result: CopyResult, progress: ProgressFn | None) -> None:
    # The source stream is opened only if the destination asks for bytes (put_blob checks first).
    transferred = step.dest.put_blob(
        step.desc, _lazy_blob(step.source, step.desc), progress=progress, mount_from=step.source
    )
    if transferred:
        result.blobs_copied += 1
        result.bytes_copied += step.desc.size
    else:  # already there, or mounted across repositories
        result.blobs_skipped += 1
        if progress is not None:
            progress(step.desc.size)


def _lazy_blob(source: Store, desc: Descriptor) -> Iterator[bytes]:
    yield from source.iter_blob(desc)


def copy(src: Store, src_identifier: str, dst: Store, dst_tag: str | None, *,
         progress: ProgressFn | None = None, **kw: object) -> CopyResult:
    """``plan_copy`` then ``execute``; keyword arguments as for ``plan_copy``."""
    return execute(plan_copy(src, src_identifier, dst, dst_tag, **kw), progress)  # type: ignore[arg-type]
