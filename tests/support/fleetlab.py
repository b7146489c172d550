"""Real HTTP endpoints for the fleet's tests: agents' expositions, and targets that refuse, hang or talk HTML.

``exposition(state)`` is the text format written by ``prometheus_client`` itself (``generate_latest``)
for a registry holding the agent's documented metric names (README, "Metrics") with the values of
one of three gateways: "healthy", "port-down" (port 25 not listening, a cluster peer unreachable) and
"flood" (an SMTP flood on 25, a certificate 9 days from expiry). It stands in for the agent's
``/metrics`` where the agent itself is not the subject (the model's and screen's tests); the
integration test (tests/integration/test_fleet_prometheus.py) scrapes real agents.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Gauge, generate_latest

NOW = 1_795_824_000.0  # 2026-11-28 00:00:00 UTC: the fixtures' "now"
DAY = 86400.0
STATES = ("healthy", "port-down", "flood")
PORTS = [("25", "postfix"), ("587", "postfix"), ("80", "nginx"), ("443", "nginx"), ("10050", "mb-cluster")]
SOCKETS = [("/var/run/redis/redis.sock", "redis"), ("/var/run/mailborder/mb-rpcd.sock", "mb-rpcd")]


def registry(state: str, now: float = NOW) -> CollectorRegistry:
    reg = CollectorRegistry()
    listening = Gauge("mbtop_port_listening", "1 when the port listens", ["port", "daemon"], registry=reg)
    conns = Gauge("mbtop_port_connections", "TCP connections by state", ["port", "daemon", "state"], registry=reg)
    sock = Gauge("mbtop_socket_ok", "1 when the socket is right", ["path", "daemon"], registry=reg)
    finding = Gauge("mbtop_finding", "1 per active finding", ["code", "target", "severity"], registry=reg)
    findings = Gauge("mbtop_findings", "active findings by severity", ["severity"], registry=reg)
    health = Gauge("mbtop_health_up", "1 when the daemon answers", ["target"], registry=reg)
    cert = Gauge("mbtop_certificate_expiry_timestamp_seconds", "certificate expiry", ["target"], registry=reg)
    service = Gauge("mbtop_service_up", "1 when the service runs", ["daemon"], registry=reg)
    flood = Gauge("mbtop_flood_alert", "1 during an SMTP flood", registry=reg)
    rate = Gauge("mbtop_flood_new_connections_per_second", "new SMTP connections per second", registry=reg)
    age = Gauge("mbtop_sample_age_seconds", "age of the frame served", registry=reg)
    peer = Gauge("mbtop_cluster_peer_up", "1 when the peer accepts on 10050", ["peer"], registry=reg)
    crit = warn = 0
    for port, daemon in PORTS:
        down = state == "port-down" and port == "25"
        listening.labels(port, daemon).set(0 if down else 1)
        established = 95 if (state == "flood" and port == "25") else (0 if down else 2)
        conns.labels(port, daemon, "ESTABLISHED").set(established)
        conns.labels(port, daemon, "TIME_WAIT").set(0 if down else 1)
    for path, daemon in SOCKETS:
        sock.labels(path, daemon).set(1)
    health.labels("smtp").set(0 if state == "port-down" else 1)
    health.labels("https").set(1)
    cert.labels("https").set(now + (9 if state == "flood" else 60) * DAY)
    for daemon in ("postfix", "nginx", "redis"):
        service.labels(daemon).set(1)
    peer.labels("gw2.example").set(1)
    peer.labels("gw3.example").set(0 if state == "port-down" else 1)
    if state == "port-down":
        finding.labels("not-listening", "port:25", "critical").set(1)
        finding.labels("health-failed", "port:25", "critical").set(1)
        finding.labels("cluster-peer-down", "host", "warning").set(1)
        crit, warn = 2, 1
    if state == "flood":
        finding.labels("smtp-flood", "port:25", "critical").set(1)
        finding.labels("certificate-expiring", "port:443", "warning").set(1)
        crit, warn = 1, 1
    findings.labels("critical").set(crit)
    findings.labels("warning").set(warn)
    flood.set(1 if state == "flood" else 0)
    rate.set(87.5 if state == "flood" else 0.2)
    age.set(0.4)
    return reg


def exposition(state: str, now: float = NOW) -> bytes:
    return generate_latest(registry(state, now))


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body, ctype = self.server.answer(self.path)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Endpoint(http.server.ThreadingHTTPServer):
    """A real HTTP server on loopback answering every GET with ``answer()``'s body (changeable)."""

    daemon_threads = True

    def __init__(self, body: bytes, ctype: str, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), _Handler)
        self.body, self.ctype = body, ctype
        self.routes: dict[str, tuple[bytes, str]] = {}  # path (without the query) → answer
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def answer(self, path: str) -> tuple[bytes, str]:
        return self.routes.get(path.split("?")[0], (self.body, self.ctype))

    @property
    def target(self) -> str:
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"


@contextmanager
def endpoint(
    body: bytes, ctype: str = "text/plain; version=0.0.4; charset=utf-8", host: str = "127.0.0.1", port: int = 0
) -> Iterator[Endpoint]:
    server = Endpoint(body, ctype, host, port)
    server.thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def agent(state: str, now: float = NOW, host: str = "127.0.0.1", port: int = 0) -> Iterator[Endpoint]:
    with endpoint(exposition(state, now), host=host, port=port) as server:
        yield server


@contextmanager
def hanging(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers: a slow target."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(16)
    try:
        yield f"{host}:{sock.getsockname()[1]}"
    finally:
        sock.close()


@contextmanager
def refusing(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """A loopback port with nothing listening (bound, never listened on: nobody else can take it)."""
    sock = socket.socket()
    sock.bind((host, port))
    try:
        yield f"{host}:{sock.getsockname()[1]}"
    finally:
        sock.close()


HTML = b"<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body>It works</body></html>\n"
