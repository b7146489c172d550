"""The agent's ``/metrics`` HTTP server: threads of its own, TLS and basic auth from a web-config.

The server never touches the engine: a scrape formats the collector's last frame. Each connection
is served in a thread of its own (at most ``MAX_CLIENTS`` at once; more are closed at once), with
a timeout, and its TLS handshake happens there too, never in the thread that accepts.
"""

from __future__ import annotations

import base64
import binascii
import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from mbtop.export.webconfig import BasicAuth, WebConfig

log = logging.getLogger(__name__)

MAX_CLIENTS = 16
TIMEOUT = 10.0  # seconds a client has for its handshake and request
INDEX = b"<html><head><title>mbtop</title></head><body><a href='/metrics'>/metrics</a></body></html>\n"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    registry: CollectorRegistry
    auth: BasicAuth
    tls: ssl.SSLContext | None

    def __init__(self, address: tuple[str, int]) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # busy: a connection flood never grows the threads
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(TIMEOUT)
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError) as exc:  # plain HTTP, a bad client: refused, not served
                log.debug("TLS handshake with %s failed: %s", client_address, exc)
                return
        try:
            super().finish_request(request, client_address)
        finally:
            if request is not None and self.tls is not None:
                request.close()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "mbtop"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _reply(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8", **headers: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _authorized(self) -> bool:
        auth = self.server.auth
        if not auth.required:
            return True
        kind, _, value = (self.headers.get("Authorization") or "").partition(" ")
        if kind.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return bool(sep) and auth.check(user, password)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if not self._authorized():
            self._reply(401, b"Unauthorized\n", WWW_Authenticate='Basic realm="mbtop"')
            return
        if path == "/":
            self._reply(200, INDEX, "text/html; charset=utf-8")
            return
        if path != "/metrics":
            self._reply(404, b"Not found: metrics are at /metrics\n")
            return
        encoder, ctype = choose_encoder(self.headers.get("Accept") or "")
        try:
            body = encoder(self.server.registry)
        except Exception:  # a bug in a family: said, and the scraper sees the scrape failed
            log.exception("cannot format the metrics")
            self._reply(500, b"mbtop: cannot format the metrics (see the agent's log)\n")
            return
        self._reply(200, body, ctype)

    do_HEAD = do_GET


class MetricsServer:
    """``/metrics`` from ``collector`` (and the process' own metrics) on ``address``."""

    def __init__(self, collector: Collector, address: tuple[str, int], web: WebConfig | None = None) -> None:
        web = web or WebConfig()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        self.web = web
        self.httpd = _Server(address)
        self.httpd.registry = registry
        self.httpd.auth = BasicAuth(web.users)
        self.httpd.tls = web.ssl_context()
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> MetricsServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="mbtop-metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(5)
        self.httpd.server_close()
