"""While 1,000 connections a second hit Postfix, mbtop still answers keys quickly (p95 printed)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support import stack as st
from tests.support.rawtimer import RawTimer
from tests.support.tmux import Tmux, mbtop_bin

FLOODGEN = Path(__file__).resolve().parents[1] / "support" / "floodgen.py"


def test_keys_answered_during_a_flood() -> None:
    st.require_stack()
    # fail2ban re-reads the 3,000 log lines a second of this flood and takes most of one of the two
    # cores: it is paused for the measurement, which is of mbtop, not of the machine's spare CPU.
    subprocess.run(["fail2ban-client", "stop"], capture_output=True, timeout=30)
    try:
        _measure()
    finally:
        st.restore()


def _measure() -> None:
    tmp = tempfile.mkdtemp(prefix="mbtop-lat-")
    with Tmux([mbtop_bin()], 120, 30) as t:
        raw = RawTimer(os.path.join(tmp, "out"))
        t.pipe_to_fifo(raw.fifo)
        t.wait_for("redis.sock", timeout=20)
        gen = subprocess.Popen([sys.executable, str(FLOODGEN), "1000", "16", "100"], stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(2)  # let the flood reach its rate
            latencies = []
            for i in range(36):
                tab, marker = ("2", "Owner:group") if i % 2 == 0 else ("1", "Conn/Est")
                start = time.monotonic()
                t.send(tab)
                # The time the answer reached the terminal: its bytes, read from tmux's pipe as they come.
                latencies.append(raw.first_after(start, marker.encode()))
                t.wait_for(marker, timeout=5)
                time.sleep(0.2)
            flood_seen = "FLOOD" in t.screen()
        finally:
            out, _ = gen.communicate(timeout=60)
    stats = json.loads(out)
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(
        f"key → screen under flood: median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; flood {stats}"
    )
    assert stats["attempted"] == 16000 and stats["connected"] > 12000  # ≈ 1,000 a second really arrived
    assert flood_seen
    # The target. Session 3 runs: median 41-43 ms, p95 111-124 ms (session 2 measured p95
    # 230-460 ms, before the tab-underline animation, the footer's rebuild on every focus change and
    # the interpreter's 5 ms switch interval were dealt with).
    assert p95 < 0.2
