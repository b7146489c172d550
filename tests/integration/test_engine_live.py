"""The engine on the real lab stack: frames from the machine, health answers in them, the mail log
followed, an action's re-check, and a clean stop (every thread joined)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from mbtop.catalog import load_reference
from mbtop.engine.engine import Engine
from mbtop.engine.frame import Frame
from mbtop.engine.source import LiveSource
from mbtop.probes.sample import CONNECTIONS_BUDGET, Sampler
from tests.support import stack as st

pytestmark = pytest.mark.integration


def test_engine_samples_the_stack_checks_health_follows_the_log_and_stops_clean() -> None:
    st.require_stack()
    catalog = load_reference()
    sampler = Sampler(catalog, firewall_every=None, connections_budget=CONNECTIONS_BUDGET, background=True)
    engine = Engine(catalog, sampler.sample, interval=0.5, health_every=1.0, health_timeout=3.0)
    source = LiveSource(engine)
    frames: list[Frame] = []
    source.start(frames.append, lambda batch: None)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (frames and "port:25" in frames[-1].sample.health):
            time.sleep(0.1)
        assert frames and "port:25" in frames[-1].sample.health
        port25 = next(p for p in frames[-1].snapshot.ports if p.spec.port == 25)
        assert port25.listening
        # A session of our own: the engine counts it in the next fresh read of the table.
        with socket.create_connection(("127.0.0.1", 25), timeout=5) as conn:
            conn.recv(512)
            snap = source.recheck(firewall=False)
            assert snap is not None
            held = next(p for p in snap.ports if p.spec.port == 25)
            assert held.state_count("ESTABLISHED") >= 1
        statuses = dict(frames[-1].logs.status)
        assert catalog.logs.mail in statuses
        seqs = [f.seq for f in frames]
        assert seqs == list(range(1, len(seqs) + 1))
    finally:
        source.stop()
    assert source.live
    left = [t.name for t in threading.enumerate() if t.name in ("mbtop-engine", "mbtop-logs")]
    assert left == []
