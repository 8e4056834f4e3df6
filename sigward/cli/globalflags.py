"""cosign's persistent (global) flags: ``-t/--timeout``, ``-d/--verbose``, ``--output-file``.

cobra accepts a persistent flag anywhere on the command line, before or after the sub-command, so they
are taken out of argv before argparse sees it (every sub-parser would otherwise need them). Commands
that give ``-d`` another meaning (``chart package/pull -d DEST``, as Helm does) keep their ``-d``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sigward.errors import UsageError

# Sub-commands whose own flags use a letter cosign reserves globally.
# `admission serve --timeout` is the per-request deadline of a long-running server, not cosign's alarm.
_OWN_SHORT = {"chart": {"-d"}, "admission": {"--timeout"}}

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass
class GlobalFlags:
    timeout: float | None = None  # seconds; None: no limit (cosign's default is 3m, see docs)
    verbose: bool = False
    output_file: str | None = None


def parse_duration(text: str, flag: str = "--timeout") -> float:
    """Go's ``time.ParseDuration`` (``90s``, ``3m0s``, ``1h30m``, ``500ms``) in seconds."""
    s = text.strip()
    sign = 1.0
    if s[:1] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            break
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise UsageError(f'invalid argument "{text}" for "-t, {flag}" flag: time: invalid duration "{text}"')
    return sign * total


def extract(argv: list[str]) -> tuple[list[str], GlobalFlags]:
    """Remove the global flags from ``argv``; returns the rest and their values."""
    from sigward.cli.flags import parse_go_bool

    flags = GlobalFlags()
    command = next((a for a in argv if not a.startswith("-")), None)
    keep = _OWN_SHORT.get(command or "", set())
    out: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            out.extend(argv[i:])
            break
        name, eq, value = tok.partition("=")
        if name in keep:
            out.append(tok)
        elif name in ("-t", "--timeout"):
            if not eq:
                if i + 1 >= len(argv):
                    raise UsageError(f"flag needs an argument: {name}")
                i += 1
                value = argv[i]
            flags.timeout = parse_duration(value)
        elif name in ("-d", "--verbose"):
            flags.verbose = parse_go_bool(value, name) if eq else True
        elif name == "--output-file":
            if not eq:
                if i + 1 >= len(argv):
                    raise UsageError("flag needs an argument: --output-file")
                i += 1
                value = argv[i]
            flags.output_file = value or None
        else:
            out.append(tok)
        i += 1
    return out, flags


class CommandTimeout(BaseException):
    """Raised in the main thread by the ``--timeout`` alarm (a BaseException, so that no ``except
    Exception`` on the way swallows it)."""


def arm_timeout(seconds: float | None) -> None:
    """``-t/--timeout``: interrupt the command after ``seconds`` (cosign cancels its context)."""
    if not seconds or seconds <= 0:
        return
    import signal

    def expired(signum: int, frame: object) -> None:
        raise CommandTimeout()

    global _armed
    signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    _armed = True


_armed = False  # whether arm_timeout set the alarm: without --timeout, `signal` is never imported


def disarm_timeout() -> None:
    global _armed
    if not _armed:
        return
    import signal

    signal.setitimer(signal.ITIMER_REAL, 0)
    _armed = False


def enable_verbose() -> None:
    """``-d/--verbose``: debug logging on stderr (HTTP requests and responses, retries, TUF)."""
    import logging

    logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s: %(message)s")
