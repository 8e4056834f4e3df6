"""Image references: the docker reference grammar, plus ``oci:PATH[:TAG|@DIGEST]`` for layouts.

Normalisation follows go-containerregistry (what cosign uses): Docker Hub is ``index.docker.io`` (API
host ``registry-1.docker.io``) and single-component Hub names get ``library/``. Errors name the part
that is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sigward.errors import InvalidReferenceError
from sigward.oci.digest import validate_digest

DOCKER_HUB = "index.docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
DEFAULT_TAG = "latest"
# The identifier of ``oci:PATH`` with neither tag nor digest: the layout's only image (skopeo's ``oci:``
# convention), never an implicit ``latest``. ``LayoutStore.resolve`` understands it.
ONLY_IMAGE = ""
MAX_NAME_LENGTH = 255

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_COMPONENT_RE = re.compile(rf"^{_COMPONENT}$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_DOMAIN_LABEL = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_HOST_RE = re.compile(
    rf"^(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9A-Fa-f:.]+(?:%[A-Za-z0-9]+)?\])(?::[0-9]+)?$"
)


@dataclass(frozen=True)
class Reference:
    """A registry reference. ``tag`` and ``digest`` may both be set (the digest wins)."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def api_host(self) -> str:
        """Host (and port) to send HTTP requests to."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def name(self) -> str:
        """``registry/repository`` with no tag or digest (ggcr's ``Repository.Name()``)."""
        return f"{self.registry}/{self.repository}"

    @property
    def identifier(self) -> str:
        """What to ask the registry for: the digest if known, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, None, validate_digest(digest))

    def with_tag(self, tag: str) -> Reference:
        validate_tag(tag)
        return Reference(self.registry, self.repository, tag, None)

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


@dataclass(frozen=True)
class LayoutReference:
    """An OCI image layout directory, optionally with a tag (``ref.name``) or digest."""

    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"oci:{self.path}"

    @property
    def identifier(self) -> str:
        """Digest, else tag, else ONLY_IMAGE: reading ``oci:PATH`` takes the layout's one image."""
        return self.digest or self.tag or ONLY_IMAGE

    def with_digest(self, digest: str) -> LayoutReference:
        return LayoutReference(self.path, None, validate_digest(digest))

    def with_tag(self, tag: str) -> LayoutReference:
        validate_tag(tag)
        return LayoutReference(self.path, tag, None)

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


AnyReference = Reference | LayoutReference


def validate_tag(tag: str) -> str:
    if not _TAG_RE.match(tag):
        raise InvalidReferenceError(
            f"invalid tag {tag!r}: tags are 1-128 characters of [A-Za-z0-9_.-], not starting with . or -"
        )
    return tag


def parse_reference(text: str, *, default_tag: bool = True) -> AnyReference:
    """Parse an image reference (``oci:`` layouts included).

    With ``default_tag`` a registry reference with neither tag nor digest gets ``latest`` (as docker does).
    A layout reference never does: ``oci:PATH`` alone names the layout's only image when read, and writes
    an untagged entry (or the source's tag, for ``copy``), as skopeo's ``oci:`` transport does.
    """
    if not isinstance(text, str) or not text:
        raise InvalidReferenceError("empty image reference")
    if text.startswith("oci:"):
        return _parse_layout(text)
    return _parse_registry(text, default_tag)


def parse_registry_reference(text: str, *, default_tag: bool = True) -> Reference:
    ref = parse_reference(text, default_tag=default_tag)
    if not isinstance(ref, Reference):
        raise InvalidReferenceError(f"{text!r}: a registry reference is required here, not an OCI layout")
    return ref


def parse_repository(text: str) -> Reference:
    """Parse ``registry/repo`` with no tag or digest (e.g. ``COSIGN_REPOSITORY``)."""
    ref = parse_registry_reference(text, default_tag=False)
    if ref.tag or ref.digest:
        raise InvalidReferenceError(f"invalid repository {text!r}: a repository has no tag or digest")
    return ref


def _parse_layout(text: str) -> LayoutReference:
    body = text[len("oci:"):]
    tag = digest = None
    if "@" in body:
        body, digest = body.rsplit("@", 1)
        try:
            validate_digest(digest)
        except InvalidReferenceError as e:
            raise InvalidReferenceError(f"invalid reference {text!r}: {e}")
    else:
        head, sep, tail = body.rpartition(":")
        if sep and head and "/" not in tail:
            if not _TAG_RE.match(tail):
                raise InvalidReferenceError(f"invalid reference {text!r}: invalid tag {tail!r}")
            body, tag = head, tail
    if not body:
        raise InvalidReferenceError(f"invalid reference {text!r}: the layout path is empty")
    return LayoutReference(body, tag, digest)


def _split_domain(text: str) -> tuple[str | None, str]:
    i = text.find("/")
    if i == -1:
        return None, text
    first = text[:i]
    # docker's rule: the first component is a host if it has '.' or ':', is localhost, or has upper case.
    if "." in first or ":" in first or first == "localhost" or first != first.lower():
        return first, text[i + 1:]
    return None, text


def _parse_registry(text: str, default_tag: bool) -> Reference:
    if any(c.isspace() for c in text):
        raise InvalidReferenceError(f"invalid reference {text!r}: contains white space")
    rest, digest = text, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        try:
            validate_digest(digest)
        except InvalidReferenceError as e:
            raise InvalidReferenceError(f"invalid reference {text!r}: {e}")
    domain, remainder = _split_domain(rest)
    tag = None
    # A ':' after the last '/' separates the tag.
    slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    if colon > slash:
        remainder, tag = remainder[:colon], remainder[colon + 1:]
        if not _TAG_RE.match(tag):
            raise InvalidReferenceError(
                f"invalid reference {text!r}: invalid tag {tag!r} "
                "(1-128 characters of [A-Za-z0-9_.-], not starting with . or -)"
            )
    if domain is not None:
        if not _HOST_RE.match(domain):
            raise InvalidReferenceError(f"invalid reference {text!r}: invalid registry host {domain!r}")
        if domain.rsplit(":", 1)[-1].isdigit() and not domain.startswith("["):
            port = int(domain.rsplit(":", 1)[-1])
            if port > 65535:
                raise InvalidReferenceError(f"invalid reference {text!r}: invalid port in {domain!r}")
    if not remainder:
        raise InvalidReferenceError(f"invalid reference {text!r}: missing repository name")
    for comp in remainder.split("/"):
        if not comp:
            raise InvalidReferenceError(f"invalid reference {text!r}: empty path component")
        if not _COMPONENT_RE.match(comp):
            if comp.lower() != comp and _COMPONENT_RE.match(comp.lower()):
                raise InvalidReferenceError(
                    f"invalid reference {text!r}: repository name must be lowercase ({comp!r})"
                )
            raise InvalidReferenceError(
                f"invalid reference {text!r}: invalid repository component {comp!r} "
                "(lower-case letters, digits and single . _ __ or - separators)"
            )
    registry = domain or DOCKER_HUB
    if registry in _HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in remainder:
            remainder = f"library/{remainder}"
    if len(f"{domain or 'docker.io'}/{remainder}") > MAX_NAME_LENGTH:
        raise InvalidReferenceError(
            f"invalid reference {text!r}: repository name longer than {MAX_NAME_LENGTH} characters"
        )
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(registry, remainder, tag, digest)
