#!/usr/bin/env python3
"""Every benchmark, one table: mbtop's figure, the peer's figure from the same run, the ratio, the target.

    sudo .venv/bin/python bench/run.py [--quick] [--only sockets,logs,tui,screen,keys,bytes,queue,metrics]

Needs root (network namespaces), the lab stack up for the idle figures (`sudo scripts/stack up`),
and the peers: ss, pflogsumm, goaccess, glances, btop (installed here with apt when missing).
Figures are medians of several runs with their spread; the TUI's CPU is measured from
/proc/PID/stat over a window (60 s, 20 s with --quick), each program alone under the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench.snapshot_vs_ss import CHUNK, HOLDER, timed  # noqa: E402
from tests.support.tmux import Tmux  # noqa: E402

PY = sys.executable
CLK = os.sysconf("SC_CLK_TCK")
PEERS = {"pflogsumm": "pflogsumm", "goaccess": "goaccess", "glances": "glances", "btop": "btop"}


@dataclass
class Row:
    what: str
    mbtop: str
    peer: str
    ratio: str
    target: str
    met: str
    note: str = ""


ROWS: list[Row] = []


def add(what: str, mine: float, theirs: float | None, unit: str, target: str, ok: bool | None, note: str = "") -> None:
    ratio = f"{mine / theirs:.2f}×" if theirs else "—"
    peer = f"{theirs:.3g} {unit}" if theirs is not None else "—"
    ROWS.append(Row(what, f"{mine:.3g} {unit}", peer, ratio, target, "—" if ok is None else ("yes" if ok else "NO"),
                    note))  # fmt: skip
    print(f"  {what}: mbtop {mine:.3g} {unit}, peer {peer}, {ratio}", flush=True)


def med(xs: list[float]) -> tuple[float, float]:
    return statistics.median(xs), (max(xs) - min(xs)) if xs else 0.0


@contextmanager
def loaded_netns(connections: int) -> Iterator[str]:
    """A private namespace holding ``connections`` loopback connections to port 25 (both ends)."""
    ns = f"mbtop-bench-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    holders: list[subprocess.Popen[str]] = []
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        for k, start in enumerate(range(0, connections, CHUNK)):
            n = min(CHUNK, connections - start)
            holders.append(subprocess.Popen(["ip", "netns", "exec", ns, PY, "-c", HOLDER, str(n), str(k)],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))  # fmt: skip
        for h in holders:
            assert h.stdout is not None and h.stdout.readline().strip() == "ready"
        yield ns
    finally:
        for h in holders:
            if h.stdin:
                h.stdin.close()
            h.wait()
        subprocess.run(["ip", "netns", "delete", ns], check=False)


STEADY = r"""
import json, sys, time
from mbtop.config import load
from mbtop.model.build import build
from mbtop.probes.sample import Sampler
cfg = load(None)
s = Sampler(cfg.catalog, firewall_every=None)
build(cfg.catalog, s.sample())   # warm: the owner map is built once
times = []
for _ in range(int(sys.argv[1])):
    t = time.perf_counter(); build(cfg.catalog, s.sample()); times.append(time.perf_counter() - t)
