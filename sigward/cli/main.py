"""Entry point: build the parser, dispatch, and turn errors into one line and an exit code.

Command modules (``sigward/cli/<family>.py``) each expose ``register(subparsers)``; they import only
argparse-level code at module level, so start-up stays cheap — operations are imported when a command
runs (a key-based verify must not pay for the Sigstore stack or the HTTP client).

Start-up builds only what runs: ``COMMANDS`` maps each top-level command to the module that registers
it, so ``sigward verify …`` imports and builds ``sigward.cli.verify`` alone (building every sub-parser
was most of ``sigward version``'s time). The whole parser is built only for top-level help, an unknown
command, or a command missing from ``COMMANDS`` (so a forgotten entry is slower, never broken).

Adding a command: write ``register(sub)`` in a module (new modules also go in ``COMMAND_MODULES``, in
help order) and add ``"name": "sigward.cli.module"`` to ``COMMANDS``. tests/cli/test_main_dispatch.py
fails when the table and the modules disagree.
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
    "sigward.cli.policy",
    "sigward.cli.admission",
    "sigward.cli.tools",
    "sigward.cli.pkcs11tool",
    "sigward.cli.misc",
    "sigward.signer.cli",
]
# Top-level command → the module whose register() adds it (one module may add several).
COMMANDS: dict[str, str] = {
    "generate-key-pair": "sigward.cli.keys",
    "import-key-pair": "sigward.cli.keys",
    "public-key": "sigward.cli.keys",
    "sign": "sigward.cli.sign",
    "verify": "sigward.cli.verify",
    "sign-blob": "sigward.cli.blob",
    "verify-blob": "sigward.cli.blob",
    "attach": "sigward.cli.attach",
    "download": "sigward.cli.attach",
    "clean": "sigward.cli.attach",
    "generate": "sigward.cli.attach",
    "save": "sigward.cli.attach",
    "load": "sigward.cli.attach",
    "attest": "sigward.cli.attest",
    "verify-attestation": "sigward.cli.attest",
    "attest-blob": "sigward.cli.attest",
    "verify-blob-attestation": "sigward.cli.attest",
    "copy": "sigward.cli.copy",
    "image": "sigward.cli.image",
    "chart": "sigward.cli.chart",
    "tree": "sigward.cli.inspect",
    "triangulate": "sigward.cli.inspect",
    "demo-image": "sigward.cli.inspect",
    "login": "sigward.cli.login",
    "logout": "sigward.cli.login",
    "manifest": "sigward.cli.manifests",
    "dockerfile": "sigward.cli.manifests",
    "initialize": "sigward.cli.trustcmds",
    "trusted-root": "sigward.cli.trustcmds",
    "signing-config": "sigward.cli.trustcmds",
    "bundle": "sigward.cli.trustcmds",
    "policy": "sigward.cli.policy",
    "admission": "sigward.cli.admission",
    "env": "sigward.cli.tools",
    "completion": "sigward.cli.tools",
    "debug": "sigward.cli.tools",
    "piv-tool": "sigward.cli.tools",
    "upload": "sigward.cli.tools",
    "pkcs11-tool": "sigward.cli.pkcs11tool",
    "signer": "sigward.signer.cli",
    "version": "sigward.cli.misc",
}

DESCRIPTION = """\
sigward signs and verifies OCI artifacts (container images, Helm charts, blobs) in registries and
in on-disk OCI layouts, wire-compatible with cosign: replace `cosign` with `sigward` on a command line.

