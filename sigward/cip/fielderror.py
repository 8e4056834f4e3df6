"""knative's ``apis.FieldError``, the error type policy-controller's validation speaks, and its rendering.

Users compare sigward's messages with what ``kubectl apply`` prints from policy-controller's webhook
(``expected exactly one, got both: spec.authorities[0].key, spec.authorities[0].keyless``), and
policy-controller's own test data asserts them as substrings, so the rendering follows knative.dev/pkg
``apis/field_error.go``: a path prefix is joined with ``.`` (an index ``[0]`` glued to the field before
it), errors with the same level, message and details merge into one with their paths de-duplicated and
sorted, the merged list is sorted by message, then details, then level, and one error renders as
``<message>: <path>, <path>`` with the details on the next line.

Errors are kept as a flat list (knative nests them, but every operation distributes over the nesting, and
``Error()`` flattens before it renders).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Level = Literal["Error", "Warning"]


@dataclass(frozen=True)
class FieldError:
    """One error: what is wrong (``message``), where (``paths``, dotted from the object root), and why
    (``details``, optional). ``level`` is ``Warning`` for what policy-controller admits with a warning
    (a deprecated ``predicateType`` short name)."""

    message: str
    paths: tuple[str, ...] = ()
    details: str = ""
    level: Level = "Error"

    def __str__(self) -> str:
        head = f"{self.message}: {', '.join(self.paths)}" if self.paths else self.message
        return f"{head}\n{self.details}" if self.details else head

    @property
    def one_line(self) -> str:
        """The rendering with the details after ``; `` instead of a new line (for line-oriented output)."""
        return str(self).replace("\n", "; ")


def _is_index(part: str) -> bool:
    return part.startswith("[") and part.endswith("]")


def flatten(parts: Iterable[str]) -> str:
    """knative's path joining: ``("spec", "authorities[0]", "key")`` → ``spec.authorities[0].key``."""
    out: list[str] = []
    for part in parts:
        for p in part.split("."):
            if p == "":
                continue
            if out and _is_index(p):
                out[-1] += p
            else:
                out.append(p)
    return ".".join(out)


def via_field(errs: Iterable[FieldError], *prefix: str) -> list[FieldError]:
    """Every error's paths under ``prefix`` (knative ``ViaField``)."""
    return [FieldError(e.message, tuple(flatten((*prefix, p)) for p in e.paths), e.details, e.level)
            for e in errs]


def via_index(errs: Iterable[FieldError], field: str, index: int) -> list[FieldError]:
    """knative ``ViaFieldIndex``: ``field[index].…``."""
    return via_field(via_field(errs, f"[{index}]"), field)


def missing(*fields: str) -> FieldError:
    return FieldError("missing field(s)", fields)


def missing_one_of(*fields: str) -> FieldError:
    return FieldError("expected exactly one, got neither", fields)


def multiple_one_of(*fields: str) -> FieldError:
    return FieldError("expected exactly one, got both", fields)


def disallowed(*fields: str) -> FieldError:
    return FieldError("must not set the field(s)", fields)


def invalid(value: object, field: str, *details: str) -> FieldError:
    """knative ``ErrInvalidValue``: the value is printed as Go's ``fmt.Sprint`` would (strings bare)."""
    return FieldError(f"invalid value: {_go_sprint(value)}", (field,), ", ".join(details))


def _go_sprint(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def merge(errs: Iterable[FieldError]) -> list[FieldError]:
    """knative ``WrappedErrors``: same (level, message, details) merged, paths de-duplicated and sorted."""
    merged: dict[tuple[str, str, str], list[str]] = {}
    for e in errs:
        paths = merged.setdefault((e.level, e.message, e.details), [])
        paths += [p for p in e.paths if p not in paths]
    out = [FieldError(msg, tuple(sorted(paths)), details, level)  # type: ignore[arg-type]
           for (level, msg, details), paths in merged.items()]
    out.sort(key=lambda e: (e.message, e.details, 0 if e.level == "Error" else 1))
    return out


def render(errs: Iterable[FieldError]) -> str:
    """knative ``FieldError.Error()``: the merged errors, one per line (details on their own line)."""
    return "\n".join(str(e) for e in merge(errs))