print(json.dumps(times))
"""


def bench_sockets(runs: int) -> None:
    print("sockets: one sample of sockets and owners, against ss -tanp", flush=True)
    for conns, steady_target, cold_target in ((10_000, 0.5, None), (50_000, 0.2, 0.5)):
        with loaded_netns(conns) as ns:
            ex = ["ip", "netns", "exec", ns]
            sockets = subprocess.run([*ex, "ss", "-Htan"], capture_output=True, text=True).stdout.count("\n")
            ss, ss_spread = med(timed([*ex, "ss", "-tanp"], runs))
            cold, _ = med(timed([*ex, PY, "-m", "mbtop", "snapshot", "--json", "--sample", "0", "--no-health",
                                 "--no-firewall"], runs))  # fmt: skip
            out = subprocess.run([*ex, PY, "-c", STEADY, str(max(5, runs))], capture_output=True, text=True,
                                 check=True, cwd=REPO)  # fmt: skip
            steady, _ = med(json.loads(out.stdout))
        label = f"{sockets:,} sockets"
        add(f"sample, steady ({label})", steady, ss, "s", f"≤ {steady_target}× ss", steady / ss <= steady_target,
            f"ss spread ±{ss_spread:.2f} s")  # fmt: skip
        if cold_target:
            add(f"sample, cold: whole program ({label})", cold, ss, "s", f"≤ {cold_target}× ss",
                cold / ss <= cold_target)  # fmt: skip


def bench_logs(runs: int, lines: int) -> None:
    print(f"logs: {lines:,}-line files, against pflogsumm and goaccess", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="mbtop-bench-logs-"))
    try:
        mail, web = tmp / "mail.log", tmp / "access.log"
        subprocess.run([PY, str(HERE / "gen_logs.py"), "mail", str(mail), str(lines)], check=True)
        subprocess.run([PY, str(HERE / "gen_logs.py"), "nginx", str(web), str(lines)], check=True)
        cases = (
            ("Postfix", ["pflogsumm", str(mail)], "postfix", mail, 5.0),
            ("nginx", ["goaccess", str(web), "--log-format=COMBINED", "-o", str(tmp / "r.json")], "nginx", web, 10.0),
        )
        for name, peer, fmt, path, target in cases:
            a: list[float] = []
            b: list[float] = []
            for _ in range(runs):  # alternate: noise hits both alike
                a += timed(peer, 1)
                b += timed([PY, "-m", "mbtop", "logs", str(path), "--summary", "--format", fmt], 1)
            pa, pb = statistics.median(a), statistics.median(b)
            add(f"{name} log lines/s", lines / pb, lines / pa, "lines/s", f"≥ {target:g}× peer", pa / pb >= target,
                f"{pb:.2f} s vs {pa:.2f} s")  # fmt: skip
            ROWS[-1].ratio = f"{pa / pb:.1f}× faster"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _pane_pid(t: Tmux) -> int:
    return int(t._tmux("display-message", "-p", "-t", "main", "#{pane_pid}").strip())


def _tree(pid: int) -> list[int]:
    """pid and its descendants (the program may run under `ip netns exec` or `env`)."""
    out = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) in out:
                    out.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return out


def _cpu_rss(pids: list[int]) -> tuple[float, float]:
    ticks, rss = 0, 0
    for pid in pids:
        try:
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])  # its own and its waited-for children's
            rss += int(f[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    return ticks / CLK, rss / 1e6


def measure_tui(argv: list[str], ready: str, seconds: float, size: tuple[int, int] = (120, 40)) -> tuple[float, float]:
    """% of one core and RSS (MB) over ``seconds`` after the first screen, from /proc."""
    with Tmux(argv, *size) as t:
        t.wait_for(ready, timeout=60)
        time.sleep(3)  # past start-up
        pids = _tree(_pane_pid(t))
        c0, _ = _cpu_rss(pids)
        start = time.monotonic()
        time.sleep(seconds)
        pids = _tree(_pane_pid(t))
        c1, rss = _cpu_rss(pids)
        return 100.0 * (c1 - c0) / (time.monotonic() - start), rss


def bench_tui(seconds: float) -> None:
    print(f"TUI: CPU and memory at a 1 s refresh over {seconds:g} s, against glances (connections plugin on)",
          flush=True)  # fmt: skip
    glances = ["glances", "-t", "1", "--enable-plugin", "connections", "--disable-plugin", "docker,wifi"]
    mbtop = [PY, "-m", "mbtop", "--interval", "1"]
    for label, conns, target in (("idle, lab stack", 0, 2.0), ("10k connections", 10_000, 5.0),
                                 ("50k connections", 50_000, 15.0)):  # fmt: skip
        if conns == 0:
            mine, rss = measure_tui(mbtop, "redis.sock", seconds)
            theirs, _ = measure_tui(glances, "CPU", seconds)
        else:
            with loaded_netns(conns) as ns:
                ex = ["ip", "netns", "exec", ns]
                mine, rss = measure_tui([*ex, *mbtop], "redis.sock", seconds)
                theirs, _ = measure_tui([*ex, *glances], "CPU", seconds)
        add(f"TUI CPU, {label}", mine, theirs, "% core", f"≤ {target:g} %", mine <= target)
        if conns == 50_000:
            add("TUI RSS, 100k sockets", rss, None, "MB", "≤ 150 MB", rss <= 150)


def bench_first_screen(runs: int) -> None:
    print("first full screen", flush=True)
    times = []
    for _ in range(runs):
        with Tmux([PY, "-m", "mbtop"], 120, 40) as t:
            start = time.monotonic()
            t.wait_for("redis.sock", timeout=20, poll=0.01)
            times.append(time.monotonic() - start)
    m, _ = med(times)
    add("first full screen", m, None, "s", "≤ 1 s", m <= 1.0, f"tmux polled every 10 ms, {runs} runs")


def bytes_per_second(argv: list[str], ready: str, size: tuple[int, int], seconds: float,
                     during: Callable[[], object] | None = None) -> float:  # fmt: skip
    """Bytes the program writes to its terminal per second (tmux pipe-pane), after start-up."""
    with tempfile.NamedTemporaryFile(prefix="mbtop-bytes-") as raw, Tmux(argv, *size) as t:
        t.wait_for(ready, timeout=60)
        time.sleep(3)
        t.pipe_to(raw.name)
        time.sleep(0.2)
        start_size = os.path.getsize(raw.name)
        start = time.monotonic()
        if during is not None:
            with during():  # type: ignore[attr-defined]
                time.sleep(seconds)
        else:
            time.sleep(seconds)
        return (os.path.getsize(raw.name) - start_size) / (time.monotonic() - start)


FLOOD = {f"127.79.{i // 200}.{1 + i % 200}": 1 for i in range(90)}


def bench_bytes(seconds: float) -> None:
    from tests.support import stack as st

    print(f"bytes to the terminal over {seconds:g} s, against btop", flush=True)
    mbtop = [PY, "-m", "mbtop"]
    btop = ["btop"]
    for size in ((80, 24), (200, 50)):
        label = f"{size[0]}x{size[1]}"
        mine = bytes_per_second(mbtop, "redis.sock", size, seconds)
        theirs = bytes_per_second(btop, "cpu", size, seconds)
        add(f"bytes/s idle, {label}", mine / 1024, theirs / 1024, "KiB/s",
            "≤ 4 KiB/s" if size == (80, 24) else "", mine / 1024 <= 4 if size == (80, 24) else None)  # fmt: skip
        low = bytes_per_second([*mbtop, "--low-bandwidth"], "redis.sock", size, seconds)
        add(f"bytes/s idle --low-bandwidth, {label}", low / 1024, theirs / 1024, "KiB/s",
            "≤ 1 KiB/s" if size == (80, 24) else "", low / 1024 <= 1 if size == (80, 24) else None)  # fmt: skip
        busy = bytes_per_second(mbtop, "redis.sock", size, seconds, during=lambda: st.smtp_flood(FLOOD))
        peer_busy = bytes_per_second(btop, "cpu", size, seconds, during=lambda: st.smtp_flood(FLOOD))
        add(f"bytes/s SMTP flood held, {label}", busy / 1024, peer_busy / 1024, "KiB/s", "", None,
            "90 connections held from 90 sources")  # fmt: skip


def bench_queue(messages: int) -> None:
    """A held queue of ``messages`` made in a private Postfix instance (bench/queue_bench.py)."""
    from bench.queue_bench import TARGET_MB, TARGET_SECONDS, bench

    mine, qshape, floor = bench(messages)
    add(f"queue read, {messages:,} messages", mine["seconds"], qshape, "s", f"≤ {TARGET_SECONDS:g} s",
        mine["seconds"] <= TARGET_SECONDS, f"qshape hold as the peer; postqueue -j alone {floor:.2f} s")  # fmt: skip
    add(
        f"queue read RSS, {messages:,} messages", mine["mb"], None, "MB", f"≤ {TARGET_MB:g} MB", mine["mb"] <= TARGET_MB
    )


def bench_keys(runs: int) -> None:
    """Key → screen under a 1,000 connections/s SMTP flood (tests/support/keylatency.py): 36 tab
    switches a run; no peer (glances and btop have no tab switch with a marker to time)."""
    from tests.support import stack as st
    from tests.support.keylatency import measure

    print(f"key → screen under a 1,000 conn/s flood, {runs} runs", flush=True)
    subprocess.run(["fail2ban-client", "stop"], capture_output=True, timeout=30)
    try:
        results = [measure([PY, "-m", "mbtop"]) for _ in range(runs)]
    finally:
        st.restore()
    for r in results:
        print(f"  {r.summary()}", flush=True)
    p95, spread = med([r.p95 * 1000 for r in results])
    median, _ = med([r.median * 1000 for r in results])
    add("key → screen p95, 1,000 conn/s flood", p95, None, "ms", "≤ 200 ms", p95 <= 200,
        f"median {median:.0f} ms; p95 spread {spread:.0f} ms over {runs} runs")  # fmt: skip


def bench_metrics(scrapes: int) -> None:
    """A /metrics scrape at 10,000 connections (bench/metrics_bench.py): the server's work per scrape."""
    from bench.metrics_bench import measure

    row = measure(10_000, scrapes)
    note = f"max {row['server_ms_max']:.1f} ms, {row['series']:.0f} series; HTTP request {row['http_ms_median']:.1f} ms"
    ok = row["server_ms_median"] <= 10 and row["connections_in_frame"] >= 10_000
    add("/metrics scrape, 10k connections", row["server_ms_median"], None, "ms", "≤ 10 ms", ok, note)


