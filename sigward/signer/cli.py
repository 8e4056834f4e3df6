"""``sigward signer`` / ``/cnb/signer``: the lifecycle-style front end of the signer phase.

Flags are the lifecycle's (Go ``flag`` package: ``-report x``, ``-report=x``, ``--report x``; booleans as
``-layout`` or ``-layout=false``), and so is the environment (``CNB_PLATFORM_API``, ``CNB_LAYERS_DIR``,
``CNB_REPORT_PATH``, ``CNB_INSECURE_REGISTRIES``, ``CNB_LOG_LEVEL``, ``CNB_USE_LAYOUT``, ``CNB_LAYOUT_DIR``,
``CNB_REGISTRY_AUTH``, ``CNB_NO_COLOR``); a flag wins over its variable. Exit codes follow the lifecycle's
phase conventions (platform/exit.go, cmd/exit.go):

    0    every image signed
    1    an unexpected failure (a bug)
    3    invalid arguments: flags, report.toml, cosign.toml
    11   CNB_PLATFORM_API is not one the signer supports
    112  the signer phase refused or failed (the next free phase range after the extender's 100-109,
         "generic error" = x2 as for every phase)

This module reads the environment and prints; ``sigward.signer.phase`` does neither.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

CODE_FAILED = 1
CODE_INVALID_ARGS = 3
CODE_INCOMPATIBLE_PLATFORM_API = 11
CODE_SIGN_ERROR = 112

# Platform API versions whose exporter writes what the signer reads (lifecycle v0.21's list; 0.7 introduced
# the SBOM layer format the RFC names).
SUPPORTED_PLATFORM_APIS = ("0.7", "0.8", "0.9", "0.10", "0.11", "0.12", "0.13", "0.14", "0.15")
LOG_LEVELS = ("debug", "info", "warn", "error")
_BOOLS = ("layout", "daemon", "no-color", "version")

USAGE = """\
usage: signer -cosign-config <cosign.toml> [-report <report.toml>] [-insecure-registry <host>...]
              [-layout -layout-dir <dir>] [-log-level debug|info|warn|error]

Signs every image the lifecycle exporter wrote (report.toml), once per [[configs]] entry of cosign.toml,
and exports its SBOMs as attestations or attachments. See docs/buildpacks.md.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"Error: {message}\n{USAGE}")
        raise SystemExit(CODE_INVALID_ARGS)


def build_parser(prog: str = "signer") -> argparse.ArgumentParser:
    p = _Parser(prog=prog, usage=argparse.SUPPRESS, description=USAGE, allow_abbrev=False,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-cosign-config", "--cosign-config", dest="cosign_config", metavar="PATH",
                   help="the signing configuration (the RFC's cosign.toml)")
    p.add_argument("-report", "--report", dest="report", metavar="PATH",
                   help="the exporter's report.toml (env CNB_REPORT_PATH; default <layers>/report.toml)")
    p.add_argument("-layers", "--layers", dest="layers", metavar="DIR",
                   help="the layers directory (env CNB_LAYERS_DIR; default /layers)")
    p.add_argument("-insecure-registry", "--insecure-registry", dest="insecure", action="append", default=[],
                   metavar="HOST", help="a registry reached over plain HTTP or unverified TLS (repeatable; "
                                        "env "
                                        "CNB_INSECURE_REGISTRIES, comma-separated)")
    p.add_argument("-log-level", "--log-level", dest="log_level", metavar="LEVEL",
                   help="debug, info, warn or error (env CNB_LOG_LEVEL; default info)")
    p.add_argument("-layout", "--layout", dest="layout", action="store_true", default=None,
                   help="the exporter wrote OCI layouts (env CNB_USE_LAYOUT)")
    p.add_argument("-layout-dir", "--layout-dir", dest="layout_dir", metavar="DIR",
                   help="where the OCI layouts are (env CNB_LAYOUT_DIR)")
    p.add_argument("-daemon", "--daemon", dest="daemon", action="store_true", default=None,
                   help="refused: a daemon image has no digest to sign")
    p.add_argument("-no-color", "--no-color", dest="no_color", action="store_true", default=None,
                   help="accepted for the lifecycle's sake; the signer never colours its output")
    p.add_argument("-version", "--version", dest="version", action="store_true", default=None,
                   help="print the version and exit")
    return p


def _go_bools(argv: list[str]) -> list[str]:
    """``-layout=false`` → dropped, ``-layout=true`` → ``-layout`` (Go's flag package accepts both)."""
    from sigward.cli.flags import parse_go_bool

    out = []
    for tok in argv:
        name, eq, value = tok.partition("=")
        if eq and name.lstrip("-") in _BOOLS and name.startswith("-"):
            try:
                if parse_go_bool(value, name):
                    out.append(name)
            except Exception:
                raise _ArgError(f"invalid boolean value {value!r} for flag {name}")
            continue
        out.append(tok)
    return out


class _ArgError(Exception):
    pass


def _env_bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "t", "true")


