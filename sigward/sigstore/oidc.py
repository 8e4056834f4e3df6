"""OIDC identity tokens for keyless signing: where cosign finds one, and what Fulcio will make of it.

Sources, in cosign's order (its ``auth.RetrieveIDToken``): the ``--identity-token`` flag (a JWT
or the path of a file holding one); then, unless ``--oidc-disable-ambient-providers``, the ambient
providers (``SIGSTORE_ID_TOKEN``, GitHub Actions, Google Cloud, Buildkite, GitLab, CircleCI through the
``id`` package, and cosign's ``/var/run/sigstore/cosign/oidc-token``), or only the one named by
``--oidc-provider``; last an OAuth login against ``--oidc-issuer``: the browser flow (authorization code
+ PKCE, a redirect listener on the loopback interface), the device flow (RFC 8628) or the client
credentials grant, as ``--fulcio-auth-flow`` picks.

The OAuth logins live in ``oidc_login.py`` (imported only when one is needed).

Tokens are decoded without verifying their signature: Fulcio verifies them against the issuer's keys,
and a client that checked them too would only need the same keys. What we do check is what would make
Fulcio refuse the token or issue a certificate for the wrong identity (audience, expiry, the identity
claim), so the user learns it before an ephemeral key is generated and a network round trip is spent.
The decoding is a dozen lines of base64url + JSON rather than PyJWT's unverified decode: PyJWT's errors
("Invalid header padding" for a token with four parts) do not say which part is wrong; ours do.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sigward.errors import SigwardError, UsageError

if TYPE_CHECKING:
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
    "no identity token: pass IdentityOptions.identity_token, set SIGSTORE_ID_TOKEN, run in a CI with OIDC "
    "(GitHub Actions: permissions id-token: write; GitLab: id_tokens with aud: sigstore), or run "
    "interactively"
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

def _discard(message: str) -> None:
    return None


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
    interactive: bool = False                     # a person at a terminal can log in (the CLI decides)
    open_browser: Callable[[str], bool] = _open_in_browser
    confirm: Callable[[str], bool] | None = None  # asks the privacy question; None: nobody to ask (refused)
    notify: Callable[[str], None] = _discard      # messages for the person logging in (the CLI: stderr)
    sleep: Callable[[float], None] = time.sleep   # between device-flow polls
    filesystem_token_path: str = FILESYSTEM_TOKEN_PATH
    callback_timeout: float = 120.0               # seconds to wait for the browser's redirect
    http_timeout: float = 30.0


def get_identity_token(opts: IdentityOptions, env: Mapping[str, str]) -> IdentityToken:
    """An identity token from the first source that has one, in cosign's order (see the module docstring).

    ``env`` is the environment ``SIGSTORE_ID_TOKEN`` and the ambient providers are looked up in. The caller
    chooses it, as nothing below the CLI reads the process environment on its own: the CLI passes
    ``os.environ``, a library caller what it wants consulted (``{}``: none).
    """
    flow = opts.auth_flow or None
    if flow is not None and flow not in AUTH_FLOWS:
        raise UsageError(f"IdentityOptions.auth_flow {flow!r} is not one of {', '.join(AUTH_FLOWS)}")
    provider = opts.oidc_provider or None
    if provider is not None and provider not in PROVIDERS:
        raise UsageError(f"IdentityOptions.oidc_provider {provider!r} is not one of {', '.join(PROVIDERS)}")

    raw = _static_token(opts, provider, env)
    if raw is not None:
        return IdentityToken(raw, opts.oidc_client_id)
    if flow == "token":
        raise UsageError("IdentityOptions.auth_flow=token needs a token: pass IdentityOptions.identity_token "
                         "or set SIGSTORE_ID_TOKEN")
    if flow is None:
        if not opts.interactive:
            raise UsageError(NO_TOKEN_MESSAGE)
        _confirm_privacy(opts)
        flow = "normal"
    from sigward.sigstore.oidc_login import login

    return login(opts, flow)


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
        return _read_token_file(value, "IdentityOptions.identity_token")
    if _JWT_SHAPE.match(value):
        return value
    shown = value if len(value) <= 80 else value[:77] + "..."
    raise UsageError(f"IdentityOptions.identity_token is neither a JWT nor the path of a file: no file named "
                     f"{shown!r}")


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
        return _read_token_file(opts.filesystem_token_path, "IdentityOptions.oidc_provider=filesystem")
    if name == "envvar":
        raw = env.get(SIGSTORE_ID_TOKEN_ENV, "").strip()
        if not raw:
            raise IdentityError(f"IdentityOptions.oidc_provider=envvar: {SIGSTORE_ID_TOKEN_ENV} is not set")
        return raw
    if name == "spiffe":
        raise UsageError("IdentityOptions.oidc_provider=spiffe is not supported (sigward does not speak the "
                         "SPIFFE Workload API); fetch a JWT-SVID for audience sigstore and pass it with "
                         "IdentityOptions.identity_token")
    found = _ambient(name, env, audience)
    if found is None:
        raise IdentityError(f"IdentityOptions.oidc_provider={name} found no token: {_ID_DETECTORS[name][1]}")
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
    opts.notify(PRIVACY_NOTICE)
    if opts.skip_confirmation:
        return
    question = "Are you sure you would like to continue? [y/N] "
    if opts.confirm is None or not opts.confirm(question):
        raise IdentityError("stopped before logging in: the question was not answered with 'y' "
                            "(pass IdentityOptions.skip_confirmation=True to skip it)")
