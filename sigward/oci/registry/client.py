"""HTTP transport to one registry host: scheme choice, TLS, auth, retries, error mapping, counting.

Scheme: HTTPS always comes first. Plain HTTP is tried after an HTTPS failure only with
``allow_http_registry`` or for loopback hosts (127.0.0.0/8, ::1, localhost), as go-containerregistry does:
a registry on your own machine is commonly plain HTTP, and trying HTTPS first means a TLS registry on
loopback never sees a plaintext request. For those hosts the HTTPS attempt starts as a bare TLS handshake
(``transport.speaks_tls``): a plain-HTTP server fails it at once, before any CA bundle is loaded. A
certificate that fails verification never falls back to HTTP (that would be a silent downgrade); the error
names the ``StoreOptions`` settings that help (the CLI words them as its flags, ``cli/errors.py``).

Connections, TLS, User-Agent and retries are ``sigward.transport``'s: bounded exponential backoff with
jitter on connection errors, 429 (``Retry-After`` honoured, capped) and 500/502/503/504 for idempotent
requests; non-idempotent ones (POST, PATCH) only when the request provably never left (connect failure)
or the server refused it outright (429/503). The client and the ping's findings are shared by every
store open on the same host.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from sigward import safejson
from sigward.errors import AuthError, NotFoundError, StoreError
from sigward.oci.registry.auth import TokenCache, basic_header
from sigward.oci.registry.challenge import Challenge, parse_challenges
from sigward.oci.registry.dockerconfig import Credentials
from sigward.oci.registry.keychain import default_keychain
from sigward.transport import RETRY_STATUSES, Body

if TYPE_CHECKING:
    import httpx

    from sigward.oci.store import StoreOptions

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5


def is_loopback(host: str) -> bool:
    h = host
    if h.startswith("["):
        h = h[1:].split("]", 1)[0]
    elif h.count(":") == 1:
        h = h.split(":", 1)[0]
    if h.lower() == "localhost" or h.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def registry_errors(resp: httpx.Response) -> list[tuple[str, str]]:
    """The ``(code, message)`` of each entry of a registry error body's ``errors[]`` (the distribution
    spec's shape) that has either; empty for any other body, or one not read yet (a streamed response).

    The one parser of those bodies: ``error_summary`` words them for messages, the store reads the codes
    to decide a retry (``MANIFEST_BLOB_UNKNOWN``). Values are as sent (``str()`` of them, unstripped).
    """
    try:
        obj = safejson.loads(resp.content or b"null")
        errs = obj.get("errors") if isinstance(obj, dict) else None
    except Exception:  # not JSON, or not read (a streamed response): nothing to parse
        errs = None
    if not isinstance(errs, list):  # {"errors": 5} is no list of errors (and must not crash the caller)
        return []
    return [(str(e.get("code") or ""), str(e.get("message") or "")) for e in errs
            if isinstance(e, dict) and (e.get("code") or e.get("message"))]


def error_summary(resp: httpx.Response) -> str:
    """``CODE: message`` from a registry error body, else the HTTP status line."""
    parts = []
    for raw_code, raw_msg in registry_errors(resp):
        code, msg = raw_code.strip(), raw_msg.strip()
        parts.append(f"{code}: {msg}" if code and msg else code or msg)
    if parts:
        return "; ".join(p.replace("\n", " ") for p in parts)[:500]
    return f"{resp.status_code} {resp.reason_phrase or ''}".strip()


@dataclass
class _HostState:
    """What ``GET /v2/`` taught about a host, shared by every client leasing it (see sigward.transport)."""

    scheme: str | None = None
    challenge: Challenge | None = None


class RegistryClient:
    """Everything HTTP for one registry host as one store sees it: its credentials, tokens and counts.

    The httpx client and what the ping learnt (scheme, auth challenge) are shared with every other
    store on the same host and TLS settings while they are open (``transport.lease``), so a copy within
    one registry, or an image and its signature repository, ping it once and share connections.
    """

    def __init__(self, host: str, options: StoreOptions, registry_name: str | None = None) -> None:
        from sigward import transport

        self.host = host
        self.registry_name = registry_name or host  # what docker config keys and messages name
        self.options = options
        self.request_count = 0
        self.retry = transport.RetryPolicy()
        self.tokens = TokenCache()
        self.keychain = options.keychain or default_keychain(
            options.username, options.password, options.registry_token)
        self._creds: Credentials | None = None
        self._creds_loaded = False
        self._lease = transport.lease(host, transport.ClientOptions(
            ca_file=options.ca_file, insecure=options.allow_insecure_registry,
            client_cert=options.client_cert, client_key=options.client_key,
            user_agent=options.user_agent))
        self.http = self._lease.client
        key = ("registry", options.allow_http_registry)
        with self._lease.lock:
            self._host: _HostState = self._lease.state.setdefault(key, _HostState())

    # Retry knobs, per store (tests shorten them).
    attempts = property(lambda self: self.retry.attempts,
                        lambda self, v: setattr(self.retry, "attempts", v))
    backoff_base = property(lambda self: self.retry.backoff_base,
                            lambda self, v: setattr(self.retry, "backoff_base", v))
    backoff_cap = property(lambda self: self.retry.backoff_cap,
                           lambda self, v: setattr(self.retry, "backoff_cap", v))
    retry_after_cap = property(lambda self: self.retry.retry_after_cap,
                               lambda self, v: setattr(self.retry, "retry_after_cap", v))

    @property
    def _scheme(self) -> str | None:
        return self._host.scheme

    @_scheme.setter
    def _scheme(self, value: str | None) -> None:
        self._host.scheme = value

    @property
    def _challenge(self) -> Challenge | None:
        return self._host.challenge

    @_challenge.setter
    def _challenge(self, value: Challenge | None) -> None:
        self._host.challenge = value

    def close(self) -> None:
        self._lease.close()

    # -- credentials -----------------------------------------------------------------------------

    @property
    def credentials(self) -> Credentials | None:
        """From the store's keychain (explicit options, else docker's config, by default); asked once,
        when first needed."""
        if not self._creds_loaded:
            self._creds = self.keychain.resolve(self.registry_name)
            self._creds_loaded = True
        return self._creds

    # -- URLs and scheme -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._scheme is None:
            self.ping()
        return f"{self._scheme}://{self.host}"

    def url(self, path: str) -> str:
        return path if "://" in path else self.base_url + path

    def ping(self) -> httpx.Response:
        """GET /v2/ without credentials: picks the scheme and learns the auth challenge."""
        # Shared only while some store on this host is open (transport leases): a loopback port may be
        # reused later by a server with another scheme, and a failed TLS handshake there costs ~1 ms.
        if self._scheme is None:
            resp = self._probe_scheme()
        else:
            resp = self._send("GET", f"{self._scheme}://{self.host}/v2/", idempotent=True)
        self._learn_challenge(resp)
        return resp

    def _probe_scheme(self) -> httpx.Response:
        import ssl

        import httpx

        from sigward import transport

        http_ok = self.options.allow_http_registry or is_loopback(self.host)
        if (http_ok and not self.options.client_cert and not transport.proxied()
                and not transport.speaks_tls(self.host)):
            # Nothing answers TLS there: the HTTPS request below would fail the same way (and load the CA
            # bundle first). Counted as that attempt was.
            self.request_count += 1
            self._scheme = "http"
            return self._send("GET", f"http://{self.host}/v2/", idempotent=True)
        try:
            self.request_count += 1
            resp = self.http.get(f"https://{self.host}/v2/")
            self._scheme = "https"
            if resp.status_code in RETRY_STATUSES:
                resp = self._send("GET", f"https://{self.host}/v2/", idempotent=True)
            return resp
        except httpx.ConnectError as e:
            cause = e.__context__ or e.__cause__
            text = str(e)
            if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
                raise StoreError(
                    f"TLS certificate of registry {self.host} cannot be verified ({_short(e)}); "
                    "set StoreOptions.ca_file to trust its CA, or StoreOptions.allow_insecure_registry to "
                    "skip verification"
                )
            if not http_ok:
                hint = ""
                if isinstance(cause, ssl.SSLError) or "SSL" in text or "ssl" in text:
                    hint = "; if it serves plain HTTP, set StoreOptions.allow_http_registry"
                raise StoreError(f"cannot reach registry {self.host}: {_short(e)}{hint}")
        except httpx.TransportError as e:
            if not http_ok:
                raise StoreError(f"cannot reach registry {self.host}: {_short(e)}")
        self._scheme = "http"
        return self._send("GET", f"http://{self.host}/v2/", idempotent=True)

    def _learn_challenge(self, resp: httpx.Response) -> None:
        if resp.status_code == 401:
            chs = parse_challenges(resp.headers.get("WWW-Authenticate", ""))
            bearer = [c for c in chs if c.scheme == "bearer"]
            basic = [c for c in chs if c.scheme == "basic"]
            known = bearer or basic
            self._challenge = known[0] if known else None
        elif resp.status_code == 200:
            self._challenge = None
        elif resp.status_code not in (404,):
            raise StoreError(f"GET {resp.request.url}: {error_summary(resp)}")

    # -- auth ------------------------------------------------------------------------------------

    def _count(self) -> None:
        self.request_count += 1

    def auth_header(self, scopes: list[str], *, fresh: bool = False) -> str | None:
        creds = self.credentials
        if creds and creds.registry_token:
            return f"Bearer {creds.registry_token}"
        ch = self._challenge
        if ch is None:
            return None
        if ch.scheme == "basic":
            return basic_header(creds) if creds and creds.has_basic else None
        if ch.scheme == "bearer":
            if fresh:
                self.tokens.drop(ch, scopes)
            tok = self.tokens.get(ch, scopes)
            if tok is None:
                tok = self.tokens.fetch(self.http, ch, scopes, creds, self.registry_name, self._count)
            return f"Bearer {tok}"
        return None

    # -- requests --------------------------------------------------------------------------------

    def request(
        self, method: str, path: str, *, scopes: list[str], headers: dict[str, str] | None = None,
        content: Body | None = None, params: Any = None, stream: bool = False,
        idempotent: bool | None = None, follow: bool = True,
    ) -> httpx.Response:
        """One authenticated request; a 401 gets one retry with a fresh token. Errors are not raised."""
        if self._scheme is None:
            self.ping()
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE")
        url = self.url(path)
        refreshed = False
        while True:
            hdrs = dict(headers or {})
            auth = self.auth_header(scopes) if self._same_host(url) else None
            if auth:
                hdrs["Authorization"] = auth
            resp = self._send(method, url, headers=hdrs, content=content, params=params,
                              stream=stream, idempotent=idempotent)
            if resp.status_code == 401 and not refreshed and self._can_refresh(content):
                refreshed = True
                resp.close()
                www = resp.headers.get("WWW-Authenticate", "")
                new = [c for c in parse_challenges(www) if c.scheme in ("bearer", "basic")]
                if new and (self._challenge is None or new[0].scheme != self._challenge.scheme
                            or new[0].params.get("realm") != self._challenge.params.get("realm")):
                    self._challenge = new[0]
                if self._challenge is not None and self._challenge.scheme == "bearer":
                    self.tokens.drop(self._challenge, scopes)
                    # The server may name the scope it wants (e.g. ``delete``): ask for that too.
                    wanted = new[0].params.get("scope", "").split() if new else []
                    scopes = list(dict.fromkeys([*scopes, *wanted]))
                    continue
                if new:
                    continue
            if follow and resp.status_code in _REDIRECTS and method in ("GET", "HEAD"):
                return self._follow(method, resp, headers or {}, stream)
            return resp

    @staticmethod
    def _can_refresh(content: Any) -> bool:
        return content is None or callable(content) or isinstance(content, bytes | bytearray)

    def _same_host(self, url: str) -> bool:
        return urlsplit(url).netloc == self.host

    def _follow(self, method: str, resp: httpx.Response, headers: dict[str, str],
                stream: bool) -> httpx.Response:
        """Redirects (blob storage backends) — the registry's Authorization never goes to another host."""
        for _ in range(_MAX_REDIRECTS):
            loc = resp.headers.get("Location")
            if not loc:
                return resp
            url = urljoin(str(resp.request.url), loc)
            resp.close()
            hdrs = dict(headers)
            if self._same_host(url):
                auth = resp.request.headers.get("Authorization")
                if auth:
                    hdrs["Authorization"] = auth
            resp = self._send(method, url, headers=hdrs, stream=stream, idempotent=True)
            if resp.status_code not in _REDIRECTS:
                return resp
        raise StoreError(f"{method} {resp.request.url}: too many redirects")

    def _send(
        self, method: str, url: str, *, headers: dict[str, str] | None = None,
        content: Body | None = None, params: Any = None, stream: bool = False,
        idempotent: bool = True,
    ) -> httpx.Response:
        import httpx

        from sigward import transport

        try:
            return transport.send(self.http, method, url, headers=headers, content=content, params=params,
                                  stream=stream, idempotent=idempotent, retry=self.retry,
                                  on_attempt=self._count)
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            raise StoreError(f"cannot reach registry {self.host}: {_short(e)}")
        except httpx.TransportError as e:
            where = _display(e.request) if _has_request(e) else url.split("?", 1)[0]
            raise StoreError(f"{method} {where}: connection to {self.host} failed: {_short(e)}")

    # -- errors ----------------------------------------------------------------------------------

    def error(self, resp: httpx.Response, what: str | None = None) -> StoreError:
        """The one-line error for a failed response (404 → NotFoundError, 401/403 → AuthError)."""
        where = what or f"{resp.request.method} {_display(resp.request)}"
        summary = error_summary(resp)
        if resp.status_code == 404:
            return NotFoundError(f"{where}: {summary}")
        if resp.status_code in (401, 403):
            has = self.credentials is not None
            advice = ("the credentials were refused or lack permission" if has else
                      f"no credentials found; run `sigward login {self.registry_name}` or set "
                      "StoreOptions.username and StoreOptions.password")
            return AuthError(f"{where}: {summary} (registry {self.registry_name}: {advice})")
        return StoreError(f"{where}: {summary}")


def _display(req: httpx.Request) -> str:
    u = req.url
    return str(u.copy_with(query=None)) if u.query else str(u)


def _has_request(e: Exception) -> bool:
    try:
        return e.request is not None  # type: ignore[attr-defined]  # httpx raises when it has none
    except RuntimeError:
        return False


def _short(e: Exception) -> str:
    s = str(e).strip().splitlines()
    text = s[-1] if s else type(e).__name__
    return text[:300]
