"""Flags shared by many commands (registry access), and helpers to turn them into options."""

from __future__ import annotations

import argparse
import os
from typing import Any, BinaryIO

from sigward.cli.flags import add_go_bool, add_refused


def add_registry_flags(p: argparse.ArgumentParser | Any) -> None:
    """cosign's registry options (``cmd/cosign/cli/options/registry.go``)."""
    g = p.add_argument_group("registry access")
    add_go_bool(g, "--allow-insecure-registry",
                help="accept registries whose TLS certificate cannot be verified (self-signed)")
    add_go_bool(g, "--allow-http-registry", help="allow plain HTTP to the registry (no TLS)")
    g.add_argument("--registry-username", default=None, help="registry user name (basic auth)")
    g.add_argument("--registry-password", default=None, help="registry password (basic auth)")
    g.add_argument("--registry-token", default=None, help="registry bearer token")
    g.add_argument("--registry-cacert", default=None, metavar="FILE",
                   help="PEM file of CA certificates to trust for registries")
    g.add_argument("--registry-client-cert", default=None, metavar="FILE",
                   help="client certificate (PEM) for mutual TLS to the registry")
    g.add_argument("--registry-client-key", default=None, metavar="FILE",
                   help="private key (PEM) of --registry-client-cert")
    add_refused(g, "--registry-server-name", reason="overriding the TLS server name is not supported yet",
                metavar="NAME", help="TLS server name (SNI) to use for the registry")
    add_refused(g, "--k8s-keychain", boolean=True,
                reason="the Kubernetes keychain is not available; use `sigward login`, DOCKER_CONFIG or "
                       "--registry-username/--registry-password",
                help="use the Kubernetes keychain (workload identity)")
    add_refused(g, "--attachment-tag-prefix", metavar="PREFIX",
                reason="tag prefixes for attachments are not supported (deprecated in cosign: use referrers)")


def add_referrers_mode(p: argparse.ArgumentParser | Any) -> None:
    """cosign's ``--registry-referrers-mode`` (RegistryExperimentalOptions)."""
    p.add_argument("--registry-referrers-mode", choices=["legacy", "oci-1-1"], default="legacy",
                   help="legacy: attachments as sha256-<hex> tags (legacy formats); oci-1-1: OCI 1.1 "
                        "referrers. Sigstore bundles (the default format) are always referrers")


def store_options(args: argparse.Namespace) -> Any:
    from sigward.errors import UsageError
    from sigward.oci.store import StoreOptions

    cert, key = getattr(args, "registry_client_cert", None), getattr(args, "registry_client_key", None)
    if key and not cert:
        raise UsageError("--registry-client-key needs --registry-client-cert")
    return StoreOptions(
        allow_insecure_registry=getattr(args, "allow_insecure_registry", False),
        allow_http_registry=getattr(args, "allow_http_registry", False),
        username=getattr(args, "registry_username", None),
        password=getattr(args, "registry_password", None),
        registry_token=getattr(args, "registry_token", None),
        ca_file=getattr(args, "registry_cacert", None) or os.environ.get("SIGWARD_REGISTRY_CACERT"),
        client_cert=cert,
        client_key=key,
    )


