"""A real systemd for the tests: Debian's systemd booted as PID 1 of its own namespaces
(scripts/systemd/gw, i.e. `scripts/stack up --systemd`), with the documented daemons as their
packaged units and the stand-ins as units of their own.  mbtop runs *inside* it (nsenter, this
checkout's interpreter), so it meets the real systemctl, the real journal and real unit state.

The gateway is booted once for the layer and powered off at the end, whatever happened.  It shares
nothing with the host's lab stack (own network, /run, and overlays over /etc and /var): no lock.

The agent unit is installed with
``Gateway.install_unit("mbtop-agent.service", text)`` (test_agent_unit.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GW = REPO / "scripts" / "systemd" / "gw"
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Gateway:
    pid: int  # the namespace's PID 1 (systemd) as seen from the host

    def argv(self, *cmd: str) -> list[str]:
        return ["nsenter", "-t", str(self.pid), "-m", "-p", "-n", "-u", "-i", "--", "env", "-i",
                f"PATH={PATH}", "LC_ALL=C", *cmd]  # fmt: skip

    def run(
        self, *cmd: str, check: bool = True, timeout: float = 60, input: str = ""
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.argv(*cmd), capture_output=True, text=True, timeout=timeout, input=input, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} in the systemd gateway: rc {done.returncode}\n{done.stderr}")
        return done

    def popen(self, *cmd: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
        )

    def mbtop(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """This checkout's mbtop, run inside the gateway as root."""
        return self.run(sys.executable, "-m", "mbtop", *args, check=False, timeout=timeout)

    def snapshot(self) -> dict:
        out = self.mbtop("snapshot", "--json", "--sample", "0", "--no-firewall")
        assert out.returncode in (0, 1, 2), out.stderr
        return json.loads(out.stdout)

    def show(self, unit: str, *props: str) -> dict[str, str]:
        out = self.run("systemctl", "show", f"--property={','.join(props)}", "--", unit).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def listening(self, port: int) -> bool:
        return "LISTEN" in self.run("ss", "-Htln", f"sport = :{port}").stdout

    def wait(self, what: str, cond: object, seconds: float = 30) -> None:
        assert callable(cond)
        end = time.monotonic() + seconds
        while not cond():
            if time.monotonic() > end:
                raise AssertionError(f"systemd gateway: {what} within {seconds:g} s")
            time.sleep(0.2)

    def audit(self) -> list[dict]:
        text = self.run("cat", "/var/log/mbtop/actions.log", check=False).stdout
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def install_unit(self, name: str, text: str) -> None:
        """A unit file of our own (the agent's, later), then daemon-reload."""
        self.run("tee", f"/etc/systemd/system/{name}", input=text)
        self.run("systemctl", "daemon-reload")


def _kernel_refuses() -> str | None:
    """Why the kernel will not give systemd its namespaces here, or None when it will."""
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount", "--uts", "--net", "--ipc", "--mount-proc", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"unshare --pid --mount --net: {probe.stderr.strip()}"
    if not Path("/sys/fs/cgroup").is_dir():
        return "no /sys/fs/cgroup: systemd needs a cgroup hierarchy"
    return None


CANARY = Path("/tmp/mbtop-systemd-canary")


@pytest.fixture(scope="session")
def gateway() -> Iterator[Gateway]:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the systemd layer needs root (CI runs as root)")
        pytest.skip("the systemd layer needs root: it boots systemd in its own namespaces")
    refused = _kernel_refuses()
    if refused:
        pytest.skip(f"the kernel refuses to boot systemd in a namespace here: {refused}")
    if not Path("/lib/systemd/systemd").exists():
        pytest.fail("/lib/systemd/systemd is missing (apt-get install systemd; scripts/stack install)")
    try:
        # A fresh gateway every run: whatever an earlier run or a person left in one is gone.
        subprocess.run([str(GW), "down"], capture_output=True, timeout=120, check=False)
        CANARY.write_text("the host's /tmp, before the gateway booted\n")  # see test_host_untouched.py
        up = subprocess.run([str(GW), "up"], capture_output=True, text=True, timeout=300, check=False)
        if up.returncode != 0:
            pytest.fail(f"scripts/systemd/gw up failed:\n{up.stderr[-4000:]}")
        pid = int(subprocess.run([str(GW), "pid"], capture_output=True, text=True, check=True).stdout)
        yield Gateway(pid)
    finally:
        subprocess.run([str(GW), "down"], capture_output=True, timeout=120, check=False)
