"""OIDC identity tokens for keyless signing: where cosign finds one, and what Fulcio will make of it.

Sources, in cosign's order (its ``auth.RetrieveIDToken``): the ``--identity-token`` flag (a JWT
or the path of a file holding one); then, unless ``--oidc-disable-ambient-providers``, the ambient
providers (``SIGSTORE_ID_TOKEN``, GitHub Actions, Google Cloud, Buildkite, GitLab, CircleCI through the
``id`` package, and cosign's ``/var/run/sigstore/cosign/oidc-token``), or only the one named by
``--oidc-provider``; last an OAuth login against ``--oidc-issuer``: the browser flow (authorization code
+ PKCE, a redirect listener on the loopback interface), the device flow (RFC 8628) or the client
credentials grant, as ``--fulcio-auth-flow`` picks.

Tokens are decoded without verifying their signature: Fulcio verifies them against the issuer's keys,
and a client that checked them too would only need the same keys. What we do check is what would make
Fulcio refuse the token or issue a certificate for the wrong identity (audience, expiry, the identity
claim), so the user learns it before an ephemeral key is generated and a network round trip is spent.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sigward.errors import SigwardError, UsageError

if TYPE_CHECKING:
    import httpx
    import sigstore.oidc

DEFAULT_OIDC_ISSUER = "https://oauth2.sigstore.dev/auth"
DEFAULT_CLIENT_ID = "sigstore"
# cosign's "filesystem" provider: a token mounted there (e.g. a projected Kubernetes service account token).
FILESYSTEM_TOKEN_PATH = "/var/run/sigstore/cosign/oidc-token"
SIGSTORE_ID_TOKEN_ENV = "SIGSTORE_ID_TOKEN"
GITHUB_ACTIONS_ISSUER = "https://token.actions.githubusercontent.com"
# Issuers for which Fulcio puts the ``email`` claim into the certificate's SAN (fulcio config.go).
EMAIL_ISSUERS = frozenset({
    "https://accounts.google.com",
    "https://oauth2.sigstore.dev/auth",
    "https://oauth2.sigstage.dev/auth",
})
# Clock skew tolerated between this machine and the issuer, as sigstore-python allows.
LEEWAY_SECONDS = 5
AUTH_FLOWS = ("normal", "device", "token", "client_credentials")
# --oidc-provider values: cosign's names, plus the CI systems the ``id`` package detects.
PROVIDERS = ("github-actions", "google", "buildkite-agent", "gitlab", "circleci", "filesystem", "envvar",
             "spiffe")
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SCOPES = "openid email"

NO_TOKEN_MESSAGE = (
    "no identity token: pass --identity-token, set SIGSTORE_ID_TOKEN, run in a CI with OIDC (GitHub Actions: "
    "permissions id-token: write; GitLab: id_tokens with aud: sigstore), or run interactively"
)
PRIVACY_NOTICE = (
    "Note: the identity you log in with (for most issuers, your email address) goes into the signing "
    "certificate, which is recorded in a public transparency log and cannot be removed from it later."
)
NO_TOKEN_IN_RESPONSE = "the OIDC issuer's token response has neither an id_token nor a JWT access_token"
_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


class IdentityError(SigwardError):
    """An identity token that Fulcio would refuse, or an OIDC login or ambient lookup that failed."""


# --- the token ---------------------------------------------------------------------------------------------

def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _b64url_json(part: str, what: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError):
        raise IdentityError(f"the identity token is not a JWT: its {what} is not base64url-encoded JSON")


def _decode_claims(raw: str) -> dict[str, Any]:
    """The payload of a compact JWS, checked for shape only (see the module docstring for why)."""
    parts = raw.split(".")
    if len(parts) != 3:
        raise IdentityError(f"the identity token is not a JWT: it has {len(parts)} dot-separated part(s), "
                            "not 3")
    header = _b64url_json(parts[0], "header")
    claims = _b64url_json(parts[1], "payload")
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise IdentityError("the identity token is not a JWT: its header or payload is not a JSON object")
    return claims


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IdentityError(f"the identity token's `{name}` claim is not a number of seconds")
    return float(value)


def _check_claims(claims: Mapping[str, Any], client_id: str, now: float) -> None:
    missing = [c for c in ("iss", "sub", "aud", "iat", "exp") if c not in claims]
    if missing:
        raise IdentityError(f"the identity token lacks the {', '.join(missing)} claim(s) every OIDC token "
                            "has")
    for name in ("iss", "sub"):
        if not isinstance(claims[name], str) or not claims[name]:
            raise IdentityError(f"the identity token's `{name}` claim is not a non-empty string")
    aud = claims["aud"]
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise IdentityError("the identity token's `aud` claim is neither a string nor a list of strings")
    if client_id not in audiences:
        raise IdentityError(f"the identity token is for the audience {', '.join(map(repr, audiences))}, not "
                            f"{client_id!r}; get one issued for {client_id!r}")
    exp, iat, nbf = _number(claims, "exp"), _number(claims, "iat"), _number(claims, "nbf")
    if exp is None or iat is None:
        raise IdentityError("the identity token's `exp` and `iat` claims must be numbers of seconds")
    if now >= exp + LEEWAY_SECONDS:
        raise IdentityError(f"the identity token expired at {_utc(exp)}; get a new one")
    if nbf is not None and nbf > now + LEEWAY_SECONDS:
        raise IdentityError(f"the identity token is not valid before {_utc(nbf)}; check this machine's clock")
    if iat > now + LEEWAY_SECONDS:
        raise IdentityError(f"the identity token was issued in the future ({_utc(iat)}); check this "
                            "machine's clock")


def _federated_issuer(claims: Mapping[str, Any]) -> str | None:
    federated = claims.get("federated_claims")
    if federated is None:
        return None
    if not isinstance(federated, dict):
        raise IdentityError("the identity token's `federated_claims` claim is not a JSON object")
    connector = federated.get("connector_id")
    if connector is not None and not isinstance(connector, str):
        raise IdentityError("the identity token's `federated_claims.connector_id` is not a string")
    return connector


def _identity(claims: Mapping[str, Any]) -> str:
    """The value Fulcio will put in the certificate's SAN (and that the proof of possession signs)."""
    iss = claims["iss"]
    email = claims.get("email")
    if iss in EMAIL_ISSUERS:
        if not isinstance(email, str) or not email:
            raise IdentityError(f"the identity token from {iss} has no `email` claim, which Fulcio uses as "
                                "the certificate identity for this issuer")
        return email
    if "federated_claims" in claims and isinstance(email, str) and email:
        return email  # a Dex federation (a private sigstore issuer): Dex tokens carry the user's email
    if iss == GITHUB_ACTIONS_ISSUER:
        workflow_ref = claims.get("job_workflow_ref")
        if isinstance(workflow_ref, str) and workflow_ref:
            return f"https://github.com/{workflow_ref}"
    return str(claims["sub"])