def open_image(text: str, args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """Parse an image argument and open its store and the store for attached artifacts.

    Returns ``(ref, store, attach_store)``; ``attach_store`` honours ``COSIGN_REPOSITORY``.
    """
    from sigward.oci.reference import parse_reference
    from sigward.oci.store import open_store
    from sigward.ops.attached import attachment_store

    ref = parse_reference(text)
    opts = store_options(args)
    store = open_store(ref, opts)
    attach = attachment_store(ref, opts, image_store=store, override=repository_override())
    if attach is not store:
        # Callers close the image store (`with store:`); a separate attachment store (COSIGN_REPOSITORY)
        # goes with it, or its connection lease would outlive the command (and be shared by a fork).
        close_image = store.close

        def close_both() -> None:
            try:
                close_image()
            finally:
                attach.close()

        setattr(store, "close", close_both)  # noqa: B010 - an instance attribute shadowing the method
    return ref, store, attach


def repository_override() -> str | None:
    """``COSIGN_REPOSITORY``: where attached artifacts (signatures, attestations, SBOMs) live."""
    from sigward.ops.attached import REPO_OVERRIDE_ENV

    return os.environ.get(REPO_OVERRIDE_ENV) or None


def password_fn(confirm: bool = False) -> Any:
    """The password callback cosign uses: COSIGN_PASSWORD, else the terminal, else stdin.

    Called only if a key actually needs a password, so a public key never prompts.
    """

    def read(confirm_again: bool = confirm) -> bytes:
        from sigward.cli.password import read_password

        return read_password(confirm=confirm_again)

    return read


def tag_warning(ref: Any, verb: str) -> str | None:
    """cosign's warning when the user names an image by tag rather than digest."""
    if getattr(ref, "digest", None):
        return None
    return (
        f"WARNING: Image reference {ref} uses a tag, not a digest, to identify the image to {verb}.\n"
        "    This can lead you to sign a different image than the intended one. Please use a\n"
        "    digest (example.com/ubuntu@sha256:abc123...) rather than tag\n"
        "    (example.com/ubuntu:latest) for the input to sigward."
    )


def blob_source(path: str) -> str | BinaryIO:
    """What ops read a blob from: the path, or stdin for ``-`` (ops never touch stdin themselves)."""
    import sys

    return sys.stdin.buffer if path == "-" else path


def read_input(path: str) -> bytes:
    """A file's bytes (``-`` is stdin), or one clear error naming the file."""
    import sys

    from sigward.fileio import read_regular, read_stream

    if path == "-":
        return read_stream(sys.stdin.buffer)
    return read_regular(path)


def load_key_signer(args: argparse.Namespace) -> Any:
    """The ``--key`` signer, or None for keyless signing."""
    if not getattr(args, "key", None):
        return None
    from sigward.keys.providers import load_signer

    return load_signer(args.key, password_fn(confirm=False), pin_prompt=pin_prompt())


def pin_prompt() -> Any:
    """The terminal PIN prompt for ``pkcs11:`` keys (imported only when a token asks for a PIN)."""

    def ask(message: str) -> str:
        """The CLI's PIN prompt (stderr, no echo); only when stdin is a terminal."""
        import sys

        from sigward.cli.password import _prompt
        from sigward.keys.remote.base import key_error

        if sys.stdin is None or not sys.stdin.isatty():
            raise key_error("pkcs11:", "the token needs a PIN: set COSIGN_PKCS11_PIN or pin-value")
        return _prompt(message, sys.stdin, sys.stderr).decode("utf-8")

    return ask


def write_single_bundle(path: str, bundles: list[bytes], what: str) -> None:
    """``--bundle FILE``: exactly one bundle must have been made (one image, not ``--recursive``)."""
    import sys

    from sigward.errors import UsageError
    from sigward.fileio import write_atomic

    if len(bundles) != 1:
        raise UsageError(f"--bundle writes one bundle, but {len(bundles)} {what} were made")
    write_atomic(path, bundles[0])
    print(f"Wrote bundle to file {path}", file=sys.stderr)


def parse_source_date_epoch(value: str | None) -> int | None:
    """The one ``SOURCE_DATE_EPOCH`` rule (reproducible-builds.org), for every command that stamps times
    (sign/attest ``created``, image build, chart package/push): unset or empty means none; otherwise a
    whole, non-negative number of seconds since 1970 in ASCII digits (surrounding white space ignored);
    anything else is a usage error, so a malformed value never silently yields another build. Parsed
    here, in the CLI; operations get the number."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        from sigward.errors import UsageError

        raise UsageError(f"invalid SOURCE_DATE_EPOCH {value!r}: expected a whole number of seconds "
                         "since 1970")
    return int(text)


def source_date_epoch() -> int | None:
    """``SOURCE_DATE_EPOCH`` from this process's environment (see ``parse_source_date_epoch``)."""
    return parse_source_date_epoch(os.environ.get("SOURCE_DATE_EPOCH"))


def rfc3339_utc(epoch: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