def ensure_peers() -> None:
    missing = [p for p, b in PEERS.items() if not shutil.which(b)]
    if missing:
        print(f"installing {' '.join(missing)} (apt)", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, stdout=subprocess.DEVNULL)  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer runs, shorter windows, smaller logs")
    ap.add_argument("--only", default="sockets,logs,tui,screen,keys,bytes,queue,metrics")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root (network namespaces, the lab stack)", file=sys.stderr)
        return 2
    ensure_peers()
    parts = set(args.only.split(","))
    runs = 3 if args.quick else 5
    window = 20.0 if args.quick else 60.0
    if "sockets" in parts:
        bench_sockets(runs)
    if "logs" in parts:
        bench_logs(3 if args.quick else 5, 300_000 if args.quick else 1_000_000)
    if "screen" in parts:
        bench_first_screen(runs)
    if "tui" in parts:
        bench_tui(window)
    if "keys" in parts:
        bench_keys(runs)
    if "bytes" in parts:
        bench_bytes(window / 2)
    if "queue" in parts:
        bench_queue(20_000 if args.quick else 100_000)
    if "metrics" in parts:
        bench_metrics(20 if args.quick else 50)
    print()
    head = ("benchmark", "mbtop", "peer (same run)", "ratio", "target", "met", "note")
    table = [head, *[(r.what, r.mbtop, r.peer, r.ratio, r.target, r.met, r.note) for r in ROWS]]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    for row in table:
        print("  ".join(str(c).ljust(widths[i]) for i, c in enumerate(row)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
