"""The verdict cache: policy-controller re-verifies every admission (its ResultCache is never wired up,
reference §2.7), which is why it times out under load. A verdict depends only on the image digest, the
policies (their content hash) and, when a policy looks at the object (``includeSpec``/``includeObjectMeta``/
``match``), the object's relevant parts: those make the key, so a cached verdict is never stale for what
was asked.

Two tiers: an in-process TTL + LRU map (always, so the warm path needs no I/O), and optionally Redis shared
by the replicas. Redis failing is never a reason to admit: a failed read is a miss (the verdict is
recomputed), a failed write is dropped, and after a failure Redis is left alone for a moment so a dead
Redis does not add its connect timeout to every request.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

KEY_PREFIX = "sigward:admission:v1:"


def cache_key(digest_ref: str, identity: str, resource_hash: str = "") -> str:
    """The key of one verdict: the digest reference, the policy set's identity, the resource parts' hash."""
    raw = "\x00".join((digest_ref, identity, resource_hash)).encode()
    return KEY_PREFIX + hashlib.sha256(raw).hexdigest()


class MemoryCache:
    """A thread-safe map with a TTL per entry and a size bound (least recently used evicted first)."""

    def __init__(self, ttl: float, max_entries: int = 10000, clock: Callable[[], float] = time.monotonic):
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._data: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            if item[0] <= self.clock():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return item[1]

    def set(self, key: str, value: dict[str, Any], ttl: float | None = None) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._data[key] = (self.clock() + (self.ttl if ttl is None else ttl), value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class RedisCache:
    """Verdicts in Redis (``SET key value PX ttl``), shared by every replica pointing at the same URL."""

    def __init__(self, url: str, ttl: float, *, timeout: float = 0.25, backoff: float = 2.0,
                 on_error: Callable[[Exception], None] | None = None) -> None:
        import redis

        self.ttl, self.backoff, self.on_error = ttl, backoff, on_error
        self.client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                           health_check_interval=0)
        self._down_until = 0.0

    def _failed(self, e: Exception) -> None:
        self._down_until = time.monotonic() + self.backoff
        if self.on_error is not None:
            self.on_error(e)

    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def get(self, key: str) -> dict[str, Any] | None:
        if not self.available():
            return None
        try:
            raw = self.client.get(key)
        except Exception as e:  # any client/connection failure is a miss, never an admit
            self._failed(e)
            return None
        if not isinstance(raw, bytes | str):
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def set(self, key: str, value: Mapping[str, Any], ttl: float | None = None) -> None:
        if not self.available():
            return
        px = max(1, int((self.ttl if ttl is None else ttl) * 1000))
        try:
            self.client.set(key, json.dumps(value, separators=(",", ":")), px=px)
        except Exception as e:
            self._failed(e)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass


class VerdictCache:
    """The two tiers together. ``get`` returns (value, where) with where in {"memory", "redis", None}."""

    def __init__(self, memory: MemoryCache, shared: RedisCache | None = None) -> None:
        self.memory, self.shared = memory, shared

    def get_local(self, key: str) -> dict[str, Any] | None:
        return self.memory.get(key)

    def get(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        value = self.memory.get(key)
        if value is not None:
            return value, "memory"
        if self.shared is not None:
            value = self.shared.get(key)
            if value is not None:
                self.memory.set(key, value)
                return value, "redis"
        return None, None

    def set(self, key: str, value: dict[str, Any], ttl: float | None = None) -> None:
        self.memory.set(key, value, ttl)
        if self.shared is not None:
            self.shared.set(key, value, ttl)

    def clear_local(self) -> None:
        self.memory.clear()
