"""Fault: the recording's filesystem fills up under a real agent. A small tmpfs, mounted in a private
mount namespace over the recording's directory and nearly filled: the agent says once that the disk
is full and goes on monitoring — its /metrics (served from each new frame) keeps counting frames."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from tests.support.netns import REPO
from tests.support.require import require

# In its own mount namespace: a 512 KiB tmpfs over the directory with 192 KiB left, then the agent.
FULL_SOON = """
set -e
mount -t tmpfs -o size=512k,mode=0700 tmpfs "$1"
dd if=/dev/zero of="$1/filler" bs=4k count=80 2>/dev/null
shift
exec "$@"
"""


# Full from the start: the agent cannot even create its recording. The filler goes after 3 s, so
# there is room when the agent tries again (RETRY, 30 s by default: MBTOP_TEST_RETRY shortens it).
FULL_NOW = """
set -e
mount -t tmpfs -o size=256k,mode=0700 tmpfs "$1"
dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null || true
(sleep 3; rm -f "$1/filler") &
shift
exec "$@"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _frames_total(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    m = re.search(r"^mbtop_frames_total (\S+)$", text, re.M)
    assert m, text[:2000]
    return float(m.group(1))


def test_a_full_recording_filesystem_is_said_and_monitoring_goes_on() -> None:
    require(subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0, "unshare -m refused")
    where = Path(tempfile.mkdtemp(prefix="mbtop-recfull-", dir="/run"))
    port = _free_port()
    argv = [
        "unshare", "-m", "--propagation", "private", "sh", "-c", FULL_SOON, "sh", str(where),
        sys.executable, "-m", "mbtop", "agent", "--no-serve", "--no-health", "--no-firewall", "--interval", "0.25",
        "--record", str(where / "rec" / "mbtop.db"), "--listen", f"127.0.0.1:{port}",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=REPO, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while not any("filesystem is full" in line for line in lines):
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "the disk never filled:\n" + "".join(lines)
            time.sleep(0.2)
        before = _frames_total(port)
        time.sleep(2)
        after = _frames_total(port)
        assert after >= before + 4, (before, after)  # frames every 0.25 s: monitoring goes on
        assert proc.poll() is None
        said = [line for line in lines if "filesystem is full" in line]
        assert len(said) == 1, said  # said once, not at every frame
        assert "monitoring goes on" in said[0] and str(where / "rec" / "mbtop.db") in said[0], said
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(5)
        subprocess.run(["rm", "-rf", str(where)], check=False)
    assert proc.returncode == 0, "".join(lines)


def test_an_agent_started_on_a_full_filesystem_monitors_and_records_once_there_is_room() -> None:
    require(subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0, "unshare -m refused")
    where = Path(tempfile.mkdtemp(prefix="mbtop-recfull-", dir="/run"))
    port = _free_port()
    db = where / "rec" / "mbtop.db"
    argv = [
        "unshare", "-m", "--propagation", "private", "sh", "-c", FULL_NOW, "sh", str(where),
        sys.executable, "-m", "mbtop", "agent", "--no-serve", "--no-health", "--no-firewall", "--interval", "0.25",
        "--record", str(db), "--listen", f"127.0.0.1:{port}",
    ]  # fmt: skip
    env = {**os.environ, "MBTOP_TEST_RETRY": "2"}
    proc = subprocess.Popen(argv, cwd=REPO, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not any(f"recording to {db}" in line for line in lines):
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "never recorded:\n" + "".join(lines)
            time.sleep(0.2)
        full = [line for line in lines if "filesystem is full" in line]
        assert len(full) == 1 and "monitoring goes on" in full[0], lines
        assert _frames_total(port) > 4  # frames all along, recorded or not
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(5)
        subprocess.run(["rm", "-rf", str(where)], check=False)
    assert proc.returncode == 0, "".join(lines)
