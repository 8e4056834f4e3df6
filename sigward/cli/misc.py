"""``sigward version``: cosign's fields (``--json``: the same keys, indented as cosign prints them)."""

from __future__ import annotations

import argparse
from typing import Any

from sigward.cli.flags import add_go_bool


def register(sub: Any) -> None:
    p = sub.add_parser("version", help="print the sigward version")
    add_go_bool(p, "--json", help="print JSON instead of text")
    p.set_defaults(func=_version)


def version_info() -> dict[str, str]:
    """cosign's version keys; Python takes Go's place (``goVersion`` names the Python that runs sigward)."""
    import platform
    import sys

    from sigward import __version__

    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return {
        "gitVersion": f"v{__version__}",
        "gitCommit": "unknown",
        "gitTreeState": "unknown",
        "buildDate": "unknown",
        "goVersion": f"python{platform.python_version()}",
        "compiler": sys.implementation.name,
        "platform": f"{sys.platform}/{machine}",
    }


def _version(args: argparse.Namespace) -> int:
    import json

    info = version_info()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print("sigward: supply-chain signing for OCI artifacts, wire-compatible with cosign\n")
        labels = {"gitVersion": "GitVersion", "gitCommit": "GitCommit", "gitTreeState": "GitTreeState",
                  "buildDate": "BuildDate", "goVersion": "GoVersion", "compiler": "Compiler",
                  "platform": "Platform"}
        for key, label in labels.items():
            print(f"{label + ':':<15}{info[key]}")
    return 0
