"""A health answer belongs to the listener it came from: on the real stack, Redis is stopped and a
squatter takes 6379 while the installed mbtop shows the port's details in tmux.  Protocol checks
are made rare (every 600 s) so that only a change of listener can explain a new answer."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from tests.support import stack as st
from tests.support.tmux import Tmux, mbtop_bin

PONG = re.compile(r"health \(redis\): answers in \d+ ms — PONG")
REFUSED = re.compile(r"health \(redis\): FAILS — connection refused")
SILENT = re.compile(r"health \(redis\): FAILS — no answer in 2 s")


def test_a_health_answer_is_dropped_and_checked_again_when_its_listener_changes(tmp_path: Path) -> None:
    st.require_stack()
    st.wait_healthy()
    cfg = tmp_path / "c.toml"
    cfg.write_text("health_every = 600.0\nhealth_timeout = 2.0\n")
    cfg.chmod(0o600)
    with Tmux([mbtop_bin(), "--config", str(cfg), "--interval", "1"], 140, 40) as t:
        t.wait_for("redis.sock", timeout=20)
        t.send(*["Down"] * 11)  # 25 80 443 587 465 10031 10032 11332 11333 3310 3306, then 6379
        t.wait_for(lambda _s: True, timeout=1)
        t.send("Enter")
        t.wait_for("Port 6379", timeout=10)
        t.wait_for(PONG, timeout=15)  # the first round, right after the first sample
        squatter = None
        try:
            stop_at = time.monotonic()  # before the event: the clock can only over-measure
            subprocess.run(["service", "redis-server", "stop"], capture_output=True, timeout=60)
            st.wait_until(lambda: st.port_free(6379), 30, what="redis to stop")
            stopped = time.monotonic() - stop_at
            t.wait_for(lambda s: not PONG.search(s), timeout=10)
            gone = time.monotonic() - stop_at
            t.wait_for(REFUSED, timeout=10)  # checked again at once, not in 600 s
            refused = time.monotonic() - stop_at
            squat_at = time.monotonic()
            squatter = st.Squatter(6379)
            # The refused answer was about nobody; the squatter's listener gets its own check.
            t.wait_for(re.compile(r"health: checking…"), timeout=5, poll=0.02)
            t.wait_for(SILENT, timeout=10)
            silent = time.monotonic() - squat_at
            print(
                f"\nredis stopped after {stopped:.1f} s; PONG gone {gone:.1f} s, 'refused' {refused:.1f} s after "
                f"the stop began; the squatter's silence shown {silent:.1f} s after it started"
            )
            assert gone <= stopped + 2.5, (gone, stopped)  # two 1 s refreshes and the sample itself
            assert refused <= stopped + 2.5 + 2.0, (refused, stopped)  # plus one check's timeout
            assert silent <= 2.5 + 2.0, silent
        finally:
            if squatter is not None:
                squatter.close()
            st.restore()
        back_at = time.monotonic()
        t.wait_for(PONG, timeout=10)  # Redis again: a new listener, checked at once
        print(f"PONG again {time.monotonic() - back_at:.1f} s after the stack was back")
        t.send("Escape")  # alone: ESC followed at once by q would arrive as alt+q
        t.wait_for("1 Overview", timeout=10)
        t.send("q")
        t.wait_for(lambda _s: t.pane_dead(), timeout=10)
