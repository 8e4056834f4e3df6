"""OAuth logins for an identity token, as cosign's ``--fulcio-auth-flow`` picks them: the browser flow
(authorization code + PKCE, a redirect listener on the loopback interface), the device flow (RFC 8628)
and the client credentials grant, after OpenID discovery of the issuer.

Separate from ``oidc.py`` (where tokens come from and what Fulcio makes of them) because only an
interactive or client-credentials login needs any of it. HTTP goes through ``sigward.transport``:
discovery is retried like any GET; code, device-code and token exchanges only when the request never
left or the issuer refused it outright, since a code can be redeemed once.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sigward.errors import UsageError
from sigward.sigstore.oidc import (
    _JWT_SHAPE,
    DEVICE_GRANT,
    NO_TOKEN_IN_RESPONSE,
    SCOPES,
    IdentityError,
    IdentityOptions,
    IdentityToken,
)

if TYPE_CHECKING:
    import httpx


# --- the OAuth flows --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Discovery:
    """The parts of an OpenID provider's discovery document the flows use."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    device_authorization_endpoint: str | None
    code_challenge_methods: tuple[str, ...] | None


def _discover(http: httpx.Client, issuer: str) -> _Discovery:
    import httpx

    from sigward import transport

    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        r = transport.send(http, "GET", url)
    except httpx.HTTPError as e:
        raise IdentityError(f"cannot reach the OIDC issuer {issuer}: {e or type(e).__name__}")
    if r.status_code != 200:
        raise IdentityError(f"the OIDC issuer {issuer} answered HTTP {r.status_code} for {url}")
    try:
        doc = r.json()
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise IdentityError(f"the OIDC issuer {issuer} sent a discovery document that is not a JSON object")
    if str(doc.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        raise IdentityError(f"the discovery document at {url} names another issuer ({doc.get('issuer')!r})")
    for key in ("authorization_endpoint", "token_endpoint"):
        if not isinstance(doc.get(key), str):
            raise IdentityError(f"the OIDC issuer {issuer} does not announce a {key}")
    methods = doc.get("code_challenge_methods_supported")
    device = doc.get("device_authorization_endpoint")
    return _Discovery(doc["issuer"], doc["authorization_endpoint"], doc["token_endpoint"],
                      device if isinstance(device, str) else None,
                      tuple(methods) if isinstance(methods, list) else None)


def login(opts: IdentityOptions, flow: str) -> IdentityToken:
    """An identity token from an OAuth login against ``opts.oidc_issuer`` with ``flow``."""
    from sigward import transport

    secret = None
    if opts.oidc_client_secret_file:
        secret = _read_secret(opts.oidc_client_secret_file)
    with transport.new_client(timeout=opts.http_timeout) as http:
        disc = _discover(http, opts.oidc_issuer)
        if flow == "client_credentials":
            raw = _client_credentials_flow(opts, disc, http, secret)
        elif flow == "device":
            raw = _device_flow(opts, disc, http, secret)
        else:
            raw, nonce = _browser_flow(opts, disc, http, secret)
            if nonce is not None:
                token = IdentityToken(raw, opts.oidc_client_id)
                if token.claims.get("nonce") != nonce:
                    raise IdentityError("the identity token from the OIDC issuer does not carry the nonce "
                                        "this login sent; refusing it")
                return token
    return IdentityToken(raw, opts.oidc_client_id)


def _read_secret(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read IdentityOptions.oidc_client_secret_file {path}: "
                         f"{getattr(e, 'strerror', None) or e}")


def _pkce() -> tuple[str, str]:
    """An RFC 7636 verifier and its S256 challenge."""
    import hashlib
    import secrets

    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _check_pkce_support(disc: _Discovery) -> None:
    # Without PKCE a code intercepted on the loopback redirect could be redeemed by someone else.
    if disc.code_challenge_methods is not None and "S256" not in disc.code_challenge_methods:
        raise IdentityError(f"the OIDC issuer {disc.issuer} does not support PKCE with S256, which a "
                            "command-line login needs")


def _post_form(http: httpx.Client, url: str, data: dict[str, str], what: str) -> tuple[int, dict[str, Any]]:
    import httpx

    from sigward import transport

    try:
        # Not idempotent (a code or device code is redeemed once): retried only if it never left or the
        # issuer refused it outright (429/503).
        r = transport.send(http, "POST", url, data=data, headers={"Accept": "application/json"},
                           idempotent=False)
    except httpx.HTTPError as e:
        raise IdentityError(f"cannot reach the OIDC issuer's {what} endpoint {url}: {e or type(e).__name__}")
    try:
        body = r.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise IdentityError(f"the OIDC issuer's {what} endpoint answered HTTP {r.status_code} without a JSON "
                            "object")
    return r.status_code, body


def _oauth_error(body: Mapping[str, Any], status: int) -> str:
    error = body.get("error") or f"HTTP {status}"
    desc = body.get("error_description")
    return f"{error}: {desc}" if desc else str(error)


def _token_from(body: Mapping[str, Any], allow_access_token: bool) -> str | None:
    """The ``id_token``; else, for grants where some issuers only return it, a JWT ``access_token``."""
    raw = body.get("id_token")
    if isinstance(raw, str) and raw:
        return raw
    access = body.get("access_token")
    if allow_access_token and isinstance(access, str) and _JWT_SHAPE.match(access):
        return access
    return None


def _with_secret(data: dict[str, str], secret: str | None) -> dict[str, str]:
    if secret:
        data["client_secret"] = secret
    return data


def _browser_flow(opts: IdentityOptions, disc: _Discovery, http: httpx.Client,
                  secret: str | None) -> tuple[str, str | None]:
    """Authorization code + PKCE with a loopback redirect; returns the raw token and the nonce it must carry
    (None when we fell back to the device flow because no browser opened)."""
    import secrets
    import urllib.parse

    _check_pkce_support(disc)
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier, challenge = _pkce()
    with _RedirectListener(opts.oidc_redirect_url, state) as listener:
        params = {
            "response_type": "code", "client_id": opts.oidc_client_id, "redirect_uri": listener.redirect_uri,
            "scope": SCOPES, "state": state, "nonce": nonce, "code_challenge": challenge,
            "code_challenge_method": "S256", "access_type": "online",
        }
        sep = "&" if "?" in disc.authorization_endpoint else "?"
        url = disc.authorization_endpoint + sep + urllib.parse.urlencode(params)
        # Printed first, so the login works when no browser opens (a headless session, a remote shell).
        opts.notify(f"Your browser will now be opened to:\n{url}")
        try:
            opened = bool(opts.open_browser(url))
        except Exception:  # webbrowser.Error, or a broken browser command
            opened = False
        if not opened and not listener.done.is_set() and disc.device_authorization_endpoint:
            opts.notify("No browser could be opened; using the device flow instead.")
            return _device_flow(opts, disc, http, secret), None
        code = listener.wait(opts.callback_timeout)
        redirect_uri = listener.redirect_uri
    data = _with_secret({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                         "client_id": opts.oidc_client_id, "code_verifier": verifier}, secret)
    status, body = _post_form(http, disc.token_endpoint, data, "token")
    if status != 200:
        raise IdentityError(f"the OIDC issuer refused the authorization code ({_oauth_error(body, status)})")
    raw = _token_from(body, allow_access_token=False)
    if raw is None:
        raise IdentityError("the OIDC issuer's token response has no id_token")
    return raw, nonce


def _device_flow(opts: IdentityOptions, disc: _Discovery, http: httpx.Client, secret: str | None) -> str:
    """RFC 8628: show a code to enter elsewhere, then poll the token endpoint until the login completes."""
    if not disc.device_authorization_endpoint:
        raise IdentityError(f"the OIDC issuer {disc.issuer} does not offer the device flow (its discovery "
                            "document has no device_authorization_endpoint)")
    verifier, challenge = _pkce()
    data = _with_secret({"client_id": opts.oidc_client_id, "scope": SCOPES, "code_challenge": challenge,
                         "code_challenge_method": "S256"}, secret)
    if opts.oidc_redirect_url:
        data["redirect_uri"] = opts.oidc_redirect_url
    status, body = _post_form(http, disc.device_authorization_endpoint, data, "device authorization")
    device_code = body.get("device_code")
    user_code = body.get("user_code")
    # Google's endpoint says verification_url (a pre-RFC draft name).
    uri = body.get("verification_uri") or body.get("verification_url")
    if status != 200 or not all(isinstance(v, str) and v for v in (device_code, user_code, uri)):
        raise IdentityError(f"the OIDC issuer refused the device authorization request "
                            f"({_oauth_error(body, status)})")
    assert isinstance(device_code, str)
    expires_in = body.get("expires_in")
    expires_in = expires_in if isinstance(expires_in, int) and expires_in > 0 else 600
    interval = body.get("interval")
    interval = interval if isinstance(interval, int) and interval >= 0 else 5
    opts.notify(f"Enter the verification code {user_code} in your browser at: {uri}")
    complete = body.get("verification_uri_complete")
    if isinstance(complete, str) and complete:
        opts.notify(f"(or open {complete}, which carries the code)")
    opts.notify(f"Code will be valid for {expires_in} seconds")

    deadline = time.monotonic() + expires_in
    poll = _with_secret({"grant_type": DEVICE_GRANT, "device_code": device_code,
                         "client_id": opts.oidc_client_id, "code_verifier": verifier}, secret)
    while True:
        status, body = _post_form(http, disc.token_endpoint, poll, "token")
        raw = _token_from(body, allow_access_token=True) if status == 200 else None
        if raw is not None:
            opts.notify("Token received!")
            return raw
        error = body.get("error")
        if error == "authorization_pending":
            pass
        elif error == "slow_down":
            interval += 5  # RFC 8628 §3.5: for this and every later poll
        elif error == "expired_token":
            raise IdentityError(f"the device code expired before the login was completed; run the command "
                                f"again and finish the login within {expires_in} seconds")
        elif error == "access_denied":
            raise IdentityError("the login was denied at the OIDC issuer")
        elif status == 200:
            raise IdentityError(NO_TOKEN_IN_RESPONSE)
        else:
            raise IdentityError(f"the OIDC issuer ended the device flow with an error "
                                f"({_oauth_error(body, status)})")
        if time.monotonic() + interval > deadline:
            raise IdentityError(f"the device code expired before the login was completed; run the command "
                                f"again and finish the login within {expires_in} seconds")
        opts.sleep(interval)


def _client_credentials_flow(opts: IdentityOptions, disc: _Discovery, http: httpx.Client,
                             secret: str | None) -> str:
    """The client credentials grant (cosign's --fulcio-auth-flow=client_credentials): no person involved."""
    data = _with_secret({"grant_type": "client_credentials", "client_id": opts.oidc_client_id,
                         "scope": SCOPES}, secret)
    if opts.oidc_redirect_url:
        data["redirect_uri"] = opts.oidc_redirect_url
    status, body = _post_form(http, disc.token_endpoint, data, "token")
    if status != 200:
        raise IdentityError(f"the OIDC issuer refused the client credentials ({_oauth_error(body, status)})")
    raw = _token_from(body, allow_access_token=True)
    if raw is None:
        raise IdentityError(NO_TOKEN_IN_RESPONSE)
    return raw


class _RedirectListener:
    """The loopback HTTP server the issuer redirects the browser to, with the code and our ``state``."""

    def __init__(self, redirect_url: str | None, state: str) -> None:
        import urllib.parse
        from http.server import HTTPServer

        if redirect_url:
            u = urllib.parse.urlsplit(redirect_url)
            if u.scheme != "http" or u.hostname not in ("localhost", "127.0.0.1", "::1"):
                raise UsageError(f"IdentityOptions.oidc_redirect_url {redirect_url!r} must be an http:// "
                                 "URL on this machine (localhost or 127.0.0.1)")
            host = "::1" if u.hostname == "::1" else "127.0.0.1"
            port, self.path, self.redirect_uri = u.port or 80, u.path or "/", redirect_url
        else:
            host, port, self.path = "127.0.0.1", 0, "/auth/callback"
        self.state = state
        self.done = threading.Event()
        self.code: str | None = None
        self.error: str | None = None
        server_class: type[HTTPServer] = HTTPServer
        if host == "::1":
            import socket

            class _HTTPServer6(HTTPServer):
                address_family = socket.AF_INET6

            server_class = _HTTPServer6
        try:
            self._httpd = server_class((host, port), self._handler())
        except OSError as e:
            raise IdentityError(f"cannot listen on {host}:{port} for the OIDC redirect: {e.strerror or e}")
        if not redirect_url:
            # "localhost", as cosign and sigstore-python send: issuers allow any port on it for public
            # clients.
            self.redirect_uri = f"http://localhost:{self._httpd.server_address[1]}{self.path}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        name="oidc-redirect", daemon=True)

    def __enter__(self) -> _RedirectListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _finish(self, code: str | None, error: str | None) -> None:
        if not self.done.is_set():
            self.code, self.error = code, error
            self.done.set()

    def wait(self, timeout: float) -> str:
        if not self.done.wait(timeout):
            raise IdentityError(f"no login came back from the browser within {timeout:g} seconds")
        if self.error is not None:
            raise IdentityError(self.error)
        assert self.code is not None
        return self.code

    def _handler(self) -> type:
        import urllib.parse
        from http.server import BaseHTTPRequestHandler

        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # the terminal is the user's; nothing of ours belongs there

            def _reply(self, status: int, text: str) -> None:
                body = f"<!doctype html><title>sigward</title><p>{text}</p>".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                u = urllib.parse.urlsplit(self.path)
                if u.path != listener.path:
                    self._reply(404, "Not found.")
                    return
                q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
                if q.get("state") != listener.state:
                    listener._finish(None, "the OIDC redirect came back with the wrong state, so it is not "
                                           "the answer to this login; refusing it")
                    self._reply(400, "Wrong state: this is not the login sigward started.")
                elif "error" in q:
                    desc = q.get("error_description")
                    detail = q["error"] + (f": {desc}" if desc else "")
                    listener._finish(None, f"the OIDC issuer refused the login ({detail})")
                    self._reply(400, "The login failed; see the terminal.")
                elif not q.get("code"):
                    listener._finish(None, "the OIDC redirect came back without an authorization code")
                    self._reply(400, "No authorization code.")
                else:
                    listener._finish(q["code"], None)
                    self._reply(200, "Logged in. You can close this page and return to the terminal.")

        return Handler
