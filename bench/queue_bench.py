#!/usr/bin/env python3
"""mbtop reading a mail queue of 100,000 messages: time and peak memory, beside qshape on the same queue.

    sudo .venv/bin/python bench/queue_bench.py [--messages N]   (bench/run.py --only queue runs it too)

The queue is made for real, in a private Postfix instance (its own config directory and spool
under a temporary directory; no inet service, so it takes no port and leaves the lab stack alone):
its master, pickup and cleanup put 200 messages from 200 senders to 200 domains on hold (a
header_checks HOLD rule); then each of those queue files, as cleanup wrote it, is copied under new
queue ids until the hold queue holds N messages (submitting 100,000 messages one by one through
sendmail would take many minutes). mbtop reads it through `postqueue -c DIR -j` and showq, as on a
gateway, in a fresh Python process whose peak RSS is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEEDS = 200
TARGET_SECONDS, TARGET_MB = 5.0, 150.0


def _run(*argv: str, stdin: str | None = None) -> None:
    subprocess.run(argv, input=stdin, text=True, check=True, capture_output=True, timeout=120)


@contextmanager
def private_postfix(root: Path) -> Iterator[Path]:
    """A second Postfix instance: config in root/etc, queue in root/spool, only unix services."""
    etc, spool = root / "etc", root / "spool"
    for d in (etc, spool, root / "data"):
        d.mkdir()
    for name in ("main.cf", "master.cf", "dynamicmaps.cf"):
        shutil.copy(f"/etc/postfix/{name}", etc / name)
    (etc / "hold").write_text("/^Subject:/ HOLD\n")
    c = str(etc)
    _run("postconf", "-c", c, "-M#", "smtp/inet", "submission/inet")
    _run("postconf", "-c", c, "-F", "*/*/chroot = n")
    _run("postconf", "-c", c, "-X", "smtpd_milters", "non_smtpd_milters", "transport_maps")
    _run(
        "postconf",
        "-c",
        c,
        "-e",
        f"queue_directory = {spool}",
        f"data_directory = {root / 'data'}",
        f"header_checks = regexp:{etc / 'hold'}",
        f"maillog_file_prefixes = {root}",
        f"maillog_file = {root / 'mail.log'}",
    )
    os.chmod(root, 0o755)  # noqa: S103 -- postfix and postdrop must reach the spool under it
    _run("postfix", "-c", c, "set-permissions")
    _run("postfix", "-c", c, "start")
    try:
        yield etc
    finally:
        subprocess.run(["postfix", "-c", c, "stop"], capture_output=True, check=False, timeout=60)


def fill(etc: Path, messages: int) -> None:
    spool = etc.parent / "spool"
    for i in range(SEEDS):
        msg = f"Subject: bench {i}\nFrom: sender{i}@source{i % 37}.example\n\nqueued for mbtop's benchmark\n"
        _run("sendmail", "-C", str(etc), "-f", f"sender{i}@source{i % 37}.example", f"rcpt{i}@dest{i}.test", stdin=msg)
    hold = spool / "hold"
    deadline = time.monotonic() + 120
    while len(os.listdir(hold)) < SEEDS:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(os.listdir(hold))} of {SEEDS} messages reached the hold queue")
        time.sleep(0.2)
    seeds = [(hold / n).read_bytes() for n in sorted(os.listdir(hold))]
    postfix = pwd.getpwnam("postfix")
    for n in range(messages - SEEDS):
        path = hold / f"B{n:010X}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
        os.write(fd, seeds[n % SEEDS])
        os.fchown(fd, postfix.pw_uid, postfix.pw_gid)
        os.close(fd)


READ = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
from mbtop.model import queue
t = time.monotonic()
s = queue.read(config_dir=sys.argv[1])
took = time.monotonic() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": took, "mb": peak, "total": s.total, "hold": s.count("hold"), "reason": s.reason,
                  "domains": len(s.top_domains)}))
"""


def measure(etc: Path) -> tuple[dict, float, float]:
    """mbtop's read; qshape on the same queue; postqueue -j alone (showq's part of mbtop's time)."""
    start = time.monotonic()
    subprocess.run(["postqueue", "-c", str(etc), "-j"], stdout=subprocess.DEVNULL, check=True, timeout=300)
    floor = time.monotonic() - start
    out = subprocess.run(
        [sys.executable, "-c", READ, str(etc), str(REPO)], capture_output=True, text=True, check=True, timeout=120
    )
    mine = json.loads(out.stdout)
    start = time.monotonic()
    subprocess.run(["qshape", "-c", str(etc), "hold"], capture_output=True, check=True, timeout=300)
    return mine, time.monotonic() - start, floor


def bench(messages: int) -> tuple[dict, float, float]:
    if os.geteuid() != 0:
        raise SystemExit("run as root: a private Postfix instance is started")
    with tempfile.TemporaryDirectory(prefix="mbtop-queue-bench-") as tmp, private_postfix(Path(tmp)) as etc:
        fill(etc, messages)
        mine, qshape, floor = measure(etc)
        if mine["total"] != messages:
            raise SystemExit(f"mbtop counted {mine['total']} messages, not {messages}: {mine['reason']}")
        return mine, qshape, floor


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=100_000)
    args = ap.parse_args()
    mine, qshape, floor = bench(args.messages)
    met = mine["seconds"] <= TARGET_SECONDS and mine["mb"] <= TARGET_MB
    print(
        f"queue of {args.messages} messages: mbtop {mine['seconds']:.2f} s, {mine['mb']:.0f} MB peak RSS "
        f"(targets ≤ {TARGET_SECONDS:g} s, ≤ {TARGET_MB:g} MB: {'met' if met else 'NOT met'}); "
        f"qshape hold {qshape:.2f} s; postqueue -j alone {floor:.2f} s"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
