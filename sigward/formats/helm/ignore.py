"""``.helmignore``: Helm's own dialect (``pkg/ignore``), quirks included — Go ``filepath.Match`` globs,
no ``**``, and a ``!pattern`` line ignores every path that does *not* match it.

The glob translation is hand-written: Go's ``filepath.Match`` rejects malformed patterns (Helm reports
them), takes ``[^…]`` but not ``[!…]`` as negation, and drops reversed ranges; wcmatch and fnmatch
accept what Go refuses and read ``[!…]`` as negation, so they would give other answers."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from sigward.formats.helm.common import HELMIGNORE, UTF8_BOM, ChartError

# -- .helmignore ---------------------------------------------------------------------------------------------

class _BadPattern(ValueError):
    pass


def _glob_escape(pat: str, i: int) -> tuple[str, int]:
    """One character of a class (Go's ``getEsc``)."""
    if i >= len(pat) or pat[i] in "-]":
        raise _BadPattern
    if pat[i] == "\\":
        i += 1
        if i >= len(pat):
            raise _BadPattern
    ch = pat[i]
    i += 1
    if i >= len(pat):
        raise _BadPattern
    return ch, i


def glob_regex(pat: str) -> re.Pattern[str]:
    """Go's ``path/filepath.Match`` (Unix) as a regex: ``*``/``?`` never match '/', classes use ``^``."""
    out: list[str] = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            i += 1
            negated = i < n and pat[i] == "^"
            if negated:
                i += 1
            parts: list[str] = []
            count = 0
            while True:
                if i < n and pat[i] == "]" and count > 0:
                    i += 1
                    break
                lo, i = _glob_escape(pat, i)
                hi = lo
                if pat[i] == "-":
                    hi, i = _glob_escape(pat, i + 1)
                if lo <= hi:
                    parts.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
                count += 1
            if parts:
                out.append(f"[{'^' if negated else ''}{''.join(parts)}]")
            else:
                out.append("(?s:.)" if negated else "(?!)")
        elif c == "\\":
            if i + 1 >= n:
                raise _BadPattern
            out.append(re.escape(pat[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("(?s:" + "".join(out) + r")\Z")


@dataclass
class _IgnorePattern:
    raw: str
    regex: re.Pattern[str]
    negate: bool
    must_dir: bool
    basename_only: bool

    def match(self, path: str) -> bool:
        return bool(self.regex.match(_go_base(path) if self.basename_only else path))


def _go_base(path: str) -> str:
    """Go's ``filepath.Base``: trailing slashes do not count."""
    stripped = path.rstrip("/")
    if not stripped:
        return "/" if path else "."
    return posixpath.basename(stripped)


class IgnoreRules:
    """Helm's ``.helmignore`` rules (``pkg/ignore``); the first matching rule decides."""

    def __init__(self) -> None:
        self.patterns: list[_IgnorePattern] = []

    @classmethod
    def parse(cls, data: bytes, where: str = HELMIGNORE) -> IgnoreRules:
        rules = cls()
        if data.startswith(UTF8_BOM):
            data = data[len(UTF8_BOM):]
        text = data.decode("utf-8", errors="replace")
        for lineno, line in enumerate(text.split("\n"), 1):
            try:
                rules.add(line.rstrip("\r"))
            except ChartError as e:
                raise ChartError(f"{where}:{lineno}: {e}")
        return rules

    def add_defaults(self) -> None:
        """The one rule Helm always adds: dot files in templates/."""
        self.add("templates/.?*")

    def add(self, rule: str) -> None:
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            return
        if "**" in rule:
            raise ChartError(f"{rule!r}: double-star (**) syntax is not supported")
        raw = rule
        negate = rule.startswith("!")
        if negate:
            rule = rule[1:]
        must_dir = rule.endswith("/")
        if must_dir:
            rule = rule[:-1]
        anchored = rule.startswith("/")
        if anchored:
            rule = rule[1:]
        try:
            glob_regex(raw)  # Helm checks the whole line compiles as a pattern
            regex = glob_regex(rule)
        except _BadPattern:
            raise ChartError(f"{raw!r}: syntax error in pattern")
        self.patterns.append(_IgnorePattern(raw, regex, negate, must_dir,
                                            basename_only=not anchored and "/" not in rule))

    def ignore(self, path: str, is_dir: bool) -> bool:
        """Whether ``path`` (relative, '/'-separated) is left out. A ``!`` rule ignores what it does not
        match — Helm's semantics, not gitignore's."""
        if path in ("", ".", "./"):
            return False
        for p in self.patterns:
            if p.negate:
                if p.must_dir and not is_dir:
                    return True
                if not p.match(path):
                    return True
                continue
            if p.must_dir and not is_dir:
                continue
            if p.match(path):
                return True
        return False
