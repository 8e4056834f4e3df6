"""cosign-compatible flag parsing on top of argparse.

cosign is a Go/cobra program: boolean flags take an optional ``=value`` parsed by ``strconv.ParseBool``
(``--tlog-upload=false``, ``-f=1``) but never consume the next argument. argparse cannot express that,
so boolean flags are declared with ``add_go_bool`` and ``--flag=value`` tokens are rewritten before
parsing. Usage errors exit 1, as cobra does.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

from sigward.errors import UsageError

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}

# Option string → dest for every flag declared with add_go_bool, shared by all sub-parsers
# (a flag name is boolean everywhere it is used, as in cosign).
_GO_BOOLS: dict[str, str] = {}


def parse_go_bool(value: str, flag: str = "") -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    where = f" for {flag}" if flag else ""
    raise UsageError(
        f'invalid argument "{value}"{where}: strconv.ParseBool: parsing "{value}": invalid syntax'
    )


def env_bool(name: str, default: bool = False) -> bool:
    """An environment variable read the way cosign reads booleans (unset or unparsable → default)."""
    import os

    v = os.environ.get(name)
    if v is None:
        return default
    try:
        return parse_go_bool(v)
    except UsageError:
        return default


class _GoBoolAction(argparse.Action):
    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        kwargs["nargs"] = 0
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, self.const)


def add_go_bool(parser: argparse.ArgumentParser | Any, *names: str, default: bool = False,
                help: str = "", dest: str | None = None) -> None:
    """Declare a Go-style boolean flag: ``--x``, ``--x=true``, ``--x=false``."""
    # A hidden flag stays hidden: argparse only recognises the bare SUPPRESS marker.
    shown = help if help == argparse.SUPPRESS else f"{help} (default {str(default).lower()})".strip()
    kw: dict[str, Any] = {"default": default, "const": True, "help": shown}
    if dest:
        kw["dest"] = dest
    action = parser.add_argument(*names, action=_GoBoolAction, **kw)
    for n in names:
        _GO_BOOLS[n] = action.dest
    # The hidden negative form the rewriter targets.
    parser.add_argument(f"--no-{action.dest.replace('_', '-')}--", dest=action.dest, action=_GoBoolAction,
                        const=False, help=argparse.SUPPRESS)


def rewrite_go_bools(argv: list[str]) -> list[str]:
    """Turn ``--flag=value`` for boolean flags into ``--flag`` or the hidden negative form."""
    out: list[str] = []
    for i, tok in enumerate(argv):
        if tok == "--":
            out.extend(argv[i:])
            break
        if tok.startswith("-") and "=" in tok:
            name, value = tok.split("=", 1)
            if name in _GO_BOOLS:
                if parse_go_bool(value, name):
                    out.append(name)
                else:
                    out.append(f"--no-{_GO_BOOLS[name].replace('_', '-')}--")
                continue
        out.append(tok)
    return out


class Parser(argparse.ArgumentParser):
    """argparse with cobra's habits: no abbreviations, usage errors exit 1 with one line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"Error: {message}\nRun '{self.prog} --help' for usage.\n")
        raise SystemExit(1)


def add_annotations(parser: argparse.ArgumentParser | Any, help: str) -> None:
    """``-a key=value`` (repeatable; commas separate several pairs, as pflag's StringSlice)."""
    parser.add_argument("-a", "--annotations", action="append", default=[], metavar="KEY=VALUE", help=help)


def parse_annotations(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        for item in v.split(","):
            if not item:
                continue
            if "=" not in item:
                raise UsageError(f"unable to parse annotation {item!r}: expected key=value")
            k, val = item.split("=", 1)
            out[k] = val
    return out


def add_format_flags(parser: argparse.ArgumentParser | Any, legacy_tag: str) -> None:
    """``--new-bundle-format`` and ``--record-creation-timestamp``, as sign and attest share them."""
    add_go_bool(parser, "--new-bundle-format", default=True,
                help=f"write a Sigstore bundle as an OCI 1.1 referrer (false: the legacy {legacy_tag} image)")
    add_go_bool(parser, "--record-creation-timestamp",
                help="legacy format: record the creation time in the signatures image's config "
                     "(SOURCE_DATE_EPOCH if set; by default Go's zero time, so re-signing is reproducible)")


class _RefusedAction(argparse.Action):
    """A cosign flag sigward parses but cannot honour: giving it a value fails with ``reason``.

    Boolean flags refuse only ``true`` (``--sk=false`` is what sigward does anyway); string flags refuse
    any non-empty value. The flag still appears in ``--help`` so a user sees it exists and why not.
    """

    def __init__(self, option_strings: list[str], dest: str, *, reason: str, boolean: bool = False,
                 **kwargs: Any) -> None:
        self.reason = reason
        self.boolean = boolean
        if boolean:
            kwargs["nargs"] = 0
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if self.boolean and self.const is False:
            setattr(namespace, self.dest, False)
            return
        if self.boolean or values:
            raise UsageError(f"{option_string or self.option_strings[0]}: {self.reason}")


def add_refused(parser: argparse.ArgumentParser | Any, *names: str, reason: str, boolean: bool = False,
                help: str | None = None, metavar: str | None = None) -> None:
    """Declare a cosign flag that sigward refuses with one clear line (see ``_RefusedAction``)."""
    shown = argparse.SUPPRESS if help is None else f"{help} (not supported: {reason})"
    kw: dict[str, Any] = {"reason": reason, "boolean": boolean, "help": shown,
                          "default": False if boolean else None}
    if boolean:
        kw["const"] = True
    elif metavar:
        kw["metavar"] = metavar
    action = parser.add_argument(*names, action=_RefusedAction, **kw)
    if boolean:
        for n in names:
            _GO_BOOLS[n] = action.dest
        parser.add_argument(f"--no-{action.dest.replace('_', '-')}--", dest=action.dest,
                            action=_RefusedAction, reason=reason, boolean=True, const=False,
                            help=argparse.SUPPRESS)


NO_SECURITY_KEY = ("hardware security keys (YubiKey PIV) are not supported; use a key file, a KMS key "
                   "(--key awskms://, gcpkms://, azurekms://, hashivault://) or a PKCS#11 URI")


def add_security_key_flags(parser: argparse.ArgumentParser | Any) -> None:
    """cosign's ``--sk``/``--slot`` (SecurityKeyOptions): refused, no PIV support."""
    add_refused(parser, "--sk", boolean=True, reason=NO_SECURITY_KEY,
                help="use a hardware security key")
    add_refused(parser, "--slot", reason=NO_SECURITY_KEY, help="security key slot", metavar="SLOT")