Anywhere an image reference is accepted, `oci:PATH[:TAG|@DIGEST]` addresses an OCI image layout.
"""


def build_parser(command: str | None = None) -> Parser:
    """The parser; with ``command`` (a name in ``COMMANDS``) only that command's module is imported and
    registered, else every module (top-level help, unknown commands)."""
    return _build([COMMANDS[command]] if command in COMMANDS else COMMAND_MODULES)[0]


def _build(modules: list[str]) -> tuple[Parser, set[str]]:
    """The parser with ``modules`` registered, and the top-level command names it knows."""
    parser = Parser(prog="sigward", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for modname in modules:
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name == modname:
                continue
            raise
        mod.register(sub)
    return parser, set(sub.choices)


# Modules the CLI never uses but that httpx/httpcore import when they happen to be installed: trio (its
# import runs `ldconfig` in a subprocess), anyio (httpcore's async locks; every request the CLI makes is
# synchronous; ~3 ms) and httpx's own command line (click, rich, pygments). Blocking them saves tens of
# milliseconds per registry command; it is done only when main() runs as the process's entry point (argv
# from sys.argv), never in the library or when embedded, whose users may want them.
_NEVER_IMPORTED = ("trio", "anyio", "httpx._main")


def main(argv: list[str] | None = None) -> int:
    """The ``sigward`` command: ``argv`` (default: the process's own arguments) → exit code.

    Run as the process's entry point (``argv`` None) it also keeps unused modules out (above) and, on
    the way out, spares the interpreter its last garbage collection (``_skip_final_collection``)."""
    if argv is not None:
        return _main(argv)
    for name in _NEVER_IMPORTED:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    try:
        return _main(sys.argv[1:])
    finally:
        _skip_final_collection()


def _skip_final_collection() -> None:
    """The process is about to exit: move every live object to the permanent generation, so shutdown
    does not walk them all again in a final garbage collection — 9 to 17 ms of a short command (a copy
    that finds everything present, a 20-platform layout copy; docs/benchmarks.md §7). Harmless there:
    the objects die with the process, atexit handlers and the flush of stdout/stderr still run, and a
    program embedding ``main([...])`` is never affected."""
    import gc

    gc.freeze()


def _main(argv: list[str]) -> int:
    from sigward.cli import globalflags

    args_in = list(argv)
    if args_in[:1] == ["signer"]:
        # The buildpacks phase parses lifecycle-style flags (-report, -cosign-config) and has its own exit
        # codes; it gets its arguments untouched.
        from sigward.signer.cli import main as signer_main

        return signer_main(args_in[1:], prog="sigward signer")
    saved_stdout = sys.stdout
    try:
        args_in, gflags = globalflags.extract(args_in)
        first = args_in[0] if args_in and not args_in[0].startswith("-") else None
        parser, known = _build([COMMANDS[first]] if first in COMMANDS else COMMAND_MODULES)
        if first in COMMANDS and first not in known:  # a stale COMMANDS entry: the full parser knows
            parser, _ = _build(COMMAND_MODULES)
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
        from sigward.cli.errors import cli_message

        sys.stderr.write(f"Error: {cli_message(e)}\n")
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
    except OSError as e:
        # A file, directory or device the user named (ENAMETOOLONG, EACCES, ENOSPC, ...) that a lower layer
        # did not already turn into a SigwardError: still the user's input, so one line, no "internal".
        if os.environ.get("SIGWARD_DEBUG"):
            raise
        where = f": {e.filename}" if getattr(e, "filename", None) else ""
        sys.stderr.write(f"Error: {e.strerror or e}{where}\n")
        return 1
    except (RecursionError, MemoryError) as e:
        if os.environ.get("SIGWARD_DEBUG"):
            raise
        what = "nested too deeply" if isinstance(e, RecursionError) else "too large"
        sys.stderr.write(f"Error: input {what} to process\n")
        return 1
    except Exception as e:  # a bug: say so in one line; SIGWARD_DEBUG=1 shows the traceback
        if type(e).__name__ == "UnsupportedAlgorithm" and not os.environ.get("SIGWARD_DEBUG"):
            # cryptography refusing a key or certificate algorithm it was handed: the input's fault.
            sys.stderr.write(f"Error: unsupported algorithm: {e}\n")
            return 1
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
