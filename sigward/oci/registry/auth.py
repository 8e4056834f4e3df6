"""Registry authentication: basic, and bearer tokens per repository scope.

Docker's token protocol hands out a token per (realm, service, scope set). Signing touches several
repositories with different rights (pull the subject, push the signature, pull a mount source), so
tokens are cached per scope set and reused until shortly before they expire. A token refused with a 401
is dropped and fetched again once (servers revoke tokens, or ask for more scope than we guessed).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sigward.errors import AuthError, StoreError
from sigward.oci.registry.challenge import Challenge
from sigward.oci.registry.dockerconfig import Credentials

if TYPE_CHECKING:
    import httpx

# distribution's token spec: tokens last at least 60 s when the server does not say.
DEFAULT_EXPIRES_IN = 60
# Refresh this many seconds before the stated expiry, so a token does not die in flight.
EXPIRY_MARGIN = 5.0
CLIENT_ID = "sigward"


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def basic_header(creds: Credentials) -> str:
    raw = f"{creds.username}:{creds.password or ''}".encode()
    return "Basic " + base64.b64encode(raw).decode()


@dataclass
class _Token:
    value: str
    expires_at: float


def _parse_time(s: Any) -> float | None:
    if not isinstance(s, str) or not s:
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class TokenCache:
    """Bearer tokens keyed by (realm, service, scopes); ``clock`` is injectable for expiry tests."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        self.fetches = 0

    @staticmethod
    def key(challenge: Challenge, scopes: list[str]) -> tuple[str, str, str]:
        return (challenge.params.get("realm", ""), challenge.params.get("service", ""),
                " ".join(sorted(set(scopes))))

    def get(self, challenge: Challenge, scopes: list[str]) -> str | None:
        now = self.clock()
        for k in self._candidates(challenge, scopes):
            tok = self._tokens.get(k)
            if tok and now < tok.expires_at - EXPIRY_MARGIN:
                return tok.value
        return None

    def _candidates(self, challenge: Challenge, scopes: list[str]) -> list[tuple[str, str, str]]:
        key = self.key(challenge, scopes)
        out = [key]
        # A pull,push token also serves plain pulls of the same repository: saves a token round trip.
        if len(scopes) == 1 and scopes[0].endswith(":pull"):
            out.append(self.key(challenge, [scopes[0] + ",push"]))
        return out

    def drop(self, challenge: Challenge, scopes: list[str]) -> None:
        for k in self._candidates(challenge, scopes):
            self._tokens.pop(k, None)

    def fetch(
        self, http: httpx.Client, challenge: Challenge, scopes: list[str], creds: Credentials | None,
        registry: str, count: Callable[[], None],
    ) -> str:
        """Ask the realm for a token (GET with basic auth, or an OAuth2 refresh-token POST)."""
        import httpx

        realm = challenge.params.get("realm")
        if not realm:
            raise AuthError(f"registry {registry} asked for a bearer token but named no realm")
        service = challenge.params.get("service", "")
        scope_list = sorted(set(scopes))
        try:
            count()
            self.fetches += 1
            if creds and creds.identity_token:
                form = {"grant_type": "refresh_token", "service": service, "scope": " ".join(scope_list),
                        "client_id": CLIENT_ID, "refresh_token": creds.identity_token}
                resp = http.post(realm, data=form)
            else:
                params: list[tuple[str, str | int | float | bool | None]] = []
                if service:
                    params.append(("service", service))
                params += [("scope", s) for s in scope_list]
                headers = {"Authorization": basic_header(creds)} if creds and creds.has_basic else {}
                resp = http.get(realm, params=params, headers=headers)
        except httpx.HTTPError as e:
            raise StoreError(f"cannot reach token server {realm} of registry {registry}: {e}")
        if resp.status_code in (401, 403):
            raise AuthError(
                f"token server {realm} refused the credentials for registry {registry} "
                f"({resp.status_code}); check them or run `sigward login {registry}`"
            )
        if resp.status_code != 200:
            raise AuthError(f"token server {realm} of registry {registry} answered {resp.status_code}")
        try:
            obj = resp.json()
            value = obj.get("token") or obj.get("access_token")
        except (ValueError, AttributeError):
            raise AuthError(f"token server {realm} of registry {registry} sent an invalid answer")
        if not isinstance(value, str) or not value:
            raise AuthError(f"token server {realm} of registry {registry} sent no token")
        expires_in = obj.get("expires_in")
        if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
            expires_in = DEFAULT_EXPIRES_IN
        now = self.clock()
        issued = _parse_time(obj.get("issued_at"))
        # issued_at is the server's clock: trust it only when it roughly agrees with ours, otherwise skew
        # would make every token look expired (or eternal).
        base = issued if issued is not None and abs(issued - now) < 300 else now
        self._tokens[self.key(challenge, scopes)] = _Token(value, base + float(expires_in))
        return value
