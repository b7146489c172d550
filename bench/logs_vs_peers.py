#!/usr/bin/env python3
"""`mbtop logs --summary` against pflogsumm (Postfix) and goaccess (nginx), same files, same run.

    .venv/bin/python bench/logs_vs_peers.py [--lines 1000000] [--runs 5]

Generates deterministic logs (bench/gen_logs.py), then times each tool as a
whole program, alternating the two so that machine noise hits both alike, and
prints medians, spread and lines per second.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MBTOP = [sys.executable, "-m", "mbtop", "logs"]


def timed(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def compare(name: str, peer: list[str], mine: list[str], lines: int, runs: int) -> None:
    a, b = [], []
    for _ in range(runs):
        a.append(timed(peer))
        b.append(timed(mine))
    pa, pb = statistics.median(a), statistics.median(b)
    print(
        f"{name:<8} {peer[0]:>10} {pa:6.2f} s ±{max(a) - min(a):4.2f} ({lines / pa / 1000:6.0f}k lines/s)   "
        f"mbtop {pb:6.2f} s ±{max(b) - min(b):4.2f} ({lines / pb / 1000:6.0f}k lines/s)   {pa / pb:5.1f}x faster"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/mbtop-bench"))
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    mail, web = args.dir / f"mail-{args.lines}.log", args.dir / f"nginx-{args.lines}.log"
    for kind, path in (("mail", mail), ("nginx", web)):
        if not path.exists():
            subprocess.run([sys.executable, str(HERE / "gen_logs.py"), kind, str(path), str(args.lines)], check=True)
    print(f"{args.lines:,} lines per file, medians of {args.runs} alternating runs")
    if shutil.which("pflogsumm"):
        compare(
            "postfix",
            ["pflogsumm", str(mail)],
            [*MBTOP, str(mail), "--format", "postfix", "--summary", "--json"],
            args.lines,
            args.runs,
        )
    else:
        print("postfix: pflogsumm is not installed (apt-get install pflogsumm)")
    if shutil.which("goaccess"):
        out = args.dir / "goaccess.json"
        compare(
            "nginx",
            ["goaccess", str(web), "--log-format=COMBINED", "--no-global-config", "-o", str(out)],
            [*MBTOP, str(web), "--format", "nginx", "--summary", "--json"],
            args.lines,
            args.runs,
        )
    else:
        print("nginx: goaccess is not installed (apt-get install goaccess)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
