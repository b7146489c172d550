"""Key → screen latency of the live screen while 1,000 connections a second hit the real Postfix.

Shared by the e2e test (keys are answered during a flood: no stall) and the benchmark
(bench/run.py --only keys: the speed figure and its target). The clock starts before the key is
sent and stops when the answer's bytes reach tmux (its pipe, read as they come).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.rawtimer import RawTimer
from tests.support.tmux import Tmux

FLOODGEN = Path(__file__).resolve().parent / "floodgen.py"
KEYS = 36


@dataclass(frozen=True)
class Result:
    latencies: list[float]  # seconds, one per key
    flood: dict[str, int]  # floodgen's counts: attempted, connected, failed, skipped
    flood_seen: bool  # the header said FLOOD

    @property
    def median(self) -> float:
        return statistics.median(self.latencies)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.latencies, n=20)[-1]

    def summary(self) -> str:
        return (
            f"key → screen under flood: median {self.median * 1000:.0f} ms, p95 {self.p95 * 1000:.0f} ms, "
            f"max {max(self.latencies) * 1000:.0f} ms; flood {self.flood}"
        )


def measure(argv: Sequence[str], rate: int = 1000, seconds: int = 16, keys: int = KEYS) -> Result:
    """Tab switches (1 ↔ 2) every 0.2 s after the answer, during a flood of ``rate`` connections a
    second from 100 sources. fail2ban is stopped first by the caller (it re-reads the flood's log)."""
    tmp = tempfile.mkdtemp(prefix="mbtop-lat-")
    with Tmux(list(argv), 120, 30) as t:
        raw = RawTimer(os.path.join(tmp, "out"))
        t.pipe_to_fifo(raw.fifo)
        t.wait_for("redis.sock", timeout=20)
        gen = subprocess.Popen(
            [sys.executable, str(FLOODGEN), str(rate), str(seconds), "100"], stdout=subprocess.PIPE, text=True
        )
        try:
            time.sleep(2)  # let the flood reach its rate
            latencies = []
            for i in range(keys):
                tab, marker = ("2", "Owner:group") if i % 2 == 0 else ("1", "Conn/Est")
                start = time.monotonic()
                t.send(tab)
                latencies.append(raw.first_after(start, marker.encode()))
                t.wait_for(marker, timeout=5)
                time.sleep(0.2)
            flood_seen = "FLOOD" in t.screen()
        finally:
            out, _ = gen.communicate(timeout=60)
    return Result(latencies, json.loads(out), flood_seen)
