#!/usr/bin/env python3
"""What a ``/metrics`` scrape costs the agent at 10,000 connections (issue 20: at most 10 ms).

    sudo .venv/bin/python bench/metrics_bench.py [CONNECTIONS] [SCRAPES]

In a private network namespace holding CONNECTIONS loopback connections to port 25 (both ends:
2x sockets), a real engine samples the machine with the agent's collector subscribed and its
server listening; once a frame holds them all, the engine is stopped (its threads would only add
noise) and the server is scraped SCRAPES times over HTTP. Prints one JSON row: the server's work
per scrape (collect and format: ``generate_latest`` on the server's registry, median and max),
the whole HTTP request as the scraper sees it (median), and the process CPU per request (server
and client together: an upper bound).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench.run import loaded_netns  # noqa: E402

INNER = r"""
import json, statistics, sys, time, urllib.request
from prometheus_client import generate_latest
from mbtop.config import load
from mbtop.engine.source import live_engine
from mbtop.export.collector import FrameCollector
from mbtop.export.server import MetricsServer

want, scrapes = int(sys.argv[1]), int(sys.argv[2])
engine = live_engine(load(None), interval=0.5, health=False, firewall=False)
collector = FrameCollector()
engine.subscribe(collector)
server = MetricsServer(collector, ("127.0.0.1", 0)).start()
engine.start()
deadline = time.monotonic() + 120
def held():
    f = collector._frame
    return 0 if f is None else next(p.connections_total for p in f.snapshot.ports if p.spec.port == 25)
while held() < want and time.monotonic() < deadline:
    time.sleep(0.2)
engine.stop()
host, port = server.address
url = f"http://{host}:{port}/metrics"
registry = server.httpd.registry
work, wall, cpu = [], [], []
body = b""
for _ in range(scrapes):
    t = time.perf_counter(); generate_latest(registry); work.append(time.perf_counter() - t)
    c, t = time.process_time(), time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as r:
        body = r.read()
    wall.append(time.perf_counter() - t); cpu.append(time.process_time() - c)
server.stop()
print(json.dumps({
    "connections_in_frame": held(), "scrapes": scrapes, "bytes": len(body),
    "series": sum(1 for line in body.decode().splitlines() if line and not line.startswith("#")),
    "server_ms_median": 1000 * statistics.median(work), "server_ms_max": 1000 * max(work),
    "http_ms_median": 1000 * statistics.median(wall), "process_cpu_ms_median": 1000 * statistics.median(cpu),
}))
"""


def measure(connections: int = 10_000, scrapes: int = 50) -> dict[str, float]:
    with loaded_netns(connections) as ns:
        out = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", INNER, str(connections), str(scrapes)],
            capture_output=True, text=True, check=True, cwd=REPO, timeout=600,
        )  # fmt: skip
    row: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return row


def main() -> int:
    connections = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    scrapes = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    row = measure(connections, scrapes)
    print(json.dumps(row))
    return 0 if row["connections_in_frame"] >= connections and row["server_ms_median"] <= 10 else 1


if __name__ == "__main__":
    sys.exit(main())