@dataclass(frozen=True, repr=False)
class IdentityToken:
    """A raw OIDC token with its claims, checked as sigstore-python checks them (audience, validity period,
    required claims) but not verified: Fulcio verifies the signature against the issuer's JWKS."""

    raw: str
    client_id: str = DEFAULT_CLIENT_ID
    claims: Mapping[str, Any] = field(init=False, compare=False)
    identity: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        raw = self.raw.strip()
        object.__setattr__(self, "raw", raw)
        claims = _decode_claims(raw)
        _check_claims(claims, self.client_id, time.time())
        _federated_issuer(claims)  # type checks, so a bad token fails here rather than when it is used
        object.__setattr__(self, "claims", claims)
        object.__setattr__(self, "identity", _identity(claims))

    @property
    def issuer(self) -> str:
        return str(self.claims["iss"])

    @property
    def subject(self) -> str:
        return str(self.claims["sub"])

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.claims["exp"], UTC)

    @property
    def issued_at(self) -> datetime:
        return datetime.fromtimestamp(self.claims["iat"], UTC)

    @property
    def federated_issuer(self) -> str:
        """The issuer behind a federation (Dex's ``federated_claims.connector_id``), else ``issuer``."""
        return _federated_issuer(self.claims) or self.issuer

    def __repr__(self) -> str:  # never the raw token: it is a bearer credential
        return (f"IdentityToken(issuer={self.issuer!r}, identity={self.identity!r}, "
                f"expires_at={self.expires_at.isoformat()!r})")

    def to_sigstore(self) -> sigstore.oidc.IdentityToken:
        """The same token as sigstore-python's type, for its ``Signer``."""
        from sigstore.oidc import IdentityToken as SigstoreIdentityToken

        try:
            return SigstoreIdentityToken(self.raw, client_id=self.client_id)
        except Exception as e:  # sigstore.oidc.IdentityError and friends
            raise IdentityError(f"sigstore-python refuses the identity token: {e}")


# --- options and the source order -------------------------------------------------------------------------

def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


def _open_in_browser(url: str) -> bool:
    import webbrowser

    return webbrowser.open(url)


