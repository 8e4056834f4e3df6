"""``sigward sign-blob`` and ``sigward verify-blob``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sigward.cli.flags import add_go_bool, add_refused
from sigward.cli.sigstore_flags import add_signing_flags, add_verification_flags

SIGN_EPILOG = """\
examples:
  # keyless (identity token from CI or a browser login), cosign v3 bundle beside the file
  sigward sign-blob --yes --bundle FILE.sigstore.json FILE
  # with a key; the signature is logged to Rekor unless --tlog-upload=false
  sigward sign-blob --key cosign.key --bundle FILE.sigstore.json FILE
  # legacy: base64 signature on stdout
  sigward sign-blob --key cosign.key --tlog-upload=false --new-bundle-format=false FILE > FILE.sig
"""
VERIFY_EPILOG = """\
examples:
  sigward verify-blob --bundle FILE.sigstore.json --certificate-identity me@example.com \\
      --certificate-oidc-issuer https://accounts.google.com FILE
  sigward verify-blob --key cosign.pub --bundle FILE.sigstore.json FILE
  sigward verify-blob --key cosign.pub --insecure-ignore-tlog=true --signature FILE.sig FILE
  # with a bundle, the file may be replaced by its digest; fully offline with --trusted-root
  sigward verify-blob --trusted-root trusted_root.json --bundle B.json --certificate-identity ... sha256:<hex>
"""


def register(sub: Any) -> None:
    p = sub.add_parser("sign-blob", help="sign a file (or stdin with -)", epilog=SIGN_EPILOG,
                       description="Sign a blob; the file is streamed, so any size works.")
    p.add_argument("blob", metavar="FILE", help="file to sign, or - for stdin")
    p.add_argument("--key", help="private key: path to a cosign key file or env://VAR")
    p.add_argument("--bundle", metavar="FILE", help="write the Sigstore bundle (or legacy bundle) here")
    add_go_bool(p, "--new-bundle-format", default=True, help="write a protobuf Sigstore bundle")
    add_go_bool(p, "--b64", default=True, help="print the legacy signature base64-encoded")
    p.add_argument("--output-signature", "--output", metavar="FILE", dest="output_signature",
                   help="write the (legacy) signature to FILE")
    p.add_argument("--signing-algorithm", default=None, help="keyless key type (ignored with --key)")
    add_refused(p, "--rfc3161-timestamp", metavar="FILE",
                reason="writing the timestamp to a separate file is not supported yet: use --bundle FILE")
    add_signing_flags(p)
    p.set_defaults(func=run_sign)

    v = sub.add_parser("verify-blob", help="verify a file's signature", epilog=VERIFY_EPILOG,
                       description="Verify a blob against a bundle or a detached signature.")
    v.add_argument("blob", metavar="FILE", help="file to verify, - for stdin, or sha256:<hex> with a bundle")
    v.add_argument("--key", help="public key: PEM file, env://VAR, certificate or cosign private key")
    v.add_argument("--bundle", metavar="FILE", help="Sigstore bundle or legacy bundle JSON")
    v.add_argument("--signature", metavar="FILE", help="detached base64 signature (legacy)")
    v.add_argument("--certificate", metavar="FILE", help="the signing certificate (legacy detached form)")
    add_go_bool(v, "--new-bundle-format", default=True, help="accepted for compatibility (auto-detected)")
    add_verification_flags(v)
    v.set_defaults(func=run_verify)


def run_sign(args: argparse.Namespace) -> int:
    from sigward.cli.common import blob_source, password_fn, pin_prompt
    from sigward.cli.sigstore_flags import material_from_flags
    from sigward.errors import UsageError

    if args.new_bundle_format and not args.bundle:
        raise UsageError("must specify --bundle with --new-bundle-format")
    from sigward.cli.sigstore_flags import check_outputs
    from sigward.fileio import write_atomic
    from sigward.keys.providers import load_signer

    check_outputs(args)
    from sigward.ops import blob

    if args.key:
        passwords = password_fn(confirm=False)
        source = blob_source(args.blob)
        sig, signer = blob.load_and_sign_blob(
            source, lambda: load_signer(args.key, passwords, pin_prompt=pin_prompt()))
        material = material_from_flags(args, signer)
    else:
        material = material_from_flags(args, None)
        sig = blob.sign_blob(blob_source(args.blob), material.signer)
    if args.new_bundle_format:
        write_atomic(args.bundle, blob.signature_bundle(sig, material))
        print(f"Wrote bundle to file {args.bundle}", file=sys.stderr)
        return 0
    import base64

    out = base64.b64encode(sig.signature) if args.b64 else sig.signature
    legacy = blob.log_legacy(sig, material, bundle=bool(args.bundle))
    if legacy is not None:
        write_atomic(args.bundle, legacy)
        print(f"Wrote bundle to file {args.bundle}", file=sys.stderr)
    if args.output_signature:
        write_atomic(args.output_signature, out)
        print(f"Signature wrote in the file {args.output_signature}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(out + b"\n")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from sigward.cli.common import blob_source, password_fn, read_input
    from sigward.cli.sigstore_flags import verification_policy
    from sigward.errors import UsageError

    if not args.bundle and not args.signature:
        raise UsageError("either --bundle or --signature must be given")
    from sigward.formats import bundle as bundle_fmt
    from sigward.ops import blob

    policy, _checks = verification_policy(args, password_fn=password_fn(confirm=False))
    cert_pem = read_input(args.certificate) if args.certificate else None
    if args.bundle:
        data = read_input(args.bundle)
        if bundle_fmt.is_bundle(data):
            blob.verify_blob_bundle(blob_source(args.blob), data, policy)
        else:
            from sigward.formats import blobbundle

            lb = blobbundle.parse(data)
            sig_b64 = lb.base64_signature.encode()
            if args.signature:
                sig_b64 = read_input(args.signature)
            blob.verify_blob_signature(blob_source(args.blob), sig_b64, policy,
                                       certificate_pem=cert_pem or lb.cert_pem, rekor_bundle=lb.rekor_bundle)
    else:
        blob.verify_blob_signature(blob_source(args.blob), read_input(args.signature), policy,
                                   certificate_pem=cert_pem)
    print("Verified OK", file=sys.stderr)
    return 0
