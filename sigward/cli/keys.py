"""``generate-key-pair``, ``import-key-pair`` and ``public-key`` (cosign-compatible).

Files and messages follow cosign (cosign-wire-formats.md §1): ``<prefix>.key`` (0600) holding an
``ENCRYPTED SIGSTORE PRIVATE KEY`` and ``<prefix>.pub`` (0644), progress on stderr. Unlike cosign, an
existing key is checked *before* the password is asked, and without a terminal to confirm on we refuse
to overwrite unless ``-y`` is given - a pipeline must never silently replace someone's signing key.
Crypto modules are imported inside the command functions to keep start-up cheap.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from sigward.errors import KeyFileError, UsageError


def register(sub: Any) -> None:
    p = sub.add_parser("generate-key-pair", help="generate an ECDSA P-256 key pair for signing")
    p.add_argument("key_url", nargs="?", default="",
                   help="k8s://NS/NAME: store the key pair in a Kubernetes Secret "
                        "(github://, gitlab:// not supported yet)")
    p.add_argument("--output-key-prefix", default="cosign", metavar="PREFIX",
                   help="name used for the generated .pub and .key files (default cosign)")
    p.add_argument("--kms", default="", metavar="URI",
                   help="create the key pair in a KMS (awskms://) and write only the .pub")
    p.add_argument("-y", "--yes", action="store_true", help="overwrite an existing key without asking")
    p.set_defaults(func=_generate)

    p = sub.add_parser("import-key-pair", help="import a PEM private key as a cosign key pair")
    p.add_argument("-k", "--key", required=True, metavar="FILE",
                   help="PEM private key to import (PKCS#1 RSA, SEC1 EC or PKCS#8)")
    p.add_argument("-o", "--output-key-prefix", default="import-cosign", metavar="PREFIX",
                   help="name used for the .pub and .key files (default import-cosign)")
    p.add_argument("-y", "--yes", action="store_true", help="overwrite an existing key without asking")
    p.set_defaults(func=_import)

    p = sub.add_parser("public-key", help="print the public key of a private key")
    p.add_argument("--key", default="", metavar="REF", help="private key: path, env://VAR or a KMS URI")
    p.add_argument("--outfile", default="", metavar="FILE", help="write the PEM here instead of stdout")
    p.add_argument("--sk", action="store_true", help="use a hardware security key (not supported yet)")
    p.add_argument("--slot", default="", help="security key slot (with --sk)")
    p.set_defaults(func=_public_key)


def _confirm_overwrite(path: str, yes: bool) -> None:
    if yes or not os.path.exists(path):
        return
    stdin = sys.stdin
    if stdin is None or not stdin.isatty():
        raise KeyFileError(f"File {path} already exists; not overwriting it without confirmation "
                           "(use -y to overwrite)")
    sys.stderr.write(f"File {path} already exists. Overwrite (y/[N])? ")
    sys.stderr.flush()
    answer = stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise KeyFileError(f"not overwriting {path}")


def _write_pair(prefix: str, private_pem: bytes, public_pem: bytes) -> None:
    from sigward.keys.files import write_files_atomically

    key_path, pub_path = f"{prefix}.key", f"{prefix}.pub"
    write_files_atomically([(key_path, private_pem, 0o600), (pub_path, public_pem, 0o644)])
    sys.stderr.write(f"Private key written to {key_path}\n")
    sys.stderr.write(f"Public key written to {pub_path}\n")


def _generate(args: argparse.Namespace) -> int:
    if args.kms:
        return _generate_kms(args)
    if args.key_url:
        return _generate_remote(args)
    if not args.output_key_prefix:
        raise UsageError("--output-key-prefix must not be empty")
    _confirm_overwrite(f"{args.output_key_prefix}.key", args.yes)

    from sigward.cli.password import read_password
    from sigward.keys.algorithms import generate_private_key
    from sigward.keys.encrypted import encrypt_private_key
    from sigward.keys.keytypes import public_key_pem

    password = read_password(True)
    key = generate_private_key("ecdsa-sha2-256-nistp256")  # cosign always generates P-256 here
    _write_pair(args.output_key_prefix, encrypt_private_key(key, password), public_key_pem(key.public_key()))
    return 0


def _generate_kms(args: argparse.Namespace) -> int:
    """cosign: create the key in the KMS (or reuse the existing one) and write only ``<prefix>.pub``."""
    from sigward.keys.files import write_files_atomically
    from sigward.keys.keytypes import public_key_pem
    from sigward.keys.remote.dispatch import create_kms_key

    pem_bytes = public_key_pem(create_kms_key(args.kms))
    pub_path = f"{args.output_key_prefix or 'cosign'}.pub"
    write_files_atomically([(pub_path, pem_bytes, 0o644)])
    sys.stderr.write(f"Public key written to {pub_path}\n")
    return 0


def _generate_remote(args: argparse.Namespace) -> int:
    """``generate-key-pair k8s://NS/NAME``: the key pair into a Kubernetes Secret, ``cosign.pub`` locally."""
    from sigward.keys.keyref import not_supported, parse_key_ref

    ref = parse_key_ref(args.key_url)
    if ref.kind != "k8s":
        raise not_supported(ref)
    from sigward.cli.password import read_password
    from sigward.keys.algorithms import generate_private_key
    from sigward.keys.encrypted import encrypt_private_key
    from sigward.keys.files import write_files_atomically
    from sigward.keys.keytypes import public_key_pem
    from sigward.keys.remote import k8s

    k8s.parse(args.key_url)  # a malformed reference fails before a password is asked
    password = read_password(True)
    key = generate_private_key("ecdsa-sha2-256-nistp256")  # cosign always generates P-256 here
    public_pem = public_key_pem(key.public_key())
    namespace, name = k8s.store_key_pair(args.key_url, encrypt_private_key(key, password), public_pem,
                                         password)
    sys.stderr.write(f"Successfully created secret {name} in namespace {namespace}\n")
    write_files_atomically([("cosign.pub", public_pem, 0o600)])
    sys.stderr.write("Public key written to cosign.pub\n")
    return 0


