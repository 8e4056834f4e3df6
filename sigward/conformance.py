"""``sigward-conformance``: the sigstore-conformance suite's client protocol (``docs/cli_protocol.md``).

    sigward-conformance sign-bundle [--staging] [--in-toto] --identity-token TOKEN --bundle FILE
                                    [--trusted-root FILE] [--signing-config FILE] FILE
    sigward-conformance verify-bundle [--staging] --bundle FILE (--certificate-identity ID
                                      --certificate-oidc-issuer URL | --key PEM) [--trusted-root FILE]
                                      FILE_OR_DIGEST

Exit 0 on success; on failure one line on stderr naming the failed check, exit 1. The same operations
as ``sigward sign-blob`` / ``verify-blob``; only the argument protocol differs.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from sigward.errors import SigwardError

_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sigward-conformance")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sign-bundle")
    s.add_argument("--staging", action="store_true")
    s.add_argument("--in-toto", action="store_true")
    s.add_argument("--identity-token", required=True)
    s.add_argument("--bundle", required=True)
    s.add_argument("--trusted-root")
    s.add_argument("--signing-config")
    s.add_argument("file")
    v = sub.add_parser("verify-bundle")
    v.add_argument("--staging", action="store_true")
    v.add_argument("--bundle", required=True)
    v.add_argument("--certificate-identity")
    v.add_argument("--certificate-oidc-issuer")
    v.add_argument("--key")
    v.add_argument("--trusted-root")
    v.add_argument("file")
    return p


def artifact_digest(arg: str) -> bytes:
    """``sha256:<hex>`` names a digest unless a file of that name exists (the protocol's rule)."""
    m = _DIGEST.match(arg)
    if m and not os.path.exists(arg):
        return bytes.fromhex(m.group(1))
    from sigward.ops.blob import hash_file

    return hash_file(arg, "sha256")


def verify_bundle(args: argparse.Namespace) -> None:
    from sigward.ops.keyless import load_trust
    from sigward.sigstore.pipeline import BundleCandidate, Target, verify_one
    from sigward.sigstore.policy import Identity, KeyAuthority, KeylessAuthority, Policy

    with open(args.bundle, "rb") as f:
        data = f.read()
    root, _ = load_trust(args.trusted_root, staging=args.staging)
    policy: Policy
    if args.key:
        from sigward.keys.providers import load_verifier

        policy = KeyAuthority((load_verifier(args.key),), root)
    else:
        policy = KeylessAuthority((Identity(subject=args.certificate_identity,
                                            issuer=args.certificate_oidc_issuer),), root)
    digest = artifact_digest(args.file)
    verify_one(policy, BundleCandidate(data), Target(artifact=("sha256", digest)), "blob-any")


def sign_bundle(args: argparse.Namespace) -> None:
    from sigward.ops.keyless import KeylessOptions, sign_blob_keyless, sign_statement_keyless
    from sigward.sigstore.oidc import IdentityOptions

    opts = KeylessOptions(
        identity=IdentityOptions(identity_token=args.identity_token, disable_ambient=True, interactive=False),
        trusted_root=args.trusted_root, signing_config=args.signing_config, staging=args.staging,
    )
    if args.in_toto:
        with open(args.file, "rb") as f:
            data = sign_statement_keyless(f.read(), opts)
    else:
        data = sign_blob_keyless(args.file, opts)
    from sigward.fileio import write_atomic

    write_atomic(args.bundle, data)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "verify-bundle":
            verify_bundle(args)
        else:
            sign_bundle(args)
    except SigwardError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"Error: {e.filename}: {e.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