@dataclass
class IdentityOptions:
    """cosign's OIDC flags (see each field) plus the seams tests need (browser, prompt, sleep)."""

    identity_token: str | None = None             # --identity-token: a JWT, or the path of a file holding one
    oidc_issuer: str = DEFAULT_OIDC_ISSUER        # --oidc-issuer
    oidc_client_id: str = DEFAULT_CLIENT_ID       # --oidc-client-id
    oidc_client_secret_file: str | None = None    # --oidc-client-secret-file
    oidc_redirect_url: str | None = None          # --oidc-redirect-url
    oidc_provider: str | None = None              # --oidc-provider (one of PROVIDERS)
    disable_ambient: bool = False                 # --oidc-disable-ambient-providers
    auth_flow: str | None = None                  # --fulcio-auth-flow (one of AUTH_FLOWS)
    skip_confirmation: bool = False               # --yes
    interactive: bool = field(default_factory=_stdin_is_tty)  # a person at a terminal can log in
    open_browser: Callable[[str], bool] = _open_in_browser
    confirm: Callable[[str], bool] | None = None  # asks the privacy question; None: read a line from stdin
    sleep: Callable[[float], None] = time.sleep   # between device-flow polls
    filesystem_token_path: str = FILESYSTEM_TOKEN_PATH
    callback_timeout: float = 120.0               # seconds to wait for the browser's redirect
    http_timeout: float = 30.0


def get_identity_token(opts: IdentityOptions, env: Mapping[str, str] = os.environ) -> IdentityToken:
    """An identity token from the first source that has one, in cosign's order (see the module docstring).

    ``env`` is the environment the ambient providers look at; tests pass their own mapping.
    """
    flow = opts.auth_flow or None
    if flow is not None and flow not in AUTH_FLOWS:
        raise UsageError(f"--fulcio-auth-flow {flow!r} is not one of {', '.join(AUTH_FLOWS)}")
    provider = opts.oidc_provider or None
    if provider is not None and provider not in PROVIDERS:
        raise UsageError(f"--oidc-provider {provider!r} is not one of {', '.join(PROVIDERS)}")

    raw = _static_token(opts, provider, env)
    if raw is not None:
        return IdentityToken(raw, opts.oidc_client_id)
    if flow == "token":
        raise UsageError("--fulcio-auth-flow=token needs a token: pass --identity-token or set "
                         "SIGSTORE_ID_TOKEN")
    if flow is None:
        if not opts.interactive:
            raise UsageError(NO_TOKEN_MESSAGE)
        _confirm_privacy(opts)
        flow = "normal"
    return _login(opts, flow)


