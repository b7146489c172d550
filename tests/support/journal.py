"""A real journald of the test's own: systemd-journald started by hand in a private mount namespace
(tmpfs over /run/systemd, /run/log and /var/log/journal), so that `journalctl` run in that namespace
reads only what the test wrote.  This machine has no systemd as PID 1; journald runs alone."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

JOURNALD = "/lib/systemd/systemd-journald"
SETUP = (
    "set -e; mkdir -p /run/systemd /run/log; mount -t tmpfs tmpfs /run/systemd; mount -t tmpfs tmpfs /run/log; "
    "if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi; echo ready; exec sleep infinity"
)


class PrivateJournal:
    def __init__(self) -> None:
        if not Path(JOURNALD).exists():
            raise RuntimeError(f"{JOURNALD} is missing (Debian's systemd package)")
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", SETUP],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.holder.stdout is not None
        if self.holder.stdout.readline().strip() != "ready":
            err = self.holder.stderr.read() if self.holder.stderr else ""
            raise RuntimeError(f"cannot make a private mount namespace: {err}")
        self.journald = subprocess.Popen(self.argv(JOURNALD), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while subprocess.run(self.argv("test", "-S", "/run/systemd/journal/socket")).returncode != 0:
            if time.monotonic() > end or self.journald.poll() is not None:
                self.close()
                raise RuntimeError("systemd-journald did not start")
            time.sleep(0.05)

    def argv(self, *cmd: str) -> list[str]:
        """``cmd`` run in the journal's namespace."""
        return ["nsenter", "-t", str(self.holder.pid), "-m", *cmd]

    def write(self, identifier: str, message: str, facility: int = 2) -> None:
        """One entry, as Postfix's syslog() would leave it (facility 2 = mail)."""
        fields = f"MESSAGE={message}\nSYSLOG_IDENTIFIER={identifier}\nSYSLOG_FACILITY={facility}\nPRIORITY=6\n"
        subprocess.run(self.argv("logger", "--journald"), input=fields, text=True, check=True, timeout=10)

    def close(self) -> None:
        for proc in (self.journald, self.holder):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def __enter__(self) -> PrivateJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
