"""Two network namespaces joined by a veth pair: a gateway with a firewall and a client.

The gateway ("srv") gets 10.77.0.1 and fd77::1 on ``vsrv``; the client ("cli")
gets 10.77.0.2, 10.77.0.3 and 192.168.1.5 (a "cluster" address), fd77::2 and
fd77:1::5 on ``vcli``.  Connections from the client are real TCP handshakes
through the gateway's netfilter; nothing touches the host's own firewall.

ufw writes /etc/ufw and /etc/default/ufw even inside ``ip netns exec``
(../shared/notes/stack.md), so every ufw command, and mbtop reading ufw's rule
files, runs in a private mount namespace with copies bind-mounted over them.
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

REPO = Path(__file__).resolve().parents[2]

SRV4, SRV6 = "10.77.0.1", "fd77::1"
OUT4, OUT4B, CLUSTER4 = "10.77.0.2", "10.77.0.3", "192.168.1.5"
OUT6, OTHER6 = "fd77::2", "fd77:1::5"

PROBE = r"""
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor
jobs = json.loads(sys.argv[1])
def one(job):
    src, dst, port = job
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(1.5)
    try:
        s.bind((src, 0))
        s.connect((dst, port))
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except (TimeoutError, socket.timeout):
        return "timeout"
    except OSError as exc:
        return "error: %s" % exc
    finally:
        s.close()
serial = len(sys.argv) > 2
if serial:
    print(json.dumps([one(j) for j in jobs]))
else:
    with ThreadPoolExecutor(64) as pool:
        print(json.dumps(list(pool.map(one, jobs))))
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Lab:
    srv: str
    cli: str
    etc: Path  # private copy of /etc/ufw
    default: Path  # private copy of /etc/default/ufw

    def srv_sh(self, script: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a shell script in the gateway's namespace with ufw's files private."""
        wrapped = (
            f"mount --bind {shlex.quote(str(self.etc))} /etc/ufw && "
            f"mount --bind {shlex.quote(str(self.default))} /etc/default/ufw && {script}"
        )
        return subprocess.run(
            ["ip", "netns", "exec", self.srv, "unshare", "-m", "sh", "-c", wrapped],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def mbtop(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = " ".join(shlex.quote(a) for a in (sys.executable, "-m", "mbtop", *args))
        return self.srv_sh(f"cd {shlex.quote(str(REPO))} && {argv}", check=False)

    def firewall(self, *args: str) -> dict:
        out = self.mbtop("firewall", "--json", *args)
        if out.returncode not in (0,):
            raise AssertionError(f"mbtop firewall failed ({out.returncode}): {out.stderr}")
        return json.loads(out.stdout)

    def connect(self, jobs: Sequence[tuple[str, str, int]], serial: bool = False) -> list[str]:
        """Try each (source, destination, port) from the client; 'open', 'refused' or 'timeout'."""
        argv = ["ip", "netns", "exec", self.cli, sys.executable, "-c", PROBE, json.dumps(list(jobs))]
        if serial:
            argv.append("serial")
        out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120)
        return list(json.loads(out.stdout))

    def srv_argv(self) -> list[str]:
        return ["ip", "netns", "exec", self.srv]


@contextmanager
def fw_lab() -> Iterator[Lab]:
    tag = uuid.uuid4().hex[:6]
    srv, cli = f"mbfw-s-{tag}", f"mbfw-c-{tag}"
    tmp = Path(tempfile.mkdtemp(prefix="mbtop-ufw-"))
    etc, default = tmp / "etc-ufw", tmp / "default-ufw"
    shutil.copytree("/etc/ufw", etc, symlinks=True)
    shutil.copy2("/etc/default/ufw", default)
    try:
        _ip("netns", "add", srv)
        _ip("netns", "add", cli)
        for ns in (srv, cli):
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("link", "add", "vsrv", "netns", srv, "type", "veth", "peer", "name", "vcli", "netns", cli)
        _ip("-n", srv, "addr", "add", f"{SRV4}/24", "dev", "vsrv")
        _ip("-n", srv, "-6", "addr", "add", f"{SRV6}/64", "dev", "vsrv", "nodad")
        _ip("-n", srv, "link", "set", "vsrv", "up")
        _ip("-n", srv, "route", "add", "192.168.1.0/24", "dev", "vsrv")
        _ip("-n", srv, "-6", "route", "add", "fd77:1::/64", "dev", "vsrv")
        for addr in (f"{OUT4}/24", f"{OUT4B}/24", f"{CLUSTER4}/24"):
            _ip("-n", cli, "addr", "add", addr, "dev", "vcli")
        for addr in (f"{OUT6}/64", f"{OTHER6}/64"):
            _ip("-n", cli, "-6", "addr", "add", addr, "dev", "vcli", "nodad")
        _ip("-n", cli, "link", "set", "vcli", "up")
        _ip("-n", cli, "route", "add", "default", "dev", "vcli")
        _ip("-n", cli, "-6", "route", "add", "default", "dev", "vcli")
        yield Lab(srv, cli, etc, default)
    finally:
        subprocess.run(["ip", "netns", "delete", srv], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "delete", cli], check=False, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
