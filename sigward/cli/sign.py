"""``sigward sign``: parse cosign's flags, call ops.sign, report."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sigward.cli.common import add_referrers_mode, add_registry_flags
from sigward.cli.flags import add_annotations, add_format_flags, add_go_bool, add_refused
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
    legacy = p.add_argument_group("legacy format only (--new-bundle-format=false), as in cosign v3")
    legacy.add_argument("--output-signature", metavar="FILE", help="write the base64 signature to FILE")
    legacy.add_argument("--output-payload", metavar="FILE", help="write the signed payload to FILE")
    legacy.add_argument("--payload", metavar="FILE",
                        help="sign this payload file instead of generating the simple-signing payload")
    legacy.add_argument("--sign-container-identity", action="append", default=[], metavar="NAME",
                        help="the docker-reference to record in the payload instead of the image's "
                             "repository (repeatable: one signature each)")
    add_refused(legacy, "--attachment", metavar="TYPE",
                reason="signing attachments is not supported (deprecated in cosign; attest the SBOM with "
                       "`sigward attest --type spdxjson` instead)")
    add_referrers_mode(p)
    add_signing_flags(p)
    add_registry_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    from sigward.cli.common import load_key_signer, open_image, read_input, tag_warning, write_single_bundle
    from sigward.cli.flags import env_bool, parse_annotations
    from sigward.cli.sigstore_flags import material_from_flags
    from sigward.errors import UsageError
    from sigward.ops.sign import SignOptions, SignResult, sign_image

    legacy_outputs = [f for f in ("output_signature", "output_payload", "payload", "sign_container_identity")
                      if getattr(args, f)]
    if legacy_outputs and args.new_bundle_format:
        # cosign v3 ignores them on the bundle path; a silently missing file breaks a script later.
        raise UsageError(f"--{legacy_outputs[0].replace('_', '-')} applies to the legacy format only: add "
                         "--new-bundle-format=false, or use --bundle FILE to get the Sigstore bundle")
    if args.registry_referrers_mode == "oci-1-1" and not args.new_bundle_format:
        raise UsageError("--registry-referrers-mode=oci-1-1 with the legacy format is not supported yet; "
                         "the default Sigstore bundle format is always stored as an OCI 1.1 referrer")
    payload_override = read_input(args.payload) if args.payload else None
    signer = material_from_flags(args, load_key_signer(args))
    opts = SignOptions(
        annotations=parse_annotations(args.annotations),
        new_bundle_format=args.new_bundle_format,
        upload=args.upload,
        recursive=args.recursive,
        docker_media_types=env_bool("COSIGN_DOCKER_MEDIA_TYPES"),
        created=source_date_epoch(os.environ.get("SOURCE_DATE_EPOCH")),
        record_creation_timestamp=args.record_creation_timestamp,
        payload=payload_override,
    )
    if not opts.upload and not args.bundle:
        raise UsageError("--upload=false needs --bundle FILE, or the signature would be lost")
    bundles: list[bytes] = []
    legacy: list[SignResult] = []

    def keep(res: SignResult) -> None:
        if res.bundle is not None:
            bundles.append(res.bundle)
        if res.signature is not None:
            legacy.append(res)

    for text in args.images:
        ref, store, attach = open_image(text, args)
        warning = tag_warning(ref, "sign")
        if warning:
            print(warning, file=sys.stderr)
        with store:
            for identity in args.sign_container_identity or [ref.name]:
                results = sign_image(store, ref.identifier, signer, attach_store=attach, options=opts,
                                     docker_reference=identity, on_bundle=keep)
                for r in results:
                    if r.pushed:
                        print(f"Pushing signature to: {r.signature_ref}", file=sys.stderr)
                    elif r.signature_ref:
                        print(f"Signature for {r.digest} already present, not pushed again", file=sys.stderr)
    if args.bundle:
        write_single_bundle(args.bundle, bundles, "signatures")
    write_legacy_outputs(args, legacy)
    return 0


def write_legacy_outputs(args: argparse.Namespace, results: list[Any]) -> None:
    """``--output-signature``/``--output-payload``: one line per signature (cosign joins them with newlines);
    with ``--recursive`` each image gets FILE-sha256-<hex>, as cosign names them."""
    import base64

    from sigward.fileio import write_atomic

    for flag, path, part in (("signature", args.output_signature, "signature"),
                             ("payload", args.output_payload, "payload")):
        if not path:
            continue
        by_digest: dict[str, list[bytes]] = {}
        for r in results:
            value = base64.b64encode(r.signature) if part == "signature" else r.payload
            by_digest.setdefault(r.digest, []).append(value)
        for digest, values in by_digest.items():  # several images: each overwrites FILE, as in cosign
            target = f"{path}-{digest.replace(':', '-')}" if args.recursive else path
            write_atomic(target, b"\n".join(values))
            if flag == "signature":
                print(f"Signature written in {target}", file=sys.stderr)


def source_date_epoch(value: str | None) -> str | None:
    """``created`` for sign/attest: ``SOURCE_DATE_EPOCH`` as RFC 3339 (the rule: cli/common.py)."""
    from sigward.cli.common import parse_source_date_epoch, rfc3339_utc

    epoch = parse_source_date_epoch(value)
    return None if epoch is None else rfc3339_utc(epoch)
