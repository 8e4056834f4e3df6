"""``pkcs11-tool list-tokens`` / ``list-keys-uris``: find the token and the ``pkcs11:`` URI of a key.

Output follows cosign's ``cmd/cosign/cli/pkcs11cli``, except that a listed URI never carries
``pin-value`` (cosign's does when ``--pin`` was given): a PIN printed to a terminal or CI log is leaked.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from sigward.errors import UsageError


def register(sub: Any) -> None:
    p = sub.add_parser("pkcs11-tool", help="utilities for retrieving information from a PKCS11 token")
    tool = p.add_subparsers(dest="pkcs11_command", metavar="COMMAND")
    p.set_defaults(func=lambda args: _help(p))

    lt = tool.add_parser("list-tokens", help="list all PKCS11 tokens linked to a module")
    _module_flag(lt)
    lt.set_defaults(func=_list_tokens)

    lk = tool.add_parser("list-keys-uris", help="list URIs of all keys in a PKCS11 token")
    _module_flag(lk)
    lk.add_argument("--slot-id", type=int, default=0, help="id of the PKCS11 slot, uses 0 if empty")
    lk.add_argument("--pin", default="",
                    help="pin of the PKCS11 slot, uses environment variable COSIGN_PKCS11_PIN if empty")
    lk.set_defaults(func=_list_keys)


def _help(p: argparse.ArgumentParser) -> int:
    import sys

    p.print_help(sys.stderr)
    return 1


def _module_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--module-path", default=os.environ.get("COSIGN_PKCS11_MODULE_PATH", ""),
                   help="absolute path to the PKCS11 module")


def _module(args: argparse.Namespace) -> str:
    if not args.module_path:
        raise UsageError("please specify --module-path or set COSIGN_PKCS11_MODULE_PATH")
    if not os.path.isabs(args.module_path):
        raise UsageError(f"--module-path must be an absolute path: {args.module_path}")
    return str(args.module_path)


def _list_tokens(args: argparse.Namespace) -> int:
    from sigward.keys.remote import pkcs11

    module = _module(args)
    tokens = pkcs11.list_tokens(module)
    out = [f"\nListing tokens of PKCS11 module '{module}'"]
    for t in tokens:
        out += [f"Token in slot {t.slot}", f"\tLabel: {t.label}", f"\tManufacturer: {t.manufacturer}",
                f"\tModel: {t.model}", f"\tS/N: {t.serial}\n"]
    print("\n".join(out))
    return 0


def _list_keys(args: argparse.Namespace) -> int:
    from sigward.cli.common import pin_prompt
    from sigward.keys.remote import pkcs11

    module = _module(args)
    keys = pkcs11.list_keys(module, args.slot_id, args.pin, pin_prompt())
    out = [f"\nListing URIs of keys in slot '{args.slot_id}' of PKCS11 module '{module}'"]
    for i, k in enumerate(keys):
        out.append(f"Object {i}")
        if k.label:
            out.append(f"\tLabel: {k.label.decode('utf-8', 'replace')}")
        if k.key_id:
            out.append(f"\tID: {k.key_id.hex()}")
        out.append(f"\tURI: {k.uri}")
    print("\n".join(out))
    return 0
