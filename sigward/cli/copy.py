"""``sigward copy SRC DST``: cosign's copy, plus OCI 1.1 referrers, between registries and layouts."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sigward.cli.common import add_registry_flags
from sigward.cli.flags import add_go_bool

EPILOG = """\
examples:
  # copy an image, its signatures, attestations, SBOMs and referrers to another registry
  sigward copy example.com/src:latest example.com/dest:latest
  # into an on-disk OCI layout (and back)
  sigward copy example.com/app:1.0 oci:./app-layout
  # only the signatures (the destination tag is left alone)
  sigward copy --only=sig example.com/src example.com/dest
  # only one platform of a multi-platform image
  sigward copy --platform=linux/arm64 example.com/src example.com/dest
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "copy", help="copy the supplied container image and its signatures", epilog=EPILOG,
        description="Copy an image or index and everything attached to it (.sig/.att/.sbom tags and "
                    "OCI 1.1 referrers) from SRC to DST. DST without a tag takes SRC's tag.",
    )
    p.add_argument("source", metavar="SRC", help="source image (or oci:PATH[:TAG])")
    p.add_argument("destination", metavar="DST", help="destination image (or oci:PATH[:TAG])")
    p.add_argument("--only", action="append", default=[], metavar="KINDS",
                   help="copy only these attached kinds, comma separated: sig,att,sbom "
                        "(the image is copied by digest; the destination tag is not moved)")
    add_go_bool(p, "--sig-only", help="deprecated: same as --only=sig")
    add_go_bool(p, "-f", "--force", help="overwrite destination tags that point at other content")
    p.add_argument("--platform", default="", metavar="OS/ARCH[/VARIANT]",
                   help="copy only this platform's image from an index")
    add_go_bool(p, "--skip-unreadable",
                help="copy without attachments that cannot be read (each named in a warning) instead of "
                     "refusing the copy")
    add_registry_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sigward.cli.common import repository_override, store_options
    from sigward.cli.progress import human_bytes, terminal_progress
    from sigward.errors import UsageError
    from sigward.oci import digest as _digest
    from sigward.oci.reference import parse_reference
    from sigward.oci.store import open_store
    from sigward.ops.attached import attachment_store
    from sigward.ops.copy import execute, parse_only, plan_copy

    if args.sig_only:
        sys.stderr.write("--sig-only is deprecated, use --only=sig instead\n")
    only = parse_only(args.only, args.sig_only)
    src_ref = parse_reference(args.source)
    dst_ref = parse_reference(args.destination, default_tag=False)
    dst_tag = dst_ref.tag
    if dst_tag is None and dst_ref.digest is None and src_ref.digest is None:
        dst_tag = src_ref.tag
    opts = store_options(args)
    with open_store(src_ref, opts) as src, open_store(dst_ref, opts) as dst:
        src_attach = attachment_store(src_ref, opts, image_store=src, override=repository_override())
        try:
            plan = plan_copy(src, src_ref.identifier, dst, dst_tag, src_attach=src_attach,
                             only=only, force=args.force, platform=args.platform or None,
                             skip_unreadable=args.skip_unreadable)
            for item in plan.skipped:
                sys.stderr.write(f"WARNING: skipped unreadable attachment {item}\n")
            if dst_ref.digest and dst_ref.digest != plan.root.digest:
                raise UsageError(
                    f"destination {args.destination} names digest {dst_ref.digest}, but {args.source} "
                    f"is {plan.root.digest}"
                )
            with terminal_progress(plan.total_bytes, "copying") as bar:
                result = execute(plan, bar)
        finally:
            if src_attach is not src:
                src_attach.close()
        dest_text = str(dst.reference(dst_tag)) if dst_tag else str(result.reference)
        sys.stderr.write(
            f"Copied {args.source} ({_digest.hex_part(result.digest)[:12]}) to {dest_text}: "
            f"{_plural(result.manifests, 'manifest')}, {_plural(result.blobs_copied, 'blob')} "
            f"({human_bytes(result.bytes_copied)}) copied, {result.blobs_skipped} already present; "
            f"{_plural(result.counts.get('signatures', 0), 'signature')}, "
            f"{_plural(result.counts.get('attestations', 0), 'attestation')}"
            + (f", {_plural(result.counts['sboms'], 'SBOM')}" if result.counts.get("sboms") else "")
            + (f" ({len(result.skipped)} unreadable skipped)" if result.skipped else "")
            + "\n"
        )
        for item in result.attached:
            sys.stderr.write(f"  with {item}\n")
        print(result.reference)
    return 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
