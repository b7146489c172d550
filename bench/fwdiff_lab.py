"""The differential harness's lab: a gateway namespace with two interfaces and a client across them.

``srv`` has ``sa`` (10.77.1.1, fd77:1::1) and ``sb`` (10.77.2.1, fd77:2::1),
each a veth pair to ``cli`` (``ca``/``cb``).  The client owns the whole sender
pools (172.16.0.0/12 and 2001:db8::/32 are local routes on its loopback), so
it can open a connection from any address in them; the gateway sends each
answer back over the interface its own address belongs to (a policy rule per
address), so a sender reaches the gateway over either interface.  Nothing here
touches the host's own firewall: ufw runs with private copies of /etc/ufw and
/etc/default/ufw bind-mounted in a mount namespace of its own.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IFACES = {"sa": ("10.77.1.1", "fd77:1::1"), "sb": ("10.77.2.1", "fd77:2::1")}
PEERS = {"sa": ("ca", "10.77.1.2", "fd77:1::2"), "sb": ("cb", "10.77.2.2", "fd77:2::2")}
POOL4, POOL6 = "172.16.0.0/12", "2001:db8::/32"
TIMEOUT = 0.7  # below the first SYN retransmission (1 s): every probe is exactly one SYN

LISTEN = r"""
import socket, sys, threading
ports = [int(p) for p in sys.argv[1].split(",")]
socks = []
for port in ports:
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port)); s.listen(4096); socks.append(s)
def serve(s):
    while True:
        c, _ = s.accept(); c.close()
