"""``sigward tree``, ``sigward triangulate`` and ``sigward demo-image``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sigward.cli.common import add_registry_flags
from sigward.cli.flags import add_go_bool

SBOM_DEPRECATION = (
    "WARNING: SBOM attachments are deprecated and support will be removed in a Cosign release soon "
    "after 2024-02-22 (see https://github.com/sigstore/cosign/issues/2755). Instead, please use SBOM "
    "attestations."
)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "tree", help="display supply chain security related artifacts for an image",
        description="Display signatures, attestations, SBOMs and OCI 1.1 referrers attached to an "
                    "image, in a stable order.",
        epilog="example:\n  sigward tree example.com/app:latest\n  sigward tree oci:./layout:hello\n",
    )
    p.add_argument("image", metavar="IMAGE")
    add_go_bool(p, "--experimental-oci11",
                help="accepted for cosign compatibility; referrers are always listed")
    p.add_argument("--registry-referrers-mode", default="", help=argparse.SUPPRESS)
    add_registry_flags(p)
    p.set_defaults(func=run_tree)

    p = sub.add_parser(
        "triangulate", help="output the location of signatures, attestations or SBOMs for an image",
        description="Print the tag cosign stores an image's attached artifacts under.",
    )
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--type", default="signature", choices=["signature", "attestation", "sbom", "digest"],
                   help="related attachment to triangulate (default signature)")
    add_registry_flags(p)
    p.set_defaults(func=run_triangulate)

    p = sub.add_parser(
        "demo-image", help="write a small reproducible example image (no network needed)",
        description="Write a small, reproducible OCI image (two files in one gzip layer) to DEST and "
                    "print its digest reference. Same inputs give the same digest.",
        epilog="example:\n  sigward demo-image oci:./demo/layout:hello\n"
               "  sigward demo-image --platform linux/amd64,linux/arm64 localhost:5000/demo:multi\n",
    )
    p.add_argument("dest", metavar="DEST", help="where to write it: oci:PATH[:TAG] or a registry reference")
    p.add_argument("--message", default=None, help="text of /hello.txt inside the image")
    p.add_argument("--platform", action="append", default=[], metavar="OS/ARCH",
                   help="platforms (comma separated or repeated); several give an image index")
    add_registry_flags(p)
    p.set_defaults(func=run_demo_image)


def run_tree(args: argparse.Namespace) -> int:
    from sigward.cli.common import repository_override, store_options
    from sigward.oci.reference import parse_reference
    from sigward.oci.store import open_store
    from sigward.ops.attached import attachment_store
    from sigward.ops.tree import render_tree, tree_sections

    ref = parse_reference(args.image)
    opts = store_options(args)
    with open_store(ref, opts) as store:
        attach = attachment_store(ref, opts, image_store=store, override=repository_override())
        try:
            sections = tree_sections(store, ref.identifier, attach)
        finally:
            if attach is not store:
                attach.close()
    # Computed first, printed whole: a failure never leaves half a tree on stdout.
    sys.stdout.write(render_tree(args.image, sections))
    return 0


def run_triangulate(args: argparse.Namespace) -> int:
    from sigward.cli.common import repository_override, store_options
    from sigward.oci.reference import parse_reference
    from sigward.oci.store import open_store
    from sigward.ops.attached import attachment_store
    from sigward.ops.tree import triangulate

    if args.type == "sbom":
        sys.stderr.write(SBOM_DEPRECATION + "\n")
    ref = parse_reference(args.image)
    opts = store_options(args)
    with open_store(ref, opts) as store:
        attach = attachment_store(ref, opts, image_store=store, override=repository_override())
        try:
            print(triangulate(store, ref.identifier, args.type, attach))
        finally:
            if attach is not store:
                attach.close()
    return 0


def run_demo_image(args: argparse.Namespace) -> int:
    from sigward.cli.common import store_options
    from sigward.oci.reference import parse_reference
    from sigward.oci.store import open_store
    from sigward.ops.example import DEFAULT_MESSAGE, write_demo_image

    ref = parse_reference(args.dest)
    if ref.digest:
        from sigward.errors import UsageError

        raise UsageError(f"{args.dest}: give a tag (or none), not a digest: the digest is computed")
    platforms = [p.strip() for item in args.platform for p in item.split(",") if p.strip()]
    with open_store(ref, store_options(args)) as store:
        desc = write_demo_image(store, ref.tag, args.message or DEFAULT_MESSAGE, platforms or None)
        print(store.reference(desc.digest))
    return 0
