"""``sigward sign``: parse cosign's flags, call ops.sign, report."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sigward.cli.common import add_registry_flags
from sigward.cli.flags import add_annotations, add_format_flags, add_go_bool
from sigward.cli.sigstore_flags import add_signing_flags

EPILOG = """\
examples:
  # keyless, in CI (GitHub Actions with `permissions: id-token: write`, or GitLab `id_tokens`):
  sigward sign --yes -a imageRef=refs/tags/0.5.0 registry.example.com/app@sha256:...
  # keyless against a private Sigstore instance
  sigward sign --trusted-root trusted_root.json --signing-config signing_config.json IMAGE
  # with a key pair; the signature is also logged to Rekor unless --tlog-upload=false
  sigward sign --key cosign.key IMAGE
  sigward sign --key cosign.key --tlog-upload=false oci:./layout:hello
  # the legacy format (sha256-<hex>.sig tag), readable by cosign v2
  sigward sign --key cosign.key --new-bundle-format=false --use-signing-config=false IMAGE

The signature is a Sigstore bundle stored as an OCI 1.1 referrer of the image (cosign v3's format).
Keyless signing takes an identity token from --identity-token, SIGSTORE_ID_TOKEN, the CI's ambient
credentials, or a browser login, in that order.
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
    add_format_flags(p, ".sig")
    add_signing_flags(p)
    add_registry_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    from sigward.cli.common import load_key_signer, open_image, tag_warning, write_single_bundle
    from sigward.cli.flags import env_bool, parse_annotations
    from sigward.cli.sigstore_flags import material_from_flags
    from sigward.errors import UsageError
    from sigward.ops.sign import SignOptions, SignResult, sign_image

    signer = material_from_flags(args, load_key_signer(args))
    opts = SignOptions(
        annotations=parse_annotations(args.annotations),
        new_bundle_format=args.new_bundle_format,
        upload=args.upload,
        recursive=args.recursive,
        docker_media_types=env_bool("COSIGN_DOCKER_MEDIA_TYPES"),
        created=source_date_epoch(os.environ.get("SOURCE_DATE_EPOCH")),
        record_creation_timestamp=args.record_creation_timestamp,
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
        write_single_bundle(args.bundle, bundles, "signatures")
    return 0


def source_date_epoch(value: str | None) -> str | None:
    """``created`` for sign/attest: ``SOURCE_DATE_EPOCH`` as RFC 3339 (the rule: cli/common.py)."""
    from sigward.cli.common import parse_source_date_epoch, rfc3339_utc

    epoch = parse_source_date_epoch(value)
    return None if epoch is None else rfc3339_utc(epoch)
