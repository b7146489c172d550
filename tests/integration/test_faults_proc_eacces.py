"""Fault: /proc reads refused. A real run as ``nobody`` under a private /proc mounted with
``hidepid=1`` (as on a hardened gateway): every other user's /proc/PID/{stat,status,cmdline} and
fd/ are EPERM, the same PermissionError as EACCES. ``snapshot --json`` completes, the listener and
its state are shown, its owner is unknown with the reason, and nothing of another user's process
is made up."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.netns import REPO, Holder, Netns


@pytest.fixture
def pkgdir() -> Iterator[Path]:
    """A copy of the package that ``nobody`` can read."""
    d = Path(tempfile.mkdtemp(prefix="mbtop-faults-"))
    shutil.copytree(REPO / "mbtop", d / "mbtop", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["chmod", "-R", "a+rX", str(d)], check=True)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_eacces_on_other_users_proc_entries_is_said_not_crashed(ns: Netns, pkgdir: Path) -> None:
    spec = {"name": "redis-server", "listen": [["127.0.0.1", 6379]], "connect": [["127.0.0.7", "127.0.0.1", 6379, 2]]}
    with Holder(ns.argv(), spec) as holder:
        script = (
            "mount -t proc -o hidepid=1 proc /proc && "
            f'exec setpriv --reuid=nobody --regid=nogroup --clear-groups env PYTHONPATH={pkgdir} "$@"'
        )
        out = ns.run(
            "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
            "/usr/bin/python3", "-m", "mbtop", "snapshot", "--json", "--no-health", "--no-firewall",
            check=False,
        )  # fmt: skip
        probe = ns.run(
            "unshare", "--mount", "--propagation", "private", "sh", "-c",
            "mount -t proc -o hidepid=1 proc /proc && exec setpriv --reuid=nobody --regid=nogroup --clear-groups "
            f"sh -c 'cat /proc/{holder.pid}/stat; ls /proc/{holder.pid}/fd'",
            check=False,
        )  # fmt: skip
    # The fault is real: the entries are listed, and reading them is refused.
    assert f"/proc/{holder.pid}/stat: Operation not permitted" in probe.stderr, probe
    assert f"'/proc/{holder.pid}/fd': Operation not permitted" in probe.stderr, probe
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    snap = json.loads(out.stdout)
    assert snap["root"] is False
    [port] = [p for p in snap["ports"] if p["port"] == 6379]
    assert port["listening"] and port["connections"]["by_state"] == {"ESTABLISHED": 2}
    assert [(lst["pid"], lst["process"]) for lst in port["listeners"]] == [(None, None)]
    assert any("not root" in n and "owners" in n for n in snap["notes"]), snap["notes"]
    redis = [s for s in snap.get("services", []) if s.get("name") in ("redis", "redis-server")]
    assert all(s.get("pid") != holder.pid for s in redis), redis  # nothing read from a process it cannot see
