"""A TrustRoot's keys, fetched when they need the network: the ``remote`` form (a TUF mirror URL plus the
``root.json`` to trust it with), and a cache in front of all three forms.

policy-controller's reconciler turns each TrustRoot into keys once and refreshes them every 24 hours
(``--trustroot-resync-period``); the admission path then reads the result. sigward does the same in
process: :func:`resolve` verifies the mirror with python-tuf (root chain, signatures, expiry, hashes —
nothing from the mirror is used unverified), takes its ``trusted_root.json`` target (or the legacy
custom-metadata targets), and keeps the parsed :class:`~sigward.sigstore.trust.TrustedRoot` for
:data:`RESYNC_PERIOD`. A failed fetch is never cached, and is an error naming the TrustRoot: a keyless
authority whose trust root cannot be loaded fails closed.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import TYPE_CHECKING

from sigward.cip.trustroot import TrustRoot, TrustRootError, trusted_root_from_tuf

if TYPE_CHECKING:
    from sigward.sigstore.trust import TrustedRoot

RESYNC_PERIOD = 24 * 3600.0  # seconds, policy-controller's --trustroot-resync-period default
DEFAULT_TIMEOUT = 30


def _key(tr: TrustRoot) -> str:
    """What the keys depend on (not the name: two TrustRoots with the same content share one entry)."""
    h = hashlib.sha256(tr.form.encode())
    if tr.sigstore_keys is not None:
        import json

        h.update(json.dumps(tr.sigstore_keys, sort_keys=True).encode())
    if tr.tuf is not None:
        for part in (tr.tuf.root, (tr.tuf.mirror or "").encode(), tr.tuf.mirror_fs or b"",
                     tr.tuf.targets.encode(), tr.tuf.trusted_root_target.encode()):
            h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def fetch_remote(tr: TrustRoot, *, timeout: int = DEFAULT_TIMEOUT) -> bytes:
    """The verified ``trusted_root.json`` of a ``remote`` TrustRoot's TUF mirror (metadata at ``mirror/``,
    targets at ``mirror/<targets>/``, as go-tuf's HTTP remote store lays them out)."""
    from tuf.ngclient.urllib3_fetcher import Urllib3Fetcher

    if tr.tuf is None or not tr.tuf.mirror:
        raise TrustRootError(f"TrustRoot {tr.name}: not a remote TUF mirror")
    mirror = tr.tuf.mirror.rstrip("/")
    if not mirror.startswith(("https://", "http://")):
        raise TrustRootError(f"TrustRoot {tr.name}: mirror {mirror!r} is not an http(s) URL")
    fetcher = Urllib3Fetcher(socket_timeout=timeout, app_user_agent="sigward-admission")
    try:
        return trusted_root_from_tuf(fetcher, f"{mirror}/", f"{mirror}/{tr.tuf.targets.strip('/')}/",
                                     tr.tuf.root, tr.tuf.trusted_root_target)
    except TrustRootError as e:
        raise TrustRootError(f"TrustRoot {tr.name}: TUF mirror {mirror}: {e}")


class TrustRootCache:
    """Resolved TrustRoots, shared by the admission workers (thread-safe; one fetch per entry at a time)."""

    def __init__(self, resync_period: float = RESYNC_PERIOD, *, timeout: int = DEFAULT_TIMEOUT) -> None:
        self.resync_period = resync_period
        self.timeout = timeout
        self._entries: dict[str, tuple[float, TrustedRoot]] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def resolve(self, tr: TrustRoot) -> TrustedRoot:
        """``tr``'s keys: from the cache while fresh, else loaded (remote: fetched) and cached."""
        key = _key(tr)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and time.monotonic() - hit[0] < self.resync_period:
                return hit[1]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                hit = self._entries.get(key)
                if hit is not None and time.monotonic() - hit[0] < self.resync_period:
                    return hit[1]
            root = _load(tr, self.timeout)
            with self._lock:
                self._entries[key] = (time.monotonic(), root)
            return root


def _load(tr: TrustRoot, timeout: int) -> TrustedRoot:
    from sigward.formats._common import FormatError
    from sigward.sigstore.trust import parse_trusted_root

    if tr.form != "remote":
        return tr.trusted_root()
    data = fetch_remote(tr, timeout=timeout)
    try:
        return parse_trusted_root(data, f"TrustRoot {tr.name}")
    except FormatError as e:
        raise TrustRootError(str(e))


_DEFAULT = TrustRootCache()


def resolve(tr: TrustRoot) -> TrustedRoot:
    """``tr``'s keys (any form) through the process-wide cache. Raises :class:`TrustRootError`."""
    return _DEFAULT.resolve(tr)
