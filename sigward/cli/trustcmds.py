"""cosign's trust and bundle commands: ``initialize``, ``trusted-root create``, ``signing-config create``,
``bundle create|inspect|upgrade``. They make the files a private Sigstore instance or an air-gapped
verifier needs, and convert cosign's older detached formats into Sigstore bundles."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sigward.cli.flags import add_go_bool, add_refused, add_security_key_flags

DEPRECATED_TRUST_FLAGS = ("certificate-chain", "fulcio-uri", "ctfe-key", "ctfe-start-time", "ctfe-end-time",
                          "ctfe-url", "rekor-key", "rekor-start-time", "rekor-end-time", "rekor-url",
                          "timestamp-certificate-chain", "timestamp-uri")

TRUSTED_ROOT_EPILOG = """\
examples:
  sigward trusted-root create \\
    --fulcio url=https://fulcio.internal,certificate-chain=fulcio-chain.pem \\
    --rekor url=https://rekor.internal,public-key=rekor.pub,start-time=2025-01-01T00:00:00Z \\
    --ctfe url=https://ctfe.internal,public-key=ctfe.pub,start-time=2025-01-01T00:00:00Z \\
    --tsa url=https://tsa.internal/api/v1/timestamp,certificate-chain=tsa-chain.pem --out trusted_root.json
  # Rekor v2 / static CT logs: add origin=HOST so the checkpoint key ID is derived
  sigward trusted-root create --with-default-services --no-default-tsa --tsa url=...,certificate-chain=...
