#!/usr/bin/env python3
"""mbtop's hand-written socket and owner readers against psutil, the library that would replace them.

    sudo .venv/bin/python bench/libs_vs_hand.py [--connections N] [--runs N]

In a private network namespace holding N loopback connections to port 25 (both ends: 2N sockets
plus the listener), each way of answering "the TCP sockets on the documented ports and the
processes that own them":

* mbtop: ``sockdiag.tcp_sockets`` (kernel-side port filter, struct decoder) then ``OwnerMap``
  (cold: the first refresh scans every fd; steady: the incremental refresh of every later sample);
* psutil: ``psutil.net_connections("tcp")`` (/proc/net/tcp{,6} parsed in Python, every fd of every
  process read for the owners, on every call; it has no port filter and no incremental mode).

And, on this machine (not in the namespace), the service probe's process table (pid, parent, name,
start; zombies left out), read every 5 s by the live screen: ``services.process_table`` against
``psutil.process_iter(["ppid", "name", "status", "create_time"])``.

Figures go into the docstrings of mbtop/probes/sockdiag.py and mbtop/probes/owners.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.run import PY, loaded_netns  # noqa: E402

MEASURE = r"""
import json, sys, time
import psutil
from mbtop.probes import sockdiag
from mbtop.probes.owners import OwnerMap
runs = int(sys.argv[1])
out = {"sockdiag": [], "owners_cold": [], "owners_steady": [], "sockdiag+owners_steady": [], "psutil": []}
om = OwnerMap()
for i in range(runs):
    t = time.perf_counter(); socks = sockdiag.tcp_sockets([25]); out["sockdiag"].append(time.perf_counter() - t)
    listeners = [s.inode for s in socks if s.state == "LISTEN"]
    t = time.perf_counter(); OwnerMap().refresh(listeners); out["owners_cold"].append(time.perf_counter() - t)
    om.refresh(listeners)
    t = time.perf_counter(); om.refresh(listeners); out["owners_steady"].append(time.perf_counter() - t)
    t = time.perf_counter()
    socks = sockdiag.tcp_sockets([25]); om.refresh([s.inode for s in socks if s.state == "LISTEN"])
    out["sockdiag+owners_steady"].append(time.perf_counter() - t)
    t = time.perf_counter()
    conns = [c for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == 25]
    out["psutil"].append(time.perf_counter() - t)
out["sockets"] = len(socks)
out["psutil_sockets"] = len(conns)
print(json.dumps(out))
"""


TABLE = r"""
import json, sys, time
import psutil
from mbtop.probes.services import process_table
def lib():
    return [p.info for p in psutil.process_iter(["ppid", "name", "status", "create_time"])
            if p.info["status"] != psutil.STATUS_ZOMBIE]
out = {"processes": len(psutil.pids())}
for name, f in (("hand", process_table), ("psutil", lib)):
    f()
    runs = []
    for _ in range(int(sys.argv[1])):
        t = time.perf_counter()
        for _ in range(20):
            f()
        runs.append((time.perf_counter() - t) / 20)
    out[name] = runs
print(json.dumps(out))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with loaded_netns(args.connections) as ns:
        done = subprocess.run(["ip", "netns", "exec", ns, PY, "-c", MEASURE, str(args.runs)],
                              capture_output=True, text=True, check=True, cwd=REPO)  # fmt: skip
    res = json.loads(done.stdout)
    print(f"{res['sockets']:,} sockets on port 25 (psutil saw {res['psutil_sockets']:,}); medians of {args.runs}:")
    for key in ("sockdiag", "owners_cold", "owners_steady", "sockdiag+owners_steady", "psutil"):
        print(f"  {key:24} {statistics.median(res[key]) * 1000:9.1f} ms")
    ratio = statistics.median(res["psutil"]) / statistics.median(res["sockdiag+owners_steady"])
    print(f"  psutil / mbtop (steady sample): {ratio:.0f}×")
    done = subprocess.run([PY, "-c", TABLE, str(args.runs)], capture_output=True, text=True, check=True, cwd=REPO)
    tab = json.loads(done.stdout)
    hand, lib = statistics.median(tab["hand"]) * 1000, statistics.median(tab["psutil"]) * 1000
    print(f"process table, {tab['processes']} processes: mbtop {hand:.1f} ms, psutil {lib:.1f} ms ({lib / hand:.1f}×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
