"""The agent's cost: a real ``mbtop agent`` recording the machine for SECONDS, idle or under a flood.

    python bench/agent_record.py SECONDS [FLOOD_RATE] [--interval S] [--max-size SIZE] [--listen ADDR:PORT]

Prints one JSON row: frames written, payload bytes per hour (the compressed frames), bytes on
disk at the end (database and WAL), the agent's CPU (% of one core, from /proc/PID/stat), and
the flood's own figures when one ran (tests/support/floodgen.py, run it under the stack lock).
With ``--listen`` the agent serves /metrics there and is scraped every 15 s (Prometheus' default)
while it is measured: the agent's CPU with metrics on.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    args = sys.argv[1:]
    interval = "1"
    max_size = "256M"
    if "--interval" in args:
        interval = args.pop(args.index("--interval") + 1)
        args.remove("--interval")
    if "--max-size" in args:
        max_size = args.pop(args.index("--max-size") + 1)
        args.remove("--max-size")
    listen: list[str] = []
    if "--listen" in args:
        listen = ["--listen", args.pop(args.index("--listen") + 1)]
        args.remove("--listen")
    seconds = float(args[0])
    rate = float(args[1]) if len(args) > 1 else 0.0
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "rec" / "mbtop.db"
        agent = subprocess.Popen(
            [sys.executable, "-m", "mbtop", "agent", "--no-serve", "--record", str(db), "--interval", interval,
             "--max-size", max_size, "--no-health", *listen],
            cwd=REPO, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(5)  # start-up (imports, first frames, code generation) is not the steady cost
        c0, t0 = cpu_seconds(agent.pid), time.monotonic()
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as ro:
            b0, n0 = ro.execute("SELECT COALESCE(SUM(LENGTH(data)), 0), COUNT(*) FROM frames").fetchone()
        flood = None
        if rate:
            flood = subprocess.Popen(
                [sys.executable, str(REPO / "tests/support/floodgen.py"), str(rate), str(seconds), "2000"],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
        peak = 0
        end = t0 + seconds
        scraped, next_scrape = 0, t0
        while time.monotonic() < end:
            if listen and time.monotonic() >= next_scrape:
                with urllib.request.urlopen(f"http://{listen[1]}/metrics", timeout=10) as r:
                    r.read()
                scraped, next_scrape = scraped + 1, next_scrape + 15.0
            time.sleep(0.5)
            peak = max(peak, sum(os.stat(p).st_size for p in (db, Path(f"{db}-wal")) if p.exists()))
        c1, t1 = cpu_seconds(agent.pid), time.monotonic()
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as ro:
            b1, n1 = ro.execute("SELECT COALESCE(SUM(LENGTH(data)), 0), COUNT(*) FROM frames").fetchone()
        flood_out = json.loads(flood.communicate(timeout=60)[0] or "{}") if flood else None
        agent.terminate()
        agent.wait(30)
        hours = (t1 - t0) / 3600
        row = {
            "bench": "agent_record",
            "interval": float(interval),
            "flood_rate": rate,
            "seconds": round(t1 - t0, 1),
            "frames": n1 - n0,
            "payload_mb_per_hour": round((b1 - b0) / hours / 1e6, 2) if n1 >= n0 else None,
            "bytes_per_frame": round((b1 - b0) / max(1, n1 - n0)),
            "peak_on_disk_bytes": peak,
            "max_size": max_size,
            "cpu_percent": round(100 * (c1 - c0) / (t1 - t0), 2),
            "flood": flood_out,
            "scrapes": scraped,
        }
        print(json.dumps(row))


if __name__ == "__main__":
    main()
