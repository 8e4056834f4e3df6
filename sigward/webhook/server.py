"""The HTTPS front end (aiohttp): one port for ``/validations``, ``/mutations``, ``/healthz``, ``/readyz`` and
``/metrics``.

aiohttp because the warm path is then pure event-loop work (parse, in-process cache lookup, respond): no
thread hop, no per-request process, which is what keeps p99 in the low milliseconds on two cores
(docs/benchmarks.md). Cache misses and tag resolution, which block on registries, run in the service's
bounded thread pool. Certificate and policy files are watched by polling (portable, no inotify needed;
a Kubernetes Secret/ConfigMap mount changes by an atomic symlink swap that polling sees): a new
certificate applies to new connections, a new policy set to new requests, and a broken edit keeps the
last good policies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import ssl
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigward.webhook.review import POD_SPEC_AT, ReviewError, parse_review
from sigward.webhook.service import AdmissionService, Loaded

log = logging.getLogger("sigward.admission")


@dataclass
class ServerConfig:
    host: str
    port: int
    tls_cert: Path
    tls_key: Path
    watch: Sequence[Path]  # files and directories whose change reloads the policies
    reload_interval: float = 2.0
    max_requests: int = 512  # concurrent requests beyond which the server answers "overloaded" (denied)
    # The webhook's own namespace with --policies-from-cluster: /validating checks secretRef.namespace
    # against it (None: policy-controller's cosign-system, as for policy files).
    controller_namespace: str | None = None


def _fingerprint(paths: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    out: list[tuple[str, int, int]] = []
    for p in paths:
        files = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
        for f in files:
            try:
                st = f.stat()
            except OSError:
                continue
            out.append((str(f), st.st_mtime_ns, st.st_size))
    return tuple(out)


class TLSReloader:
    """Serves the current certificate: the listening context swaps in a fresh context per handshake (SNI
    callback), rebuilt whenever the cert or key file changes; a broken pair keeps the previous one."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.cert, self.key = cert, key
        self.current = self._load()
        self._stamp = _fingerprint([cert, key])
        self.listener = self._load()
        self.listener.sni_callback = self._sni

    def _load(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["http/1.1"])  # the API server offers h2 first; aiohttp speaks HTTP/1.1
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx

    def _sni(self, sslobj: ssl.SSLObject, _name: str | None, _ctx: ssl.SSLContext) -> None:
        if self.current is not self.listener:
            sslobj.context = self.current

    def check(self) -> bool:
        stamp = _fingerprint([self.cert, self.key])
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            self.current = self._load()
        except (OSError, ssl.SSLError) as e:
            log.error("TLS certificate reload failed, keeping the previous one: %s", e)
            return False
        log.info("TLS certificate reloaded from %s", self.cert)
        return True