for s in socks:
    threading.Thread(target=serve, args=(s,), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""

# The verdict judged is the SYN's: the connection counts as let in when the SYN-ACK came back, even
# if the rule set then refuses the handshake's ACK (no "established" rule) and a soft error follows.
PROBE = r"""
import errno, json, selectors, socket, sys, time
jobs = json.loads(sys.stdin.read())
timeout = float(sys.argv[1])
sel = selectors.DefaultSelector()
out = ["timeout"] * len(jobs)
for i, (src, dst, port) in enumerate(jobs):
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.bind((src, 0))
        s.connect_ex((dst, port))
    except OSError as exc:
        out[i] = "error: %s" % exc
        s.close()
        continue
    sel.register(s, selectors.EVENT_WRITE, i)
end = time.monotonic() + timeout
while sel.get_map() and time.monotonic() < end:
    for key, _ in sel.select(max(0.0, end - time.monotonic())):
        s = key.fileobj
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        try:
            s.getpeername()  # connected: the SYN was let in and answered (a later soft error is the ACK's)
            out[key.data] = "open"
        except OSError:
            # Reset after it was established (the ACK refused with a reset): the SYN itself got in.
            name = "refused" if err == errno.ECONNREFUSED else errno.errorcode.get(err, str(err))
            out[key.data] = "open" if err == errno.ECONNRESET else name
        sel.unregister(s)
        s.close()
for key in list(sel.get_map().values()):
    key.fileobj.close()
print(json.dumps(out))
"""


def _batch(ns: str | None, lines: Sequence[str]) -> None:
    """``ip -batch`` per family ("-6 ..." lines go to ``ip -6``): one process each, not one per line."""
    for fam, picked in (
        ("-4", [x for x in lines if not x.startswith("-6 ")]),
        ("-6", [x[3:] for x in lines if x.startswith("-6 ")]),
    ):
        if not picked:
            continue
        argv = ["ip", fam, *(["-n", ns] if ns else []), "-batch", "-"]
        done = subprocess.run(argv, input="\n".join(picked) + "\n", capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"ip -batch in {ns}: {done.stderr.strip()}")


@dataclass
class Lab:
    srv: str
    cli: str
    etc: Path
    default: Path

    def sh(self, script: str, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """A shell script in the gateway's namespace, ufw's files private."""
        wrapped = (
            f"mount --bind {shlex.quote(str(self.etc))} /etc/ufw && "
            f"mount --bind {shlex.quote(str(self.default))} /etc/default/ufw && {script}"
        )
        argv = ["ip", "netns", "exec", self.srv, "unshare", "-m", "sh", "-c", wrapped]
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)

    def firewall(self) -> dict:
        """``mbtop firewall --json`` run in the gateway, as an operator would."""
        argv = " ".join(shlex.quote(a) for a in (sys.executable, "-m", "mbtop", "firewall", "--json"))
        done = self.sh(f"cd {shlex.quote(str(REPO))} && {argv}")  # -m: the checkout in REPO, not the venv's
        if not done.stdout.strip():
            raise RuntimeError(f"mbtop firewall failed ({done.returncode}): {done.stderr[-2000:]}")
        return dict(json.loads(done.stdout))

    def probe(self, jobs: Sequence[tuple[str, str, int]]) -> list[str]:
        """One SYN per (source, destination, port) from the client: 'open', 'refused', 'timeout', ..."""
        argv = ["ip", "netns", "exec", self.cli, sys.executable, "-c", PROBE, str(TIMEOUT)]
        done = subprocess.run(argv, input=json.dumps(list(jobs)), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"probe failed: {done.stderr[-2000:]}")
        return list(json.loads(done.stdout))

    @contextmanager
    def listening(self, ports: Sequence[int]) -> Iterator[None]:
        argv = ["ip", "netns", "exec", self.srv, sys.executable, "-c", LISTEN, ",".join(map(str, ports))]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("listener did not start")
            yield
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.kill()
            proc.wait()


@contextmanager
def lab() -> Iterator[Lab]:
    """A fresh pair of namespaces (no conntrack entries, recent lists or rules left from before)."""
    tag = uuid.uuid4().hex[:6]
    srv, cli = f"fwd-s-{tag}", f"fwd-c-{tag}"
    tmp = Path(tempfile.mkdtemp(prefix="mbtop-fwdiff-"))
    etc, default = tmp / "etc-ufw", tmp / "default-ufw"
    shutil.copytree("/etc/ufw", etc, symlinks=True)
    shutil.copy2("/etc/default/ufw", default)
    try:
        subprocess.run(["ip", "netns", "add", srv], check=True)
        subprocess.run(["ip", "netns", "add", cli], check=True)
        for ns in (srv, cli):  # no duplicate address detection: link-local addresses usable at once
            for key in ("net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"):
                subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", key], check=True)
        mac = {i: (f"02:00:00:00:0{n}:01", f"02:00:00:00:0{n}:02") for n, i in enumerate(IFACES, 1)}
        root = [
            f"link add {i} address {mac[i][0]} netns {srv} type veth"
            f" peer name {PEERS[i][0]} address {mac[i][1]} netns {cli}"
            for i in IFACES
        ]
        _batch(None, root)
        s_lines = ["link set lo up"]
        c_lines = ["link set lo up", f"route add local {POOL4} dev lo table local"]
        c_lines.append(f"-6 route add local {POOL6} dev lo table local")
        for n, (iface, (a4, a6)) in enumerate(IFACES.items()):
            peer, p4, p6 = PEERS[iface]
            table = 101 + n
            s_lines += [
                f"addr add {a4}/24 dev {iface}",
                f"-6 addr add {a6}/64 dev {iface} nodad",
                f"link set {iface} up",
                f"route add default via {p4} dev {iface} table {table}",
                f"-6 route add default via {p6} dev {iface} table {table}",
                f"rule add from {a4} table {table} priority {table}",
                f"-6 rule add from {a6} table {table} priority {table}",
            ]
            c_lines += [f"addr add {p4}/24 dev {peer}", f"-6 addr add {p6}/64 dev {peer} nodad", f"link set {peer} up"]
            # Neighbours fixed: a rule set that drops ICMPv6 must not stop the answer (only the SYN is judged).
            s_lines.append(f"-6 neigh replace {p6} lladdr {mac[iface][1]} dev {iface} nud permanent")
            c_lines.append(f"-6 neigh replace {a6} lladdr {mac[iface][0]} dev {peer} nud permanent")
        _batch(srv, s_lines)
        _batch(cli, c_lines)
        for key in ("net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter", "net.ipv4.conf.sa.rp_filter",
                    "net.ipv4.conf.sb.rp_filter"):  # fmt: skip
            subprocess.run(["ip", "netns", "exec", srv, "sysctl", "-qw", f"{key}=0"], check=True)
        # IPv6 binds only an address on an interface, even with a local route, unless told otherwise.
        subprocess.run(["ip", "netns", "exec", cli, "sysctl", "-qw", "net.ipv6.ip_nonlocal_bind=1"], check=True)
        yield Lab(srv, cli, etc, default)
    finally:
        subprocess.run(["ip", "netns", "delete", srv], capture_output=True)
        subprocess.run(["ip", "netns", "delete", cli], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
