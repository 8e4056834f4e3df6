"""``attest``, ``verify-attestation``, ``attest-blob``, ``verify-blob-attestation``, and the
``attach sbom|attestation`` / ``download attestation|sbom`` subcommands (cosign's names and flags)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from sigward.cli.common import add_referrers_mode, add_registry_flags
from sigward.cli.flags import add_format_flags, add_go_bool, add_refused
from sigward.cli.sigstore_flags import add_signing_flags, add_verification_flags

if TYPE_CHECKING:
    from sigward.ops.verify import VerifyOptions
    from sigward.sigstore.policy import Checks, Policy

ATTEST_EPILOG = """\
examples:
  # a custom predicate (any file, carried as a string), keyless in CI
  sigward attest --yes --predicate notes.txt IMAGE
  # an SBOM, with a key, stored as a Sigstore bundle referrer of the image
  sigward attest --key cosign.key --type cyclonedx --predicate bom.json IMAGE
  # the legacy format: appended to the sha256-<hex>.att image
  sigward attest --key cosign.key --type slsaprovenance --predicate prov.json \\
      --new-bundle-format=false --use-signing-config=false IMAGE

--type takes custom (default), slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson,
cyclonedx, link, vuln, openvex, or any predicate type URI.
"""
VERIFY_EPILOG = """\
examples:
  sigward verify-attestation --key cosign.pub --type cyclonedx IMAGE
  sigward verify-attestation --certificate-identity me@example.com \\
      --certificate-oidc-issuer https://accounts.google.com --type slsaprovenance --policy policy.rego IMAGE

A policy is Rego (package signature); the attestation passes only if data.signature.allow is true.
The statement is the policy's input. Each verified DSSE envelope is printed on its own line.
"""


def add_rekor_entry_type(p: Any) -> None:
    """cosign's ``--rekor-entry-type`` (deprecated): sigward logs attestations as ``dsse`` entries only."""
    p.add_argument("--rekor-entry-type", choices=["dsse"], default="dsse",
                   help="Rekor entry type for attestations: dsse (intoto is not supported)")


