"""Fault: the audit log's filesystem is full. A real 64 KiB tmpfs, mounted in a private mount
namespace over the audit log's directory and filled up, and a real free-port on a squatter in a
private network namespace: the action is refused before it runs, with the reason, and the squatter
is still there, still holding its port."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.netns import REPO, Netns

SQUATTER = """
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 6379))
s.listen()
print("ready", flush=True)
sys.stdin.read()
"""

# Inside its own mount namespace: a tiny tmpfs over the log's directory, filled until ENOSPC, then
# mbtop itself (argv after the script's own).
FULL_DISK = """
set -e
mount -t tmpfs -o size=64k,mode=0700 tmpfs "$1"
dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null || true
shift
exec "$@"
"""


@pytest.fixture
def root_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mbtop-faults-", dir="/run"))
    os.chmod(path, 0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_a_full_audit_filesystem_refuses_the_action_before_it_runs(ns: Netns, root_dir: Path) -> None:
    logdir = root_dir / "audit"
    logdir.mkdir(mode=0o700)
    log = logdir / "actions.log"
    cfg = root_dir / "c.toml"
    cfg.write_text(f'audit_log = "{log}"\n')
    squatter = subprocess.Popen(
        ns.argv(sys.executable, "-c", SQUATTER), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert squatter.stdout is not None and squatter.stdout.readline().strip() == "ready"
        argv = ["free-port", "6379", "--grace", "1", "--yes", "--no-firewall", "--no-health", "--config", str(cfg)]
        out = subprocess.run(
            ns.argv(
                "unshare", "--mount", "--propagation", "private", "sh", "-c", FULL_DISK, "sh", str(logdir),
                sys.executable, "-m", "mbtop", *argv,
            ),
            cwd=REPO, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        text = out.stdout + out.stderr
        assert out.returncode != 0, text
        assert "refused" in text and "start line could not be written" in text, text
        assert "No space left on device" in text, text
        # The action never ran: the squatter was not signalled and still holds its port.
        assert squatter.poll() is None, text
        held = ns.run("ss", "-tlnpH", "sport = :6379").stdout
        assert f"pid={squatter.pid}," in held, held
        assert not log.exists()  # the tmpfs (and whatever reached it) went with its namespace
    finally:
        squatter.kill()
        squatter.wait()
