"""As root (or in CI) the suite cannot pass by skipping: a missing requirement fails with its reason.

Each case runs a real pytest, in a subprocess, on a small test file with this suite's conftest
(its hooks) and support code; the broken set-up is real (a stack status command that fails, no
tmux on PATH, `ip netns` missing), nothing of the machine is changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CASES = """
import pytest
from pathlib import Path

def test_plain_skip():
    pytest.skip("a reason nobody reads")

def test_stack_down(monkeypatch):
    from tests.support import stack as st
    monkeypatch.setattr(st, "STACK", Path("/bin/false"))  # `scripts/stack status` answering "down"
    st.require_stack()

def test_no_tmux(monkeypatch):
    from tests.support.tmux import Tmux
    monkeypatch.setenv("PATH", "/nonexistent")
    Tmux(["true"])

def test_no_netns(monkeypatch):
    import tests.conftest as c
    monkeypatch.setattr(c, "can_netns", lambda: False)
    c.require_root_netns()

@pytest.mark.optional_layer("a layer the README calls optional")
def test_optional():
    pytest.skip("optional layer not here")

def test_fine():
    pass
"""


Run = tuple[subprocess.CompletedProcess[str], dict]


def _run(tmp_path: Path, env_extra: dict[str, str], user: str | None = None) -> Run:
    """pytest on the cases, with this suite's conftest as a plugin; as ``user`` when given (setpriv)."""
    tmp_path.chmod(0o777)
    test = tmp_path / "test_cases.py"
    test.write_text(CASES)
    summary = tmp_path / "summary.json"
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    env.update({"MBTOP_TEST_SUMMARY": str(summary), **env_extra})
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.conftest", "-q", "-rA", str(test)]
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups", *argv]
    out = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert summary.exists(), out.stdout + out.stderr
    return out, json.loads(summary.read_text())


def test_as_root_or_in_ci_every_missing_requirement_fails_with_its_reason(tmp_path: Path) -> None:
    out, counts = _run(tmp_path, {} if os.geteuid() == 0 else {"CI": "true"})
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert counts["failed"] == 4 and counts["passed"] == 1 and counts["skipped"] == 1, (counts, text)
    assert [n.rsplit("::", 1)[1] for n in counts["optional_skipped"]] == ["test_optional"], counts
    assert "skipped while running as root (nothing may skip here): Skipped: a reason nobody reads" in text
    assert "the lab stack is not up (`scripts/stack status` exited 1" in text
    assert "tmux is not installed" in text
    assert "needs root and a working `ip netns`" in text


def test_without_root_the_same_requirements_skip(tmp_path: Path) -> None:
    """A developer's run as a user: skipped with the reasons (run as nobody when the suite is root)."""
    if os.geteuid() == 0:
        work = Path(tempfile.mkdtemp(prefix="mbtop-skips-"))  # pytest's own tmp tree is root's alone
        try:
            out, counts = _run(work, {}, user="nobody")
        finally:
            shutil.rmtree(work)
    else:
        out, counts = _run(tmp_path, {})
    assert out.returncode == 0, out.stdout + out.stderr
    assert counts["skipped"] == 5 and counts["passed"] == 1 and "failed" not in counts, counts