"""


def register(sub: Any) -> None:
    i = sub.add_parser("initialize", help="fetch and cache the Sigstore trust root through TUF",
                       epilog="examples:\n  sigward initialize\n  sigward initialize --staging\n"
                              "  sigward initialize --mirror https://tuf.internal --root root.json",
                       description="Initialize the TUF trust root (trusted_root.json, signing config) that "
                                   "keyless signing and verification use when --trusted-root is not given.")
    i.add_argument("--mirror", default="https://tuf-repo-cdn.sigstore.dev", metavar="URL",
                   help="TUF repository base URL")
    i.add_argument("--root", metavar="FILE", help="initial root.json to trust (needed for a mirror other "
                                                  "than the public-good or staging ones)")
    i.add_argument("--root-checksum", metavar="SHA256", help="sha256 (hex) the --root file must have")
    add_go_bool(i, "--staging", help="use the Sigstore staging TUF repository")
    i.set_defaults(func=run_initialize)

    tr = sub.add_parser("trusted-root", help="create Sigstore trusted roots")
    trsub = tr.add_subparsers(dest="trusted_root_command", metavar="COMMAND", parser_class=type(tr))
    c = trsub.add_parser("create", help="create a trusted_root.json for a (private) Sigstore instance",
                         epilog=TRUSTED_ROOT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag, what in (("--fulcio", "url=,certificate-chain=PEM[,start-time=,end-time=]"),
                       ("--rekor", "url=,public-key=PEM,start-time=[,end-time=,origin=]"),
                       ("--ctfe", "url=,public-key=PEM,start-time=[,end-time=,origin=]"),
                       ("--tsa", "url=,certificate-chain=PEM[,start-time=,end-time=]")):
        c.add_argument(flag, action="append", default=[], metavar="SPEC",
                       help=f"service: {what} (repeatable)")
    add_go_bool(c, "--with-default-services", help="start from the public-good trusted root")
    for name in ("fulcio", "rekor", "ctfe", "tsa"):
        add_go_bool(c, f"--no-default-{name}", help=f"with --with-default-services: drop its {name} entries")
    c.add_argument("--out", metavar="FILE", help="write here (default: standard output)")
    for flag in DEPRECATED_TRUST_FLAGS:
        add_refused(c, f"--{flag}", metavar="VALUE",
                    reason="deprecated in cosign and not supported: use --fulcio/--rekor/--ctfe/--tsa specs")
    c.set_defaults(func=run_trusted_root_create)

    sc = sub.add_parser("signing-config", help="create Sigstore signing configs")
    scsub = sc.add_subparsers(dest="signing_config_command", metavar="COMMAND", parser_class=type(sc))
    s = scsub.add_parser("create", help="create a signing_config.v0.2.json naming the services to sign with")
    for flag in ("--fulcio", "--rekor", "--oidc-provider", "--tsa"):
        s.add_argument(flag, action="append", default=[], metavar="SPEC",
                       help="service: url=,api-version=N,start-time=,operator=[,end-time=] (repeatable)")
    s.add_argument("--rekor-config", metavar="ANY|ALL|EXACT:N", help="which Rekor logs to use (with --rekor)")
    s.add_argument("--tsa-config", metavar="ANY|ALL|EXACT:N", help="which TSAs to use (with --tsa)")
    s.add_argument("--base-config", metavar="FILE", help="signing config to start from")
    add_go_bool(s, "--with-default-services", help="start from the public-good signing config")
    add_refused(s, "--with-default-rekor-v2", boolean=True,
                reason="the public-good Rekor v2 defaults are not bundled yet; pass --rekor with "
                       "api-version=2")
    for name in ("fulcio", "rekor", "oidc", "tsa"):
        add_go_bool(s, f"--no-default-{name}", help=f"drop the base config's {name} services")
    s.add_argument("--out", metavar="FILE", help="write here (default: standard output)")
    s.set_defaults(func=run_signing_config_create)

    b = sub.add_parser("bundle", help="create, inspect and upgrade Sigstore bundles")
    bsub = b.add_subparsers(dest="bundle_command", metavar="COMMAND", parser_class=type(b))
    bc = bsub.add_parser("create", help="make a Sigstore bundle from a detached signature and its material")
    bc.add_argument("--artifact", metavar="FILE", help="the signed file (message-signature bundle)")
    bc.add_argument("--attestation", metavar="FILE", help="a DSSE envelope (attestation bundle)")
    bc.add_argument("--signature", metavar="FILE", help="base64 signature over --artifact")
    bc.add_argument("--certificate", metavar="FILE", help="signing certificate (PEM)")
    bc.add_argument("--key", metavar="FILE", help="public key (PEM) the signature verifies with")
    bc.add_argument("--bundle", metavar="FILE",
                    help="cosign's old bundle (base64Signature, cert, rekorBundle) to convert")
    bc.add_argument("--rfc3161-timestamp", metavar="FILE", help="cosign's old RFC 3161 timestamp file")
    add_go_bool(bc, "--ignore-tlog", help="leave out the transparency log entry")
    bc.add_argument("--rekor-url", help=argparse.SUPPRESS)
    bc.add_argument("--out", metavar="FILE", help="write here (default: standard output)")
    add_security_key_flags(bc)
    bc.set_defaults(func=run_bundle_create)
    bi = bsub.add_parser("inspect", help="print what a bundle holds (no verification)")
    bi.add_argument("bundle_path", metavar="BUNDLE")
    bi.set_defaults(func=run_bundle_inspect)
    bu = bsub.add_parser("upgrade", help="rewrite a v0.2 bundle as v0.3")
    bu.add_argument("bundle_path", metavar="BUNDLE")
    bu.add_argument("--out", metavar="FILE", help="write here (default: standard output)")
    bu.add_argument("--rekor-url", default="https://rekor.sigstore.dev", help=argparse.SUPPRESS)
    bu.set_defaults(func=run_bundle_upgrade)


def _emit(data: bytes, out: str | None, what: str) -> None:
    if out:
        from sigward.fileio import write_atomic

        write_atomic(out, data)
        print(f"Wrote {what} to {out}", file=sys.stderr)
    else:
        sys.stdout.write(data.decode())
        sys.stdout.flush()


def _json_file(path: str, what: str) -> dict[str, Any]:
    import json

    from sigward.errors import UsageError

    try:
        with open(path, "rb") as f:
            obj = json.loads(f.read())
    except OSError as e:
        raise UsageError(f"cannot read {what} {path}: {e.strerror or e}")
    except ValueError as e:
        raise UsageError(f"{what} {path} is not JSON: {e}")
    if not isinstance(obj, dict):
        raise UsageError(f"{what} {path} is not a JSON object")
    return obj


def run_trusted_root_create(args: argparse.Namespace) -> int:
    import json

    from sigward.sigstore import trustbuild

    base = None
    if args.with_default_services:
        from sigward.sigstore.tufmirror import PUBLIC_GOOD, load_mirror

        base = json.loads(load_mirror(PUBLIC_GOOD, offline=True)[0])
    keep = {n: not getattr(args, f"no_default_{n}") for n in ("fulcio", "rekor", "ctfe", "tsa")}
    root = trustbuild.trusted_root(fulcio=args.fulcio, rekor=args.rekor, ctfe=args.ctfe, tsa=args.tsa,
                                   base=base, keep=keep)
    _emit(trustbuild.dumps(root), args.out, "trusted root")
    return 0


def run_signing_config_create(args: argparse.Namespace) -> int:
    import json

    from sigward.errors import UsageError
    from sigward.sigstore import trustbuild

    if args.base_config and args.with_default_services:
        raise UsageError("--base-config and --with-default-services cannot be combined")
    base = _json_file(args.base_config, "signing config") if args.base_config else None
    if args.with_default_services:
        from sigward.sigstore.tufmirror import PUBLIC_GOOD, load_mirror

        base = json.loads(load_mirror(PUBLIC_GOOD, offline=True)[1])
    if args.rekor and not args.rekor_config:
        raise UsageError("--rekor-config is required when --rekor is provided")
    if args.tsa and not args.tsa_config:
        raise UsageError("--tsa-config is required when --tsa is provided")
    keep = {n: not getattr(args, f"no_default_{n}") for n in ("fulcio", "rekor", "oidc", "tsa")}
    cfg = trustbuild.signing_config(fulcio=args.fulcio, rekor=args.rekor, oidc=args.oidc_provider,
                                    tsa=args.tsa, rekor_config=args.rekor_config, tsa_config=args.tsa_config,
                                    base=base, keep=keep)
    _emit(trustbuild.dumps(cfg), args.out, "signing config")
    return 0


def run_initialize(args: argparse.Namespace) -> int:
    import hashlib
    import os

    from sigward.errors import UsageError
    from sigward.sigstore.tufmirror import initialize, state_file

    mirror = "https://tuf-repo-cdn.sigstage.dev" if args.staging else args.mirror
    root = None
    if args.root:
        try:
            with open(args.root, "rb") as f:
                root = f.read()
        except OSError as e:
            raise UsageError(f"cannot read --root {args.root}: {e.strerror or e}")
        if args.root_checksum:
            want = args.root_checksum.lower().removeprefix("sha256:")
            got = hashlib.sha256(root).hexdigest()
            if got != want:
                raise UsageError(f"--root {args.root} has sha256 {got}, not the --root-checksum {want}")
    elif args.root_checksum:
        raise UsageError("--root-checksum needs --root")
    home = os.environ.get("TUF_ROOT") or os.path.join(os.path.expanduser("~"), ".sigstore", "root")
    summary = initialize(mirror, root, state_file(home))
    print(summary)
    return 0


def run_bundle_create(args: argparse.Namespace) -> int:
    from sigward.errors import UsageError
    from sigward.ops.bundles import BundleInputs, create_bundle

    if bool(args.artifact) == bool(args.attestation):
        raise UsageError("exactly one of --artifact or --attestation is required")

    def read(path: str | None) -> bytes | None:
        from sigward.cli.common import read_input

        return read_input(path) if path else None

    if args.rekor_url:
        raise UsageError("--rekor-url: fetching log entries is not supported; the --bundle's log entry "
                         "is used")
    inputs = BundleInputs(
        artifact_path=args.artifact, attestation=read(args.attestation), signature_b64=read(args.signature),
        certificate_pem=read(args.certificate), public_key_pem=read(args.key), old_bundle=read(args.bundle),
        rfc3161_timestamp=read(args.rfc3161_timestamp), ignore_tlog=args.ignore_tlog)
    _emit(create_bundle(inputs), args.out, "bundle")
    return 0


def run_bundle_inspect(args: argparse.Namespace) -> int:
    from sigward.cli.common import read_input
    from sigward.ops.bundles import inspect_bundle

    print("WARNING: This command only inspects the contents of the bundle.\nIt does not perform "
          "cryptographic verification or verify log inclusion.\n", file=sys.stderr)
    print(inspect_bundle(read_input(args.bundle_path)))
    return 0


def run_bundle_upgrade(args: argparse.Namespace) -> int:
    from sigward.cli.common import read_input
    from sigward.ops.bundles import upgrade_bundle

    _emit(upgrade_bundle(read_input(args.bundle_path)), args.out, "bundle")
    return 0
