"""mbtop behind a terminal that drains slowly (a pty read at 2 KiB/s, like a congested SSH link):
frames are dropped rather than queued, memory stays flat, and `q` still quits promptly."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
import threading
import time
from pathlib import Path

from tests.support import stack as st
from tests.support.tmux import mbtop_bin

RATE = 2048  # bytes per second the "link" carries


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_slow_terminal_stays_responsive_and_bounded() -> None:
    st.require_stack()
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        [mbtop_bin(), "--interval", "0.5"], stdin=slave, stdout=slave, stderr=slave, env=env,
        start_new_session=True, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    received = bytearray()
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            try:
                received.extend(os.read(master, RATE // 4))
            except OSError:
                return
            time.sleep(0.25)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        time.sleep(8)
        assert proc.poll() is None, "mbtop exited"
        early = _rss_mb(proc.pid)
        time.sleep(20)
        late = _rss_mb(proc.pid)
        assert late - early < 15, (early, late)  # no queue of frames growing behind the link
        start = time.monotonic()
        os.write(master, b"q")
        proc.wait(timeout=20)
        quit_after = time.monotonic() - start
        print(f"\nslow terminal: RSS {early:.0f} → {late:.0f} MB over 20 s; 'q' → exit in {quit_after:.2f} s; "
              f"{len(received) / 28 / 1024:.2f} KiB/s reached the terminal")  # fmt: skip
        assert quit_after < 10, quit_after
        assert proc.returncode == 0
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
