"""Fault: a daemon stopped with SIGSTOP in the middle of the gateway's life. The real redis-server
of the lab stack is stopped (and always continued): its protocol check times out within its bound,
``snapshot --json`` still completes in that bound and says which check timed out, the other checks
answer as before, and the live screen (in tmux) keeps its one-second cadence while its health worker
waits. Plus a listener that accepts and never answers (half-open from the client's side)."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mbtop.probes.health import Target, check_all
from tests.support import stack as st
from tests.support.netns import REPO
from tests.support.tmux import Tmux, mbtop_bin

TIMEOUT = 3.0  # the default health_timeout


@pytest.fixture(autouse=True)
def _stack() -> None:
    st.require_stack()


def redis_pid() -> int:
    rows = subprocess.run(["ss", "-tlnpH", "sport = :6379"], capture_output=True, text=True, check=True).stdout
    pids = {int(p) for p in re.findall(r'"redis-server",pid=(\d+)', rows)}
    assert len(pids) == 1, rows
    return pids.pop()


@contextmanager
def stopped(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)  # whatever happened: the stack stays healthy


def snapshot() -> tuple[dict, float]:
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "mbtop", "snapshot", "--json", "--sample", "0", "--no-firewall"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    took = time.monotonic() - start
    assert out.returncode in (0, 1, 2), out.stderr
    return json.loads(out.stdout), took


def test_snapshot_reports_the_stopped_daemon_as_timed_out_within_its_bound() -> None:
    st.wait_healthy()
    healthy, base = snapshot()
    pid = redis_pid()
    with stopped(pid):
        snap, took = snapshot()
    health = {p["port"]: p["health"] for p in snap["ports"]}
    assert health[6379]["ok"] is False and health[6379]["detail"] == f"no answer in {TIMEOUT:g} s", health[6379]
    # Nothing else waited: every other check that answered before answers now.
    was_ok = {p["port"] for p in healthy["ports"] if p["health"] and p["health"]["ok"]}
    assert {p for p in was_ok - {6379} if not health[p]["ok"]} == set(), health
    # Its bound: the checks run side by side, so the stopped one adds at most its timeout.
    assert took < base + TIMEOUT + 1.5, (base, took)
    st.wait_healthy()


def test_the_live_screen_keeps_its_cadence_while_a_check_hangs() -> None:
    st.wait_healthy()
    d = Path(tempfile.mkdtemp(prefix="mbtop-faults-", dir="/run"))
    cfg = d / "config.toml"
    cfg.write_text("interval = 1.0\nhealth_every = 1.0\nhealth_timeout = 3.0\n")  # a check always in flight
    os.chmod(d, 0o700)
    pid = redis_pid()
    with Tmux([mbtop_bin(), "--config", str(cfg)], 120, 30) as t:
        t.wait_for("redis.sock", timeout=20)
        with stopped(pid):
            t.wait_for(re.compile(r"6379 Redis .*timeout"), timeout=TIMEOUT + 5)
            clocks: list[tuple[float, str]] = []
            end = time.monotonic() + 8
            while time.monotonic() < end:
                m = re.search(r"\b(\d\d:\d\d:\d\d)\b", t.screen().splitlines()[0])
                if m and (not clocks or clocks[-1][1] != m.group(1)):
                    clocks.append((time.monotonic(), m.group(1)))
                time.sleep(0.1)
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(clocks)]
        # The sample clock in the header moved on every second or so, never stuck for a check's timeout.
        assert len(clocks) >= 6 and max(gaps) < 2.5, clocks
        t.wait_for(re.compile(r"OK\s+6379 Redis"), timeout=15)


def test_a_listener_that_accepts_and_never_answers_times_out_alone() -> None:
    """Half-open from the client's side: connected, never a byte back. A real listener beside the
    real stack's Redis, checked together."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])  # accepted, and then silence
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        targets = [Target("port:mute", "redis", "127.0.0.1", port), Target("port:6379", "redis", "127.0.0.1", 6379)]
        start = time.monotonic()
        got = check_all(targets, timeout=1.0)
        took = time.monotonic() - start
    finally:
        stop.set()
        thread.join()
        for s in (*held, srv):
            s.close()
    assert held, "the listener never accepted: not a half-open test"
    assert got["port:mute"].ok is False and got["port:mute"].detail == "no answer in 1 s"
    assert got["port:6379"].ok is True
    assert took < 1.0 + 1.0, took
