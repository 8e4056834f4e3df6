"""``sigward sign``: parse cosign's flags, call ops.sign, report."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sigward.cli.common import add_registry_flags
from sigward.cli.flags import add_annotations, add_go_bool

EPILOG = """\
examples:
  # sign an image in a registry with a key pair (cosign v3 bundle format, stored as an OCI 1.1 referrer)
  sigward sign --key cosign.key --tlog-upload=false registry.example.com/app@sha256:...
  # add annotations the verifier can require with -a
  sigward sign --key cosign.key --tlog-upload=false -a imageRef=refs/tags/0.5.0 IMAGE
  # the legacy format (sha256-<hex>.sig tag), readable by cosign v2
  sigward sign --key cosign.key --tlog-upload=false --new-bundle-format=false IMAGE
  # an image in an on-disk OCI layout
  sigward sign --key cosign.key --tlog-upload=false oci:./layout:hello
"""


def register(sub: Any) -> None:
    p = sub.add_parser("sign", help="sign an image or other OCI artifact", epilog=EPILOG,
                       description="Sign the supplied artifact by digest.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image reference (tag or digest, or oci:PATH)")
    p.add_argument("--key", help="private key: path to a cosign key file or env://VAR")
    add_annotations(p, "extra key=value pairs to sign (verifiers can require them with -a)")
    add_go_bool(p, "-r", "--recursive",
                help="if the image is an index, also sign every manifest it lists")
    add_go_bool(p, "--upload", default=True, help="push the signature to the registry or layout")
    p.add_argument("--bundle", metavar="FILE", help="also write the Sigstore bundle to FILE")
    add_go_bool(p, "--new-bundle-format", default=True,
                help="write a Sigstore bundle as an OCI 1.1 referrer (false: the legacy .sig image)")
    add_go_bool(p, "--use-signing-config", default=True,
                help="take service URLs from a signing config (keyless; accepted for compatibility)")
    add_go_bool(p, "--tlog-upload", default=True, help="upload the signature to the transparency log")
    add_go_bool(p, "-y", "--yes", help="skip confirmation prompts")
    p.add_argument("--identity-token", help=argparse.SUPPRESS)
    add_registry_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    from sigward.cli.common import open_image, password_fn, require_key_signing, tag_warning
    from sigward.cli.flags import env_bool, parse_annotations
    from sigward.errors import UsageError
    from sigward.ops.sign import SignOptions, SignResult, sign_image

    require_key_signing(args)
    from sigward.keys.signer import load_signer

    signer = load_signer(args.key, password_fn(confirm=False))
    opts = SignOptions(
        annotations=parse_annotations(args.annotations),
        new_bundle_format=args.new_bundle_format,
        upload=args.upload,
        recursive=args.recursive,
        docker_media_types=env_bool("COSIGN_DOCKER_MEDIA_TYPES"),
        created=_source_date_epoch(os.environ.get("SOURCE_DATE_EPOCH")),
    )
    if not opts.upload and not args.bundle:
        raise UsageError("--upload=false needs --bundle FILE, or the signature would be lost")
    bundles: list[bytes] = []

    def keep(res: SignResult) -> None:
        if res.bundle is not None:
            bundles.append(res.bundle)

    for text in args.images:
        ref, store, attach = open_image(text, args)
        warning = tag_warning(ref, "sign")
        if warning:
            print(warning, file=sys.stderr)
        with store:
            results = sign_image(store, ref.identifier, signer, attach_store=attach, options=opts,
                                 docker_reference=ref.name, on_bundle=keep)
        for r in results:
            if r.pushed:
                print(f"Pushing signature to: {r.signature_ref}", file=sys.stderr)
            elif r.signature_ref:
                print(f"Signature for {r.digest} already present, not pushed again", file=sys.stderr)
    if args.bundle:
        if len(bundles) != 1:
            raise UsageError(f"--bundle writes one bundle, but {len(bundles)} signatures were made")
        from sigward.fileio import write_atomic

        write_atomic(args.bundle, bundles[0])
        print(f"Wrote bundle to file {args.bundle}", file=sys.stderr)
    return 0


def _source_date_epoch(value: str | None) -> str | None:
    if not value:
        return None
    import time

    from sigward.errors import UsageError

    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(value)))
    except ValueError:
        raise UsageError(f"SOURCE_DATE_EPOCH must be an integer, got {value!r}")
