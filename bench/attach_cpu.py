#!/usr/bin/env python3
"""What a screen costs attached to the agent, against one running its own engine (issue 18).

    sudo .venv/bin/python bench/attach_cpu.py [SECONDS] [--conns N]

A real ``mbtop agent`` (no recording, its socket in a temporary directory) and real screens in
tmux (120x40, 1 s refresh), on the lab stack (run it under the stack lock) or, with ``--conns``,
in a private network namespace holding N loopback connections (the agent and the own-engine
screen run in it; an attached screen needs no namespace: it reads the agent's socket). CPU is
% of one core from /proc/PID/stat over SECONDS (default 20) after start-up. Rows: the agent
alone; one screen attached (the screen, the agent); three attached (each screen, the agent);
one screen on its own engine.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.run import PY, _cpu_rss, _pane_pid, _tree, loaded_netns  # noqa: E402
from tests.support.tmux import Tmux  # noqa: E402


def cpu(pids: list[int]) -> float:
    return _cpu_rss(pids)[0]


def serving(pid: int) -> float:
    """CPU seconds of the agent's threads that serve screens (the encoder and one per screen; the
    kernel knows them by name), alive or not: what screens cost the agent beyond its engine."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if (task / "comm").read_text().strip() in ("mbtop-encode", "mbtop-viewer"):
                f = (task / "stat").read_text().rsplit(")", 1)[1].split()
                total += int(f[11]) + int(f[12])
    return total / os.sysconf("SC_CLK_TCK")


def window(groups: dict[str, list[int]], seconds: float) -> dict[str, float]:
    """% of one core of each group of processes over ``seconds`` ("serve": the agent's serving
    threads; the agent's own figure includes its periodic probes' programs, firewall and services)."""
    agent = groups["a"][0]  # `ip netns exec` execs the agent: its pid is the agent's
    before = {k: cpu(v) for k, v in groups.items()}
    served = serving(agent)
    start = time.monotonic()
    time.sleep(seconds)
    took = time.monotonic() - start
    out = {k: 100.0 * (cpu(v) - before[k]) / took for k, v in groups.items()}
    out["serve"] = 100.0 * (serving(agent) - served) / took
    return out


@contextlib.contextmanager
def screens(argv: list[str], n: int, ready: str) -> Iterator[list[Tmux]]:
    ts = [Tmux(argv, 120, 40) for _ in range(n)]
    try:
        for t in ts:
            t.wait_for(ready, timeout=60)
        time.sleep(3)  # past start-up (and the history sent at hello)
        yield ts
    finally:
        for t in ts:
            t.close()


def main() -> int:
    args = sys.argv[1:]
    conns = 0
    if "--conns" in args:
        conns = int(args.pop(args.index("--conns") + 1))
        args.remove("--conns")
    seconds = float(args[0]) if args else 20.0
    with contextlib.ExitStack() as stack:
        ex: list[str] = []
        if conns:
            ex = ["ip", "netns", "exec", stack.enter_context(loaded_netns(conns))]
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mbtop-attach-bench-")))
        sock = tmp / "run" / "agent.sock"
        log = (tmp / "agent.log").open("wb")
        agent = subprocess.Popen([*ex, PY, "-m", "mbtop", "agent", "--no-record", "--socket", str(sock)], stderr=log)
        stack.callback(agent.wait, 15)
        stack.callback(agent.terminate)
        while not sock.exists():
            time.sleep(0.1)
        time.sleep(5)  # past the agent's start-up
        apids = _tree(agent.pid)
        label = f"{conns // 1000}k connections" if conns else "idle, lab stack"
        rows: list[tuple[str, float]] = []
        rows.append(("agent, no screen", window({"a": apids}, seconds)["a"]))
        viewer = [PY, "-m", "mbtop", "--interval", "1", "--agent-socket", str(sock)]
        with screens(viewer, 1, "via agent") as (t,):
            got = window({"s": _tree(_pane_pid(t)), "a": apids}, seconds)
            rows += [("screen attached (1 of 1)", got["s"]), ("agent, 1 screen attached", got["a"])]
            rows.append(("agent's serving threads, 1 screen", got["serve"]))
        with screens(viewer, 3, "via agent") as ts:
            groups = {f"s{i}": _tree(_pane_pid(t)) for i, t in enumerate(ts)} | {"a": apids}
            got = window(groups, seconds)
            each = sum(v for k, v in got.items() if k.startswith("s") and k != "serve") / len(ts)
            rows += [("screen attached (mean of 3)", each), ("agent, 3 screens attached", got["a"])]
            rows.append(("agent's serving threads, 3 screens", got["serve"]))
        own = [*ex, PY, "-m", "mbtop", "--interval", "1", "--no-attach"]
        with screens(own, 1, "redis.sock") as (t,):
            rows.append(("screen on its own engine", window({"s": _tree(_pane_pid(t)), "a": apids}, seconds)["s"]))
    print(f"\n| {label} ({seconds:g} s windows) | % of one core |\n| --- | ---: |")
    for what, value in rows:
        print(f"| {what} | {value:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
