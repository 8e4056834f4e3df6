"""Copy an image or index, and everything attached to it, between any two stores.

Two phases. *Planning* fetches every manifest involved (small, digest-verified), decides what goes where
and checks tag overwrites, without writing anything: a refused copy (``-f`` missing, platform absent,
unreadable manifest) leaves the destination untouched. *Execution* then streams blobs (``iter_blob`` →
``put_blob``; HEAD-before-PUT skips what is there) and pushes manifests children-first, so a destination
never holds a manifest whose content is missing.

What keeps it fast (docs/benchmarks.md, "Copy against the peers"):
- A destination tag that already names the source digest means everything under it is there (a registry
  accepts a manifest only once its content is): planning stops at that one tag HEAD — no blob HEADs, no
  child manifests fetched, no manifest re-PUT. Untagged attached manifests (referrers) get the same
  check by digest.
- An index's child manifests are fetched a few at a time (``ops.fetch``).
- Blobs move ``CONCURRENCY`` at a time (each stream holds one chunk, so memory stays flat per stream);
  a manifest is pushed once every blob planned before it has landed.
- Between two local layouts there is no round trip to overlap: manifests and blobs are read and written
  in the calling thread, with no pool (``Store.overlaps_io``).
- Attachment discovery lists the attachment repository's tags once (when that costs no more requests
  than probing), then fetches only the legacy ``.sig``/``.att``/``.sbom`` tags that exist, and never
  asks for a ``sha256-<hex>`` fallback index that the listing does not hold (only the referrers API is
  asked, once per registry when it has none).

Unlike cosign's copy we also carry OCI 1.1 referrers (bundle signatures/attestations), recursively: the
referrers of referrers, and the legacy tags of every entity (index children included).

An attachment that exists but cannot be read (a listed referrer, or a ``.sig``/``.att``/``.sbom`` tag, whose
manifest or blobs are missing or do not match their digest) refuses the copy at planning time, naming it;
with ``skip_unreadable`` it is left out and named in ``CopyPlan.skipped`` (the CLI warns). Never a silent
drop. Checking costs one request per blob of an attachment that is not yet at the destination.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field

from sigward.errors import (
    DigestMismatchError,
    InvalidManifestError,
    NotFoundError,
    SigwardError,
    StoreError,
    UsageError,
)
from sigward.oci import mediatypes as mt
from sigward.oci.manifest import Descriptor, Manifest
from sigward.oci.reference import AnyReference
from sigward.oci.store import ProgressFn, Store, StoreBlob
from sigward.ops.attached import LEGACY_SUFFIXES, attached_tag, fallback_tag
from sigward.ops.fetch import fetch_ahead, limit_for

ONLY_VALUES = ("sig", "sbom", "att")  # cosign's --only values
CONCURRENCY = 4  # blobs in flight at once
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
# Attachment blobs up to this size are downloaded (and digest-checked) while planning; bigger ones HEADed.
CHECK_FETCH_MAX = 64 * 1024
_UNREADABLE = (NotFoundError, InvalidManifestError, DigestMismatchError, StoreError)


class _Unreadable(Exception):
    """An attachment found unreadable while planning (internal: becomes a refusal or a skip)."""


def parse_only(values: list[str] | None, sig_only: bool = False) -> frozenset[str] | None:
    """``--only sig,att`` (repeatable, comma separated) → the kinds to copy; None means everything."""
    kinds = {v.strip() for item in values or [] for v in item.split(",") if v.strip()}
    if sig_only:
        kinds.add("sig")
    for k in sorted(kinds):
        if k not in ONLY_VALUES:
            raise UsageError(
                f"invalid value for plan_copy(only): {k}, only the following values are supported: "
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
    present_blobs: int = 0  # blobs under manifests found already at the destination (not visited)
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
        self.steps: list[_BlobStep | _ManifestStep] = []
        self.attached: list[str] = []
        self.present_blobs = 0
        self._blobs: set[tuple[int, str]] = set()
        self._manifests: set[tuple[int, str, str | None]] = set()
        self._attached_done: set[str] = set()
        self._tags: set[str] | None = None
        self._tags_listed = False

    def content(self, m: Manifest, source: Store, dest: Store, tag: str | None,
                entities: list[str] | None = None, check: str | None = None) -> None:
        """Steps for ``m`` and what it references (children first), then ``m`` itself — unless the
        destination already has ``m`` (by ``tag``, or by digest for untagged attached manifests).
        ``check``: an attachment (named so), whose blobs must be readable before it is planned."""
        if self._present(m, dest, tag, by_digest=entities is not None and tag is None
                         and m.subject is not None):
            self._present_entities(m, source, dest, entities)
            return
        if check:
            self._check_readable(m, source, check)
        if entities is not None:
            entities.append(m.digest)
        if m.is_index:
            # The children's round trips overlap (a 20-platform index is 20 GETs); order is kept.
            for child in fetch_ahead(lambda d: source.get_manifest(d.digest), m.manifests,
                                     limit_for(source)):
                if isinstance(child, SigwardError):
                    raise child
                self.content(child, source, dest, None, entities)
        else:
            for desc in m.children():
                key = (id(dest), desc.digest)
                if key not in self._blobs:
                    self._blobs.add(key)
                    self.steps.append(_BlobStep(desc, source, dest))
        # A PUT by tag also stores the manifest by digest: one request, not two.
        self.manifest(m, dest, tag)

    def _present(self, m: Manifest, dest: Store, tag: str | None, by_digest: bool) -> bool:
        """Whether ``dest`` already holds ``m`` under ``tag`` (refusing a tag naming other content
        unless forced), or, with ``by_digest``, by its digest."""
        ident = tag if tag is not None else (m.digest if by_digest else None)
        if ident is None or (id(dest), m.digest, tag) in self._manifests:
            return False
        try:
            existing = dest.resolve(ident).digest
        except NotFoundError:
            return False
        if existing == m.digest:
            self._manifests.add((id(dest), m.digest, tag))
            return True
        if tag is not None and not self.force:
            raise StoreError(f'image "{dest.reference(tag)}" already exists. '
                             'Use plan_copy(force=True) to overwrite')
        return False

    def _present_entities(self, m: Manifest, source: Store, dest: Store, entities: list[str] | None) -> None:
        """A manifest found at the destination: nothing to copy, but its (and its children's)
        attachments are still looked for. Image children of an index are not fetched."""
        if entities is not None:
            entities.append(m.digest)
        if not m.is_index:
            for desc in m.children():
                key = (id(dest), desc.digest)
                if key not in self._blobs:
                    self._blobs.add(key)
                    self.present_blobs += 1
            return
        for d in m.manifests:
            if d.media_type in mt.INDEX_TYPES:
                self._present_entities(source.get_manifest(d.digest), source, dest, entities)
            elif entities is not None:
                entities.append(d.digest)

    def manifest(self, m: Manifest, dest: Store, tag: str | None) -> None:
        key = (id(dest), m.digest, tag)
        if key in self._manifests:
            return
        self._manifests.add(key)
        self.steps.append(_ManifestStep(m, tag, dest))

    # -- attachment discovery ----------------------------------------------------------------------

    def _known_tags(self, entities: int) -> set[str] | None:
        """The attachment store's tags, listed once, if that costs no more requests than probing
        (three legacy tags per entity); None when unknown."""
        if not self._tags_listed:
            self._tags_listed = True
            listed = self.src_attach.tags_if_cheap(max(1, 3 * entities))
            self._tags = set(listed) if listed is not None else None
        return self._tags

    def _legacy(self, tag: str, entities: int) -> Manifest | None:
        tags = self._known_tags(entities)
        if tags is not None and tag not in tags:
            return None
        try:
            return self.src_attach.get_manifest(tag)
        except NotFoundError as e:
            if tags is not None:  # listed, yet its manifest is gone
                raise _Unreadable(f"{self.src_attach.reference(tag)}: {e}")
            return None  # most entities have no .att/.sbom: absence is normal (cosign ignores 404s)
        except (InvalidManifestError, DigestMismatchError) as e:
            raise _Unreadable(f"{self.src_attach.reference(tag)}: {e}")

    def _check_readable(self, m: Manifest, source: Store, label: str) -> None:
        """Every blob of an attachment is there (small ones fetched and digest-checked), else
        ``_Unreadable`` naming it by ``label``."""
        try:
            if m.is_index:
                for d in m.manifests:
                    self._check_readable(source.get_manifest(d.digest), source, label)
                return
            for d in m.children():
                if d.size <= CHECK_FETCH_MAX:
                    source.get_blob(d)
                elif not source.has_blob(d.digest):
                    raise NotFoundError(f"blob {d.digest} is missing")
        except _UNREADABLE as e:
            raise _Unreadable(f"{label}: {e}")

    def _unreadable(self, e: _Unreadable) -> None:
        if not self.skip_unreadable:
            raise StoreError(f"cannot copy {e} (nothing was copied; plan_copy(skip_unreadable=True) "
                             "copies the rest without it)")
        self.skipped.append(str(e))

    def _referrers(self, digest: str, entities: int) -> list[Descriptor]:
        tags = self._known_tags(entities)
        if tags is not None and fallback_tag(digest) not in tags:
            # No fallback index: only the referrers API can hold any (none where there is no API).
            if self.src_attach.referrers_only_in_fallback_tag:
                return []
            return self.src_attach.referrers_without_fallback_tag(digest)
        return self.src_attach.referrers(digest)

    def attachments(self, digest: str, entities: int = 1) -> None:
        """Legacy tags and referrers of ``digest``, then recursively of what they contain/reference.
        ``entities`` is how many digests discovery is about to visit (it sizes the tag listing)."""
        if digest in self._attached_done:
            return
        self._attached_done.add(digest)
        suffixes = tuple(s for s in LEGACY_SUFFIXES if self.only is None or s in self.only)
        for suffix in suffixes:
            tag = attached_tag(digest, suffix)
            found: list[str] = []
            try:
                m = self._legacy(tag, entities)
                if m is None:
                    continue
                self.content(m, self.src_attach, self.dst_attach, tag, found,
                             check=str(self.src_attach.reference(tag)))
            except _Unreadable as e:
                self._unreadable(e)
                continue
            self.attached.append(f"{tag} ({m.digest})")
            kind = {"sig": "signatures", "att": "attestations", "sbom": "sboms"}[suffix]
            self.counts[kind] += len(m.layers) if suffix != "sbom" else 1
            for d in found:
                self.attachments(d)
        if self.only is not None:
            return  # cosign's --only names legacy kinds; referrers are not among them
        for desc in sorted(self._referrers(digest, entities), key=lambda d: d.digest):
            found = []
            label = f"referrer {self.src_attach.reference(desc.digest)}"
            try:
                try:
                    m = self.src_attach.get_manifest(desc.digest)
                except _UNREADABLE as e:
                    raise _Unreadable(f"{label}: {e}")
                self.content(m, self.src_attach, self.dst_attach, None, found, check=label)
            except _Unreadable as e:
                self._unreadable(e)
                continue
            predicate = (desc.annotations or {}).get(PREDICATE_ANNOTATION)
            shown = predicate or desc.artifact_type
            self.attached.append(f"referrer {m.digest}" + (f" ({shown})" if shown else ""))
            if predicate == SIGN_PREDICATE:
                self.counts["signatures"] += 1
            elif predicate:
                self.counts["attestations"] += 1
            for d in found:
                self.attachments(d)


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
        planner.attachments(d, len(entities))
    return CopyPlan(src, dst, root, tag, planner.steps, planner.attached, planner.present_blobs,
                    planner.skipped, planner.counts)


def execute(plan: CopyPlan, progress: ProgressFn | None = None, *,
            concurrency: int | None = None) -> CopyResult:
    """Run the steps: blobs ``concurrency`` at a time, each manifest once every blob planned before
    it has landed (planning put every blob before the manifest that needs it). The first failure, in
    plan order, is raised after the blobs already in flight finished; nothing queued starts.
    ``concurrency`` defaults to ``CONCURRENCY`` when either side is across a network, else 1 (in the
    calling thread)."""
    if concurrency is None:
        remote = any(s.dest.overlaps_io or (isinstance(s, _BlobStep) and s.source.overlaps_io)
                     for s in plan.steps)
        concurrency = CONCURRENCY if remote else 1
    result = CopyResult(plan.root.digest, plan.dst.reference(plan.root.digest), attached=list(plan.attached),
                        skipped=list(plan.skipped), counts=dict(plan.counts))
    result.blobs_skipped = plan.present_blobs
    report = _locked(progress)
    pushed: set[tuple[int, str]] = set()
    with contextlib.ExitStack() as stack:
        for store in {id(s.dest): s.dest for s in plan.steps if isinstance(s, _ManifestStep)}.values():
            stack.enter_context(store.batch())  # a layout lists every manifest in one index.json write
        _run(plan, result, report, pushed, concurrency)
    result.manifests = len(pushed)
    return result


def _run(plan: CopyPlan, result: CopyResult, report: ProgressFn | None, pushed: set[tuple[int, str]],
         concurrency: int) -> None:
    if not plan.steps:  # everything was present: no pool (nor its imports)
        return
    if concurrency <= 1:  # in order, in this thread: no pool, no concurrent.futures import
        for step in plan.steps:
            if isinstance(step, _BlobStep):
                _tally(result, step, _copy_blob(step, report))
            else:
                step.dest.put_manifest(step.manifest, step.tag)
                pushed.add((id(step.dest), step.manifest.digest))
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="sigward-copy") as pool:
        blobs = [(step, pool.submit(_copy_blob, step, report)) for step in plan.steps
                 if isinstance(step, _BlobStep)]
        done = 0  # blob futures collected so far (in plan order)
        before = 0  # blob steps planned before the current step
        try:
            for step in plan.steps:
                if isinstance(step, _BlobStep):
                    before += 1
                    continue
                while done < before:
                    _tally(result, blobs[done][0], blobs[done][1].result())
                    done += 1
                step.dest.put_manifest(step.manifest, step.tag)
                pushed.add((id(step.dest), step.manifest.digest))
            while done < len(blobs):
                _tally(result, blobs[done][0], blobs[done][1].result())
                done += 1
        except BaseException:
            for _, f in blobs[done:]:
                f.cancel()
            raise


def _tally(result: CopyResult, step: _BlobStep, transferred: bool) -> None:
    if transferred:
        result.blobs_copied += 1
        result.bytes_copied += step.desc.size
    else:  # already there, or mounted across repositories
        result.blobs_skipped += 1


def _locked(progress: ProgressFn | None) -> ProgressFn | None:
    """Progress callbacks come from several transfer threads; the callback sees one at a time."""
    if progress is None:
        return None
    lock = threading.Lock()

    def report(n: int) -> None:
        with lock:
            progress(n)

    return report


def _copy_blob(step: _BlobStep, progress: ProgressFn | None) -> bool:
    # The source stream is opened only if the destination asks for bytes (put_blob checks first).
    # A factory, not a stream: an upload that breaks off can re-read the source and resume; and the
    # source's own digest check is the only one needed.
    transferred = step.dest.put_blob(step.desc, StoreBlob(step.source, step.desc), progress=progress,
                                     mount_from=step.source)
    if not transferred and progress is not None:
        progress(step.desc.size)
    return transferred


def copy(src: Store, src_identifier: str, dst: Store, dst_tag: str | None, *,
         progress: ProgressFn | None = None, **kw: object) -> CopyResult:
    """``plan_copy`` then ``execute``; keyword arguments as for ``plan_copy``."""
    return execute(plan_copy(src, src_identifier, dst, dst_tag, **kw), progress)  # type: ignore[arg-type]
