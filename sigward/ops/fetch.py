"""Bounded look-ahead fetching: the round trips of many small reads (signature manifests and blobs, an
index's child manifests) overlap, while results are consumed in order and errors stay with their item.

``concurrent.futures`` (and the ``logging`` it imports) is loaded only when there is more than one item:
a key-based verify of one signature in a layout does not pay for it at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar

from sigward.errors import SigwardError

if TYPE_CHECKING:
    from concurrent.futures import Future

    from sigward.oci.store import Store

FETCH_CONCURRENCY = 4
_T = TypeVar("_T")
_R = TypeVar("_R")


def fetch_ahead(fetch: Callable[[_T], _R], items: Sequence[_T],
                limit: int = FETCH_CONCURRENCY) -> Iterator[_R | SigwardError]:
    """``fetch(item)`` for each item, in order, at most ``limit`` in flight and ahead of the consumer;
    a SigwardError is yielded in place of its result. Stopping early cancels what has not started.
    A ``limit`` of 1 fetches each item when the consumer asks for it, in the calling thread."""
    if len(items) <= 1 or limit <= 1:
        for item in items:
            yield _attempt(fetch, item)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="sigward-fetch") as pool:
        futures: list[Future[_R | SigwardError]] = []
        try:
            for i, item in enumerate(items):
                if i < limit:
                    futures.append(pool.submit(_attempt, fetch, item))
            for i in range(len(items)):
                if i + limit < len(items):
                    futures.append(pool.submit(_attempt, fetch, items[i + limit]))
                yield futures[i].result()
        finally:
            for f in futures:
                f.cancel()


def limit_for(store: Store) -> int:
    """How many fetches from ``store`` to keep in flight: ``FETCH_CONCURRENCY`` across a network, 1 (no
    threads) from a local layout, whose reads have no round trip to overlap."""
    return FETCH_CONCURRENCY if store.overlaps_io else 1


def _attempt(fetch: Callable[[_T], _R], item: _T) -> _R | SigwardError:
    try:
        return fetch(item)
    except SigwardError as e:
        return e
