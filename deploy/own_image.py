"""Helpers of scripts/build-own-image.sh, the build of sigward's own container image.

Three small steps the shell script cannot do well, kept here so they are typed and linted:

- ``constraints``: pin the image's Python packages to the versions installed where the image is built
  (sigward's runtime dependency closure, read from this interpreter's metadata), so the image carries what
  the test suite ran against rather than whatever the index serves that day;
- ``requirements SITE``: list what was actually installed into the image's site-packages (``name==version``),
  the input of the CycloneDX SBOM that is attested on the image;
- ``set-values VALUES REPOSITORY DIGEST``: write the image into a copy of the chart's values.yaml, keeping its
  comments, so the packaged chart deploys exactly the image that was signed.

Every failure is one ``Error: …`` line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class HelperError(Exception):
    """A user-facing failure: printed as one ``Error:`` line."""


def dependency_closure(root: str, extras: Iterable[str] = ()) -> dict[str, str]:
    """Canonical name -> installed version for ROOT and everything it requires (with EXTRAS), transitively.

    Markers are evaluated for this interpreter, which matches the image's (the script refuses a Python
    minor version other than the base's), so the closure is the set pip would install there.
    """
    pinned: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset(extras))]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, wanted = todo.pop()
        key = (canonicalize_name(name), wanted)
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise HelperError(f"{name} is required by sigward but not installed here; "
                              f"install sigward first (pip install -e .)") from None
        pinned[canonicalize_name(name)] = dist.version
        for line in dist.requires or []:
            try:
                req = Requirement(line)
            except InvalidRequirement as e:
                raise HelperError(f"{name}'s metadata has a bad requirement {line!r}: {e}") from None
            environments = [{"extra": e} for e in wanted] or [{"extra": ""}]
            if req.marker is None or any(req.marker.evaluate(env) for env in environments):
                todo.append((req.name, frozenset(req.extras)))
    return pinned


def installed(site: Path) -> dict[str, str]:
    """Canonical name -> version of every distribution installed in SITE (a ``pip install --target`` dir)."""
    if not site.is_dir():
        raise HelperError(f"{site} is not a directory")
    found: dict[str, str] = {canonicalize_name(d.metadata["Name"]): d.version
             for d in metadata.distributions(path=[str(site)])}
    if "sigward" not in found:
        raise HelperError(f"sigward is not installed in {site}")
    return found


def set_image(values: str, repository: str, digest: str) -> str:
    """VALUES (a chart's values.yaml) with ``image.repository`` and ``image.digest`` set, comments kept."""
    if not DIGEST.match(digest):
        raise HelperError(f"{digest!r} is not a sha256:<64 hex> digest")
    if "@" in repository or not repository:
        raise HelperError(f"{repository!r} is not a repository")
    text, n_repo = re.subn(r"(?m)^(  repository:).*$", lambda m: f"{m.group(1)} {repository}", values,
                           count=1)
    text, n_digest = re.subn(r"(?m)^(  digest:).*$", lambda m: f'{m.group(1)} "{digest}"', text, count=1)
    image = (yaml.safe_load(text) or {}).get("image") or {}
    if (n_repo, n_digest) != (1, 1) or image.get("repository") != repository or image.get("digest") != digest:
        raise HelperError("could not set image.repository and image.digest in the chart's values.yaml")
    return text


def _lines(pins: dict[str, str]) -> str:
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="own_image.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("constraints", help="pins of sigward's runtime dependencies, as installed here")
    c.add_argument("--extra", action="append", default=[], help="also the dependencies of this extra")
    r = sub.add_parser("requirements", help="name==version of what is installed in SITE")
    r.add_argument("site", type=Path)
    v = sub.add_parser("set-values", help="write the image into a chart's values.yaml")
    v.add_argument("values", type=Path)
    v.add_argument("repository")
    v.add_argument("digest")
    args = parser.parse_args(argv)
    try:
        if args.command == "constraints":
            pins = dependency_closure("sigward", args.extra)
            pins.pop("sigward")  # installed from the wheel just built, not from an index
            sys.stdout.write(_lines(pins))
        elif args.command == "requirements":
            sys.stdout.write(_lines(installed(args.site)))
        else:
            args.values.write_text(set_image(args.values.read_text(), args.repository, args.digest))
    except (HelperError, OSError) as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
