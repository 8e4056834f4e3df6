"""The one HTTP transport (sigward.transport) against real servers: retries through the fault proxy in front
of the Debian registry, the User-Agent as the server saw it, a custom CA against the TLS registry, and one
client (one ping, one TCP connection) shared by two stores on the same host."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from sigward import __version__, transport
from tests.oci.registry.conftest import open_store
from tests.oci.registry.test_registry_store import blob, push_image

UA = f"sigward/{__version__}"


def _policy(sleeps: list[float]) -> transport.RetryPolicy:
    return transport.RetryPolicy(backoff_base=0.01, backoff_cap=0.02, sleep=sleeps.append)


def test_retries_503_then_succeeds(rc_proxy: Any) -> None:
    sleeps: list[float] = []
    rc_proxy.inject("status", times=2, method="GET", path_regex="^/v2/$", status=503)
    with transport.lease(rc_proxy.host) as held:
        resp = transport.send(held.client, "GET", rc_proxy.url + "/v2/", retry=_policy(sleeps))
    assert resp.status_code == 200
    assert [s for _, _, s in rc_proxy.requests] == [503, 503, 200]
    assert len(sleeps) == 2 and all(0 < s <= 0.02 for s in sleeps)


_SEND_PROBE = (
    "import sys\n"
    "from sigward import transport\n"
    "policy = transport.RetryPolicy(backoff_base=0.01, backoff_cap=0.02)\n"
    "with transport.lease(sys.argv[1]) as held:\n"
    "    resp = transport.send(held.client, 'GET', sys.argv[1] + '/v2/', retry=policy)\n"
    "print(resp.status_code, 'tenacity' in sys.modules)\n"
)


def test_tenacity_loaded_only_when_a_request_is_retried(rc_proxy: Any) -> None:
    """A request answered at once never imports tenacity (start-up of short commands); one that needs a
    retry still gets tenacity's retries, the same number of attempts."""
    def probe() -> str:
        proc = subprocess.run([sys.executable, "-c", _SEND_PROBE, rc_proxy.url], capture_output=True,
                              text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    assert probe() == "200 False"
    rc_proxy.clear()
    rc_proxy.inject("status", times=2, method="GET", path_regex="^/v2/$", status=503)
    assert probe() == "200 True"
    assert [s for _, _, s in rc_proxy.requests] == [503, 503, 200]
    rc_proxy.clear()
    rc_proxy.inject("status", times=10, method="GET", path_regex="^/v2/$", status=503)
    assert probe() == "503 True"  # gave up after RetryPolicy.attempts (4), answering the last response
    assert [s for _, _, s in rc_proxy.requests] == [503] * transport.RetryPolicy().attempts


def test_429_waits_for_retry_after(rc_proxy: Any) -> None:
    sleeps: list[float] = []
    rc_proxy.inject("retry_after", method="GET", path_regex="^/v2/$", seconds=3)
    with transport.lease(rc_proxy.host) as held:
        resp = transport.send(held.client, "GET", rc_proxy.url + "/v2/", retry=_policy(sleeps))
    assert resp.status_code == 200
    assert sleeps == [3.0]  # the server's wait, not the (much shorter) backoff
    # Capped: a server asking for an hour does not hang the client for an hour.
    rc_proxy.inject("retry_after", method="GET", path_regex="^/v2/$", seconds=3600)
    with transport.lease(rc_proxy.host) as held:
        transport.send(held.client, "GET", rc_proxy.url + "/v2/", retry=_policy(sleeps))
    assert sleeps[-1] == transport.RetryPolicy().retry_after_cap


def test_retry_after_really_sleeps(rc_proxy: Any) -> None:
    rc_proxy.inject("retry_after", method="GET", path_regex="^/v2/$", seconds=1)
    t = time.monotonic()
    resp = transport.request("GET", rc_proxy.url + "/v2/")
    assert resp.status_code == 200 and time.monotonic() - t >= 0.9


def test_non_idempotent_retried_only_when_refused(rc_proxy: Any) -> None:
    sleeps: list[float] = []
    # 500 to a POST: the server may have acted on it, so it is not sent again.
    rc_proxy.inject("status", method="POST", path_regex="/blobs/uploads/", status=500)
    with transport.lease(rc_proxy.host) as held:
        resp = transport.send(held.client, "POST", rc_proxy.url + "/v2/t/x/blobs/uploads/",
                              retry=_policy(sleeps))
        assert resp.status_code == 500 and sleeps == []
        # 503 says it was refused outright: sent again.
        rc_proxy.inject("status", method="POST", path_regex="/blobs/uploads/", status=503)
        resp = transport.send(held.client, "POST", rc_proxy.url + "/v2/t/x/blobs/uploads/",
                              retry=_policy(sleeps))
        assert resp.status_code == 202 and len(sleeps) == 1


def test_reset_is_retried_for_idempotent_and_bounded(rc_proxy: Any) -> None:
    sleeps: list[float] = []
    rc_proxy.inject("reset", times=1, method="GET", path_regex="^/v2/$")
    with transport.lease(rc_proxy.host) as held:
        assert transport.send(held.client, "GET", rc_proxy.url + "/v2/",
                              retry=_policy(sleeps)).status_code == 200
        rc_proxy.inject("reset", times=10, method="GET", path_regex="^/v2/$")
        with pytest.raises(httpx.TransportError):
            transport.send(held.client, "GET", rc_proxy.url + "/v2/", retry=_policy(sleeps))
    assert rc_proxy.pending() == 10 - transport.RetryPolicy().attempts


def test_user_agent_seen_by_registry_and_sigstore_services(rc_proxy: Any, repo_name: str) -> None:
    with open_store(rc_proxy, repo_name) as s:
        push_image(s)
    assert rc_proxy.user_agents and set(rc_proxy.user_agents) == {UA}
    # Fulcio, Rekor and TSA clients go through the same transport (the proxy answers them 404, which
    # each client reports as a refusal; what matters here is what arrived).
    from sigward.errors import SigwardError
    from sigward.sigstore.rekor import RekorClient
    from sigward.sigstore.timestamps import request_timestamp

    rc_proxy.clear()
    with pytest.raises(SigwardError, match="refused the entry"):
        RekorClient(rc_proxy.url).upload({"kind": "hashedrekord"})
    with pytest.raises(SigwardError, match="answered 404"):
        request_timestamp(rc_proxy.url + "/api/v1/timestamp", b"sig")
    assert rc_proxy.user_agents == [UA, UA]


def test_custom_ca_bundle(rc_tls_registry: Any) -> None:
    url = f"https://{rc_tls_registry.host}/v2/"
    opts = transport.ClientOptions(ca_file=str(rc_tls_registry.ca_file))
    assert transport.request("GET", url, options=opts).status_code == 401  # TLS ok, auth wanted
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        transport.request("GET", url, retry=transport.RetryPolicy(attempts=1))
    insecure = transport.ClientOptions(insecure=True)
    assert transport.request("GET", url, options=insecure).status_code == 401


def test_two_stores_on_one_host_share_one_client(rc_proxy: Any, repo_name: str) -> None:
    data = b"shared"
    before = transport.POOL.created
    with open_store(rc_proxy, repo_name) as a, open_store(rc_proxy, repo_name + "-b") as b:
        assert a.client.http is b.client.http
        a.put_blob(blob(data), data)
        b.put_blob(blob(data), data, mount_from=a)
        assert b.get_blob(blob(data)) == data
        assert transport.POOL.created == before + 1
    pings = [r for r in rc_proxy.requests if r[1] == "/v2/"]
    assert len(pings) == 1  # the second store used what the first one's ping learnt
    # One HTTPS probe (the proxy speaks plain HTTP on loopback) and one keep-alive connection for both
    # stores; a client per store made two of each.
    assert rc_proxy.connections == 2
    # Released with the last store: a later store starts afresh (the port may serve something else).
    assert all(k[0] != rc_proxy.host for k in transport.POOL._entries)
    with open_store(rc_proxy, repo_name) as c:
        assert c.get_blob(blob(data)) == data
    assert len([r for r in rc_proxy.requests if r[1] == "/v2/"]) == 2


def test_stores_with_different_tls_settings_do_not_share(rc_tls_registry: Any, repo_name: str) -> None:
    with open_store(rc_tls_registry, repo_name) as a, \
            open_store(rc_tls_registry, repo_name, allow_insecure_registry=True) as b:
        assert a.client.http is not b.client.http


def test_ca_bundle_loaded_at_first_tls_handshake_only(rc_tls_registry: Any, rc_proxy: Any, repo_name: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The default context reads its CA certificates (here SSL_CERT_FILE, as httpx honours it) when a TLS
    connection first needs them; a store on a plain-HTTP loopback registry never does."""
    monkeypatch.setattr(transport, "_CONTEXTS", {})
    monkeypatch.setenv("SSL_CERT_FILE", str(rc_tls_registry.ca_file))
    ctx = transport.default_ssl_context()
    assert ctx.cert_store_stats()["x509_ca"] == 0
    data = b"plain http only"
    with open_store(rc_proxy, repo_name) as s:
        s.put_blob(blob(data), data)
        assert s.get_blob(blob(data)) == data
    assert transport.default_ssl_context() is ctx and ctx.cert_store_stats()["x509_ca"] == 0
    url = f"https://{rc_tls_registry.host}/v2/"
    assert transport.request("GET", url).status_code == 401  # verified against SSL_CERT_FILE
    assert ctx.cert_store_stats()["x509_ca"] >= 1
    # Still verifying: a context whose bundle lacks the registry's CA refuses it (certifi's own).
    monkeypatch.delenv("SSL_CERT_FILE")
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        transport.request("GET", url, retry=transport.RetryPolicy(attempts=1))


def test_speaks_tls(rc_tls_registry: Any, rc_proxy: Any) -> None:
    import socket

    assert transport.speaks_tls(rc_tls_registry.host)
    assert not transport.speaks_tls(rc_proxy.host)  # plain HTTP answers the ClientHello with an error
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert not transport.speaks_tls(f"127.0.0.1:{free}")