def register(sub: Any) -> None:
    p = sub.add_parser("attest", help="attest to an image with an in-toto statement", epilog=ATTEST_EPILOG,
                       description="Sign a predicate about IMAGE (an in-toto attestation) and attach it.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image reference (tag or digest, or oci:PATH)")
    p.add_argument("--key", help="private key: path to a cosign key file or env://VAR")
    p.add_argument("--predicate", required=True, metavar="FILE", help="the predicate file (- for stdin)")
    p.add_argument("--type", default="custom", help="predicate type: a short name or a URI (default custom)")
    add_go_bool(p, "--replace", help="legacy format: drop existing attestations of the same predicate type")
    add_go_bool(p, "--no-upload", help="print the envelope instead of uploading the attestation")
    p.add_argument("--bundle", metavar="FILE", help="also write the Sigstore bundle to FILE")
    add_refused(p, "--statement", metavar="FILE",
                reason="attesting a prepared statement to an image is not supported yet; pass its predicate "
                       "with --predicate and --type")
    add_rekor_entry_type(p)
    add_format_flags(p, ".att")
    add_signing_flags(p)
    add_registry_flags(p)
    p.set_defaults(func=run_attest)

    v = sub.add_parser("verify-attestation", help="verify the attestations of an image", epilog=VERIFY_EPILOG,
                       description="Verify attestations on IMAGE, select them by predicate type, and "
                                   "check them against policies.")
    v.add_argument("images", nargs="+", metavar="IMAGE", help="image reference, or oci:PATH")
    v.add_argument("--key", help="public key: PEM file, env://VAR, certificate, or cosign private key")
    v.add_argument("--type", default="custom", help="predicate type to select (default custom)")
    v.add_argument("--policy", action="append", default=[], metavar="FILE",
                   help="Rego policy (.rego) the statement must satisfy (repeatable)")
    add_go_bool(v, "--check-claims", default=True, help="check that the statement's subject is the image")
    add_go_bool(v, "--new-bundle-format", default=True,
                help="look for Sigstore bundle referrers first (false: only the legacy .att image)")
    add_go_bool(v, "--local-image", help="the IMAGE argument is an OCI layout directory (`sigward save`)")
    v.add_argument("-o", "--output", default="json", help=argparse.SUPPRESS)
    v.add_argument("--max-workers", type=int, default=10, help=argparse.SUPPRESS)
    add_verification_flags(v)
    add_registry_flags(v)
    v.set_defaults(func=run_verify_attestation)

    b = sub.add_parser("attest-blob", help="attest to a file with an in-toto statement",
                       description="Sign a predicate about a blob; the statement names the file and its "
                                   "sha256.")
    b.add_argument("blob", nargs="?", metavar="FILE", help="the file the statement is about")
    b.add_argument("--key", help="private key: path to a cosign key file or env://VAR")
    b.add_argument("--predicate", metavar="FILE", help="the predicate file")
    b.add_argument("--type", default="custom", help="predicate type: a short name or a URI")
    b.add_argument("--statement", metavar="FILE", help="sign this in-toto statement as it is")
    b.add_argument("--hash", metavar="HEX", help="the blob's sha256 (hex), instead of reading FILE")
    b.add_argument("--bundle", metavar="FILE", help="write the Sigstore bundle (or legacy bundle) here")
    b.add_argument("--output-signature", metavar="FILE", help="legacy: write the envelope to FILE")
    add_refused(b, "--output-attestation", metavar="FILE",
                reason="not supported yet: use --bundle FILE (the bundle holds the attestation)")
    add_refused(b, "--rfc3161-timestamp-bundle", metavar="FILE",
                reason="not supported yet: use --bundle FILE (the bundle holds the timestamp)")
    add_rekor_entry_type(b)
    add_go_bool(b, "--new-bundle-format", default=True, help="write a protobuf Sigstore bundle")
    add_signing_flags(b)
    b.set_defaults(func=run_attest_blob)

    vb = sub.add_parser("verify-blob-attestation", help="verify a file's attestation",
                        description="Verify an attestation bundle (or legacy envelope) about a blob.")
    vb.add_argument("blob", nargs="?", metavar="FILE",
                    help="the file (or sha256:<hex>) the attestation is about")
    vb.add_argument("--key", help="public key: PEM file, env://VAR, certificate or cosign private key")
    vb.add_argument("--bundle", metavar="FILE", help="Sigstore bundle, or legacy bundle JSON")
    vb.add_argument("--signature", metavar="FILE", help="legacy: the DSSE envelope (JSON or base64)")
    vb.add_argument("--type", default=None, help="require this predicate type")
    vb.add_argument("--digest", metavar="HEX", help="the blob's digest, instead of FILE")
    vb.add_argument("--digestAlg", "--digest-alg", dest="digest_alg", default="sha256",
                    help="algorithm of --digest (default sha256)")
    add_go_bool(vb, "--check-claims", default=True, help="check that the statement's subject is the blob")
    add_go_bool(vb, "--new-bundle-format", default=True, help="accepted for compatibility (auto-detected)")
    add_verification_flags(vb)
    vb.set_defaults(func=run_verify_blob_attestation)


# --- attach / download subcommands (groups created by cli.attach) ---------------------------------


def register_attach(asub: Any) -> None:
    """``attach sbom`` and ``attach attestation``, in the ``attach`` group of cli.attach."""
    s = asub.add_parser("sbom", help="attach an SBOM to an image (the .sbom tag)",
                        description="Push an SBOM file as the image's sha256-<hex>.sbom artifact.")
    s.add_argument("image", metavar="IMAGE")
    s.add_argument("--sbom", required=True, metavar="FILE", help="the SBOM file")
    s.add_argument("--type", default="spdx", help="spdx|spdxjson|cyclonedx|syft (default spdx)")
    s.add_argument("--input-format", default="", help="json|xml|text (default: from the file name)")
    add_referrers_mode(s)
    add_registry_flags(s)
    s.set_defaults(func=run_attach_sbom)
    a = asub.add_parser("attestation", help="attach attestations made elsewhere to an image",
                        description="Attach DSSE envelopes (appended to .att) or a Sigstore bundle "
                                    "(pushed as a referrer).")
    a.add_argument("image", metavar="IMAGE")
    a.add_argument("--attestation", action="append", required=True, metavar="FILE",
                   help="envelope(s) or bundle file (repeatable)")
    add_registry_flags(a)
    a.set_defaults(func=run_attach_attestation)



