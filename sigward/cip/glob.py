"""policy-controller's image globs (``pkg/apis/glob``): which images a ClusterImagePolicy's
``images[].glob`` selects.

A glob is an anchored regular expression in disguise: ``**`` matches anything (``/`` included), ``*``
anything but ``/`` — it does cross ``:`` and ``@``, so ``repo*`` matches ``repo:tag`` and ``repo@sha256:…``.
The exact globs ``*`` and ``*/*`` are rewritten to ``index.docker.io/library/*`` and ``index.docker.io/*/*``.
Only ``[A-Za-z0-9-_:/*.@]`` may appear (``[``, ``?``, ``+``, ``{`` are refused).

The glob is matched against go-containerregistry's ``ref.Name()`` — the fully qualified name: Docker Hub
as ``index.docker.io``, ``library/`` for one-component Hub names, ``:latest`` when there is no tag, and
**no tag at all for a digest reference** (``repo:tag@sha256:…`` → ``repo@sha256:…``). That last rule is
why ``registry/repo:**`` never matches at admission (policy-controller issue #888); it is kept, because
a policy must select the same images here as in the cluster. When that name differs from the input,
the raw input is tried too (policy-controller's fallback; it is what makes ``foo`` match ``foo*``).

``oci:`` layouts (a sigward extension) are named ``oci:PATH`` plus ``:tag`` or ``@sha256:…``, so a glob
such as ``oci:**`` selects them.
"""

from __future__ import annotations

import re
from functools import lru_cache

from sigward.errors import UsageError

_VALID = re.compile(r"^[a-zA-Z0-9\-_:/*.@]+$")


class GlobError(UsageError):
    """A glob policy-controller would refuse (``invalid glob "…"``)."""


@lru_cache(maxsize=1024)
def compile_glob(glob: str) -> re.Pattern[str]:
    """The anchored regular expression ``glob`` stands for; raises GlobError for an invalid glob."""
    if glob == "*/*":
        glob = "index.docker.io/*/*"
    if glob == "*":
        glob = "index.docker.io/library/*"
    if not _VALID.match(glob):
        raise GlobError(f"invalid glob {glob!r}".replace("'", '"'))
    rx = glob.replace(".", r"\.").replace("**", "#").replace("*", "[^/]*").replace("#", ".*")
    return re.compile(f"^{rx}$")


def image_name(image: str) -> str:
    """go-containerregistry's ``ref.Name()`` for ``image`` (``oci:`` layouts: ``oci:PATH[:tag|@digest]``).

    Raises sigward's InvalidReferenceError for a reference that does not parse."""
    from sigward.oci.reference import DEFAULT_TAG, LayoutReference, parse_reference

    ref = parse_reference(image)
    if isinstance(ref, LayoutReference):
        return str(ref)
    if ref.digest:
        return f"{ref.name}@{ref.digest}"
    return f"{ref.name}:{ref.tag or DEFAULT_TAG}"


def glob_matches(pattern: str, image: str) -> bool:
    """Whether ``pattern`` selects ``image``, as policy-controller's ``glob.Match``.

    Raises GlobError for an invalid glob and InvalidReferenceError for an image that does not parse."""
    rx = compile_glob(pattern)
    name = image_name(image)
    if rx.match(name):
        return True
    return name != image and rx.match(image) is not None
