"""Identity tokens for keyless signing: parsing and its error sentences, the order of token sources (flag,
file, SIGSTORE_ID_TOKEN, GitHub Actions), and the browser, device and client-credentials logins against a
real-HTTP OIDC issuer."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import sys
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest

from sigward.cli.errors import cli_message
from sigward.errors import SigwardError, UsageError
from sigward.sigstore.oidc import (
    NO_TOKEN_MESSAGE,
    IdentityError,
    IdentityOptions,
    IdentityToken,
    get_identity_token,
)
from tests.fixtures.jwt_tokens import GITHUB_WORKFLOW_REF, TokenMinter
from tests.fixtures.loopback import LoopbackServer
from tests.fixtures.oidc_issuer import OidcIssuer

OTHER_ISSUER = "https://issuer.example.com"


@pytest.fixture(scope="module")
def minter() -> TokenMinter:
    return TokenMinter(OTHER_ISSUER)


@pytest.fixture
def issuer() -> Iterator[OidcIssuer]:
    server = OidcIssuer().start()
    yield server
    server.stop()


def _b64(obj: Any) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unsigned(claims: dict[str, Any]) -> str:
    return f"{_b64({'alg': 'ES256'})}.{_b64(claims)}.c2ln"


def _opts(**kw: Any) -> IdentityOptions:
    """Options for a test: no terminal, no prompt, no real sleeping, no real browser."""
    kw.setdefault("interactive", False)
    kw.setdefault("skip_confirmation", True)
    kw.setdefault("sleep", lambda s: pytest.fail(f"unexpected sleep({s})"))
    kw.setdefault("open_browser", lambda url: pytest.fail(f"unexpected browser for {url}"))
    kw.setdefault("filesystem_token_path", "/nonexistent/oidc-token")
    kw.setdefault("notify", lambda message: print(message, file=sys.stderr, flush=True))  # as the CLI does
    return IdentityOptions(**kw)


# --- parsing ---------------------------------------------------------------------------------------------

def test_token_claims_and_properties(minter: TokenMinter) -> None:
    raw = minter.mint("someone", lifetime=300)
    token = IdentityToken(raw + "\n")
    assert token.raw == raw
    assert token.issuer == OTHER_ISSUER and token.identity == "someone" and token.subject == "someone"
    assert token.federated_issuer == OTHER_ISSUER
    assert token.expires_at == datetime.fromtimestamp(token.claims["exp"], UTC)
    assert raw not in repr(token) and "someone" in repr(token)


@pytest.mark.parametrize("issuer_url", ["https://oauth2.sigstore.dev/auth", "https://accounts.google.com",
                                        "https://oauth2.sigstage.dev/auth"])
def test_email_issuers_use_the_email_claim(minter: TokenMinter, issuer_url: str) -> None:
    raw = minter.mint("opaque-sub", issuer=issuer_url, email="dev@example.com",
                      federated_claims={"connector_id": "https://github.com/login/oauth", "user_id": "1"})
    token = IdentityToken(raw)
    assert token.identity == "dev@example.com"
    assert token.federated_issuer == "https://github.com/login/oauth"


def test_email_issuer_without_email_is_refused(minter: TokenMinter) -> None:
    raw = minter.mint("opaque-sub", issuer="https://oauth2.sigstore.dev/auth")
    with pytest.raises(IdentityError, match=r"^the identity token from https://oauth2\.sigstore\.dev/auth "
                                            r"has no `email` claim, which Fulcio uses"):
        IdentityToken(raw)


def test_dex_federation_on_a_private_issuer_uses_email(minter: TokenMinter) -> None:
    raw = minter.mint("CgQxMjM0", email="dev@example.com", federated_claims={"connector_id": "gitlab"})
    assert IdentityToken(raw).identity == "dev@example.com"
    assert IdentityToken(minter.mint("CgQxMjM0", email="dev@example.com")).identity == "CgQxMjM0"


def test_github_actions_identity_is_the_workflow_url(minter: TokenMinter) -> None:
    token = IdentityToken(minter.mint_github(sub="repo:example-org/hello-service:ref:refs/tags/0.5.0"))
    assert token.identity == f"https://github.com/{GITHUB_WORKFLOW_REF}"
    bare = minter.mint("repo:o/r:ref:refs/heads/main", issuer="https://token.actions.githubusercontent.com")
    assert IdentityToken(bare).identity == "repo:o/r:ref:refs/heads/main"


def test_audience_list_and_client_id(minter: TokenMinter) -> None:
    both: Any = ["other", "sigstore"]
    assert IdentityToken(minter.mint(audience=both)).identity == "signer@example.com"
    assert IdentityToken(minter.mint(audience="private"), client_id="private").client_id == "private"
    with pytest.raises(IdentityError, match=r"^the identity token is for the audience 'other', not "
                                            r"'sigstore'; get one issued for 'sigstore'$"):
        IdentityToken(minter.mint(audience="other"))


@pytest.mark.parametrize(("raw", "why"), [
    ("abc", "it has 1 dot-separated part(s), not 3"),
    ("a.b.c.d", "it has 4 dot-separated part(s), not 3"),
    (f"{_b64({'alg': 'none'})}.%%%.c2ln", "its payload is not base64url-encoded JSON"),
    (f"bm90IGpzb24.{_b64({'sub': 'x'})}.c2ln", "its header is not base64url-encoded JSON"),
    (f"{_b64({'alg': 'none'})}.{_b64([1, 2])}.c2ln", "its header or payload is not a JSON object"),
])
def test_malformed_tokens(raw: str, why: str) -> None:
    with pytest.raises(IdentityError) as e:
        IdentityToken(raw)
    assert str(e.value) == f"the identity token is not a JWT: {why}"


def test_missing_and_mistyped_claims() -> None:
    now = int(time.time())
    with pytest.raises(IdentityError, match=r"^the identity token lacks the sub, iat claim\(s\) every OIDC "):
        IdentityToken(_unsigned({"iss": OTHER_ISSUER, "aud": "sigstore", "exp": now + 60}))
    with pytest.raises(IdentityError, match=r"`exp` claim is not a number of seconds"):
        IdentityToken(_unsigned({"iss": "i", "sub": "s", "aud": "sigstore", "iat": now, "exp": "soon"}))
    with pytest.raises(IdentityError, match=r"`aud` claim is neither a string nor a list of strings"):
        IdentityToken(_unsigned({"iss": "i", "sub": "s", "aud": 7, "iat": now, "exp": now + 60}))
    with pytest.raises(IdentityError, match=r"`federated_claims` claim is not a JSON object"):
        IdentityToken(_unsigned({"iss": "i", "sub": "s", "aud": "sigstore", "iat": now, "exp": now + 60,
                                 "federated_claims": "dex"}))


def test_expired_token_is_refused_with_its_time(minter: TokenMinter) -> None:
    issued = int(time.time()) - 1000
    with pytest.raises(IdentityError) as e:
        IdentityToken(minter.mint(issued_at=issued, lifetime=600))
    when = datetime.fromtimestamp(issued + 600, UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert str(e.value) == f"the identity token expired at {when} UTC; get a new one"
    # Within the 5 s leeway the token still counts.
    IdentityToken(minter.mint(issued_at=int(time.time()) - 62, lifetime=60))


def test_tokens_from_the_future_are_refused(minter: TokenMinter) -> None:
    later = int(time.time()) + 3600
    with pytest.raises(IdentityError, match=r"^the identity token is not valid before .* UTC; check this "
                                            r"machine's clock$"):
        IdentityToken(minter.mint(issued_at=later))
    with pytest.raises(IdentityError, match=r"^the identity token was issued in the future"):
        IdentityToken(minter.mint(issued_at=later, nbf=int(time.time())))


def test_to_sigstore_keeps_the_token(minter: TokenMinter) -> None:
    raw = minter.mint("someone")
    converted = IdentityToken(raw).to_sigstore()
    assert str(converted) == raw and converted.identity == "someone"


# --- where the token comes from --------------------------------------------------------------------------

class ActionsTokenServer(LoopbackServer):
    """GitHub Actions' token service: ``GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=…`` with the request token
    as a bearer credential, answering ``{"value": jwt}``."""

    thread_name = "actions-token"
    request_token = "actions-request-token"

    def __init__(self, minter: TokenMinter) -> None:
        super().__init__()
        self.minter = minter
        self.audiences: list[str] = []

    def env(self) -> dict[str, str]:
        return {"GITHUB_ACTIONS": "true", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token,
                "ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.url}/_apis/token?api-version=2.0"}

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                ok = (self.headers.get("Authorization") == f"bearer {server.request_token}"
                      and q.get("api-version") == "2.0" and "audience" in q)
                if ok:
                    server.audiences.append(q["audience"])
                    body = json.dumps({"value": server.minter.mint_github(aud=q["audience"])}).encode()
                else:
                    body = b'{"message": "Unauthorized"}'
                self.send_response(200 if ok else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


@pytest.fixture
def actions(minter: TokenMinter) -> Iterator[ActionsTokenServer]:
    server = ActionsTokenServer(minter).start()
    yield server
    server.stop()


def test_flag_value_comes_first(minter: TokenMinter, actions: ActionsTokenServer) -> None:
    raw = minter.mint("from-flag")
    env = {**actions.env(), "SIGSTORE_ID_TOKEN": minter.mint("from-env")}
    assert get_identity_token(_opts(identity_token=raw), env).identity == "from-flag"
    assert actions.audiences == []


def test_flag_may_name_a_file(minter: TokenMinter, tmp_path: Any) -> None:
    path = tmp_path / "token"
    path.write_text(minter.mint("from-file") + "\n")
    env = {"SIGSTORE_ID_TOKEN": minter.mint("from-env")}
    assert get_identity_token(_opts(identity_token=str(path)), env).identity == "from-file"
    # The library names its option; the CLI shows cosign's flag (sigward/cli/errors.py).
    with pytest.raises(UsageError, match=r"^IdentityOptions.identity_token is neither a JWT nor the path of "
                                         r"a file: no file named '.*/missing'$") as e:
        get_identity_token(_opts(identity_token=str(tmp_path / "missing")), {})
    assert re.match(r"^--identity-token is neither a JWT nor the path of a file: no file named '.*/missing'$",
                    cli_message(e.value))
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(IdentityError, match=r"^the identity token file .*/empty "
                                            r"\(IdentityOptions.identity_token\) is empty$") as e2:
        get_identity_token(_opts(identity_token=str(tmp_path / "empty")), {})
    assert re.match(r"^the identity token file .*/empty \(--identity-token\) is empty$",
                    cli_message(e2.value))


def test_sigstore_id_token_env_beats_ambient(minter: TokenMinter, actions: ActionsTokenServer) -> None:
    env = {**actions.env(), "SIGSTORE_ID_TOKEN": minter.mint("from-env")}
    assert get_identity_token(_opts(), env).identity == "from-env"
    assert actions.audiences == []


def test_github_actions_ambient_token(actions: ActionsTokenServer) -> None:
    before = dict(os.environ)
    token = get_identity_token(_opts(), actions.env())
    assert token.identity == f"https://github.com/{GITHUB_WORKFLOW_REF}"
    assert actions.audiences == ["sigstore"]
    assert dict(os.environ) == before  # the explicit mapping was used and nothing leaked
    assert get_identity_token(_opts(oidc_provider="github-actions"), actions.env()).identity == token.identity


def test_github_actions_without_id_token_permission() -> None:
    with pytest.raises(IdentityError) as e:
        get_identity_token(_opts(), {"GITHUB_ACTIONS": "true"})
    assert str(e.value) == ("this GitHub Actions job may not request an OIDC token: add `permissions: "
                            "id-token: write` to the workflow or the job")


def test_gitlab_without_id_tokens() -> None:
    with pytest.raises(IdentityError, match=r"^this GitLab CI job has no SIGSTORE_ID_TOKEN: add `id_tokens"):
        get_identity_token(_opts(), {"GITLAB_CI": "true"})


def test_disabled_ambient_providers_are_not_asked(minter: TokenMinter, actions: ActionsTokenServer) -> None:
    env = {**actions.env(), "SIGSTORE_ID_TOKEN": minter.mint()}
    with pytest.raises(UsageError) as e:
        get_identity_token(_opts(disable_ambient=True), env)
    assert str(e.value) == NO_TOKEN_MESSAGE
    assert actions.audiences == []


def test_named_providers(minter: TokenMinter, tmp_path: Any) -> None:
    path = tmp_path / "oidc-token"
    path.write_text(minter.mint("mounted"))
    assert get_identity_token(_opts(filesystem_token_path=str(path)), {}).identity == "mounted"
    assert get_identity_token(_opts(oidc_provider="filesystem", filesystem_token_path=str(path)),
                              {"SIGSTORE_ID_TOKEN": minter.mint("env")}).identity == "mounted"
    assert get_identity_token(_opts(oidc_provider="envvar"),
                              {"SIGSTORE_ID_TOKEN": minter.mint("env")}).identity == "env"
    with pytest.raises(IdentityError, match=r"^cannot read the identity token file /nonexistent/oidc-token "):
        get_identity_token(_opts(oidc_provider="filesystem"), {})
    with pytest.raises(IdentityError, match=r"^IdentityOptions.oidc_provider=github-actions found no token: "
                                            r"GITHUB_") as e:
        get_identity_token(_opts(oidc_provider="github-actions"), {})
    assert cli_message(e.value).startswith("--oidc-provider=github-actions found no token: GITHUB_")
    with pytest.raises(UsageError, match=r"^IdentityOptions.oidc_provider=spiffe is not supported") as e2:
        get_identity_token(_opts(oidc_provider="spiffe"), {})
    assert "--" not in str(e2.value)
    assert cli_message(e2.value) == (
        "--oidc-provider=spiffe is not supported (sigward does not speak the SPIFFE Workload API); fetch a "
        "JWT-SVID for audience sigstore and pass it with --identity-token")
    with pytest.raises(UsageError, match=r"^IdentityOptions.oidc_provider 'k8s' is not one of "
                                         r"github-actions, "):
        get_identity_token(_opts(oidc_provider="k8s"), {})


def test_flow_choices_without_a_token() -> None:
    with pytest.raises(UsageError, match=r"^IdentityOptions.auth_flow 'magic' is not one of normal, "
                                         r"device, "):
        get_identity_token(_opts(auth_flow="magic"), {})
    with pytest.raises(UsageError, match=r"^IdentityOptions.auth_flow=token needs a token") as e:
        get_identity_token(_opts(auth_flow="token"), {})
    assert cli_message(e.value) == ("--fulcio-auth-flow=token needs a token: pass --identity-token or set "
                                    "SIGSTORE_ID_TOKEN")
    with pytest.raises(UsageError) as e:
        get_identity_token(_opts(), {})
    assert str(e.value) == NO_TOKEN_MESSAGE


# --- the browser flow ------------------------------------------------------------------------------------

def _browser(tamper: dict[str, str] | None = None, seen: list[str] | None = None) -> Any:
    """A "browser": GETs the URL and follows the issuer's redirect to our listener."""
    def open_browser(url: str) -> bool:
        if tamper:
            u = urllib.parse.urlsplit(url)
            q = dict(urllib.parse.parse_qsl(u.query))
            q.update(tamper)
            url = urllib.parse.urlunsplit(u._replace(query=urllib.parse.urlencode(q)))
        if seen is not None:
            seen.append(url)
        httpx.get(url, follow_redirects=True, timeout=5)
        return True
    return open_browser