def register_download(dsub: Any) -> None:
    """``download attestation`` and ``download sbom``, in the ``download`` group of cli.attach."""
    d = dsub.add_parser("attestation", help="print each attestation of an image as one JSON line")
    d.add_argument("image", metavar="IMAGE")
    d.add_argument("--predicate-type", default=None, help="only attestations of this predicate type")
    d.add_argument("--platform", default=None, metavar="OS/ARCH[/VARIANT]",
                   help="for an image index: the attestations of this platform's image")
    add_registry_flags(d)
    d.set_defaults(func=run_download_attestation)
    ds = dsub.add_parser("sbom", help="write the image's SBOM to stdout")
    ds.add_argument("image", metavar="IMAGE")
    ds.add_argument("--platform", default=None, metavar="OS/ARCH[/VARIANT]",
                    help="for an image index: the SBOM of this platform's image")
    add_registry_flags(ds)
    ds.set_defaults(func=run_download_sbom)


# --- runners ---------------------------------------------------------------------------------------


def run_attest(args: argparse.Namespace) -> int:
    import os

    from sigward.cli.common import load_key_signer, open_image, read_input, tag_warning, write_single_bundle
    from sigward.cli.flags import env_bool
    from sigward.cli.sign import source_date_epoch
    from sigward.cli.sigstore_flags import material_from_flags
    from sigward.errors import UsageError
    from sigward.formats import intoto
    from sigward.ops.attest import AttestOptions, attest_image

    intoto.predicate_type_for(args.type)  # a bad --type fails before any key is unlocked
    predicate = read_input(args.predicate)
    if args.no_upload and args.new_bundle_format and not args.bundle and len(args.images) > 1:
        raise UsageError("--no-upload with several images prints one envelope per image; pass one image")
    signer = material_from_flags(args, load_key_signer(args))
    opts = AttestOptions(
        type_name=args.type, predicate=predicate, new_bundle_format=args.new_bundle_format,
        upload=not args.no_upload, replace=args.replace,
        docker_media_types=env_bool("COSIGN_DOCKER_MEDIA_TYPES"),
        created=source_date_epoch(os.environ.get("SOURCE_DATE_EPOCH")),
        record_creation_timestamp=args.record_creation_timestamp,
    )
    bundles = []
    for text in args.images:
        ref, store, attach = open_image(text, args)
        warning = tag_warning(ref, "attest")
        if warning:
            print(warning, file=sys.stderr)
        with store:
            res = attest_image(store, ref.identifier, signer, attach_store=attach, options=opts,
                               subject_name=ref.name)
        if res.pushed:
            print(f"Pushing attestation to: {res.where}", file=sys.stderr)
        else:
            sys.stdout.buffer.write(res.envelope + b"\n")
        if res.bundle is not None:
            bundles.append(res.bundle)
    if args.bundle:
        write_single_bundle(args.bundle, bundles, "attestations")
    return 0


def _verification_options(args: argparse.Namespace) -> tuple[Policy, Checks, VerifyOptions]:
    from sigward.cli.verify import image_verify_options

    return image_verify_options(args, check_claims=args.check_claims,
                                new_bundle_format=args.new_bundle_format)


