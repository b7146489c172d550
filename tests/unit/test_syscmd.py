"""A binary planted first in the caller's PATH is never run: every command comes from the system PATH,
with a minimal environment (under `sudo -E` or a root shell with a user's PATH, it would run as root)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mbtop import syscmd
from mbtop.actions import block
from mbtop.actions.plan import Step
from mbtop.actions.run import run_step
from mbtop.logs import journal
from mbtop.probes import fail2ban
from tests.support.netns import REPO

PLANTED = ("fail2ban-client", "journalctl", "systemctl", "service", "nft", "iptables", "ip6tables", "env", "true")


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory first in PATH whose commands each record that they ran (in ``ran``)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    ran = tmp_path / "ran"
    for name in PLANTED:
        script = bindir / name
        script.write_text(f"#!/bin/sh\necho {name} >> {ran}\necho 'Jail list: postfix'\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MBTOP_CALLER_SECRET", "from-the-caller")
    return ran


def test_probes_and_actions_never_run_a_planted_binary(planted: Path) -> None:
    fail2ban.probe()
    journal.has_postfix()
    block._nft_chain_rules()
    block._iptables_has("iptables", "203.0.113.9")
    ok, said = run_step(Step("exec", "true", argv=("true",)))
    assert ok, said
    assert syscmd.which("fail2ban-client") in (None, "/usr/bin/fail2ban-client")
    assert not planted.exists(), f"planted binaries ran: {planted.read_text()}"


def test_commands_get_the_system_path_and_nothing_of_the_callers_environment(planted: Path) -> None:
    out = syscmd.run(["env"], timeout=10, text=True)
    env = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    assert env == syscmd.ENV
    assert "MBTOP_CALLER_SECRET" not in out.stdout
    assert syscmd.which("./env") is None  # a relative path would depend on the working directory
    with pytest.raises(FileNotFoundError):
        syscmd.run(["no-such-command-anywhere"], timeout=5)


def test_the_whole_program_runs_no_planted_binary(planted: Path) -> None:
    # --sample > 0 asks fail2ban; the firewall readers are guarded by their own test
    done = subprocess.run(
        [sys.executable, "-m", "mbtop", "snapshot", "--json", "--sample", "0.2", "--no-health", "--no-firewall"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert not planted.exists(), f"planted binaries ran: {planted.read_text()}"
