"""Protocol health and services on the real stack, each compared with what the daemon itself says."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mbtop.catalog import load_reference
from mbtop.probes.health import Target, check_all
from mbtop.probes.services import ServiceProbe
from tests.support import stack as st
from tests.support.netns import Holder

CERT = "/etc/nginx/ssl/mailborder.crt"


@pytest.fixture(autouse=True)
def _stack() -> Iterator[None]:
    st.require_stack()
    yield


def _run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout.strip()


def _by_port(snap: dict) -> dict[int, dict]:
    return {p["port"]: p["health"] for p in snap["ports"]}


def test_each_probe_returns_what_the_daemon_says() -> None:
    snap = st.snapshot()
    health = _by_port(snap)
    sockets = {s["id"]: s["health"] for s in snap["sockets"]}
    # SMTP: the banner Postfix is configured to give, STARTTLS with the lab certificate.
    banner = _run("postconf", "-xh", "smtpd_banner")
    assert health[25]["ok"] and health[25]["detail"] == f"{banner} · STARTTLS"
    end = _run("openssl", "x509", "-enddate", "-noout", "-in", CERT).split("=", 1)[1]
    days = (dt.datetime.strptime(end, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=dt.UTC) - dt.datetime.now(dt.UTC)).days
    assert health[25]["cert_days"] == health[443]["cert_days"] == days
    assert health[587]["ok"] and health[587]["detail"].startswith(banner)
    # HTTP: the redirect nginx sends (curl is the witness).
    location = next(
        line.split(":", 1)[1].strip()
        for line in _run("curl", "-sI", "http://127.0.0.1/").splitlines()
        if line.lower().startswith("location:")
    )
    assert health[80]["ok"] and health[80]["detail"].endswith(location[:80])
    assert health[443]["ok"] and health[443]["detail"] == "TLS · HTTP " + _run(
        "curl", "-skI", "-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1/"
    )
    # MariaDB's version string as the server reports it to a client.
    version = _run("mysql", "-N", "-B", "-e", "SELECT VERSION()")
    assert health[3306]["ok"] and health[3306]["detail"].endswith(version)
    assert health[6379] == {**health[6379], "ok": True, "detail": "PONG"}
    assert _run("redis-cli", "ping") == "PONG"
    assert health[3310]["detail"] == sockets["clamd"]["detail"] == "PONG"
    assert sockets["redis"]["ok"] and sockets["redis"]["detail"] == "PONG"
    assert health[11333]["detail"] == "pong"
    assert health[10032]["detail"].startswith("milter option negotiation")
    assert health[11332]["detail"].startswith("milter option negotiation")
    assert sockets["php-fpm"]["ok"] and sockets["php-fpm"]["detail"].startswith("FastCGI answers (404")
    assert health[10031]["detail"].endswith("ESMTP mb-filter")
    assert all(h["latency_ms"] is not None and h["latency_ms"] > 0 for h in health.values() if h["ok"])


def test_stopped_and_silent_listeners_time_out_in_bounded_time_without_blocking_others() -> None:
    catalog = load_reference()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]  # nothing listens here once closed: a stopped daemon
    silent = {"name": "hung", "listen": [["127.0.0.1", 0]], "no_accept": True}
    with Holder([], {**silent, "listen": [["127.0.0.1", 47321]]}):
        targets = [
            Target("port:stopped", "smtp", "127.0.0.1", free),
            Target("port:silent-smtp", "smtp", "127.0.0.1", 47321),
            Target("port:silent-redis", "redis", "127.0.0.1", 47321),
            *[Target(f"port:{p.port}", p.health, "127.0.0.1", p.port) for p in catalog.ports if p.port != 465],
        ]
        start = time.monotonic()
        got = check_all(targets, timeout=2.0)
        took = time.monotonic() - start
    assert took < 2.0 + 1.0, took
    assert got["port:stopped"].ok is False and got["port:stopped"].detail == "connection refused"
    assert got["port:silent-smtp"].detail == got["port:silent-redis"].detail == "no answer in 2 s"
    assert all(got[f"port:{p.port}"].ok for p in catalog.ports if p.port != 465)


def test_services_agree_with_the_process_table_and_follow_a_stop() -> None:
    catalog = load_reference()
    probe = ServiceProbe(catalog)
    states = {s.name: s for s in probe.read()}
    redis_pid = int(_run("pidof", "redis-server").split()[0])
    assert states["redis"].state == "running" and states["redis"].pid == redis_pid
    master = int(Path("/var/spool/postfix/pid/master.pid").read_text().split()[0])
    assert states["postfix"].pid == master
    started = states["redis"].since
    assert started is not None and abs(started - _start_time(redis_pid)) < 1.0
    with st.daemon_stopped("redis-server", 6379):
        states = {s.name: s for s in ServiceProbe(catalog).read()}
        assert states["redis"].state == "stopped" and states["redis"].pid is None
        assert states["redis"].manager == "init"
        snap = st.snapshot()
        svc = next(s for s in snap["services"] if s["name"] == "redis")
        assert svc == {**svc, "state": "stopped", "pid": None, "since": None}


def _start_time(pid: int) -> float:
    ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    btime = next(
        float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")
    )
    return btime + ticks / os.sysconf("SC_CLK_TCK")
