"""Entry point: build the parser, dispatch, and turn errors into one line and an exit code.

Command modules (``sigward/cli/<family>.py``) each expose ``register(subparsers)``; they import only
argparse-level code at module level, so start-up stays cheap — operations are imported when a command
runs (a key-based verify must not pay for the Sigstore stack or the HTTP client).
"""

from __future__ import annotations

import importlib
import os
import sys

from sigward.cli.flags import Parser, rewrite_go_bools
from sigward.errors import SigwardError

# Modules providing commands, in help order. A module that is missing is skipped, so the list can
# name families still being built.
COMMAND_MODULES = [
    "sigward.cli.keys",
    "sigward.cli.sign",
    "sigward.cli.verify",
    "sigward.cli.blob",
    "sigward.cli.attach",
    "sigward.cli.attest",
    "sigward.cli.copy",
    "sigward.cli.image",
    "sigward.cli.chart",
    "sigward.cli.inspect",
    "sigward.cli.login",
    "sigward.cli.manifests",
    "sigward.cli.trustcmds",
    "sigward.cli.tools",
    "sigward.cli.misc",
    "sigward.signer.cli",
]

DESCRIPTION = """\
sigward signs and verifies OCI artifacts (container images, Helm charts, blobs) in registries and
in on-disk OCI layouts, wire-compatible with cosign: replace `cosign` with `sigward` on a command line.

Anywhere an image reference is accepted, `oci:PATH[:TAG|@DIGEST]` addresses an OCI image layout.
"""


def build_parser() -> Parser:
    parser = Parser(prog="sigward", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for modname in COMMAND_MODULES:
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name == modname:
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from sigward.cli import globalflags

    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["signer"]:
        # The buildpacks phase parses lifecycle-style flags (-report, -cosign-config) and has its own exit
        # codes; it gets its arguments untouched.
        from sigward.signer.cli import main as signer_main

        return signer_main(args_in[1:], prog="sigward signer")
    saved_stdout = sys.stdout
    try:
        args_in, gflags = globalflags.extract(args_in)
        parser = build_parser()
        args = parser.parse_args(rewrite_go_bools(args_in))
        func = getattr(args, "func", None)
        if func is None:
            parser.print_help(sys.stderr)
            return 1
        if gflags.verbose:
            globalflags.enable_verbose()
        if gflags.output_file:
            try:
                sys.stdout = open(gflags.output_file, "w")  # noqa: SIM115 - closed in finally
            except OSError as e:
                raise SigwardError(f"error creating output file {gflags.output_file}: {e.strerror or e}")
        globalflags.arm_timeout(gflags.timeout)
        try:
            rc = func(args)
        finally:
            globalflags.disarm_timeout()
        return int(rc or 0)
    except globalflags.CommandTimeout:
        sys.stderr.write("Error: context deadline exceeded (the command ran longer than -t/--timeout)\n")
        return 1
    except SigwardError as e:
        sys.stderr.write(f"Error: {e}\n")
        return e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted\n")
        return 130
    except BrokenPipeError:
        # stdout closed early (e.g. piped to head): not an error worth a message.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return 1
    except Exception as e:  # a bug: say so in one line; SIGWARD_DEBUG=1 shows the traceback
        if os.environ.get("SIGWARD_DEBUG"):
            raise
        sys.stderr.write(
            f"Error: internal error: {type(e).__name__}: {e} (set SIGWARD_DEBUG=1 for details)\n"
        )
        return 1
    finally:
        if sys.stdout is not saved_stdout:
            try:
                sys.stdout.close()
            finally:
                sys.stdout = saved_stdout


if __name__ == "__main__":
    raise SystemExit(main())
