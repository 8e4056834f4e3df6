"""Read-merge-write with read-back: how an append survives concurrent writers on a registry.

Two records on a registry are read-modify-write: the referrers fallback index (``sha256-<hex>``) and the
legacy ``.sig``/``.att`` images. The distribution spec offers no compare-and-swap (distribution 2.8 ignores
``If-Match``), so two signers that read the same old state both write, and the later write drops the
earlier one's entry (cosign has this race: sigstore/cosign#2432).

What closes it here: after writing, read the record back until our entry is seen twice, the second time
after a *settle* delay longer than the read-to-write window of a writer that read the old state
(estimated from our own window, which runs under the same load). If the entry is gone, it was overwritten
by such a writer: merge again into what is there now and write again. A writer that overwrote us merged
into the state it read, so the other entries survive; every writer keeps going until its own entry holds.
``If-Match`` is still sent where an ETag was given (a registry that honours it answers 412, which is just
another lost race).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sigward.errors import SigwardError, StoreError

T = TypeVar("T")

ATTEMPTS = 25  # writes before giving up (each lost race costs one)
MIN_SETTLE = 0.1
READ_FAILURES = 5  # consecutive failed reads of the record before the error is the answer
MAX_SETTLE = 2.0


def merge_until_visible(
    read: Callable[[], T],
    has: Callable[[T], bool],
    write: Callable[[T], bool],
    what: str,
    *,
    fingerprint: Callable[[T], object] = lambda state: None,
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Make ``has(read())`` hold and stay held; returns False when it already held before any write.

    ``write(state)`` merges our entry into ``state`` and stores it; it returns False when the store refused
    a stale write (412), which counts as a lost race. Done once our entry was seen in two reads a settle
    delay apart that show the same state (``fingerprint``): while the record keeps changing, other writers
    are active, and we keep watching (their stale writes are what we must outlive). Raises ``StoreError``
    after ``attempts`` lost races.
    """
    wrote = False
    window = 0.0
    lost = 0
    reads = 0
    failed_reads = 0
    last: object = _UNSET
    while True:
        started = time.monotonic()
        try:
            state = read()
        except SigwardError:
            # A registry rewriting the record under concurrent writers can answer a read with an error
            # or a half-written document for a moment (distribution truncates, then writes, its links).
            failed_reads += 1
            if failed_reads >= READ_FAILURES:
                raise
            sleep(random.uniform(0.05, 0.2) * failed_reads)
            continue
        failed_reads = 0
        reads += 1
        if has(state):
            if not wrote:
                return False
            now = fingerprint(state)
            if now == last or reads > 4 * attempts:
                return True
            last = now
            # Longer than another writer's read-to-write window (it runs under the same load as ours).
            sleep(min(MAX_SETTLE, max(MIN_SETTLE, 4 * window)) * random.uniform(1.0, 1.5))
            continue
        last = _UNSET
        if wrote:
            lost += 1
            if lost >= attempts:
                raise StoreError(f"{what}: other writers keep replacing it; our entry was not kept "
                                 f"after {attempts} attempts")
            # Back off a little (jittered) so racing writers spread out.
            sleep(random.uniform(0, min(MAX_SETTLE, 0.02 * (2 ** min(lost, 6)))))
        write(state)
        window = time.monotonic() - started
        wrote = True


_UNSET = object()
