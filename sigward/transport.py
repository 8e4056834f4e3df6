"""One HTTP transport for every service sigward talks to: registries, Fulcio, Rekor, TSAs, OIDC issuers.

Why one place: every client needs the same four things and they used to be done four ways (or not at
all) — a ``sigward/<version>`` User-Agent, a custom CA bundle or an explicit opt-out of verification,
timeouts, and retries with backoff, jitter and ``Retry-After``. Here they are decided once:

- ``lease(host, options)`` hands out the **one httpx client for that host and TLS setting** in this
  process. Stores of the same registry (an image and its signature repository, both sides of a copy)
  share its connection pool and whatever per-host facts the caller keeps in ``Lease.state`` (the
  registry client keeps the scheme and auth challenge learned from ``GET /v2/`` there, so it pings a
  host once). Leases are counted: the client closes when the last holder lets go, so nothing learnt
  outlives its users (a loopback port may be reused later by a server speaking another scheme).
- ``send`` makes one logical request with retries, driven by ``tenacity``: connection failures
  (the request never left) are retried for any method; resets, timeouts and 500/502/504 only for
  idempotent requests; 429 and 503 (the server refused it outright) for any method. The wait is
  ``Retry-After`` when the server sends one (capped), else exponential backoff with equal jitter.
  A body must be replayable (bytes, or a factory making a fresh iterable) to be retried at all.

This module sits below every other layer (beside ``errors``): it imports httpx only when a request is made,
and tenacity only when a request is to be retried, so commands that touch no network never load them.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

    import httpx
    import tenacity

# A request body: bytes, a one-shot iterable, or a factory making a fresh iterable per attempt (which makes
# a streamed body replayable, and lets the bytes go as soon as the request was sent).
Body = bytes | Iterable[bytes] | Callable[[], Iterable[bytes]]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Answers that say the server did not act on the request: safe to repeat even for POST/PATCH.
REFUSED_STATUSES = frozenset({429, 503})
DEFAULT_TIMEOUT = 60.0
DEFAULT_CONNECT_TIMEOUT = 15.0


def user_agent() -> str:
    from sigward import __version__

    return f"sigward/{__version__}"


@dataclass(frozen=True)
class ClientOptions:
    """What makes two clients different: TLS trust and the User-Agent. Hashable: it keys the pool."""

    ca_file: str | None = None  # extra CA certificates (PEM), trusted besides the default bundle
    insecure: bool = False  # do not verify TLS certificates at all (an explicit user opt-out)
    user_agent: str = field(default_factory=user_agent)
    # Mutual TLS: the client certificate (PEM, may hold the key too) and its private key (PEM).
    client_cert: str | None = None
    client_key: str | None = None


@dataclass
class RetryPolicy:
    """How often and how long to retry; one per caller, so tests can make the waits short."""

    attempts: int = 4
    backoff_base: float = 0.2
    backoff_cap: float = 5.0
    retry_after_cap: float = 10.0
    sleep: Callable[[float], None] = time.sleep

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with equal jitter for the ``attempt``-th retry (0-based)."""
        delay = min(self.backoff_cap, self.backoff_base * 2.0 ** attempt)
        return delay / 2 + random.uniform(0, delay / 2)

    def retry_after(self, resp: httpx.Response) -> float | None:
        """``Retry-After`` in seconds (delta or HTTP date), capped; None when absent or unreadable."""
        v = resp.headers.get("Retry-After")
        if not v:
            return None
        v = v.strip()
        if v.isdigit():
            return min(float(v), self.retry_after_cap)
        try:
            when = email.utils.parsedate_to_datetime(v).timestamp()
        except (TypeError, ValueError, IndexError):
            return None
        return max(0.0, min(when - time.time(), self.retry_after_cap))

    def delay(self, attempt: int, resp: httpx.Response | None = None) -> float:
        after = self.retry_after(resp) if resp is not None else None
        return self.backoff(attempt) if after is None else after

    def wait(self, attempt: int, resp: httpx.Response | None = None) -> None:
        self.sleep(self.delay(attempt, resp))