def _read_token_file(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            raw = f.read().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise IdentityError(f"cannot read the identity token file {path} ({what}): "
                            f"{getattr(e, 'strerror', None) or e}")
    if not raw:
        raise IdentityError(f"the identity token file {path} ({what}) is empty")
    return raw


def _flag_token(value: str) -> str:
    """cosign's --identity-token: the token itself, or the path of a file that holds it."""
    value = value.strip()
    if os.path.isfile(value):
        return _read_token_file(value, "--identity-token")
    if _JWT_SHAPE.match(value):
        return value
    shown = value if len(value) <= 80 else value[:77] + "..."
    raise UsageError(f"--identity-token is neither a JWT nor the path of a file: no file named {shown!r}")


def _static_token(opts: IdentityOptions, provider: str | None, env: Mapping[str, str]) -> str | None:
    if opts.identity_token:
        return _flag_token(opts.identity_token)
    if opts.disable_ambient:
        return None
    audience = opts.oidc_client_id
    if provider is not None:
        return _from_provider(provider, opts, env, audience)
    if env.get(SIGSTORE_ID_TOKEN_ENV, "").strip():
        return env[SIGSTORE_ID_TOKEN_ENV].strip()
    raw = _ambient(None, env, audience)
    if raw is not None:
        return raw
    if os.path.isfile(opts.filesystem_token_path):
        return _read_token_file(opts.filesystem_token_path, "cosign's filesystem provider")
    return None


# Provider name → (the ``id`` detector's function name, why it found nothing when it returns None).
_ID_DETECTORS = {
    "github-actions": ("detect_github", "GITHUB_ACTIONS is not set, so this is not a GitHub Actions job"),
    "google": ("detect_gcp", "this is not a Google Cloud machine and GOOGLE_SERVICE_ACCOUNT_NAME is not set"),
    "buildkite-agent": ("detect_buildkite", "BUILDKITE is not set, so this is not a Buildkite job"),
    "gitlab": ("detect_gitlab", "GITLAB_CI is not set, so this is not a GitLab CI job"),
    "circleci": ("detect_circleci", "CIRCLECI is not set, so this is not a CircleCI job"),
}


def _from_provider(name: str, opts: IdentityOptions, env: Mapping[str, str], audience: str) -> str:
    """--oidc-provider: only that provider, and it must produce a token (as cosign's ProvideFrom)."""
    if name == "filesystem":
        return _read_token_file(opts.filesystem_token_path, "--oidc-provider=filesystem")
    if name == "envvar":
        raw = env.get(SIGSTORE_ID_TOKEN_ENV, "").strip()
        if not raw:
            raise IdentityError(f"--oidc-provider=envvar: {SIGSTORE_ID_TOKEN_ENV} is not set")
        return raw
    if name == "spiffe":
        raise UsageError("--oidc-provider=spiffe is not supported (sigward does not speak the SPIFFE "
                         "Workload API); fetch a JWT-SVID for audience sigstore and pass it with "
                         "--identity-token")
    found = _ambient(name, env, audience)
    if found is None:
        raise IdentityError(f"--oidc-provider={name} found no token: {_ID_DETECTORS[name][1]}")
    return found


_environ_lock = threading.Lock()


@contextmanager
def _process_environment(env: Mapping[str, str]) -> Iterator[None]:
    """Make ``env`` the process environment for the duration: ``id``'s detectors read ``os.environ`` only,
    while our callers (tests, embedders) pass the environment explicitly."""
    if env is os.environ:
        yield
        return
    with _environ_lock:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def _ambient(name: str | None, env: Mapping[str, str], audience: str) -> str | None:
    """A token from the CI system we run in, through the ``id`` package (all detectors, or the named one)."""
    import id as idpkg

    try:
        with _process_environment(env):
            if name is None:
                return idpkg.detect_credential(audience)
            from id._internal.oidc import ambient

            # No public API in ``id`` runs one detector; the audience is checked by IdentityToken.
            raw: str | None = getattr(ambient, _ID_DETECTORS[name][0])(audience)
            return raw
    except idpkg.GitHubOidcPermissionCredentialError:
        raise IdentityError("this GitHub Actions job may not request an OIDC token: add `permissions: "
                            "id-token: write` to the workflow or the job")
    except idpkg.IdentityError as e:
        message = " ".join(str(e).split())
        if message.startswith("GitLab:") and audience == DEFAULT_CLIENT_ID:
            raise IdentityError("this GitLab CI job has no SIGSTORE_ID_TOKEN: add `id_tokens: "
                                "SIGSTORE_ID_TOKEN: aud: sigstore` to the job")
        raise IdentityError(f"cannot get an ambient OIDC token: {message[:300]}")


def _confirm_privacy(opts: IdentityOptions) -> None:
    """Before an interactive login, as cosign does: the identity becomes public, forever."""
    print(PRIVACY_NOTICE, file=sys.stderr)
    if opts.skip_confirmation:
        return
    question = "Are you sure you would like to continue? [y/N] "
    ask = opts.confirm or _ask_on_stdin
    if not ask(question):
        raise IdentityError("stopped before logging in: the question was not answered with 'y' "
                            "(pass --yes to skip it)")


def _ask_on_stdin(question: str) -> bool:
    print(question, end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


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


def _login(opts: IdentityOptions, flow: str) -> IdentityToken:
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
        raise UsageError(f"cannot read --oidc-client-secret-file {path}: {getattr(e, 'strerror', None) or e}")


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
        print(f"Your browser will now be opened to:\n{url}", file=sys.stderr, flush=True)
        try:
            opened = bool(opts.open_browser(url))
        except Exception:  # webbrowser.Error, or a broken browser command
            opened = False
        if not opened and not listener.done.is_set() and disc.device_authorization_endpoint:
            print("No browser could be opened; using the device flow instead.", file=sys.stderr)
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
    print(f"Enter the verification code {user_code} in your browser at: {uri}", file=sys.stderr)
    complete = body.get("verification_uri_complete")
    if isinstance(complete, str) and complete:
        print(f"(or open {complete}, which carries the code)", file=sys.stderr)
    print(f"Code will be valid for {expires_in} seconds", file=sys.stderr, flush=True)

    deadline = time.monotonic() + expires_in
    poll = _with_secret({"grant_type": DEVICE_GRANT, "device_code": device_code,
                         "client_id": opts.oidc_client_id, "code_verifier": verifier}, secret)
    while True:
        status, body = _post_form(http, disc.token_endpoint, poll, "token")
        raw = _token_from(body, allow_access_token=True) if status == 200 else None
        if raw is not None:
            print("Token received!", file=sys.stderr)
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
                raise UsageError(f"--oidc-redirect-url {redirect_url!r} must be an http:// URL on this "
                                 "machine (localhost or 127.0.0.1)")
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