class AdmissionServer:
    def __init__(self, service: AdmissionService, config: ServerConfig,
                 loader: Callable[[], Loaded], source_stamp: Callable[[], object] | None = None) -> None:
        """``source_stamp``: the change stamp of a policy source other than files (the cluster watch),
        None while that source is not yet synced (then nothing is loaded and /readyz stays 503)."""
        self.service, self.config, self.loader = service, config, loader
        self.source_stamp = source_stamp
        self.tls = TLSReloader(config.tls_cert, config.tls_key)
        self._active = 0
        self._policy_stamp: object = ()
        self.bound_port = 0

    # --- handlers -----------------------------------------------------------------------------------

    async def _review(self, request: Any, path: str) -> Any:
        from aiohttp import web

        from sigward.webhook.review import deny

        started = time.monotonic()
        body = await request.read()
        try:
            review = parse_review(body)
        except ReviewError as e:
            self.service.metrics.requests.labels(path, "", "bad-request").inc()
            return web.Response(status=400, text=f"{e}\n")
        metrics = self.service.metrics
        self._active += 1
        try:
            if self._active > self.config.max_requests:
                metrics.failures.labels("overload").inc()
                result = deny(review, f"{'validation' if path == '/validations' else 'mutation'} failed: "
                                      "the admission server is overloaded; retry later")
            elif path == "/validations":
                fast = self.service.fast_validate(review)
                result = fast if fast is not None else await self._in_thread(self.service.validate, review,
                                                                              started, path)
            else:
                result = await self._in_thread(self.service.mutate, review, started, path)
        except Exception as e:  # fail closed, with the reason
            log.exception("admission request %s failed", review.uid)
            prefix = "validation" if path == "/validations" else "mutation"
            result = deny(review, f"{prefix} failed: internal error: {e}")
        finally:
            self._active -= 1
        response = result["response"]
        verdict = ("patched" if "patch" in response else "allowed") if response["allowed"] else "denied"
        if response["allowed"] and response.get("warnings"):
            verdict = "warned"
        # Only the workload kinds become label values: a label per arbitrary kind would grow without bound.
        kind = review.kind if (review.group, review.kind) in POD_SPEC_AT else "other"
        metrics.requests.labels(path, kind, verdict).inc()
        metrics.duration.labels(path).observe(time.monotonic() - started)
        return web.json_response(result, dumps=_dumps)

    async def _in_thread(self, fn: Callable[..., dict[str, Any]], review: Any, started: float,
                         path: str) -> dict[str, Any]:
        from sigward.webhook.review import deny

        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(None, fn, review, started)
        try:
            # The service keeps its own deadline; this guard only catches a stuck thread.
            return await asyncio.wait_for(fut, self.service.timeout + 1.0)
        except TimeoutError:
            self.service.metrics.failures.labels("timeout").inc()
            prefix = "validation" if path == "/validations" else "mutation"
            return deny(review, f"{prefix} failed: no decision within the {self.service.timeout:g}s deadline")

    async def validations(self, request: Any) -> Any:
        return await self._review(request, "/validations")

    async def mutations(self, request: Any) -> Any:
        return await self._review(request, "/mutations")

    async def validating(self, request: Any) -> Any:
        """policy-controller's ``/validating``: its own resources (ClusterImagePolicy, TrustRoot) checked
        at ``kubectl apply``. Pure CPU, answered on the event loop."""
        from aiohttp import web

        from sigward.webhook.resources import validate_resource
        from sigward.webhook.review import deny

        started = time.monotonic()
        try:
            review = parse_review(await request.read())
        except ReviewError as e:
            self.service.metrics.requests.labels("/validating", "", "bad-request").inc()
            return web.Response(status=400, text=f"{e}\n")
        try:
            result = validate_resource(review, self.config.controller_namespace)
        except Exception as e:  # fail closed, with the reason
            log.exception("resource validation %s failed", review.uid)
            result = deny(review, f"validation failed: internal error: {e}")
        response = result["response"]
        verdict = "allowed" if response["allowed"] else "denied"
        if response["allowed"] and response.get("warnings"):
            verdict = "warned"
        self.service.metrics.requests.labels("/validating", "other", verdict).inc()
        self.service.metrics.duration.labels("/validating").observe(time.monotonic() - started)
        return web.json_response(result, dumps=_dumps)

    async def healthz(self, _request: Any) -> Any:
        from aiohttp import web

        return web.Response(text="ok\n")

    async def readyz(self, _request: Any) -> Any:
        from aiohttp import web

        if self.service.ready:
            return web.Response(text="ok\n")
        return web.Response(status=503, text="policies not loaded\n")

    async def metrics(self, _request: Any) -> Any:
        from aiohttp import web

        data, ctype = self.service.metrics.render()
        return web.Response(body=data, headers={"Content-Type": ctype})

    # --- lifecycle ----------------------------------------------------------------------------------

    def reload_policies(self) -> bool:
        """Load the policies if their files (or the cluster's resources) changed; keep the last good set
        when the new one is invalid."""
        stamp: object = _fingerprint(self.config.watch)
        if self.source_stamp is not None:
            extra = self.source_stamp()
            if extra is None:
                return False
            stamp = (stamp, extra)
        if stamp == self._policy_stamp and self.service.ready:
            return False
        self._policy_stamp = stamp
        try:
            loaded = self.loader()
        except Exception as e:
            self.service.metrics.reloads.labels("error").inc()
            log.error("policy reload failed, keeping the previous policies: %s", e)
            print(f"sigward admission: policy reload failed: {e}", file=sys.stderr, flush=True)
            return False
        first = not self.service.ready
        self.service.install(loaded)
        self.service.metrics.reloads.labels("ok").inc()
        if first:
            # Everything loaded so far (modules, the first policy set) lives as long as the process: moved
            # out of the collector's generations, so full collections stay short and do not show in p99.
            import gc

            gc.collect()
            gc.freeze()
        print(f"sigward admission: {loaded.policy_count} policies loaded (identity {loaded.identity[:12]})",
              file=sys.stderr, flush=True)
        return True

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.reload_interval)
            with contextlib.suppress(Exception):
                self.tls.check()
            with contextlib.suppress(Exception):
                await loop.run_in_executor(None, self.reload_policies)

    def app(self) -> Any:
        from aiohttp import web

        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/validations", self.validations)
        app.router.add_post("/mutations", self.mutations)
        app.router.add_post("/validating", self.validating)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)
        return app

    async def serve(self, stop: asyncio.Event) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from aiohttp import web

        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=64, thread_name_prefix="sigward-req"))
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port, ssl_context=self.tls.listener,
                           backlog=1024)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.config.port
        print(f"sigward admission: listening on https://{_hostport(self.config.host, self.bound_port)}",
              file=sys.stderr, flush=True)
        # Policies load after the port is open, so /healthz answers while /readyz waits for them.
        await loop.run_in_executor(None, self.reload_policies)
        watcher = asyncio.create_task(self._watch())
        try:
            await stop.wait()
        finally:
            watcher.cancel()
            await runner.cleanup()
            self.service.close()


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, separators=(",", ":"))


def run(server: AdmissionServer) -> int:
    """Serve until SIGTERM/SIGINT; in-flight requests finish (aiohttp's graceful shutdown)."""
    logging.basicConfig(level=os.environ.get("SIGWARD_LOG_LEVEL", "WARNING").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await server.serve(stop)

    asyncio.run(main())
    return 0