def run_verify_attestation(args: argparse.Namespace) -> int:
    from sigward.cli import render
    from sigward.cli.render import verification_header
    from sigward.cli.verify import image_identifier, open_verify_target
    from sigward.formats import intoto
    from sigward.ops.attest import verify_attestations
    from sigward.policy import load_policies

    intoto.predicate_type_for(args.type)
    # Before any network: a bad policy is the user's first problem. The CLI, not the policy layer, looks
    # for `cue` (SIGWARD_CUE, else PATH) and only when a .cue policy is given.
    cue = None
    if any(p.endswith(".cue") for p in args.policy):
        import os
        import shutil

        cue = os.environ.get("SIGWARD_CUE") or shutil.which("cue")
    policies = load_policies(args.policy, cue=cue)
    policy, checks, opts = _verification_options(args)
    for text in args.images:
        ref, store, attach = open_verify_target(text, args)
        with store:
            identifier = image_identifier(ref, store, args)
            result = verify_attestations(store, identifier, policy, attach_store=attach, options=opts,
                                         type_name=args.type, policies=policies)
        shown = text if args.local_image else ref  # cosign names a --local-image target as typed
        print(verification_header(shown, check_claims=args.check_claims, annotations=False,
                                  tlog=not checks.ignore_tlog, key=bool(args.key)), file=sys.stderr)
        for a in result.attestations:
            sys.stdout.buffer.write(render.attestation_line(a) + b"\n")
        sys.stdout.flush()
    return 0


