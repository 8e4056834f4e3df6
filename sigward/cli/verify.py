"""``sigward verify``: parse cosign's flags, call ops.verify, render cosign's output."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from sigward.cli.common import add_registry_flags
from sigward.cli.flags import add_annotations, add_go_bool, add_refused
from sigward.cli.render import verification_header
from sigward.cli.sigstore_flags import add_verification_flags

if TYPE_CHECKING:
    from sigward.ops.verify import VerifyOptions
    from sigward.sigstore.policy import Checks, Policy

EPILOG = """\
examples:
  # keyless: who signed (identity + OIDC issuer), and an annotation the signer added with -a
  sigward verify --certificate-identity-regexp 'https://github.com/org/repo/' \\
      --certificate-oidc-issuer https://token.actions.githubusercontent.com -a imageRef=refs/tags/0.5.0 IMAGE
  # fully offline, against a private instance's trusted root
  sigward verify --trusted-root trusted_root.json --certificate-identity me@example.com \\
      --certificate-oidc-issuer https://issuer.example.com IMAGE
  # with a public key; the JSON of each verified signature goes to stdout
  sigward verify --key cosign.pub registry.example.com/app@sha256:...
  sigward verify --key cosign.pub --insecure-ignore-tlog=true IMAGE
  # an image in an OCI layout, or a directory written by `sigward save`
  sigward verify --key cosign.pub --insecure-ignore-tlog=true oci:./layout:hello
  sigward verify --key cosign.pub --insecure-ignore-tlog=true --local-image ./saved

exit codes (as cosign v3): 10 no signatures found, 11 image tag not found, 12 no matching signatures in the
legacy .sig format, 13 no certificate on the signature, 1 any other error -- including no matching
signatures among Sigstore bundles (the default format), where cosign v3 also exits 1.
"""

WARN_TLOG = (
    "WARNING: Skipping tlog verification is an insecure practice that lacks transparency and "
    "auditability verification for the signature."
)


def register(sub: Any) -> None:
    p = sub.add_parser("verify", help="verify the signatures of an image", epilog=EPILOG,
                       description="Verify signatures on the supplied image (by tag or digest).")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image reference, or oci:PATH")
    add_verify_flags(p)
    p.set_defaults(func=run)


def add_verify_flags(p: Any) -> None:
    """Every flag of ``verify`` (also those of ``manifest verify`` and ``dockerfile verify``)."""
    p.add_argument("--key", help="public key: PEM file, env://VAR, certificate, or cosign private key")
    add_annotations(p, "require this key=value annotation on the signature (repeatable)")
    add_go_bool(p, "--check-claims", default=True,
                help="check that the signed payload names the image digest and the annotations")
    add_go_bool(p, "--new-bundle-format", default=True,
                help="look for Sigstore bundle referrers first (false: only the legacy .sig image)")
    p.add_argument("-o", "--output", default="json", choices=["json", "text"],
                   help="output format for the verified payloads (default json)")
    add_go_bool(p, "--local-image",
                help="the IMAGE argument is an OCI layout directory (as written by `sigward save`)")
    p.add_argument("--signature-digest-algorithm", default="sha256", help=argparse.SUPPRESS)
    p.add_argument("--max-workers", type=int, default=10, help=argparse.SUPPRESS)
    add_refused(p, "--certificate", metavar="FILE",
                reason="a separate certificate is not read here; the signatures carry theirs (bundles)")
    fetched = "signatures are read from the registry (deprecated in cosign): verify the image itself"
    add_refused(p, "--signature", metavar="FILE", reason=fetched)
    add_refused(p, "--payload", metavar="FILE", reason=fetched)
    add_refused(p, "--attachment", metavar="TYPE",
                reason="verifying attachments is not supported (deprecated in cosign): verify an SBOM "
                       "attestation with `sigward verify-attestation --type spdxjson`")
    add_verification_flags(p)
    add_registry_flags(p)


def run(args: argparse.Namespace) -> int:
    from sigward.cli import render
    from sigward.cli.flags import parse_annotations
    from sigward.ops.verify import verify_image

    annotations = parse_annotations(args.annotations)
    policy, checks, opts = image_verify_options(args, annotations=annotations, check_claims=args.check_claims,
                                                new_bundle_format=args.new_bundle_format)
    for text in args.images:
        ref, store, attach = open_verify_target(text, args)
        with store:
            identifier = image_identifier(ref, store, args)
            result = verify_image(store, identifier, policy, attach_store=attach, options=opts)
        shown = text if args.local_image else ref  # cosign names a --local-image target as typed
        print(verification_header(shown, check_claims=args.check_claims, annotations=bool(annotations),
                                  tlog=not checks.ignore_tlog, key=bool(args.key)), file=sys.stderr)
        if args.output == "text":
            for s in result.signatures:
                sys.stdout.write(s.payload.decode("utf-8", "replace") + "\n")
        else:
            sys.stdout.write("\n" + render.signatures_json(result.signatures, str(ref), result.digest) + "\n")
        sys.stdout.flush()
    return 0


def image_verify_options(args: argparse.Namespace, **extra: Any) -> tuple[Policy, Checks, VerifyOptions]:
    """(policy, its checks, VerifyOptions) from the verification flags, for every command that verifies
    an image (verify, verify-attestation, image build); warns when the log check is switched off."""
    from sigward.cli.common import password_fn
    from sigward.cli.sigstore_flags import verification_policy
    from sigward.ops.verify import VerifyOptions

    policy, checks = verification_policy(args, password_fn=password_fn(confirm=False))
    if checks.ignore_tlog:
        print(WARN_TLOG, file=sys.stderr)
    return policy, checks, VerifyOptions(**extra)


def open_verify_target(text: str, args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from sigward.cli.common import open_image

    if args.local_image:
        return open_image(f"oci:{text}", args)
    return open_image(text, args)


def image_identifier(ref: Any, store: Any, args: argparse.Namespace) -> str:
    if args.local_image:
        from sigward.ops.saveload import local_image_identifier

        return local_image_identifier(store)
    return str(ref.identifier)
