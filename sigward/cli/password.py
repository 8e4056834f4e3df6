"""Where the CLI gets a key password, in cosign's exact order (``readPasswordFn``); the library takes a
password or a callback instead.

1. ``COSIGN_PASSWORD`` if it is *set* - an empty value is an empty password - used verbatim;
2. a terminal on stdin: prompt on stderr without echo (twice when creating a key);
3. otherwise all of stdin, byte for byte: ``echo pw | sigward ...`` yields ``pw\\n``, exactly as
   cosign does, so keys made by either tool open with the same pipeline.
"""

from __future__ import annotations

import os
import sys
from typing import BinaryIO, TextIO

from sigward.errors import KeyFileError

PROMPT = "Enter password for private key: "
PROMPT_AGAIN = "Enter password for private key again: "


def read_password(confirm: bool) -> bytes:
    """The password for a private key; ``confirm`` asks twice on a terminal (generate/import)."""
    env = os.environ.get("COSIGN_PASSWORD")
    if env is not None:
        return os.fsencode(env)
    stdin = sys.stdin
    if stdin is not None and stdin.isatty():
        first = _prompt(PROMPT, stdin, sys.stderr)
        if confirm:
            second = _prompt(PROMPT_AGAIN, stdin, sys.stderr)
            if first != second:
                raise KeyFileError("passwords do not match")
        return first
    if stdin is None:
        return b""
    buf: BinaryIO | None = getattr(stdin, "buffer", None)
    if buf is None:  # a text stream substituted for stdin (embedding, tests)
        return stdin.read().encode("utf-8")
    return buf.read()


def _prompt(prompt: str, stdin: TextIO, stderr: TextIO) -> bytes:
    """Read one line from the terminal on stdin with echo off (Go ``term.ReadPassword`` on fd 0)."""
    stderr.write(prompt)
    stderr.flush()
    fd = stdin.fileno()
    try:
        import termios
    except ImportError:  # no termios (Windows): getpass talks to the console itself
        import getpass

        return getpass.getpass("", stream=stderr).encode("utf-8")
    old = termios.tcgetattr(fd)
    new = termios.tcgetattr(fd)
    new[3] &= ~termios.ECHO
    new[3] |= termios.ICANON | termios.ISIG
    try:
        termios.tcsetattr(fd, termios.TCSANOW, new)
        line = _read_line(fd)
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, old)
        stderr.write("\n")
        stderr.flush()
    return line


def _read_line(fd: int) -> bytes:
    out = bytearray()
    while True:
        ch = os.read(fd, 1)
        if not ch or ch == b"\n":
            break
        out += ch
    if out.endswith(b"\r"):
        del out[-1]
    return bytes(out)
