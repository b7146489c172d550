"""``mbtop fleet``'s sources against real HTTP servers on loopback (no lock, no stack: private ports).

Agents are stood in for by real HTTP servers serving prometheus_client's text (tests/support/fleetlab.py);
the broken targets are real too: a port that refuses, one that accepts and never answers, one that
answers HTML, one that speaks SMTP, a Prometheus that is not there.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from mbtop.fleet.prometheus import PrometheusSource
from mbtop.fleet.scrape import TargetsSource, scrape
from tests.support import fleetlab


def test_three_agents_scraped() -> None:
    with fleetlab.agent("healthy") as a, fleetlab.agent("port-down") as b, fleetlab.agent("flood") as c:
        fleet = TargetsSource([a.target, b.target, c.target], timeout=2).fetch()
        now = time.time()
    rows = {g.name: g for g in fleet.gateways}
    assert [g.name for g in fleet.gateways] == [a.target, b.target, c.target]
    assert all(g.reach == "up" for g in fleet.gateways)
    assert rows[a.target].status(now) == ("ok", "")
    assert rows[b.target].summary is not None and rows[b.target].summary.ports_down == 1
    assert rows[c.target].summary is not None and rows[c.target].summary.flood is True


def test_refused_target_is_down() -> None:
    with fleetlab.refusing() as target:
        gw = scrape(target, timeout=2)
    assert (gw.reach, gw.reason) == ("down", "connection refused")


def test_hanging_target_is_slow_and_costs_only_its_timeout() -> None:
    with fleetlab.hanging() as slow, fleetlab.agent("healthy") as ok:
        start = time.monotonic()
        fleet = TargetsSource([slow, ok.target], timeout=0.5).fetch()
        took = time.monotonic() - start
    slow_row, ok_row = fleet.gateways
    assert (slow_row.reach, slow_row.reason) == ("slow", "no answer in 0.5 s")
    assert ok_row.reach == "up"
    assert 0.5 <= took < 2.0


@contextmanager
def trickling(period: float) -> Iterator[str]:
    """An HTTP server that sends its answer one byte every ``period`` seconds, for 4 s."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    stop = threading.Event()

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
            for _ in range(int(4 / period)):  # 4 s of it, then the end: never a hang
                if stop.wait(period):
                    return
                try:
                    conn.sendall(b"#")
                except OSError:
                    return

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield f"127.0.0.1:{srv.getsockname()[1]}"
    finally:
        stop.set()
        srv.close()


def test_trickling_target_is_slow_within_its_deadline() -> None:
    """Each read returns in time, the whole answer never does: the deadline covers the exchange."""
    with trickling(0.1) as target:
        start = time.monotonic()
        gw = scrape(target, timeout=1.0)
        took = time.monotonic() - start
    assert gw.reach == "slow" and "not complete" in gw.reason
    assert took < 2.5


def test_html_target_speaks_something_else() -> None:
    with fleetlab.endpoint(fleetlab.HTML, "text/html") as html:
        gw = scrape(html.target, timeout=2)
    assert (gw.reach, gw.reason) == ("garbage", "not Prometheus text (text/html)")


def test_html_served_as_text_plain_is_caught_by_the_parser() -> None:
    with fleetlab.endpoint(fleetlab.HTML, "text/plain") as html:
        gw = scrape(html.target, timeout=2)
    assert gw.reach == "garbage" and gw.reason.startswith("not Prometheus text: ")


def test_other_exporter_is_not_an_agent() -> None:
    with fleetlab.endpoint(b"# TYPE node_load1 gauge\nnode_load1 0.25\n") as other:
        gw = scrape(other.target, timeout=2)
    assert (gw.reach, gw.reason) == ("garbage", "no mbtop metrics (another exporter?)")


def test_smtp_banner_is_not_http() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def banner() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.sendall(b"220 gw.example ESMTP Postfix\r\n")
            conn.recv(4096)

    threading.Thread(target=banner, daemon=True).start()
    try:
        gw = scrape(f"127.0.0.1:{srv.getsockname()[1]}", timeout=2)
    finally:
        srv.close()
    assert gw.reach == "garbage" and gw.reason.startswith("not HTTP")


def test_http_error_status() -> None:
    with fleetlab.agent("healthy") as a:
        gw = scrape(f"http://{a.target}/nothing-here", timeout=2)
    assert gw.reach == "up"  # the stand-in answers every path; a real 404 comes from Prometheus below
    with fleetlab.refusing() as target:
        gone = PrometheusSource(f"http://{target}", timeout=1).fetch()
    assert gone.gateways == () and gone.error is not None and "connection refused" in gone.error


def test_prometheus_url_that_is_not_prometheus() -> None:
    with fleetlab.endpoint(fleetlab.HTML, "text/html") as html:
        fleet = PrometheusSource(f"http://{html.target}", timeout=2).fetch()
    assert fleet.gateways == () and fleet.error is not None and "not JSON" in fleet.error
