"""The HTTPS front end (sigward/webhook/server.py) and the caches, with the Engine API test double: real
TLS connections to the aiohttp server running in this process, a real redis-server. What is checked here
is the transport: status codes, health/readiness, metrics, certificate and policy reloads, the shared
cache and Redis failures. Verdicts against the real engine are in test_real_server.py."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sigward.webhook.cache import MemoryCache, RedisCache, VerdictCache, cache_key
from sigward.webhook.certs import issue
from sigward.webhook.metrics import Metrics
from sigward.webhook.review import parse_review
from sigward.webhook.server import AdmissionServer, ServerConfig
from sigward.webhook.service import AdmissionService, Loaded
from tests.fixtures.redis_server import RedisServer
from tests.webhook.fakeengine import FakeEngine, FakePolicy
from tests.webhook.reviews import body, pod_spec, workload

GOOD = "sha256:" + "a" * 64
BAD = "sha256:" + "b" * 64
IMG = f"registry.local/team/app@{GOOD}"


class Running:
    """An AdmissionServer on its own event loop thread."""

    def __init__(self, server: AdmissionServer) -> None:
        self.server = server
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.stop_event = asyncio.Event()
            await self.server.serve(self.stop_event)
        asyncio.run(main())

    def start(self) -> Running:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.bound_port and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.bound_port
        return self

    def stop(self) -> None:
        if self.loop is not None and self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(10)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.bound_port}"


def policies_loader(directory: Path, engine_kw: dict[str, Any]) -> Callable[[], Loaded]:
    """Reads policies.json ({"name": "glob text"}) from DIRECTORY: a stand-in for PolicySet.load."""
    def load() -> Loaded:
        raw = (directory / "policies.json").read_text()
        doc = json.loads(raw)
        engine = FakeEngine([FakePolicy(n, g) for n, g in doc.items()], **engine_kw)
        return Loaded(engine=engine, identity=str(hash(raw)), policy_count=len(doc))
    return load


@pytest.fixture
def start_server(tmp_path: Path, webhook_certs: Path) -> Iterator[Callable[..., Running]]:
    running: list[Running] = []

    def start(policies: dict[str, str] | None = None, *, certs: Path = webhook_certs,
              redis: str | None = None,
              loader: Callable[[], Loaded] | None = None, **engine_kw: Any) -> Running:
        pdir = tmp_path / f"policies{len(running)}"
        pdir.mkdir()
        (pdir / "policies.json").write_text(json.dumps(policies or {"team": "registry.local/team/"}))
        engine_kw.setdefault("good", {GOOD})
        metrics = Metrics()
        shared = RedisCache(redis, 60, on_error=metrics.redis_error, backoff=0.2) if redis else None
        svc = AdmissionService(VerdictCache(MemoryCache(60), shared), metrics, timeout=2.0)
        config = ServerConfig("127.0.0.1", 0, certs / "tls.crt", certs / "tls.key", [pdir],
                              reload_interval=0.1)
        r = Running(AdmissionServer(svc, config, loader or policies_loader(pdir, engine_kw))).start()
        r.policy_dir = pdir  # type: ignore[attr-defined]
        running.append(r)
        deadline = time.monotonic() + 10
        while loader is None and not svc.ready and time.monotonic() < deadline:
            time.sleep(0.02)
        return r

    yield start
    for r in running:
        r.stop()


def request(r: Running, path: str, data: bytes | None = None, *, ca: Path | None = None) -> tuple[int, bytes]:
    ctx = ssl.create_default_context(cafile=str(ca or Path(r.server.config.tls_cert).parent / "ca.crt"))
    req = urllib.request.Request(r.url + path, data=data, method="POST" if data is not None else "GET",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def verdict(r: Running, obj: dict[str, Any]) -> dict[str, Any]:
    status, data = request(r, "/validations", body(obj))
    assert status == 200, data
    out: dict[str, Any] = json.loads(data)["response"]
    return out


def metric(r: Running, name: str, **labels: str) -> float:
    _, data = request(r, "/metrics")
    total = 0.0
    for line in data.decode().splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if head.split("{")[0] != name:
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


def test_endpoints_and_bad_requests(start_server: Callable[..., Running]) -> None:
    r = start_server()
    assert request(r, "/healthz") == (200, b"ok\n")
    assert request(r, "/readyz")[0] == 200
    status, data = request(r, "/validations", b'{"kind":"Pod"}')
    assert status == 400 and b"not an AdmissionReview" in data
    assert request(r, "/mutations", b"garbage")[0] == 400
    assert verdict(r, workload("Pod", pod_spec(IMG)))["allowed"] is True
    bad = verdict(r, workload("Pod", pod_spec(f"registry.local/team/app@{BAD}")))
    assert bad["allowed"] is False
    assert "failed policy: team: spec.containers[0].image" in bad["status"]["message"]
    assert metric(r, "sigward_admission_requests_total", path="/validations", kind="Pod",
                  verdict="denied") == 1
    assert metric(r, "sigward_admission_requests_total", path="/validations", verdict="bad-request") == 1
    assert metric(r, "sigward_admission_request_duration_seconds_count", path="/validations") == 2
    assert metric(r, "sigward_admission_cache_misses_total") == 2
    verdict(r, workload("Deployment", pod_spec(IMG)))
    assert metric(r, "sigward_admission_cache_hits_total", tier="memory") == 1
    assert metric(r, "sigward_admission_policy_verdicts_total", policy="team", verdict="fail") == 1


def test_not_ready_until_policies_load(start_server: Callable[..., Running], tmp_path: Path) -> None:
    gate = threading.Event()

    def slow_loader() -> Loaded:
        gate.wait(10)
        return Loaded(engine=FakeEngine([FakePolicy("p", "registry.local/")], good={GOOD}), identity="x")

    r = start_server(loader=slow_loader)
    assert request(r, "/healthz")[0] == 200
    assert request(r, "/readyz")[0] == 503
    denied = verdict(r, workload("Pod", pod_spec(IMG)))
    assert denied["allowed"] is False and "not loaded" in denied["status"]["message"]
    gate.set()
    deadline = time.monotonic() + 5
    while request(r, "/readyz")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert verdict(r, workload("Pod", pod_spec(IMG)))["allowed"] is True


def test_policy_reload_and_broken_edit_keeps_last_good(start_server: Callable[..., Running]) -> None:
    r = start_server({"team": "registry.local/team/"})
    other = f"other.local/x@{GOOD}"
    assert verdict(r, workload("Pod", pod_spec(other)))["allowed"] is False  # no matching policies
    pdir: Path = r.policy_dir  # type: ignore[attr-defined]
    (pdir / "policies.json").write_text(json.dumps({"team": "registry.local/team/", "other": "other.local/"}))
    deadline = time.monotonic() + 5
    while not verdict(r, workload("Pod", pod_spec(other)))["allowed"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert verdict(r, workload("Pod", pod_spec(other)))["allowed"] is True
    (pdir / "policies.json").write_text("{broken")
    deadline = time.monotonic() + 5
    errors = "sigward_admission_policy_reloads_total"
    while metric(r, errors, result="error") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert metric(r, "sigward_admission_policy_reloads_total", result="error") == 1
    assert verdict(r, workload("Pod", pod_spec(other)))["allowed"] is True


def test_tls_certificate_reload(start_server: Callable[..., Running], tmp_path: Path) -> None:
    certs = tmp_path / "rotating"
    issue(certs, ["127.0.0.1"])
    r = start_server(certs=certs)
    old_ca = tmp_path / "old-ca.crt"
    old_ca.write_bytes((certs / "ca.crt").read_bytes())
    assert request(r, "/healthz", ca=old_ca)[0] == 200
    time.sleep(0.05)
    issue(certs, ["127.0.0.1"])  # a new CA and serving certificate in the same files
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            request(r, "/healthz", ca=certs / "ca.crt")
            break
        except urllib.error.URLError:
            time.sleep(0.05)
    assert request(r, "/healthz", ca=certs / "ca.crt")[0] == 200
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        request(r, "/healthz", ca=old_ca)


def test_memory_cache_ttl_and_size() -> None:
    now = [0.0]
    cache = MemoryCache(10, max_entries=2, clock=lambda: now[0])
    cache.set("a", {"v": 1})
    cache.set("b", {"v": 2})
    assert cache.get("a") == {"v": 1}
    cache.set("c", {"v": 3})  # evicts b, the least recently used
    assert cache.get("b") is None and cache.get("a") == {"v": 1}
    now[0] = 11
    assert cache.get("a") is None and len(cache) == 1
    assert cache_key("r@sha256:1", "id") != cache_key("r@sha256:1", "id", "resource")


def test_two_servers_share_redis_and_survive_its_death(start_server: Callable[..., Running],
                                                       redis_server: RedisServer) -> None:
    a = start_server(redis=redis_server.url)
    b = start_server(redis=redis_server.url)
    engine_a, engine_b = a.server.service.loaded.engine, b.server.service.loaded.engine  # type: ignore[union-attr]
    bad = f"registry.local/team/app@{BAD}"
    assert verdict(a, workload("Pod", pod_spec(IMG, bad)))["allowed"] is False
    assert len(engine_a.calls) == 2  # type: ignore[attr-defined]
    # Server b never saw these images: both verdicts come from Redis.
    assert verdict(b, workload("Pod", pod_spec(IMG)))["allowed"] is True
    assert verdict(b, workload("Pod", pod_spec(bad)))["allowed"] is False
    assert engine_b.calls == []  # type: ignore[attr-defined]
    assert metric(b, "sigward_admission_cache_hits_total", tier="redis") == 2
    redis_server.kill()
    fresh_good, fresh_bad = f"registry.local/team/new@{GOOD}", f"registry.local/team/new@{BAD}"
    assert verdict(b, workload("Pod", pod_spec(fresh_good)))["allowed"] is True
    assert verdict(b, workload("Pod", pod_spec(fresh_bad)))["allowed"] is False
    assert engine_b.calls == [fresh_good, fresh_bad]  # type: ignore[attr-defined]
    assert metric(b, "sigward_admission_redis_errors_total") >= 1


def test_redis_down_from_the_start_is_a_miss(tmp_path: Path) -> None:
    dead = RedisServer(tmp_path / "r")  # never started: nothing listens on its port
    metrics = Metrics()
    shared = RedisCache(dead.url, 60, on_error=metrics.redis_error)
    svc = AdmissionService(VerdictCache(MemoryCache(60), shared), metrics)
    svc.install(Loaded(engine=FakeEngine([FakePolicy("p", "registry.local/")], good={GOOD}), identity="i"))
    out = svc.validate(parse_review(body(workload("Pod", pod_spec(f"registry.local/x@{BAD}")))))
    assert out["response"]["allowed"] is False
    assert svc.validate(parse_review(body(workload("Pod", pod_spec(IMG)))))["response"]["allowed"] is True
