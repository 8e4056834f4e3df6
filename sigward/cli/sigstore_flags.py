"""cosign's Sigstore flags, shared by the signing and verifying commands, and their translation into
``ops`` options. Flag names, defaults and meanings follow cosign v3 (``cmd/cosign/cli/options``)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from sigward.cli.flags import add_go_bool, add_refused, add_security_key_flags

if TYPE_CHECKING:
    from sigward.keys.interfaces import PasswordFn, Signer
    from sigward.sigstore.policy import Checks, Identity, Policy
    from sigward.sigstore.signing import SigningMaterial
    from sigward.sigstore.trust import TrustedRoot

PUBLIC_OIDC_ISSUER = "https://oauth2.sigstore.dev/auth"


def add_signing_flags(p: argparse.ArgumentParser | Any) -> None:
    """Identity token sources, service URLs and trust configuration for signing."""
    g = p.add_argument_group("keyless signing and transparency (Sigstore)")
    g.add_argument("--identity-token", metavar="TOKEN|FILE",
                   help="OIDC identity token, or a file holding one (else SIGSTORE_ID_TOKEN, CI ambient "
                        "credentials, or a browser login)")
    g.add_argument("--oidc-issuer", default=PUBLIC_OIDC_ISSUER, help="OIDC provider for the browser login")
    g.add_argument("--oidc-client-id", default="sigstore", help="OIDC client ID")
    g.add_argument("--oidc-client-secret-file", metavar="FILE", help="file holding the OIDC client secret")
    g.add_argument("--oidc-redirect-url", help="redirect URL of the browser login (default: a local port)")
    g.add_argument("--oidc-provider", help="ambient provider to use: github-actions, filesystem, spiffe, "
                                           "google, buildkite-agent")
    add_go_bool(g, "--oidc-disable-ambient-providers", help="never detect CI ambient credentials")
    g.add_argument("--fulcio-auth-flow", choices=["normal", "device", "token", "client_credentials"],
                   help="how to get a token interactively (device: no browser on this machine)")
    g.add_argument("--fulcio-url", help="Fulcio (certificate authority) URL; with --rekor-url, a private "
                                        "instance without a signing config")
    g.add_argument("--rekor-url", help="Rekor (transparency log) URL")
    g.add_argument("--timestamp-server-url", action="append", default=[], metavar="URL",
                   help="RFC 3161 timestamp authority to timestamp the signature (repeatable)")
    g.add_argument("--trusted-root", metavar="FILE",
                   help="trusted_root.json to check the services' answers against (default: public good)")
    g.add_argument("--signing-config", metavar="FILE",
                   help="signing_config.v0.2.json naming Fulcio, Rekor (v1 or v2), TSAs and OIDC")
    add_go_bool(g, "--use-signing-config", default=True,
                help="take the service URLs from the public-good signing config")
    add_go_bool(g, "--tlog-upload", default=True, help="upload the signature to the transparency log")
    add_go_bool(g, "--insecure-skip-verify", help=argparse.SUPPRESS)
    g.add_argument("--output-certificate", metavar="FILE", help="write the Fulcio certificate (PEM) here")
    add_go_bool(g, "-y", "--yes", help="skip the confirmation before uploading to the public log")
    g.add_argument("--certificate", metavar="FILE",
                   help="with --key: a certificate (PEM) for that key, issued by your own CA, to put in the "
                        "signature instead of the bare public key")
    g.add_argument("--certificate-chain", metavar="FILE",
                   help="with --certificate: the issuing CA certificates (PEM), parent first, root last")
    add_refused(g, "--issue-certificate", boolean=True,
                reason="a Fulcio certificate for a --key is not supported yet; sign keyless (no --key) or "
                       "pass --certificate")
    tsa_mtls = "TLS client settings for the timestamp authority are not supported yet"
    for flag, what in (("--timestamp-client-cacert", "CA certificates (PEM) to verify the TSA with"),
                       ("--timestamp-client-cert", "client certificate (PEM) for mutual TLS to the TSA"),
                       ("--timestamp-client-key", "client key (PEM) for mutual TLS to the TSA"),
                       ("--timestamp-server-name", "TLS server name of the TSA")):
        add_refused(g, flag, reason=tsa_mtls, metavar="VALUE", help=what)
    add_security_key_flags(g)


def add_verification_flags(p: argparse.ArgumentParser | Any, *, key_flags: bool = True) -> None:
    """Identity constraints and trust configuration for keyless (and key) verification."""
    g = p.add_argument_group("keyless verification (Sigstore)")
    g.add_argument("--certificate-identity", metavar="ID",
                   help="the signer's identity (email or URI SAN) must be exactly this")
    g.add_argument("--certificate-identity-regexp", metavar="RE",
                   help="the signer's identity must match this (unanchored) regular expression")
    g.add_argument("--certificate-oidc-issuer", metavar="URL",
                   help="the OIDC issuer in the certificate must be exactly this")
    g.add_argument("--certificate-oidc-issuer-regexp", metavar="RE",
                   help="the OIDC issuer must match this (unanchored) regular expression")
    for name in ("trigger", "sha", "name", "repository", "ref"):
        g.add_argument(f"--certificate-github-workflow-{name}", metavar="VALUE",
                       help=f"the GitHub workflow {name} recorded in the certificate must equal VALUE")
    g.add_argument("--trusted-root", metavar="FILE",
                   help="trusted_root.json (CAs, logs, CT logs, TSAs); default: the public-good instance")
    add_go_bool(g, "--insecure-ignore-tlog", help="do not require a transparency log entry")
    add_go_bool(g, "--insecure-ignore-sct", help="do not require an embedded SCT in the certificate")
    add_go_bool(g, "--use-signed-timestamps", help="require an RFC 3161 timestamp and use its time")
    add_go_bool(g, "--offline", help="never contact Rekor (signatures must carry their log proof)")
    add_go_bool(g, "--private-infrastructure", help=argparse.SUPPRESS)
    g.add_argument("--ca-roots", metavar="FILE",
                   help="PEM root CA certificates to trust instead of the trusted root's CAs (your own CA)")
    g.add_argument("--ca-intermediates", metavar="FILE",
                   help="with --ca-roots: PEM intermediate CA certificates between the roots and the signer")
    g.add_argument("--certificate-chain", metavar="FILE",
                   help="PEM CA chain of the signing certificate, parent first, root last (instead of the "
                        "trusted root's CAs)")
    for hidden in ("--rekor-url", "--timestamp-certificate-chain", "--sct"):
        g.add_argument(hidden, help=argparse.SUPPRESS)
    add_go_bool(g, "--experimental-oci11", help=argparse.SUPPRESS)  # deprecated in cosign; referrers always
    add_security_key_flags(g)
    have = getattr(p, "_option_string_actions", {})
    if "--max-workers" not in have:
        g.add_argument("--max-workers", type=int, default=10, help=argparse.SUPPRESS)
    if "--signature-digest-algorithm" not in have:
        g.add_argument("--signature-digest-algorithm", default="sha256", help=argparse.SUPPRESS)
    if "--certificate" not in have:
        add_refused(g, "--certificate", metavar="FILE",
                    reason="a separate certificate is not read here; the signatures carry theirs (bundles)")
    if "--rfc3161-timestamp" not in have:
        add_refused(g, "--rfc3161-timestamp", metavar="FILE",
                    reason="detached RFC 3161 timestamp files are not read yet; verify a bundle that holds "
                           "the timestamp (`sigward bundle create` converts one)")


def identity(args: argparse.Namespace) -> Identity:
    """The keyless identity from cosign's flags; cosign's wording when a required one is missing."""
    from sigward.errors import UsageError
    from sigward.sigstore.policy import Identity, InvalidPatternError

    if args.certificate_identity is None and args.certificate_identity_regexp is None:
        raise UsageError("--certificate-identity or --certificate-identity-regexp is required for "
                         "verification in keyless mode")
    if args.certificate_oidc_issuer is None and args.certificate_oidc_issuer_regexp is None:
        raise UsageError("--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required for "
                         "verification in keyless mode")
    github = tuple((n, getattr(args, f"certificate_github_workflow_{n}"))
                   for n in ("trigger", "sha", "name", "repository", "ref")
                   if getattr(args, f"certificate_github_workflow_{n}", None))
    try:
        return Identity(
            subject=args.certificate_identity, subject_regexp=args.certificate_identity_regexp,
            issuer=args.certificate_oidc_issuer, issuer_regexp=args.certificate_oidc_issuer_regexp,
            github=github,
        )
    except InvalidPatternError as e:
        flag = {"subject_regexp": "--certificate-identity-regexp",
                "issuer_regexp": "--certificate-oidc-issuer-regexp"}[e.field]
        raise UsageError(f"{flag}: invalid regular expression {e.pattern!r}: {e.reason}") from None


def checks(args: argparse.Namespace) -> Checks:
    from sigward.sigstore.policy import Checks

    return Checks(ignore_tlog=args.insecure_ignore_tlog or args.private_infrastructure,
                  ignore_sct=args.insecure_ignore_sct, use_signed_timestamps=args.use_signed_timestamps)


def verification_policy(args: argparse.Namespace, *, password_fn: PasswordFn) -> tuple[Policy, Checks]:
    """The authority cosign's verification flags describe, and its checks.

    Follows cosign's argument checks (cosign-wire-formats.md §4.1): ``--key`` excludes identity flags;
    keyless needs an identity and an issuer. The trusted root is loaded only when something needs it:
    key-based with ``--insecure-ignore-tlog`` and no timestamps never touches TUF (cosign does the same).
    """
    from sigward.errors import UsageError
    from sigward.sigstore.policy import KeyAuthority, KeylessAuthority

    legacy_flags = ("timestamp_certificate_chain", "sct")
    unsupported = [f for f in legacy_flags if getattr(args, f, None)]
    if unsupported:
        raise UsageError(f"--{unsupported[0].replace('_', '-')} is not supported; pass --trusted-root with "
                         "the CA, log and TSA material instead")
    ca_flags = ("ca_roots", "ca_intermediates", "certificate_chain")
    if args.key and any(getattr(args, f, None) for f in ca_flags):
        raise UsageError("--ca-roots, --ca-intermediates and --certificate-chain verify certificates; they "
                         "cannot be combined with --key")
    opts = checks(args)
    if args.key:
        if args.certificate_identity or args.certificate_identity_regexp:
            raise UsageError("cannot specify both --key and --certificate-identity or "
                             "--certificate-identity-regexp")
        from sigward.keys.providers import load_verifier

        key = load_verifier(args.key, password_fn)
        root = _trust_root(args) if not opts.ignore_tlog or opts.use_signed_timestamps else None
        return KeyAuthority((key,), root, opts), opts
    ident = identity(args)
    return KeylessAuthority((ident,), with_custom_cas(_trust_root(args), args), opts), opts


def _trust_root(args: argparse.Namespace) -> TrustedRoot:
    from sigward.ops.keyless import load_trust

    return load_trust(args.trusted_root, offline=args.offline, tuf_mirror=initialized_mirror())[0]


def _read_pem_certs(path: str, flag: str) -> list[Any]:
    from cryptography import x509

    from sigward.errors import UsageError

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise UsageError(f"{flag}: cannot read {path}: {e.strerror or e}")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise UsageError(f"{flag}: {path} holds no PEM certificate")
    return certs


def with_custom_cas(root: Any, args: argparse.Namespace) -> Any:
    """``--ca-roots``/``--ca-intermediates``/``--certificate-chain``: a private CA replaces the trusted
    root's certificate authorities (its logs, CT logs and TSAs stay), as cosign's flags do."""
    import dataclasses
    from datetime import UTC, datetime

    from sigward.errors import UsageError
    from sigward.sigstore.trust import Authority, Validity

    chains: list[tuple[Any, ...]] = []
    if getattr(args, "certificate_chain", None):
        chains.append(tuple(_read_pem_certs(args.certificate_chain, "--certificate-chain")))
    if getattr(args, "ca_roots", None):
        inter = (_read_pem_certs(args.ca_intermediates, "--ca-intermediates")
                 if getattr(args, "ca_intermediates", None) else [])
        for ca_root in _read_pem_certs(args.ca_roots, "--ca-roots"):
            chains.append((*inter, ca_root))
            if inter:
                chains.append((ca_root,))
    elif getattr(args, "ca_intermediates", None):
        raise UsageError("--ca-intermediates needs --ca-roots")
    if not chains:
        return root
    always = Validity(datetime(1970, 1, 1, tzinfo=UTC))
    uri = "--ca-roots" if getattr(args, "ca_roots", None) else "--certificate-chain"
    cas = tuple(Authority(uri, c, always) for c in chains)
    return dataclasses.replace(root, certificate_authorities=cas, source="CA certificates given on the "
                               "command line")


def keyless_options(args: argparse.Namespace, *, interactive: bool | None = None) -> Any:
    from sigward.ops.keyless import KeylessOptions
    from sigward.sigstore.oidc import IdentityOptions

    tty = sys.stdin.isatty() and sys.stderr.isatty() if interactive is None else interactive
    identity = IdentityOptions(
        identity_token=args.identity_token,
        oidc_issuer=args.oidc_issuer,
        oidc_client_id=args.oidc_client_id,
        oidc_client_secret_file=args.oidc_client_secret_file,
        oidc_redirect_url=args.oidc_redirect_url,
        oidc_provider=args.oidc_provider,
        disable_ambient=args.oidc_disable_ambient_providers,
        auth_flow=args.fulcio_auth_flow or None,
        skip_confirmation=args.yes,
        interactive=tty,
        confirm=None if args.yes or not tty else _confirm,
        notify=_notify,
    )
    return KeylessOptions(
        identity=identity,
        trusted_root=args.trusted_root,
        signing_config=args.signing_config,
        fulcio_url=args.fulcio_url,
        rekor_url=args.rekor_url,
        timestamp_urls=list(args.timestamp_server_url),
        tlog_upload=args.tlog_upload,
        use_signing_config=args.use_signing_config,
        confirm=None if args.yes or not tty else _confirm,
        tuf_mirror=initialized_mirror(),
        environment=os.environ,  # SIGSTORE_ID_TOKEN and the CI's ambient credentials, as cosign reads them
    )


def _confirm(prompt: str) -> bool:
    print(prompt, end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _notify(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def material_from_flags(args: argparse.Namespace, signer: Signer | None) -> SigningMaterial:
    """The SigningMaterial for a command: ``signer`` is the loaded ``--key`` signer, or None (keyless);
    ``--output-certificate`` is written here."""
    from sigward.ops.keyless import signing_material as build

    check_outputs(args)
    material = build(signer, keyless_options(args))
    if getattr(args, "certificate", None):
        attach_certificate(material, args)
    if getattr(args, "output_certificate", None):  # the certificate, or with a bare key its public key
        from sigward.fileio import write_atomic

        write_atomic(args.output_certificate, material.verifier_pem())
        print(f"Certificate wrote in the file {args.output_certificate}", file=sys.stderr)
    return material


def attach_certificate(material: Any, args: argparse.Namespace) -> None:
    """``--certificate`` (+ ``--certificate-chain``) with ``--key``: sign as that certificate, so verifiers
    check it against your CA (``verify --ca-roots``) instead of holding the public key."""
    from cryptography.hazmat.primitives import serialization

    from sigward.errors import UsageError

    if material.chain:
        raise UsageError("--certificate needs --key (keyless signing gets its certificate from Fulcio)")
    leaf = _read_pem_certs(args.certificate, "--certificate")[0]
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(serialization.Encoding.DER, spki) != material.public_key.public_bytes(
            serialization.Encoding.DER, spki):
        raise UsageError(f"--certificate {args.certificate} is not for the public key of --key")
    chain = _read_pem_certs(args.certificate_chain, "--certificate-chain") if args.certificate_chain else []
    material.chain = [leaf, *chain]


def initialized_mirror() -> str | None:
    """The TUF mirror ``sigward initialize --mirror`` recorded (under ``TUF_ROOT``, default
    ~/.sigstore/root, as cosign keeps its TUF state), or None for the public-good repository."""
    import os

    from sigward.sigstore.tufmirror import recorded_mirror, state_file

    home = os.environ.get("TUF_ROOT") or os.path.join(os.path.expanduser("~"), ".sigstore", "root")
    return recorded_mirror(state_file(home))


# The signing commands' output-file flags (argparse dests): checked before Fulcio or Rekor is contacted.
OUTPUT_FLAGS = ("bundle", "output_signature", "output_certificate", "output_payload", "output_attestation")


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse unwritable output paths before signing: a Rekor entry must never outlive a lost bundle."""
    from sigward.fileio import check_writable

    for dest in OUTPUT_FLAGS:
        path = getattr(args, dest, None)
        if isinstance(path, str) and path and path != "-":
            check_writable(path, "--" + dest.replace("_", "-"))
