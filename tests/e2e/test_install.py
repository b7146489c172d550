"""The quick start's install from a fresh clone, the man page, completion in a real bash, and an
uninstall that leaves no file behind (tests/e2e/install_in_namespace.py, in a private mount
namespace so that the machine's own install is untouched)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_install_man_completion_and_uninstall_on_a_fresh_clone() -> None:
    if os.geteuid() != 0:
        pytest.skip("installs as root (sudo scripts/install)")
    work = Path(tempfile.mkdtemp(prefix="mbtop-install-"))
    try:
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", sys.executable,
             str(REPO / "tests" / "e2e" / "install_in_namespace.py"), str(REPO), str(work)],
            capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        for step in ("installed: /usr/local/bin/mbtop", "prometheus files ok", "completion ok", "uninstall ok"):
            assert step in done.stdout
    finally:
        shutil.rmtree(work, ignore_errors=True)