def _import(args: argparse.Namespace) -> int:
    if not args.output_key_prefix:
        raise UsageError("--output-key-prefix must not be empty")
    from sigward.cli.password import read_password
    from sigward.keys.importing import import_key_pair, parse_import_key
    from sigward.keys.keyref import KeyRef

    raw = KeyRef("file", args.key, args.key).read()
    try:
        parse_import_key(raw)  # fail on a bad key before asking anything
    except KeyFileError as e:
        raise KeyFileError(f"{args.key}: {e}") from None
    _confirm_overwrite(f"{args.output_key_prefix}.key", args.yes)
    private_pem, public_pem = import_key_pair(raw, read_password(True), args.key)
    _write_pair(args.output_key_prefix, private_pem, public_pem)
    return 0


def _public_key(args: argparse.Namespace) -> int:
    if args.sk:
        raise KeyFileError("hardware security keys (--sk) are not supported yet")
    if not args.key:
        raise UsageError("--key is required")
    from sigward.cli.password import read_password
    from sigward.keys.keyref import parse_key_ref
    from sigward.keys.keytypes import public_key_pem
    from sigward.keys.providers import load_signer, load_verifier

    ref = parse_key_ref(args.key)
    if ref.kind in ("file", "env"):
        data = public_key_pem(load_signer(ref, read_password).public_key)
    else:  # a key in a KMS, token or secret: its public half, no PIN or password needed
        data = public_key_pem(load_verifier(ref).public_key)
    if not args.outfile:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    from sigward.keys.files import write_files_atomically

    write_files_atomically([(args.outfile, data, 0o666)])
    sys.stderr.write(f"Public key written to {args.outfile}\n")
    return 0