def ssl_verify(options: ClientOptions) -> Any:
    """httpx's ``verify``: False, True (default bundle) or a context with the extra CA file loaded (and
    the client certificate, for mutual TLS)."""
    if options.client_cert:
        return _client_cert_context(options)
    if options.insecure:
        return False
    if options.ca_file:
        import ssl

        import certifi

        from sigward.errors import StoreError

        ctx: ssl.SSLContext = ssl.create_default_context(cafile=certifi.where())
        try:
            ctx.load_verify_locations(options.ca_file)
        except (OSError, ssl.SSLError) as e:
            raise StoreError(f"cannot load CA certificates from {options.ca_file}: {e}")
        return ctx
    return default_ssl_context()


def _client_cert_context(options: ClientOptions) -> ssl.SSLContext:
    """A context presenting ``client_cert`` (mutual TLS), verifying the server as the other options say."""
    import ssl

    from sigward.errors import StoreError

    if options.insecure:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        import certifi

        ctx = ssl.create_default_context(cafile=certifi.where())
        if options.ca_file:
            try:
                ctx.load_verify_locations(options.ca_file)
            except (OSError, ssl.SSLError) as e:
                raise StoreError(f"cannot load CA certificates from {options.ca_file}: {e}")
    try:
        ctx.load_cert_chain(options.client_cert or "", options.client_key)
    except (OSError, ssl.SSLError) as e:
        raise StoreError(f"cannot load the client certificate {options.client_cert}"
                         + (f" and key {options.client_key}" if options.client_key else "") + f": {e}")
    return ctx


_CONTEXTS: dict[tuple[str | None, str | None], ssl.SSLContext] = {}
_CONTEXTS_LOCK = threading.Lock()


