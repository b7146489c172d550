"""While 1,000 connections a second hit Postfix, mbtop still answers a key within 200 ms (p95)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.support import stack as st
from tests.support.tmux import Tmux, mbtop_bin

FLOODGEN = Path(__file__).resolve().parents[1] / "support" / "floodgen.py"


def test_keys_answered_during_a_flood() -> None:
    st.require_stack()
    with Tmux([mbtop_bin()], 120, 30) as t:
        t.wait_for("redis.sock", timeout=20)
        gen = subprocess.Popen([sys.executable, str(FLOODGEN), "1000", "12", "100"], stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(2)  # let the flood reach its rate
            latencies = []
            for i in range(24):
                tab, marker = ("2", "Owner:group") if i % 2 == 0 else ("1", "Conn/Est")
                start = time.monotonic()
                t.send(tab)
                t.wait_for(marker, timeout=5, poll=0.005)
                latencies.append(time.monotonic() - start)
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
    assert stats["attempted"] == 12000 and stats["connected"] > 9000  # ≈ 1,000 a second really arrived
    assert flood_seen
    assert p95 < 0.2
