"""``WWW-Authenticate`` parsing (RFC 7235).

Written by hand because the header grammar is small but easy to get wrong with ``split(",")``: quoted
values may contain commas (``scope="repository:a:pull,push"``) and one header may carry several
challenges. Third-party parsers for this are unmaintained.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_SCHEME_RE = re.compile(rf"\s*({_TOKEN})")
_PARAM_RE = re.compile(rf"\s*({_TOKEN})\s*=\s*")
_QUOTED_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')
_BARE_RE = re.compile(rf"({_TOKEN}=*)")
_TOKEN68_RE = re.compile(r"\s*([A-Za-z0-9._~+/-]+=*)\s*(?=,|$)")


@dataclass
class Challenge:
    """One challenge: the scheme in lower case and its parameters (names in lower case)."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    token68: str | None = None


def parse_challenges(header: str) -> list[Challenge]:
    """All challenges in a header value; malformed tails are ignored rather than fatal.

    A registry that sends garbage simply gets treated as offering nothing we understand, which ends in a
    clear 401 error instead of a parser exception.
    """
    out: list[Challenge] = []
    pos = 0
    n = len(header)
    while pos < n:
        while pos < n and header[pos] in " \t,":
            pos += 1
        m = _SCHEME_RE.match(header, pos)
        if not m:
            break
        ch = Challenge(m.group(1).lower())
        pos = m.end()
        out.append(ch)
        # Parameters (or a token68) follow until the next scheme.
        first = True
        while pos < n:
            save = pos
            while pos < n and header[pos] in " \t":
                pos += 1
            if not first:
                if pos >= n or header[pos] != ",":
                    pos = save
                    break
                pos += 1
            tm = _TOKEN68_RE.match(header, pos) if first else None
            if tm:
                ch.token68 = tm.group(1)
                pos = tm.end()
                first = False
                continue
            pm = _PARAM_RE.match(header, pos)
            if pm:
                name = pm.group(1).lower()
                vpos = pm.end()
                qm = _QUOTED_RE.match(header, vpos)
                if qm:
                    value = re.sub(r"\\(.)", r"\1", qm.group(1))
                    pos = qm.end()
                else:
                    bm = _BARE_RE.match(header, vpos)
                    value = bm.group(1) if bm else ""
                    pos = bm.end() if bm else vpos
                ch.params[name] = value
                first = False
                continue
            # A comma followed by a new scheme: stop this challenge there.
            pos = save
            break
    return out