def run_attest_blob(args: argparse.Namespace) -> int:
    import os

    from sigward.cli.common import load_key_signer, read_input
    from sigward.cli.sigstore_flags import material_from_flags
    from sigward.errors import UsageError
    from sigward.fileio import write_atomic
    from sigward.formats import intoto
    from sigward.ops.attest import AttestOptions, attest_blob, attest_blob_statement

    if args.new_bundle_format and not args.bundle:
        raise UsageError("must specify --bundle with --new-bundle-format")
    if args.statement:
        statement = read_input(args.statement)
        intoto.parse_statement(statement)  # must be a statement; signed as it is
    else:
        if not args.predicate:
            raise UsageError("one of --predicate or --statement is required")
        intoto.predicate_type_for(args.type)
        if args.hash:
            digest_hex = args.hash.lower()
            if len(digest_hex) != 64 or any(c not in "0123456789abcdef" for c in digest_hex):
                raise UsageError("--hash must be a sha256 digest in hex")
        elif args.blob:
            from sigward.cli.common import blob_source
            from sigward.ops.blob import hash_file

            digest_hex = hash_file(blob_source(args.blob), "sha256").hex()
        else:
            raise UsageError("attest-blob needs the FILE argument (or --hash)")
        name = os.path.basename(args.blob) if args.blob else ""
        opts = AttestOptions(type_name=args.type, predicate=read_input(args.predicate))
        _uri, statement = attest_blob_statement(opts, name, digest_hex)
    material = material_from_flags(args, load_key_signer(args))
    signed = attest_blob(material, statement, bundle_format=args.new_bundle_format)
    if signed.bundle is not None and args.bundle:
        write_atomic(args.bundle, signed.bundle)
        print(f"Wrote bundle to file {args.bundle}", file=sys.stderr)
    if args.new_bundle_format:
        return 0
    if args.output_signature:
        write_atomic(args.output_signature, signed.envelope)
        print(f"Signature written in {args.output_signature}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(signed.envelope + b"\n")
    return 0


def run_verify_blob_attestation(args: argparse.Namespace) -> int:
    from sigward.cli.common import read_input
    from sigward.errors import UsageError
    from sigward.formats import bundle as bundle_fmt
    from sigward.ops.attest import decode_envelope_file, verify_blob_attestation

    if not args.bundle and not args.signature:
        raise UsageError("please specify path to the DSSE envelope signature via --signature or --bundle")
    artifact = _blob_artifact(args)
    policy, _checks, opts = _verification_options(args)
    legacy_bundle = None
    cert_pem = None
    if args.bundle:
        data = read_input(args.bundle)
        if not bundle_fmt.is_bundle(data):
            from sigward.formats import blobbundle

            legacy_bundle = blobbundle.parse(data)
            cert_pem = legacy_bundle.cert_pem
            data = read_input(args.signature) if args.signature else legacy_bundle.signature()
            data = decode_envelope_file(data)
    else:
        data = decode_envelope_file(read_input(args.signature))
    verify_blob_attestation(data, policy, artifact=artifact, type_name=args.type,
                            check_claims=opts.check_claims,
                            rekor_bundle=legacy_bundle.rekor_bundle if legacy_bundle else None,
                            certificate_pem=cert_pem)
    print("Verified OK", file=sys.stderr)
    return 0


def _blob_artifact(args: argparse.Namespace) -> tuple[str, bytes] | None:
    """(algorithm, digest) the statement must name: the file's sha256, ``sha256:<hex>``, or --digest."""
    import os
    import re

    from sigward.errors import UsageError

    if not args.check_claims:
        return None
    if args.blob:
        m = re.fullmatch(r"(sha256|sha384|sha512):([0-9a-fA-F]+)", args.blob)
        if m and not os.path.exists(args.blob):
            return m.group(1), _hex(m.group(2))
        from sigward.cli.common import blob_source
        from sigward.ops.blob import hash_file

        return "sha256", hash_file(blob_source(args.blob), "sha256")
    if args.digest:
        return args.digest_alg, _hex(args.digest)
    raise UsageError("give the blob (FILE or sha256:<hex>) or --digest to check the statement's subject "
                     "(or --check-claims=false)")


def _hex(text: str) -> bytes:
    from sigward.errors import UsageError

    try:
        return bytes.fromhex(text)
    except ValueError:
        raise UsageError(f"unable to decode provided digest: {text!r} is not hex")


def run_attach_sbom(args: argparse.Namespace) -> int:
    from sigward.cli.common import open_image, read_input
    from sigward.errors import UsageError
    from sigward.formats import legacy
    from sigward.ops.attest import attach_sbom

    if args.registry_referrers_mode == "oci-1-1":
        raise UsageError("--registry-referrers-mode=oci-1-1 is not supported yet for SBOMs: attest the SBOM "
                         "(`sigward attest --type spdxjson --predicate sbom.json`), which is a referrer")
    kind, fmt = args.type, args.input_format
    if kind == "spdxjson":  # cosign's --type also takes the JSON SPDX name
        kind, fmt = "spdx", fmt or "json"
    if kind not in legacy.SBOM_TYPES:
        raise UsageError(f'unknown SBOM type: "{args.type}", expected (spdx|spdxjson|cyclonedx|syft)')
    media_type = legacy.sbom_media_type(kind, fmt, args.sbom)
    ref, store, attach = open_image(args.image, args)
    with store:
        where = attach_sbom(store, ref.identifier, read_input(args.sbom), media_type, attach)
    print(f"Uploading SBOM file for [{ref}] to [{where}] with mediaType [{media_type}].", file=sys.stderr)
    return 0


def run_attach_attestation(args: argparse.Namespace) -> int:
    from sigward.cli.common import open_image, read_input
    from sigward.ops.attest import attach_attestation

    ref, store, attach = open_image(args.image, args)
    with store:
        for path in args.attestation:
            where = attach_attestation(store, ref.identifier, read_input(path), attach)
            print(f"Attached attestation {path} to {where}", file=sys.stderr)
    return 0


def _platform_identifier(store: Any, identifier: str, platform: str | None) -> str:
    """cosign's ``--platform``: the digest of the index child for ``platform`` (refused for one image)."""
    if not platform:
        return identifier
    from sigward.errors import UsageError
    from sigward.ops.copy import select_platform

    top = store.get_manifest(identifier)
    if not top.is_index:
        raise UsageError(f"--platform {platform}: {store.name}@{top.digest} is a single image, not an index")
    return select_platform(store, top, platform).digest


def run_download_attestation(args: argparse.Namespace) -> int:
    from sigward.cli.common import open_image
    from sigward.ops.attest import download_attestations

    ref, store, attach = open_image(args.image, args)
    with store:
        identifier = _platform_identifier(store, str(ref.identifier), args.platform)
        for line in download_attestations(store, identifier, attach, args.predicate_type):
            sys.stdout.buffer.write(line + b"\n")
    return 0


def run_download_sbom(args: argparse.Namespace) -> int:
    from sigward.cli.common import open_image
    from sigward.ops.attest import download_sbom

    ref, store, attach = open_image(args.image, args)
    with store:
        sboms = download_sbom(store, _platform_identifier(store, str(ref.identifier), args.platform), attach)
    for s in sboms:
        print(f"Found SBOM of media type: {s.media_type}", file=sys.stderr)
        sys.stdout.buffer.write(s.data)
    sys.stdout.flush()
    return 0