def test_browser_flow_end_to_end(issuer: OidcIssuer, capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[str] = []
    opts = _opts(oidc_issuer=issuer.url, interactive=True, open_browser=_browser(seen=seen))
    token = get_identity_token(opts, {})
    assert token.issuer == issuer.url and token.identity == "signer@example.com"
    assert token.raw == issuer.issued[-1]
    (auth,) = issuer.requests_to("/auth")
    assert auth.params["code_challenge_method"] == "S256" and auth.params["scope"] == "openid email"
    assert auth.params["redirect_uri"].startswith("http://localhost:")
    assert token.claims["nonce"] == auth.params["nonce"]
    (exchange,) = issuer.requests_to("/token")
    assert exchange.params["grant_type"] == "authorization_code" and exchange.params["code_verifier"]
    err = capsys.readouterr().err
    assert "identity you log in with" in err
    assert f"Your browser will now be opened to:\n{seen[0]}\n" in err


def test_browser_flow_on_a_fixed_redirect_url(issuer: OidcIssuer) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    redirect = f"http://127.0.0.1:{port}/my/callback"
    opts = _opts(oidc_issuer=issuer.url, auth_flow="normal", oidc_redirect_url=redirect,
                 open_browser=_browser())
    assert get_identity_token(opts, {}).identity == "signer@example.com"
    assert issuer.requests_to("/auth")[0].params["redirect_uri"] == redirect
    with pytest.raises(UsageError, match=r"must be an http:// URL on this machine"):
        get_identity_token(_opts(oidc_issuer=issuer.url, auth_flow="normal",
                                 oidc_redirect_url="https://example.com/cb"), {})


def test_wrong_state_is_rejected(issuer: OidcIssuer) -> None:
    forged = _browser(tamper={"state": "forged"})
    opts = _opts(oidc_issuer=issuer.url, auth_flow="normal", open_browser=forged)
    with pytest.raises(IdentityError, match=r"^the OIDC redirect came back with the wrong state"):
        get_identity_token(opts, {})
    assert issuer.requests_to("/token") == []  # the code was never redeemed


def test_login_denied_and_privacy_question_declined(issuer: OidcIssuer) -> None:
    issuer.deny = True
    with pytest.raises(IdentityError, match=r"^the OIDC issuer refused the login \(access_denied: the "):
        get_identity_token(_opts(oidc_issuer=issuer.url, auth_flow="normal", open_browser=_browser()), {})
    asked: list[str] = []

    def decline(question: str) -> bool:
        asked.append(question)
        return False

    opts = _opts(oidc_issuer=issuer.url, interactive=True, skip_confirmation=False, confirm=decline)
    with pytest.raises(IdentityError, match=r"^stopped before logging in: .*\(pass "
                                            r"IdentityOptions.skip_confirmation=True to skip it\)$") as e:
        get_identity_token(opts, {})
    assert cli_message(e.value).endswith("(pass --yes to skip it)")
    assert asked == ["Are you sure you would like to continue? [y/N] "]
    # Declining stops before any request: only the first login's discovery and /auth reached the issuer.
    assert [r.path for r in issuer.requests] == ["/.well-known/openid-configuration", "/auth"]


def test_no_browser_falls_back_to_the_device_flow(issuer: OidcIssuer,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    opts = _opts(oidc_issuer=issuer.url, interactive=True, open_browser=lambda url: False)
    assert get_identity_token(opts, {}).identity == "signer@example.com"
    assert "using the device flow instead" in capsys.readouterr().err


def test_unreachable_issuer() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(IdentityError, match=rf"^cannot reach the OIDC issuer {url}: "):
        get_identity_token(_opts(oidc_issuer=url, auth_flow="device"), {})


# --- the device flow and client credentials ------------------------------------------------------------

def test_device_flow_polls_while_pending(issuer: OidcIssuer, capsys: pytest.CaptureFixture[str]) -> None:
    issuer.pending, issuer.device_interval = 2, 3
    sleeps: list[float] = []
    token = get_identity_token(_opts(oidc_issuer=issuer.url, auth_flow="device", sleep=sleeps.append), {})
    assert token.identity == "signer@example.com"
    assert sleeps == [3, 3]
    polls = issuer.requests_to("/token")
    assert len(polls) == 3 and all(p.params["code_verifier"] for p in polls)
    err = capsys.readouterr().err
    assert f"in your browser at: {issuer.url}/device" in err and "Token received!" in err


def test_device_flow_slow_down_widens_the_interval(issuer: OidcIssuer) -> None:
    issuer.pending, issuer.slow_down, issuer.device_interval = 1, True, 2
    sleeps: list[float] = []
    get_identity_token(_opts(oidc_issuer=issuer.url, auth_flow="device", sleep=sleeps.append), {})
    assert sleeps == [2, 7]


@pytest.mark.parametrize(("error", "message"), [
    ("expired_token", r"^the device code expired before the login was completed; run the command again"),
    ("access_denied", r"^the login was denied at the OIDC issuer$"),
    ("server_error", r"^the OIDC issuer ended the device flow with an error \(server_error\)$"),
])
def test_device_flow_errors(issuer: OidcIssuer, error: str, message: str) -> None:
    issuer.pending, issuer.device_error = 1, error
    sleeps: list[float] = []
    with pytest.raises(IdentityError, match=message):
        get_identity_token(_opts(oidc_issuer=issuer.url, auth_flow="device", sleep=sleeps.append), {})
    assert sleeps == [0]


def test_device_flow_with_only_an_access_token(issuer: OidcIssuer) -> None:
    issuer.access_token_only = True
    token = get_identity_token(_opts(oidc_issuer=issuer.url, auth_flow="device"), {})
    assert token.raw == issuer.issued[-1]


def test_expired_token_from_the_issuer_is_rejected(issuer: OidcIssuer) -> None:
    issuer.lifetime = -60
    with pytest.raises(IdentityError, match=r"^the identity token expired at .* UTC; get a new one$"):
        get_identity_token(_opts(oidc_issuer=issuer.url, auth_flow="device"), {})


def test_client_credentials(issuer: OidcIssuer, tmp_path: Any) -> None:
    issuer.client_secret = "s3cret"
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    opts = _opts(oidc_issuer=issuer.url, auth_flow="client_credentials", oidc_client_secret_file=str(secret))
    assert get_identity_token(opts, {}).identity == "signer@example.com"
    secret.write_text("wrong")
    with pytest.raises(IdentityError, match=r"^the OIDC issuer refused the client credentials "
                                            r"\(invalid_client\)"):
        get_identity_token(opts, {})


def test_issuer_fixture_checks_pkce(issuer: OidcIssuer) -> None:
    redirect = "http://127.0.0.1:9/cb"
    r = httpx.get(f"{issuer.url}/auth", params={
        "client_id": "sigstore", "response_type": "code", "redirect_uri": redirect, "state": "st",
        "code_challenge": "x" * 43, "code_challenge_method": "S256"})
    assert r.status_code == 302
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["location"]).query))
    assert q["state"] == "st"
    bad = httpx.post(f"{issuer.url}/token", data={"grant_type": "authorization_code", "code": q["code"],
                                                  "client_id": "sigstore", "redirect_uri": redirect,
                                                  "code_verifier": "wrong"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    assert httpx.get(f"{issuer.url}/jwks").json() == issuer.minter.jwks()


def test_errors_are_sigward_errors() -> None:
    assert issubclass(IdentityError, SigwardError)
