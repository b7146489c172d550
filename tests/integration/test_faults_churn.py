"""Fault: processes exiting between the listing of /proc and the reading of their fds, and between
their fds and their stat/status/cmdline. Real fork/exit churn — children that inherit a listening
socket and exit within a millisecond or two, hundreds per second — while the owner map refreshes
many times (incremental and full scans) and the service probe reads the process table: neither
crashes, and no process is ever named the socket's owner that is not the holder or its child."""

from __future__ import annotations

import subprocess
import sys
import time

from mbtop.probes import owners as owners_mod
from mbtop.probes import services, sockdiag
from mbtop.probes.owners import OwnerMap

CHURN = """
import os, random, signal, socket, sys, time
s = socket.create_server(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
born = 0
while not stop:
    pid = os.fork()
    if pid == 0:  # holds the inherited listener for up to 2 ms, then exits
        time.sleep(random.random() / 500)
        os._exit(0)
    born += 1
    while True:  # reap whatever has exited, without waiting
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
print(born, flush=True)
"""


def test_owner_map_and_service_probe_survive_fork_exit_churn() -> None:
    churn = subprocess.Popen([sys.executable, "-c", CHURN], stdout=subprocess.PIPE, text=True)
    try:
        assert churn.stdout is not None
        port = int(churn.stdout.readline())
        (listener,) = [s for s in sockdiag.tcp_sockets([port]) if s.state == "LISTEN"]
        om = OwnerMap()
        refreshes = 0
        seen_children: set[int] = set()
        deadline = time.monotonic() + 120  # a bound for a loaded machine; it takes seconds
        while refreshes < 150 and time.monotonic() < deadline:
            if refreshes % 5 == 0:
                om._last_full = float("-inf")  # a full scan of every pid, in the middle of the churn
            got = om.refresh([listener.inode])
            refreshes += 1
            holders = got.by_inode[listener.inode]
            assert churn.pid in [p.pid for p in holders], holders  # the holder is never lost in the churn
            for p in holders:
                # Only the listener's holder or one of its forked children: never a stranger that
                # took a pid of an exited child while its fds were being read.
                assert p.pid == churn.pid or p.ppid == churn.pid, p
                if p.pid != churn.pid:
                    seen_children.add(p.pid)
            for pid in list(om._fds)[:50]:
                owners_mod.read_process(pid, 0.0, lambda _uid: None)  # gone or not: a value or None
            services.process_table()
        assert refreshes == 150 and om.full_scans >= 30, (refreshes, om.full_scans)
        churn.terminate()
        born = int(churn.stdout.readline())
        assert born > 500, born  # the churn was real: hundreds of processes came and went
        assert seen_children  # children were caught holding the socket, and attributed
    finally:
        churn.kill()
        churn.wait()
