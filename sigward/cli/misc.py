"""``sigward version``."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("version", help="print the sigward version")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=_version)


def _version(args: argparse.Namespace) -> int:
    import json
    import platform

    from sigward import __version__

    if args.json:
        print(json.dumps({"gitVersion": __version__, "python": platform.python_version()}))
    else:
        print(f"sigward {__version__} (python {platform.python_version()})")
    return 0