def default_ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi, or SSL_CERT_FILE/SSL_CERT_DIR), made once per process
    and shared by every client: loading the CA bundle costs tens of milliseconds per client otherwise
    (a copy between two registries made two). The bundle is loaded on the first TLS connection, not
    here (``_lazy_trust_context``): a command that only talks plain HTTP to a loopback registry never
    pays for it."""
    import os

    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    with _CONTEXTS_LOCK:
        ctx = _CONTEXTS.get(key)
        if ctx is None:
            ctx = _CONTEXTS[key] = _lazy_trust_context(*key)
        return ctx


def _lazy_trust_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """What ``httpx.create_ssl_context()`` makes — ``ssl.create_default_context`` with SSL_CERT_FILE,
    else SSL_CERT_DIR, else certifi's bundle — except that the CA certificates are loaded just before the
    first handshake (``wrap_socket``/``wrap_bio``, the only ways a context is used), once, under a lock.
    Every other setting is copied from a real ``create_default_context`` result (its CA path pointing
    nowhere costs nothing), so verification is exactly as strict as before."""
    import ssl

    def load(ctx: ssl.SSLContext) -> None:
        if cert_file:
            ctx.load_verify_locations(cafile=cert_file)
        elif cert_dir:
            ctx.load_verify_locations(capath=cert_dir)
        else:
            import certifi

            ctx.load_verify_locations(cafile=certifi.where())

    class LazyTrustContext(ssl.SSLContext):
        _pending: Callable[[ssl.SSLContext], None] | None = None
        _pending_lock = threading.Lock()

        def _trust(self) -> None:
            if self._pending is not None:
                with self._pending_lock:
                    if self._pending is not None:
                        self._pending(self)
                        self._pending = None

        def wrap_socket(self, *args: Any, **kw: Any) -> Any:
            self._trust()
            return super().wrap_socket(*args, **kw)

        def wrap_bio(self, *args: Any, **kw: Any) -> Any:
            self._trust()
            return super().wrap_bio(*args, **kw)

    template = ssl.create_default_context(capath="/nonexistent/sigward-no-ca")
    ctx = LazyTrustContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.options = template.options
    ctx.verify_flags = template.verify_flags
    ctx.minimum_version, ctx.maximum_version = template.minimum_version, template.maximum_version
    ctx.check_hostname = template.check_hostname
    ctx.verify_mode = template.verify_mode
    if template.keylog_filename:
        ctx.keylog_filename = template.keylog_filename
    ctx._pending = load
    return ctx


def speaks_tls(host: str, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> bool:
    """Whether ``host[:port]`` (443 by default) completes a TLS handshake: True, or False when the
    connection fails or the server answers in anything but TLS (a plain-HTTP registry on loopback).

    Only a handshake, verified by nobody and carrying no request: it answers "try HTTPS or go straight
    to HTTP?" for hosts where plain HTTP is allowed after an HTTPS failure, without loading the CA bundle
    or building a verified connection that is bound to fail. When it says True, the caller makes the
    real, verified HTTPS request, so a bad certificate is still refused. Callers skip it where the
    direct connection is not the real one (a proxy from the environment, mutual TLS)."""
    import socket
    import ssl
    from urllib.parse import urlsplit

    parts = urlsplit("//" + host)
    try:
        port = parts.port or 443
    except ValueError:
        return False
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout) as sock, \
                ctx.wrap_socket(sock, server_hostname=None):
            return True
    except (OSError, ValueError):  # ssl.SSLError is an OSError
        return False


def proxied(scheme: str = "https") -> bool:
    """Whether the environment names a proxy httpx would use for ``scheme`` (it honours these)."""
    import os

    names = (f"{scheme}_proxy", "all_proxy")
    return any(os.environ.get(n) or os.environ.get(n.upper()) for n in names)


def new_client(options: ClientOptions | None = None, timeout: float = DEFAULT_TIMEOUT) -> httpx.Client:
    """A fresh httpx client with sigward's TLS, User-Agent and timeouts (redirects are the caller's).

    For a one-off conversation that wants its own timeouts (an OIDC login); everything else leases."""
    import httpx

    options = options or ClientOptions()
    return httpx.Client(
        verify=ssl_verify(options), follow_redirects=False,
        timeout=httpx.Timeout(timeout, connect=min(timeout, DEFAULT_CONNECT_TIMEOUT)),
        headers={"User-Agent": options.user_agent},
    )


class Lease:
    """A hold on the shared client of one host; ``close()`` (or leaving a ``with``) gives it back."""

    def __init__(self, pool: ClientPool, key: tuple[str, ClientOptions], entry: _Entry) -> None:
        self._pool, self._key, self._entry = pool, key, entry
        self.closed = False

    @property
    def client(self) -> httpx.Client:
        return self._entry.client

    @property
    def state(self) -> dict[object, Any]:
        """Per-host facts shared by every holder while the client lives (e.g. the registry's scheme)."""
        return self._entry.state

    @property
    def lock(self) -> threading.Lock:
        return self._entry.lock

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._pool.release(self._key)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Entry:
    client: httpx.Client
    refs: int = 0
    state: dict[object, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ClientPool:
    """The process's clients, one per (host, ClientOptions), counted by lease."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, ClientOptions], _Entry] = {}
        self.created = 0  # clients made so far (tests count them)

    def lease(self, host: str, options: ClientOptions | None = None) -> Lease:
        key = (host.lower(), options or ClientOptions())
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = _Entry(new_client(key[1]))
                self._entries[key] = entry
                self.created += 1
            entry.refs += 1
        return Lease(self, key, entry)

    def release(self, key: tuple[str, ClientOptions]) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            entry.refs -= 1
            if entry.refs > 0:
                return
            del self._entries[key]
        entry.client.close()

    def __len__(self) -> int:
        return len(self._entries)


POOL = ClientPool()


def lease(host_or_url: str, options: ClientOptions | None = None) -> Lease:
    """The shared client for a host (``host[:port]`` or any URL on it), from the process pool."""
    return POOL.lease(host_of(host_or_url), options)


def host_of(host_or_url: str) -> str:
    if "://" in host_or_url:
        from urllib.parse import urlsplit

        return urlsplit(host_or_url).netloc
    return host_or_url


def replayable(content: Any) -> bool:
    return content is None or callable(content) or isinstance(content, bytes | bytearray)


def send(
    client: httpx.Client, method: str, url: str, *, headers: dict[str, str] | None = None,
    content: Body | None = None, json: Any = None, data: Any = None, params: Any = None,
    stream: bool = False, idempotent: bool | None = None, retry: RetryPolicy | None = None,
    timeout: float | None = None, on_attempt: Callable[[], None] | None = None,
) -> httpx.Response:
    """One request, retried as the module docstring says. Returns the last response whatever its status
    (the caller maps statuses to errors); raises the last ``httpx.TransportError`` if none came back.

    The first attempt is made here directly and tenacity drives the retries only once one is needed: almost
    every request succeeds at once, and importing tenacity cost each short command ~7 ms of CPU (a copy
    that finds everything already present is a handful of requests)."""
    import httpx

    retry = retry or RetryPolicy()
    if idempotent is None:
        idempotent = method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
    again = replayable(content)
    extra: dict[str, Any] = {} if timeout is None else {
        "timeout": httpx.Timeout(timeout, connect=min(timeout, DEFAULT_CONNECT_TIMEOUT))}

    def attempt() -> httpx.Response:
        body = content() if callable(content) else content
        req = client.build_request(method, url, headers=headers, content=body, json=json, data=data,
                                   params=params, **extra)
        del body
        if on_attempt is not None:
            on_attempt()
        return client.send(req, stream=stream)

    def retryable(exc: BaseException | None, resp: httpx.Response | None) -> bool:
        if not again:
            return False
        if exc is not None:
            if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                return True  # the request never left: safe for any method
            return bool(idempotent) and isinstance(exc, httpx.TransportError)
        assert resp is not None
        status = resp.status_code
        return status in RETRY_STATUSES and (bool(idempotent) or status in REFUSED_STATUSES)

    first: httpx.Response | None = None
    try:
        first = attempt()
    except Exception as e:
        if retry.attempts <= 1 or not retryable(e, None):
            raise
    else:
        if retry.attempts <= 1 or not retryable(None, first):
            return first
    # A retry is due: wait as tenacity would have (the delay reads Retry-After before the body is
    # closed), then let tenacity run the remaining attempts.
    delay = retry.delay(0, first)
    if first is not None:
        first.close()
    retry.sleep(delay)
    return _retry_rest(attempt, retryable, retry)


def _retry_rest(attempt: Callable[[], httpx.Response],
                retryable: Callable[[BaseException | None, httpx.Response | None], bool],
                retry: RetryPolicy) -> httpx.Response:
    """Attempts 2..``retry.attempts`` of ``send``, driven by tenacity (imported only now)."""
    import tenacity

    def should_retry(state: tenacity.RetryCallState) -> bool:
        if state.outcome is None:
            return False
        if state.outcome.failed:
            return retryable(state.outcome.exception(), None)
        return retryable(None, state.outcome.result())

    def wait(state: tenacity.RetryCallState) -> float:
        out = state.outcome
        resp = None if out is None or out.failed else out.result()
        return retry.delay(state.attempt_number, resp)  # attempt_number 1 here is the request's second

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if state.outcome is not None and not state.outcome.failed:
            state.outcome.result().close()

    def give_up(state: tenacity.RetryCallState) -> httpx.Response:
        assert state.outcome is not None
        return state.outcome.result()  # type: ignore[no-any-return]  # re-raises a failed attempt's error

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(retry.attempts - 1), retry=should_retry, wait=wait,
        sleep=retry.sleep, before_sleep=before_sleep, retry_error_callback=give_up,
    )
    return retrying(attempt)


def request(
    method: str, url: str, *, options: ClientOptions | None = None, **kw: Any,
) -> httpx.Response:
    """``send`` on the shared client of ``url``'s host, read whole (for one-shot service calls)."""
    with lease(url, options) as held:
        resp = send(held.client, method, url, **kw)
        resp.read()
        return resp
