"""``save`` an image with everything attached into an OCI layout directory, and ``load`` it back.

The layout is what ``cosign save`` writes: index.json entries carry cosign's ``kind`` annotation
(``dev.cosignproject.cosign/image`` or ``/imageIndex`` for the image, ``/sigs`` and ``/atts`` for the
legacy signature and attestation images), and bundle referrers sit in ``blobs/``. sigward also tags the
legacy images (``sha256-<hex>.sig``), so the layout works as an ``oci:`` store too. ``load`` reads both
its own layouts and cosign's (untagged ``kind`` entries).
"""

from __future__ import annotations

from dataclasses import dataclass

from sigward.errors import SigwardError
from sigward.oci import mediatypes as mt
from sigward.oci.layout import KIND, KIND_ATTS, KIND_IMAGE, KIND_INDEX, KIND_SIGS, REF_NAME, LayoutStore
from sigward.oci.reference import ONLY_IMAGE
from sigward.oci.store import ProgressFn, Store
from sigward.ops.attached import attached_tag
from sigward.ops.copy import copy

_LEGACY_KINDS = {"sig": KIND_SIGS, "att": KIND_ATTS}


@dataclass
class SaveResult:
    digest: str
    bytes_copied: int


def save(src: Store, identifier: str, directory: str, *, src_attach: Store | None = None,
         progress: ProgressFn | None = None) -> SaveResult:
    layout = LayoutStore(directory)
    res = copy(src, identifier, layout, None, src_attach=src_attach, dst_attach=layout, progress=progress)
    digest = res.digest
    kind = KIND_INDEX if mt.is_index(layout.resolve(digest).media_type) else KIND_IMAGE
    layout.annotate(digest, {KIND: kind})
    tags = set(layout.tags())
    for suffix, kind_value in _LEGACY_KINDS.items():
        tag = attached_tag(digest, suffix)
        if tag in tags:
            layout.annotate(layout.resolve(tag).digest, {KIND: kind_value})
    return SaveResult(digest, res.bytes_copied)


def local_image_identifier(layout: Store) -> str:
    """The digest of the image a saved layout holds (cosign's ``kind`` entry, else its only tag)."""
    if not isinstance(layout, LayoutStore):
        raise SigwardError("local_image_identifier needs a LayoutStore (an OCI layout directory)")
    entries = layout.index_entries()
    images = [e for e in entries if (e.annotations or {}).get(KIND) in (KIND_IMAGE, KIND_INDEX)]
    if len({e.digest for e in images}) == 1:
        return images[0].digest
    if len(images) > 1:
        raise SigwardError(f"{layout.name} holds more than one saved image")
    # Not written by save: the layout's only image, attachments aside (as reading `oci:PATH` does).
    return layout.resolve(ONLY_IMAGE).digest


def load(directory: str, dst: Store, dst_tag: str | None, *, dst_attach: Store | None = None,
         progress: ProgressFn | None = None) -> str:
    """Push the saved image, its legacy signature/attestation images and its referrers to ``dst``."""
    layout = LayoutStore(directory)
    digest = local_image_identifier(layout)
    attach = dst_attach or dst
    copy(layout, digest, dst, dst_tag, src_attach=layout, dst_attach=attach, progress=progress)
    # cosign-written layouts: legacy images are untagged entries marked only by `kind`.
    for e in layout.index_entries():
        kind = (e.annotations or {}).get(KIND)
        for suffix, kind_value in _LEGACY_KINDS.items():
            if kind == kind_value and not (e.annotations or {}).get(REF_NAME):
                copy(layout, e.digest, attach, attached_tag(digest, suffix), src_attach=layout,
                     dst_attach=attach, progress=progress)
    return digest
