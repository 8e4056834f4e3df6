"""PEM blocks read and written the way Go's ``encoding/pem`` does.

cosign decides what a key file is from its PEM type line alone, and its error texts depend on whether
Go's ``pem.Decode`` found a block at all ("invalid pem block") or found one of the wrong type. Python's
libraries hide that distinction, so the few rules that matter are kept here: the first well-formed
block wins, an optional ``Key: value`` header section is skipped, and a body that is not valid base64
means "no block". Output uses 64-character lines and a trailing newline, byte-identical to Go.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

_BEGIN = re.compile(rb"-----BEGIN ([^\r\n-]*)-----[ \t]*\r?\n")


@dataclass(frozen=True)
class PemBlock:
    type: str
    headers: dict[str, str]
    data: bytes


def decode(raw: bytes) -> PemBlock | None:
    """The first decodable PEM block in ``raw``, or None when there is none (Go: ``pem.Decode`` nil)."""
    pos = 0
    while True:
        m = _BEGIN.search(raw, pos)
        if m is None:
            return None
        block = _parse_at(raw, m)
        if block is not None:
            return block
        pos = m.end()


def _parse_at(raw: bytes, m: re.Match[bytes]) -> PemBlock | None:
    ptype = m.group(1)
    end_marker = b"-----END " + ptype + b"-----"
    end = raw.find(end_marker, m.end())
    if end < 0:
        return None
    lines = raw[m.end():end].split(b"\n")
    headers: dict[str, str] = {}
    i = 0
    # Headers ("Proc-Type: 4,ENCRYPTED") come first and end with a blank line.
    while i < len(lines) and b":" in lines[i]:
        k, v = lines[i].split(b":", 1)
        headers[k.strip().decode("latin-1")] = v.strip().decode("latin-1")
        i += 1
    if headers and i < len(lines) and lines[i].strip() == b"":
        i += 1
    body = b"".join(line.strip() for line in lines[i:])
    try:
        data = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None
    return PemBlock(ptype.decode("latin-1"), headers, data)


def encode(ptype: str, data: bytes) -> bytes:
    """One PEM block with 64-character base64 lines and a trailing newline (Go ``pem.EncodeToMemory``)."""
    b64 = base64.b64encode(data)
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    head = f"-----BEGIN {ptype}-----\n".encode()
    tail = f"-----END {ptype}-----\n".encode()
    return head + b"".join(line + b"\n" for line in lines) + tail
