"""A one-line transfer progress display on stderr, only when stderr is a terminal.

Operations never print; they call a ``ProgressFn`` with byte counts. The CLI passes ``Progress`` when a
human is watching and nothing otherwise, so logs and pipes stay clean.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(n: float) -> str:
    """1536 → '1.5 KiB': binary units, as container tools print sizes."""
    for unit in _UNITS:
        if abs(n) < 1024 or unit == _UNITS[-1]:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class Progress:
    """Callable ``ProgressFn``: accumulates bytes and redraws at most ``rate_hz`` times a second."""

    def __init__(self, total: int | None = None, stream: TextIO | None = None, label: str = "",
                 rate_hz: float = 10.0, clock: Callable[[], float] | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.done = 0
        self._clock = clock or time.monotonic
        self._start = self._clock()
        self._last_draw = 0.0
        self._interval = 1.0 / rate_hz
        self._drawn = False

    def __call__(self, n: int) -> None:
        self.done += n
        now = self._clock()
        if now - self._last_draw >= self._interval:
            self._last_draw = now
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        elapsed = max((now if now is not None else self._clock()) - self._start, 1e-9)
        rate = self.done / elapsed
        amount = human_bytes(self.done)
        if self.total:
            pct = min(100.0, 100.0 * self.done / self.total)
            amount = f"{amount} / {human_bytes(self.total)} ({pct:.0f}%)"
        prefix = f"{self.label} " if self.label else ""
        return f"{prefix}{amount}  {human_bytes(rate)}/s"

    def _draw(self, now: float) -> None:
        self.stream.write("\r\x1b[K" + self.line(now))
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        """Erase the line, so the summary that follows starts clean."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False


def for_terminal(total: int | None = None, label: str = "", stream: TextIO | None = None) -> Progress | None:
    """A ``Progress`` if ``stream`` (stderr by default) is a terminal, else None (silent)."""
    s = stream if stream is not None else sys.stderr
    try:
        tty = s.isatty()
    except (AttributeError, ValueError):
        tty = False
    return Progress(total, s, label) if tty else None


@contextmanager
def terminal_progress(total: int | None = None, label: str = "") -> Iterator[Progress | None]:
    """``for_terminal`` for a ``with`` block: the line is finished however the block ends."""
    bar = for_terminal(total, label)
    try:
        yield bar
    finally:
        if bar is not None:
            bar.finish()
