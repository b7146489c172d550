"""Fault: netlink sock_diag refused. A real seccomp filter (libseccomp, loaded before exec)
makes ``socket(AF_NETLINK, *, NETLINK_SOCK_DIAG)`` fail with EPERM — what a container's seccomp
profile does — for a real ``mbtop snapshot --json`` in a private network namespace: the /proc/net
fallback is taken, the listener is still seen, and ``sources`` and ``notes`` say so.

(A truncated or garbled dump cannot be made by the kernel on demand: that is in
``tests/unit/test_sockdiag_fuzz.py``, with recorded real dumps.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.netns import REPO, Netns

# Loads a filter refusing only the sock_diag netlink socket, then execs argv[1:]: the filter is kept
# across exec, so mbtop runs under it from its first line.
SECCOMP = r"""
import ctypes, errno, os, socket, sys
lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
lib.seccomp_init.restype = ctypes.c_void_p
lib.seccomp_init.argtypes = [ctypes.c_uint32]
lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p]
lib.seccomp_load.argtypes = [ctypes.c_void_p]
class Cmp(ctypes.Structure):  # struct scmp_arg_cmp
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]
SCMP_ACT_ALLOW, SCMP_CMP_EQ, NETLINK_SOCK_DIAG = 0x7FFF0000, 4, 4
ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
rule = (Cmp * 2)(Cmp(0, SCMP_CMP_EQ, socket.AF_NETLINK, 0), Cmp(2, SCMP_CMP_EQ, NETLINK_SOCK_DIAG, 0))
nr = lib.seccomp_syscall_resolve_name(b"socket")
assert ctx and nr >= 0 and lib.seccomp_rule_add_array(ctx, 0x00050000 | errno.EPERM, nr, 2, rule) == 0
assert lib.seccomp_load(ctx) == 0
os.execv(sys.argv[1], sys.argv[1:])
"""

LISTENER = """
import socket, sys
s = socket.create_server(("127.0.0.1", 6379))
print("ready", flush=True)
sys.stdin.read()
"""


def under_seccomp(ns: Netns, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ns.argv(sys.executable, "-c", SECCOMP, sys.executable, *argv),
        capture_output=True, text=True, timeout=120, cwd=REPO, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_the_filter_really_refuses_sock_diag(ns: Netns) -> None:
    out = under_seccomp(ns, "-c", "from mbtop.probes import sockdiag; sockdiag.tcp_sockets()")
    assert out.returncode != 0 and "netlink sock_diag unavailable: Operation not permitted" in out.stderr, out.stderr
    ok = under_seccomp(ns, "-c", "import socket; socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close()")
    assert ok.returncode == 0, ok.stderr  # only sock_diag is refused: the rest of netlink still works


@pytest.mark.parametrize("refused", [False, True])
def test_snapshot_falls_back_to_proc_net_and_says_so(ns: Netns, refused: bool) -> None:
    holder = subprocess.Popen(ns.argv(sys.executable, "-c", LISTENER), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"ready"
        argv = ("-m", "mbtop", "snapshot", "--json", "--no-health", "--no-firewall")
        out = under_seccomp(ns, *argv) if refused else ns.run(sys.executable, *argv, check=False)
        assert out.stdout, out.stderr
        doc = json.loads(out.stdout)
        [redis] = [p for p in doc["ports"] if p["port"] == 6379]
        assert [lst["pid"] for lst in redis["listeners"]] == [holder.pid], redis  # seen either way
        if not refused:
            assert doc["sources"] == {"tcp": "netlink", "unix": "netlink"}
            assert not any("sock_diag" in n for n in doc["notes"])
            return
        assert doc["sources"] == {"tcp": "proc", "unix": "proc"}, doc["sources"]
        # the note says why: the kernel's answer to sock_diag, as the filter gave it
        why = "netlink sock_diag unavailable (Operation not permitted)"
        assert f"{why}: read /proc/net/tcp (no listen backlog)" in doc["notes"], doc["notes"]
        assert any(n.startswith(f"{why}: read /proc/net/unix") for n in doc["notes"]), doc["notes"]
    finally:
        holder.kill()
        holder.wait()


def test_no_netlink_is_named_as_the_reason(ns: Netns) -> None:
    argv = ("-m", "mbtop", "--no-netlink", "snapshot", "--json", "--no-health", "--no-firewall", "--sample", "0")
    out = ns.run(sys.executable, *argv, check=False)
    doc = json.loads(out.stdout)
    assert doc["sources"] == {"tcp": "proc", "unix": "proc"}
    assert "--no-netlink: read /proc/net/tcp (no listen backlog)" in doc["notes"], doc["notes"]
    assert not any("unavailable" in n for n in doc["notes"]), doc["notes"]
