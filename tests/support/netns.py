"""Private network namespaces and real socket-holding processes for integration tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SOCKPROG = Path(__file__).with_name("sockprog.py")
REPO = Path(__file__).resolve().parents[2]


def can_netns() -> bool:
    return os.geteuid() == 0 and subprocess.run(["ip", "netns", "list"], capture_output=True).returncode == 0


@dataclass
class Netns:
    name: str

    def argv(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *cmd]

    def run(
        self, *cmd: str, check: bool = True, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*cmd), capture_output=True, text=True, check=check, env=env, timeout=timeout)

    def mbtop(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "mbtop", *args, check=check)

    def snapshot(self, *args: str) -> dict:
        # These namespaces hold sockets, not daemons: protocol checks (tests/integration/test_health.py)
        # would only add a timeout per silent test listener.
        out = self.mbtop("snapshot", "--json", "--sample", "0", "--no-health", *args)
        if out.returncode != 0:
            raise AssertionError(f"mbtop snapshot failed ({out.returncode}): {out.stderr}")
        return json.loads(out.stdout)


@contextmanager
def netns() -> Iterator[Netns]:
    name = f"mbtop-t-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield Netns(name)
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


class Holder:
    """A running sockprog.py: a real process holding the sockets of a spec."""

    def __init__(self, argv: Sequence[str], spec: dict, extra: Sequence[str] = ()) -> None:
        """``extra`` arguments only show up in the process's command line (e.g. hostile text)."""
        self.proc = subprocess.Popen(
            [*argv, sys.executable, str(SOCKPROG), json.dumps(spec), *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"sockprog failed: {err}")
        info = json.loads(line)
        self.pid: int = info["pid"]
        self.tally: dict[str, int] = info["tally"]

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Holder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


SS_STATES = {
    "ESTAB": "ESTABLISHED",
    "FIN-WAIT-1": "FIN_WAIT1",
    "FIN-WAIT-2": "FIN_WAIT2",
    "UNCONN": "CLOSE",
}


def _split_addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if host == "*":
        host = "::"
    if "%" in host:
        host = host.split("%", 1)[0]
    return host, int(port) if port.isdigit() else 0


def parse_ss_tanp(text: str) -> list[dict]:
    """``ss -tanpH`` as records: state, local/peer address and port, pids, queues."""
    rows = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 5:
            continue
        state = SS_STATES.get(f[0], f[0].replace("-", "_"))
        laddr, lport = _split_addr(f[3])
        raddr, rport = _split_addr(f[4])
        pids = sorted({int(x) for x in _pids(" ".join(f[5:]))})
        rows.append(
            {
                "state": state,
                "recv_q": int(f[1]),
                "send_q": int(f[2]),
                "local": laddr,
                "lport": lport,
                "remote": raddr,
                "rport": rport,
                "pids": pids,
            }
        )
    return rows


def _pids(users: str) -> list[str]:
    out = []
    for part in users.split("pid=")[1:]:
        out.append(part.split(",", 1)[0].split(")", 1)[0])
    return out


def parse_ss_xlp(text: str) -> list[dict]:
    """``ss -xlpH``: path, inode and pids of each listening UNIX socket."""
    rows = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 8:
            continue
        rows.append({"path": f[4], "inode": int(f[5]), "pids": sorted(int(x) for x in _pids(" ".join(f[8:])))})
    return rows


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chmod(path, 0o600)
    return path
