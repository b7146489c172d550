"""Process details come from psutil; the owner map's own scan and the actions' pid-reuse guard must
agree with the kernel's /proc/PID/stat field 22 to the tick (a real child process, no fake)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from mbtop.actions.safety import _zombie, start_ticks
from mbtop.probes.owners import boot_time, read_process
from mbtop.probes.services import process_table


def _stat_ticks(pid: int) -> int:
    raw = Path(f"/proc/{pid}/stat").read_bytes()
    return int(raw[raw.rindex(b")") + 2 :].split()[19])


def test_start_ticks_name_cmdline_parent_and_table_agree_with_the_kernel() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "mbtop-marker"])
    try:
        boot = boot_time()
        assert abs(boot - (time.time() - float(Path("/proc/uptime").read_text().split()[0]))) < 2
        info = read_process(child.pid, boot, lambda uid: f"u{uid}")
        assert info is not None
        assert info.start_ticks == _stat_ticks(child.pid) == start_ticks(child.pid)
        assert info.ppid == os.getpid()
        assert info.cmdline[-1] == "mbtop-marker"
        assert info.uid == os.geteuid() and info.user == f"u{os.geteuid()}"
        assert info.started is not None and abs(info.started - time.time()) < 30
        row = [p for p in process_table() if p.pid == child.pid]  # the service probe's own reader
        assert len(row) == 1 and row[0].ppid == os.getpid() and row[0].ticks == info.start_ticks
    finally:
        child.kill()
        child.wait()
    assert read_process(child.pid, boot, lambda uid: None) is None
    assert start_ticks(child.pid) is None
    assert _zombie(child.pid)


def test_the_operators_ssh_address_is_found_in_an_ancestors_environment() -> None:
    env = {"PATH": "/usr/bin:/bin", "SSH_CONNECTION": "198.51.100.7 50000 10.0.0.1 22"}
    code = "from mbtop.actions.safety import ssh_client_addresses as f; import os; print(sorted(f(os.getpid())))"
    # The grandchild runs without the variable (as under sudo); its parent shell has it.
    script = f"env -u SSH_CONNECTION {sys.executable} -c '{code}'"
    out = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, check=True)
    assert "198.51.100.7" in out.stdout
