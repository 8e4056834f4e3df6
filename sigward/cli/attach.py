"""``attach signature``, ``download signature``, ``clean`` and ``generate`` (cosign's names and flags)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sigward.cli.common import add_registry_flags
from sigward.cli.flags import add_annotations, add_go_bool, add_refused


def register(sub: Any) -> None:
    from sigward.cli.attest import register_attach, register_download

    attach = sub.add_parser("attach", help="attach signatures, SBOMs and attestations to an image")
    asub = attach.add_subparsers(dest="attach_what", metavar="WHAT", parser_class=type(attach))
    s = asub.add_parser("signature", help="attach a signature made elsewhere to an image",
                        description="Append a detached signature to the image's .sig image, or push a "
                                    "Sigstore bundle given as --payload as a referrer.")
    s.add_argument("image", metavar="IMAGE")
    s.add_argument("--signature", required=True, metavar="FILE", help="base64 signature file, or - for stdin")
    s.add_argument("--payload", metavar="FILE",
                   help="the signed payload (default: the simple-signing payload for the image)")
    s.add_argument("--certificate", metavar="FILE", help="signing certificate PEM")
    s.add_argument("--certificate-chain", metavar="FILE", help="certificate chain PEM")
    s.add_argument("--rekor-response", metavar="FILE", help="legacy bundle JSON whose rekorBundle to attach")
    s.add_argument("--tsr", metavar="FILE", help="RFC 3161 timestamp response (DER)")
    add_refused(s, "--bundle", metavar="FILE",
                reason="not supported yet: pass the legacy bundle as --rekor-response, or attach a Sigstore "
                       "bundle with --payload")
    add_registry_flags(s)
    s.set_defaults(func=run_attach_signature)
    register_attach(asub)
    attach.set_defaults(func=lambda a: _need_sub(attach))

    download = sub.add_parser("download", help="download signatures, SBOMs and attestations")
    dsub = download.add_subparsers(dest="download_what", metavar="WHAT", parser_class=type(download))
    d = dsub.add_parser("signature", help="print each signature of an image as one JSON line")
    d.add_argument("image", metavar="IMAGE")
    add_registry_flags(d)
    d.set_defaults(func=run_download_signature)
    register_download(dsub)
    download.set_defaults(func=lambda a: _need_sub(download))

    c = sub.add_parser("clean", help="remove signatures, attestations, SBOMs and bundle referrers",
                       description="Delete what is attached to an image.")
    c.add_argument("image", metavar="IMAGE")
    c.add_argument("--type", default="all", choices=["signature", "attestation", "sbom", "referrer", "all"],
                   help="what to remove (default all)")
    add_go_bool(c, "-f", "--force", help="do not ask for confirmation")
    add_registry_flags(c)
    c.set_defaults(func=run_clean)

    g = sub.add_parser("generate", help="print the payload a legacy signature of IMAGE would sign")
    g.add_argument("image", metavar="IMAGE")
    add_annotations(g, "extra key=value pairs to put in the payload")
    add_registry_flags(g)
    g.set_defaults(func=run_generate)
    register_saveload(sub)


def _need_sub(p: Any) -> int:
    p.print_help(sys.stderr)
    return 1


def run_attach_signature(args: argparse.Namespace) -> int:
    from sigward.cli.common import open_image, read_input
    from sigward.ops.manage import attach_signature

    ref, store, attach = open_image(args.image, args)
    rekor = None
    if args.rekor_response:
        from sigward.formats import blobbundle

        lb = blobbundle.parse(read_input(args.rekor_response))
        if lb.rekor_bundle is not None:
            rekor = lb.rekor_bundle.marshal().decode()
    tsr = None
    if args.tsr:
        from sigward.formats.rekorbundle import rfc3161_annotation

        tsr = rfc3161_annotation(read_input(args.tsr))
    with store:
        res = attach_signature(
            store, ref.identifier, read_input(args.signature).decode().strip(), attach_store=attach,
            payload=read_input(args.payload) if args.payload else None, docker_reference=ref.name,
            certificate_pem=read_input(args.certificate).decode() if args.certificate else None,
            chain_pem=read_input(args.certificate_chain).decode() if args.certificate_chain else None,
            rekor_bundle_json=rekor, timestamp_json=tsr,
        )
    print(f"Pushed signature for {res.digest} to {res.where}", file=sys.stderr)
    return 0


def run_download_signature(args: argparse.Namespace) -> int:
    from sigward.cli.common import open_image
    from sigward.ops.manage import download_signatures

    ref, store, attach = open_image(args.image, args)
    with store:
        for line in download_signatures(store, ref.identifier, attach):
            sys.stdout.buffer.write(line + b"\n")
    return 0


def run_clean(args: argparse.Namespace) -> int:
    from sigward.cli.common import open_image
    from sigward.errors import UsageError
    from sigward.ops.manage import bundle_referrers, clean

    if not args.force:
        msg = {"signature": "all signatures", "attestation": "all attestations", "sbom": "all SBOMs",
               "referrer": "all bundle referrers"}.get(args.type, "all signatures, SBOMs and attestations")
        prompt = f"WARNING: this will remove {msg} from the image, are you sure? [y/N] "
        if not sys.stdin.isatty():
            raise UsageError("refusing to clean without confirmation: pass -f/--force")
        sys.stderr.write(prompt)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            print("aborted", file=sys.stderr)
            return 1
    ref, store, attach = open_image(args.image, args)
    with store:
        removed = clean(store, ref.identifier, args.type, attach)
        # cosign v3 signs as bundle referrers, which --type signature/attestation do not touch: say so.
        remaining = (bundle_referrers(store, ref.identifier, attach)
                     if args.type in ("signature", "attestation") else [])
    for what in removed:
        print(f"Removed {what} from {ref}", file=sys.stderr)
    if remaining:
        print(f"WARNING: image has {len(remaining)} Sigstore bundle referrer(s) (signatures and attestations "
              "in cosign v3's format), consider using --type referrer or --type all", file=sys.stderr)
    elif not removed:
        print(f"Nothing to remove from {ref}", file=sys.stderr)
    return 0


def run_generate(args: argparse.Namespace) -> int:
    from sigward.cli.common import open_image
    from sigward.cli.flags import parse_annotations
    from sigward.ops.manage import generate_payload

    ref, store, _ = open_image(args.image, args)
    with store:
        payload = generate_payload(store, ref.identifier, ref.name, parse_annotations(args.annotations))
    sys.stdout.buffer.write(payload)
    return 0


def register_saveload(sub: Any) -> None:
    s = sub.add_parser("save", help="save an image and its signatures to an OCI layout directory",
                       description="Write IMAGE, its signatures, attestations and referrers to --dir "
                                   "(an OCI image layout, as `cosign save`).")
    s.add_argument("image", metavar="IMAGE")
    s.add_argument("--dir", required=True, help="directory to write the OCI layout to")
    add_registry_flags(s)
    s.set_defaults(func=run_save)
    ld = sub.add_parser("load", help="push an image saved with `save` to a registry or layout",
                        description="Push the image in --dir, with everything attached, to IMAGE.")
    ld.add_argument("image", metavar="IMAGE")
    ld.add_argument("--dir", required=True, help="OCI layout written by `save` (or `cosign save`)")
    add_registry_flags(ld)
    ld.set_defaults(func=run_load)


def run_save(args: argparse.Namespace) -> int:
    from sigward.cli.common import open_image
    from sigward.cli.progress import for_terminal
    from sigward.ops.saveload import save

    ref, store, attach = open_image(args.image, args)
    with store:
        res = save(store, ref.identifier, args.dir, src_attach=attach, progress=for_terminal(0, "save"))
    print(f"Saved {res.digest} to {args.dir}", file=sys.stderr)
    return 0


def run_load(args: argparse.Namespace) -> int:
    from sigward.cli.common import open_image
    from sigward.cli.progress import terminal_progress
    from sigward.ops.saveload import load

    ref, store, attach = open_image(args.image, args)
    with store, terminal_progress(None, "loading") as bar:
        digest = load(args.dir, store, ref.tag, dst_attach=attach, progress=bar)
    print(store.reference(digest))
    return 0
