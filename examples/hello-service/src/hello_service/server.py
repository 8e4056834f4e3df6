"""The HTTP handler and server. ``/healthz`` is what Kubernetes probes; every other path says hello.

The version comes from ``HELLO_SERVICE_VERSION`` (set in the image config by the pipeline), so one build
of the source reports the release it was built for, like the seed's link-time version stamp.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hello_service import __version__

log = logging.getLogger("hello_service")


def version() -> str:
    return os.environ.get("HELLO_SERVICE_VERSION") or __version__


class Handler(BaseHTTPRequestHandler):
    server_version = "hello-service"

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/healthz":
            self._send(200, "application/json", json.dumps({"status": "ok", "version": version()}) + "\n")
        else:
            self._send(200, "text/plain; charset=utf-8", "Hello, world!\n")

    def do_HEAD(self) -> None:
        self.do_GET()

    def _send(self, status: int, content_type: str, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        log.info("%s %s", self.address_string(), format % args)


def make_server(host: str = "0.0.0.0", port: int = 8080) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    port = int(os.environ.get("PORT", "8080"))
    server = make_server(port=port)
    # Kubernetes stops pods with SIGTERM: shut down cleanly instead of dying mid-request.
    signal.signal(signal.SIGTERM, lambda *_: server.shutdown())
    log.info("version: %s", version())
    log.info("listening on :%d", server.server_address[1])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