def main(argv: list[str] | None = None, prog: str = "signer") -> int:
    """The ``signer`` console script (``/cnb/signer``) and ``sigward signer``."""
    from sigward.errors import SigwardError
    from sigward.signer.config import InputError
    from sigward.signer.phase import PhaseError

    args_in = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser(prog).parse_args(_go_bools(args_in))
        return _run(args)
    except _ArgError as e:
        sys.stderr.write(f"Error: {e}\n")
        return CODE_INVALID_ARGS
    except _PlatformAPIError as e:
        sys.stderr.write(f"Error: {e}\n")
        return CODE_INCOMPATIBLE_PLATFORM_API
    except InputError as e:
        sys.stderr.write(f"Error: {e}\n")
        return CODE_INVALID_ARGS
    except (PhaseError, SigwardError) as e:
        sys.stderr.write(f"Error: {e}\n")
        return CODE_SIGN_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted\n")
        return 130
    except Exception as e:  # a bug: one line; SIGWARD_DEBUG=1 shows the traceback
        if os.environ.get("SIGWARD_DEBUG"):
            raise
        sys.stderr.write(f"Error: internal error: {type(e).__name__}: {e} "
                         "(set SIGWARD_DEBUG=1 for details)\n")
        return CODE_FAILED


class _PlatformAPIError(Exception):
    pass


def _run(args: argparse.Namespace) -> int:
    from sigward import __version__
    from sigward.signer.config import InputError, parse_cosign_config, parse_report
    from sigward.signer.phase import PhaseOptions, run_phase

    if args.version:
        print(__version__)
        return 0
    api = os.environ.get("CNB_PLATFORM_API", "").strip()
    if api and api not in SUPPORTED_PLATFORM_APIS:
        raise _PlatformAPIError(f"platform API version {api!r} is incompatible with the signer; supported: "
                                f"{', '.join(SUPPORTED_PLATFORM_APIS)}")
    level = (args.log_level or os.environ.get("CNB_LOG_LEVEL") or "info").strip().lower()
    if level not in LOG_LEVELS:
        raise InputError(f"-log-level {level!r} is not one of {', '.join(LOG_LEVELS)}")
    if args.daemon or (args.daemon is None and _env_bool("CNB_USE_DAEMON")):
        raise InputError("-daemon: an image in a Docker daemon has no registry digest to sign; export to a "
                         "registry, or to an OCI layout (-layout)")
    use_layout = args.layout if args.layout is not None else _env_bool("CNB_USE_LAYOUT")
    layout_dir = args.layout_dir or os.environ.get("CNB_LAYOUT_DIR") or None
    if use_layout and not layout_dir:
        raise InputError("-layout needs -layout-dir (or CNB_LAYOUT_DIR)")
    if not args.cosign_config:
        raise InputError("-cosign-config is required")
    layers = args.layers or os.environ.get("CNB_LAYERS_DIR") or "/layers"
    report_path = args.report or os.environ.get("CNB_REPORT_PATH") or os.path.join(layers, "report.toml")
    report = parse_report(_read(report_path, "-report"), report_path)
    cosign = parse_cosign_config(_read(args.cosign_config, "-cosign-config"), args.cosign_config)

    insecure = set(args.insecure)
    insecure.update(h.strip() for h in os.environ.get("CNB_INSECURE_REGISTRIES", "").split(",") if h.strip())
    keychain = _keychain()
    password = os.environ.get("COSIGN_PASSWORD")
    show = LOG_LEVELS[LOG_LEVELS.index(level):]

    def on_event(lvl: str, msg: str) -> None:
        if lvl in show:
            print(f"Warning: {msg}" if lvl == "warn" else msg, flush=True)

    opts = PhaseOptions(
        cosign_path=args.cosign_config, report_path=report_path,
        layout_dir=layout_dir if use_layout else None,
        store_options=lambda host: _store_options(host, insecure, keychain),
        default_password=password.encode() if password is not None else None,
        on_event=on_event, environment=os.environ,
    )
    result = run_phase(report, cosign, opts)
    counts: dict[str, int] = {}
    for w in result.written:
        counts[w.kind] = counts.get(w.kind, 0) + 1
    if "info" in show:
        parts = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in counts.items())
        print(f"Signed {len(result.images)} image(s) with {len(cosign.configs)} config(s): {parts}")
    return 0


def _read(path: str, flag: str) -> str:
    from sigward.signer.config import InputError

    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{flag} {path}: {getattr(e, 'strerror', None) or e}")


def _keychain() -> Any:
    """``CNB_REGISTRY_AUTH`` first (the lifecycle's keychain), then docker's config and its helpers."""
    from sigward.errors import AuthError
    from sigward.oci.registry.keychain import DockerConfigKeychain, EnvKeychain, MultiKeychain
    from sigward.signer.config import InputError

    try:
        return MultiKeychain(EnvKeychain.from_env(os.environ), DockerConfigKeychain())
    except AuthError as e:
        raise InputError(str(e))


def _store_options(host: str, insecure: set[str], keychain: Any) -> Any:
    from sigward.oci.store import StoreOptions

    return StoreOptions(allow_http_registry=host in insecure, allow_insecure_registry=host in insecure,
                        keychain=keychain)


# -- `sigward signer`: listed in sigward's help; sigward.cli.main hands the arguments over unparsed --------


def register(sub: Any) -> None:
    p = sub.add_parser("signer", help="the buildpacks signer phase: sign what the lifecycle exported",
                       add_help=False, description=USAGE)
    p.set_defaults(func=lambda args: main([], prog="sigward signer"))
