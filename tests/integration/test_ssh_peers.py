"""block's SSH-peer protection on real sockets: in a private namespace, a process named sshd holds
an accepted connection from 127.0.0.9, another daemon one from 127.0.0.10; only the first is an
SSH peer (sshd found by psutil, its sockets by their inodes in the kernel's table)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.netns import REPO, can_netns, netns

HOLDER = r"""
import socket, sys
with open("/proc/self/comm", "w") as fh:
    fh.write(sys.argv[1])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[2]))); srv.listen(); print("ready", flush=True)
conn, _ = srv.accept(); print("accepted", flush=True)
sys.stdin.read()
"""

CHECK = r"""
import socket, subprocess, sys
holders, clients = [], []
for name, port, source in (("sshd", 2222, "127.0.0.9"), ("other-daemon", 2223, "127.0.0.10")):
    h = subprocess.Popen([sys.executable, "-c", sys.argv[1], name, str(port)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert h.stdout.readline().strip() == "ready"
    c = socket.socket(); c.bind((source, 0)); c.connect(("127.0.0.1", port))
    assert h.stdout.readline().strip() == "accepted"
    holders.append(h); clients.append(c)
from mbtop.actions.protect import ssh_peers
print(sorted(str(a) for a in ssh_peers()))
for h in holders:
    h.stdin.close(); h.wait()
"""


def test_only_the_peers_of_sshd_processes_are_ssh_peers() -> None:
    if not can_netns():
        pytest.skip("needs root and ip netns")
    with netns() as ns:
        done = subprocess.run(ns.argv(sys.executable, "-c", CHECK, HOLDER), capture_output=True, text=True,
                              cwd=REPO, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['127.0.0.9']"
