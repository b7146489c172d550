"""The real stack (scripts/stack) and scenarios that break it, each restoring the healthy state."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.netns import REPO, Holder
from tests.support.require import require

STACK = REPO / "scripts" / "stack"
STATE = Path("/run/mbtop-stack")
STANDIN = REPO / "scripts" / "standins" / "mbdaemon.py"


def stack(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(STACK), *args], capture_output=True, text=True, check=check, timeout=600)


def require_stack() -> None:
    """The lab stack is up: skipped without root, a failure saying what is down as root."""
    require(os.geteuid() == 0, "the stack needs root")
    status = stack("status", check=False)
    if status.returncode != 0:
        said = (status.stdout + status.stderr).splitlines()
        down = [" ".join(line.split()) for line in said if "DOWN" in line or "MISSING" in line]
        detail = "; ".join(down or [line for line in said if line.strip()])[-600:]
        require(False, f"the lab stack is not up (`scripts/stack status` exited {status.returncode}: {detail})")


def snapshot(*args: str, sample: float = 0) -> dict:
    """`mbtop snapshot --json`; without flood rates unless ``sample`` seconds are asked for."""
    argv = [sys.executable, "-m", "mbtop", "snapshot", "--json", "--sample", str(sample), *args]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


# The lab machines run no time daemon: that finding is true there and says nothing of the stack.
LAB_FACTS = frozenset({"clock-unsynchronized"})


def problems(snap: dict, severities: tuple[str, ...] = ("critical",)) -> set[tuple[object, str]]:
    """{(port or path, code)} of the findings with the given severities (the lab's facts left out)."""
    return {
        (f["port"] if f["port"] is not None else f["path"], f["code"])
        for f in snap["findings"]
        if f["severity"] in severities and f["code"] not in LAB_FACTS
    }


def wait_until(pred, timeout: float = 60.0, interval: float = 0.25, what: str = "condition"):  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def wait_healthy(timeout: float = 90.0) -> dict:
    def healthy() -> dict | None:
        snap = snapshot()
        return None if problems(snap) else snap

    return wait_until(healthy, timeout, 0.5, "a healthy stack")


def restore() -> None:
    stack("up")
    wait_healthy()


def port_free(port: int) -> bool:
    out = subprocess.run(["ss", "-Htln", f"sport = :{port}"], capture_output=True, text=True)
    return "LISTEN" not in out.stdout


def kill_standin(name: str) -> None:
    pidfile = STATE / f"{name}.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text().strip() or 0)
        pidfile.unlink()
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            wait_until(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), 10, what=f"{name} to exit")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


class Squatter(Holder):
    """A Holder that knows when it began to listen (before the daemon's failed start, which the
    scenario waits for): timing tests start their clock there, at the event."""

    def __init__(self, port: int) -> None:
        began = time.monotonic()  # before the process exists: a clock that can only over-measure
        super().__init__([], {"name": "squatter", "listen": [["127.0.0.1", port]]})
        self.listening_at = began


@contextmanager
def squatter_on(port: int, service: str) -> Iterator[Squatter]:
    """'Port already in use': a foreign process takes the port before the daemon starts."""
    subprocess.run(["service", service, "stop"], capture_output=True, check=False)
    wait_until(lambda: port_free(port), 30, what=f"port {port} to be free")
    holder = Squatter(port)
    try:
        subprocess.run(["service", service, "start"], capture_output=True, check=False, timeout=60)
        yield holder
    finally:
        holder.close()
        subprocess.run(["service", service, "stop"], capture_output=True, check=False)
        restore()


@contextmanager
def socket_perms(path: str, owner: str, mode: int) -> Iterator[None]:
    st = os.lstat(path)
    shutil.chown(path, owner, owner)
    os.chmod(path, mode)
    try:
        yield
    finally:
        os.chown(path, st.st_uid, st.st_gid)
        os.chmod(path, st.st_mode & 0o7777)
        restore()


@contextmanager
def regular_file_at(path: str, standin: str) -> Iterator[None]:
    kill_standin(standin)
    Path(path).unlink(missing_ok=True)
    Path(path).write_text("I am not a socket\n")
    try:
        yield
    finally:
        Path(path).unlink(missing_ok=True)
        restore()


@contextmanager
def standin_on(name: str, address: str, proto: str) -> Iterator[subprocess.Popen[bytes]]:
    """Replace a Mailborder stand-in with one bound to another address."""
    kill_standin(name)
    port = int(address.rsplit(":", 1)[1])
    wait_until(lambda: port_free(port), 10, what=f"port {port} to be free")
    proc = subprocess.Popen(
        ["/usr/bin/python3", str(STANDIN), name, "--tcp", address, "--proto", proto],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: not port_free(port), 10, what=f"{name} on {address}")
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)
        restore()


@contextmanager
def daemon_stopped(service: str, port: int) -> Iterator[None]:
    subprocess.run(["service", service, "stop"], capture_output=True, check=False, timeout=60)
    wait_until(lambda: port_free(port), 30, what=f"{service} to stop")
    try:
        yield
    finally:
        restore()


@contextmanager
def silent_listener(name: str, port: int) -> Iterator[Holder]:
    """A listener with the right name that accepts connections (kernel backlog) and never answers."""
    kill_standin(name)
    wait_until(lambda: port_free(port), 10, what=f"port {port} to be free")
    holder = Holder([], {"name": name, "listen": [["127.0.0.1", port]], "no_accept": True})
    try:
        yield holder
    finally:
        holder.close()
        restore()


@contextmanager
def smtp_flood(sources: dict[str, int], port: int = 25) -> Iterator[Holder]:
    """Hold open SMTP connections from many loopback source addresses: bounded, loopback only.

    ``sources`` maps a 127.x.y.z address to its connection count; keep the total ≤ 100
    (Postfix's default process limit)."""
    assert sum(sources.values()) <= 100
    spec = {"name": "flood", "connect": [[src, "127.0.0.1", port, n] for src, n in sources.items()]}
    holder = Holder([], spec)
    try:
        yield holder
    finally:
        holder.close()
