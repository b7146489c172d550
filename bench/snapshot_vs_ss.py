#!/usr/bin/env python3
"""`mbtop snapshot --json` against `ss -tanp`, same sockets, same run.

Opens N loopback connections to a documented port (25) inside a private
network namespace (loopback only, bounded), then times both commands as
whole programs (interpreter start-up included) and prints medians and the
ratio.  Run as root:  .venv/bin/python bench/snapshot_vs_ss.py [N ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

# One holder process per CHUNK connections: a process may not hold more than
# RLIMIT_NOFILE fds (20,000 here, and not raisable in this sandbox).  Each
# holder listens on its own 127.0.0.K:25 and keeps both ends of its connections.
CHUNK = 8000
HOLDER = r"""
import resource, socket, sys
n, k = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
lst = socket.socket(); lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
dest = f"127.0.0.{k + 1}"
lst.bind((dest, 25)); lst.listen(4096)
keep = []
for i in range(n):
    c = socket.socket()
    c.bind((f"127.{k + 2}.{i // 250}.{1 + i % 250}", 0))
    c.connect((dest, 25))
    s, _ = lst.accept()
    keep += (c, s)
print("ready", flush=True)
sys.stdin.read()
"""


def timed(argv: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        out.append(time.perf_counter() - t)
    return out


def bench(n: int, runs: int) -> dict[str, float]:
    ns = f"mbtop-bench-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        exec_ = ["ip", "netns", "exec", ns]
        subprocess.run([*exec_, "ip", "link", "set", "lo", "up"], check=True)
        holders = []
        for k, start in enumerate(range(0, n, CHUNK)):
            h = subprocess.Popen(
                [*exec_, sys.executable, "-c", HOLDER, str(min(CHUNK, n - start)), str(k)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            holders.append(h)
        for h in holders:
            assert h.stdout is not None and h.stdout.readline().strip() == "ready"
        try:
            count = subprocess.run([*exec_, "ss", "-Htan"], capture_output=True, text=True).stdout.count("\n")
            mb = timed([*exec_, sys.executable, "-m", "mbtop", "snapshot", "--json", "--sample", "0"], runs)
            ss = timed([*exec_, "ss", "-tanp"], runs)
            snap = json.loads(
                subprocess.run(
                    [*exec_, sys.executable, "-m", "mbtop", "snapshot", "--json", "--sample", "0"],
                    capture_output=True,
                    text=True,
                ).stdout
            )
            p25 = next(p for p in snap["ports"] if p["port"] == 25)
            assert p25["connections"]["total"] == n, p25["connections"]
        finally:
            for h in holders:
                h.stdin.close()  # type: ignore[union-attr]
                h.wait()
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=False)
    return {
        "n": n,
        "sockets": count,
        "mbtop": statistics.median(mb),
        "ss": statistics.median(ss),
        "mbtop_spread": max(mb) - min(mb),
        "ss_spread": max(ss) - min(ss),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("n", nargs="*", type=int, default=[1000, 10000, 50000])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root (network namespaces)", file=sys.stderr)
        return 2
    head = f"{'connections':>11} {'sockets':>8} {'mbtop snapshot':>15} {'ss -tanp':>10} {'ratio':>7}"
    print(f"{head}   (medians of {args.runs}, s)")
    for n in args.n:
        r = bench(n, args.runs)
        print(
            f"{r['n']:>11} {r['sockets']:>8} {r['mbtop']:>11.3f}±{r['mbtop_spread']:.2f} "
            f"{r['ss']:>7.3f}±{r['ss_spread']:.2f} {r['mbtop'] / r['ss']:>6.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
