"""The shipped man page and completion files are what the generators make from today's parser
(pure code: scripts/gen-share.py --check regenerates them in memory and compares)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_man_page_and_completion_are_fresh() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen-share.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_the_man_page_has_the_hand_written_sections_and_every_command() -> None:
    page = (REPO / "mbtop" / "share" / "man" / "mbtop.1").read_text()
    for heading in ("FILES", "EXIT STATUS", "EXAMPLES", "SECURITY"):
        assert f"\n.SH {heading}\n" in page, heading
    for command in ("snapshot", "check", "record", "logs", "restart", "fix-perms", "free-port", "block", "config"):
        assert command.replace("-", "\\-") in page or command in page, command
    bash = (REPO / "mbtop" / "share" / "completion" / "mbtop.bash").read_text()
    assert "25 80 443 587" in bash and "mb-rpcd" in bash and "/var/run/php/mailborder.sock" in bash
