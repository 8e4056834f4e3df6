"""``tree`` and ``triangulate``: what is attached to an image, in cosign's wording.

cosign's ``tree`` prints sections in Go map order (random from run to run) and shows referrers only
behind a flag. We print the same lines in a stable order — signatures, attestations, SBOMs, then
referrers sorted by digest — and always include referrers, so output can be diffed and scripted.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigward.errors import UsageError
from sigward.oci.store import Store
from sigward.ops.attached import ATT, SBOM, SIG, attached_tag, find_attached

PREDICATE_TYPE_ANNOTATION = "dev.sigstore.bundle.predicateType"

_LEGACY_TITLES = {
    SIG: "🔐 Signatures for an image tag",
    ATT: "💾 Attestations for an image tag",
    SBOM: "📦 SBOMs for an image tag",
}
TRIANGULATE_TYPES = ("signature", "attestation", "sbom", "digest")
_TYPE_SUFFIX = {"signature": SIG, "attestation": ATT, "sbom": SBOM}


@dataclass
class Section:
    """One ``└──`` entry: a heading and the layer digests under it."""

    heading: str
    layers: list[str]


def tree_sections(store: Store, identifier: str, attach_store: Store | None = None) -> list[Section]:
    """Sections for the artifact ``identifier`` (tag or digest) in ``store``, in our stable order."""
    digest = store.resolve(identifier).digest
    found = find_attached(store, digest, attach_store)
    where = found.store
    sections: list[Section] = []
    for suffix in (SIG, ATT, SBOM):
        m = found.legacy.get(suffix)
        if m is None or m.is_index or not m.layers:
            continue  # cosign lists a legacy tag only when it has layers
        ref = where.reference(attached_tag(digest, suffix))
        sections.append(Section(f"{_LEGACY_TITLES[suffix]}: {ref}", [d.digest for d in m.layers]))
    for desc in found.referrers:
        m = where.get_manifest(desc.digest)
        label = m.annotations.get(PREDICATE_TYPE_ANNOTATION) or desc.artifact_type or m.artifact_type
        if not label:
            continue  # cosign skips referrers without an artifact type
        layers = [] if m.is_index else [d.digest for d in m.layers]
        heading = f"🔗 {label} artifacts via OCI referrer: {where.reference(desc.digest)}"
        sections.append(Section(heading, layers))
    return sections


def render_tree(ref_text: str, sections: list[Section]) -> str:
    """cosign's text, line for line (cosign-wire-formats.md §5.4)."""
    lines = [f"📦 Supply Chain Security Related artifacts for an image: {ref_text}"]
    if not sections:
        lines.append(
            f"No Supply Chain Security Related Artifacts found for image {ref_text},\n"
            " start creating one with simply running$ sigward sign <img>"
        )
    for s in sections:
        lines.append(f"└── {s.heading}")
        for i, layer in enumerate(s.layers):
            sym = "   └──" if i == len(s.layers) - 1 else "   ├──"
            lines.append(f"{sym} 🍒 {layer}")
    return "\n".join(lines) + "\n"


def triangulate(store: Store, identifier: str, kind: str = "signature",
                attach_store: Store | None = None) -> str:
    """Where cosign would look for ``kind``: ``repo:sha256-<hex>.sig`` …, or ``repo@sha256:<hex>``."""
    if kind not in TRIANGULATE_TYPES:
        raise UsageError(f"unknown attachment type {kind}")
    digest = store.resolve(identifier).digest
    where = attach_store or store
    if kind == "digest":
        return f"{where.name}@{digest}"
    return f"{where.name}:{attached_tag(digest, _TYPE_SUFFIX[kind])}"
