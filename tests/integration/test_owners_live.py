"""The incremental owner map gives exactly the owners a full rescan gives, with real processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

from mbtop.probes import sockdiag
from mbtop.probes.owners import OwnerMap

FORKER = """
import os, socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(5)
print(s.getsockname()[1], flush=True)
pids = []
for _ in range(int(sys.argv[1])):
    pid = os.fork()
    if pid == 0:
        time.sleep(600); os._exit(0)
    pids.append(pid)
print(" ".join(map(str, pids)), flush=True)
sys.stdin.read()
"""


def _start(children: int) -> tuple[subprocess.Popen[str], int, list[int]]:
    p = subprocess.Popen(
        [sys.executable, "-c", FORKER, str(children)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert p.stdout is not None
    port = int(p.stdout.readline())
    kids = [int(x) for x in p.stdout.readline().split()]
    return p, port, kids


def _inode(port: int) -> int:
    (s,) = [s for s in sockdiag.tcp_sockets([port]) if s.state == "LISTEN"]
    return s.inode


def _pids(om: OwnerMap, inodes: list[int]) -> dict[int, list[int]]:
    return {i: sorted(p.pid for p in v) for i, v in om.refresh(inodes).by_inode.items()}


def test_incremental_equals_full_rescan_through_start_fork_and_exit() -> None:
    inc = OwnerMap()
    inc.refresh([])
    a, port_a, kids_a = _start(2)
    b, port_b, kids_b = _start(0)
    try:
        inodes = [_inode(port_a), _inode(port_b)]
        first = _pids(inc, inodes)
        assert first == _pids(OwnerMap(), inodes)
        assert first[inodes[0]] == sorted([a.pid, *kids_a]) and first[inodes[1]] == [b.pid]
        # A child exits; another process starts holding a new socket.
        os.kill(kids_a[0], signal.SIGKILL)
        # Not our child: it stays a zombie (no fds) until its parent reaps it.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and os.path.exists(f"/proc/{kids_a[0]}/fd/3"):
            time.sleep(0.05)
        c, port_c, kids_c = _start(1)
        try:
            inodes.append(_inode(port_c))
            second = _pids(inc, inodes)
            assert second == _pids(OwnerMap(), inodes)
            assert kids_a[0] not in second[inodes[0]]
            assert second[inodes[2]] == sorted([c.pid, *kids_c])
        finally:
            for k in kids_c:
                os.kill(k, signal.SIGKILL)
            c.kill()
            c.wait()
    finally:
        for k in kids_a + kids_b:
            with contextlib.suppress(ProcessLookupError):
                os.kill(k, signal.SIGKILL)
        for p in (a, b):
            p.kill()
            p.wait()
    assert inc.full_scans == 1  # the first refresh; everything after was incremental


HOLDER = """
import os, socket, sys
listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen(5)
pairs = [socket.socketpair() for _ in range(1000)]  # a busy daemon's connected sockets
print(os.fstat(listener.fileno()).st_ino, os.fstat(pairs[0][0].fileno()).st_ino, flush=True)
sys.stdin.read()
"""


def test_only_the_inodes_asked_for_are_kept() -> None:
    # A real process holding one listener and 2,000 connected sockets: the map keeps the listener,
    # not the connections (at 100k sockets that index was ~36 MB); an inode asked for later
    # (a socket that became a listener) is still found.
    p = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        listener, paired = (int(x) for x in p.stdout.readline().split())
        om = OwnerMap()
        assert [x.pid for x in om.refresh([listener]).by_inode[listener]] == [p.pid]
        assert set(om.snapshot_index()) == {listener}
        assert [x.pid for x in om.refresh([listener, paired]).by_inode[paired]] == [p.pid]
    finally:
        p.kill()
        p.wait()
