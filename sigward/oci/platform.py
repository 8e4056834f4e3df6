"""Platforms: ``os/arch[/variant]`` as cosign's, crane's and docker's ``--platform`` take them.

One parser for every command that takes a platform (copy, download, image build and digest, the demo
image), so they accept and refuse the same strings with the same message, and one matching rule
against an index entry's ``platform`` object (os and architecture equal, variant equal when given).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sigward.errors import UsageError


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(f"invalid platform {text!r}: expected os/arch or os/arch/variant")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def matches(self, platform: Mapping[str, Any] | None) -> bool:
        """Whether an index entry's ``platform`` is this one (any variant when none was asked for)."""
        p = platform or {}
        return (p.get("os") == self.os and p.get("architecture") == self.architecture
                and (self.variant is None or p.get("variant") == self.variant))

    def to_dict(self) -> dict[str, str]:
        """The OCI ``platform`` object (keys in Go's struct order: architecture, os, variant)."""
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def platform_text(p: Mapping[str, Any] | None) -> str:
    """An index entry's ``platform`` as ``os/arch[/variant]``, ``unknown`` when it has none."""
    if not p:
        return "unknown"
    parts = [str(p.get("os", "")), str(p.get("architecture", ""))]
    if p.get("variant"):
        parts.append(str(p["variant"]))
    return "/".join(parts)
