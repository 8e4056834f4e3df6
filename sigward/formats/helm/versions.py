"""Chart versions: strict SemVer 2.0.0 (what Helm's OCI tag listing accepts) and Helm's tag rule.

Validation and precedence come from the ``semver`` package: its grammar is SemVer 2.0.0's, ASCII only,
with no ``v`` prefix and all three numbers, the same answers as Helm's check; build metadata does not
count for precedence. Only the tag mapping (``+`` ↔ ``_``) is Helm's own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sigward.formats.helm.common import ChartError

if TYPE_CHECKING:
    import semver


def is_semver(version: str) -> bool:
    """SemVer 2.0.0, strictly (no ``v`` prefix, all three numbers): what Helm's tag listing accepts."""
    import semver

    return bool(semver.Version.is_valid(version))


def semver_key(version: str) -> semver.Version:
    """A sort key giving SemVer precedence (build metadata ignored); ``version`` must be valid."""
    import semver

    try:
        return semver.Version.parse(version)
    except (ValueError, TypeError):
        raise ValueError(f"not a SemVer version: {version!r}")


def tag_for_version(version: str) -> str:
    """The OCI tag Helm pushes a chart version under (``+`` is not allowed in tags)."""
    return version.replace("+", "_")


def version_for_tag(tag: str) -> str:
    return tag.replace("_", "+")


def check_version(version: str, where: str) -> None:
    if not is_semver(version):
        raise ChartError(
            f"{where}: version {version!r} is not a SemVer 2 version "
            "(MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], e.g. 1.2.3; quote it in YAML)"
        )
