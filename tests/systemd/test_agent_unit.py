"""The agent as the unit mbtop ships (mbtop/share/systemd/mbtop-agent.service), under the real
systemd: start, reload (SIGHUP), Restart=on-failure after kill -9, stop — with the recording intact.

Only ExecStart is replaced (a drop-in): it runs this checkout's interpreter instead of
/opt/mbtop/bin/mbtop. When the checkout lives under /tmp (CI's clones), the drop-in also turns off
PrivateTmp, or the unit could not see its own interpreter; every other hardening line is the
shipped one.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator

import pytest

from tests.systemd.conftest import REPO, Gateway

UNIT = "mbtop-agent.service"
SHIPPED = REPO / "mbtop" / "share" / "systemd" / UNIT
DB = "/var/lib/mbtop/mbtop.db"
READ = (
    "import json, sys; from pathlib import Path; from mbtop.engine.store import Recording; "
    "r = Recording(Path(sys.argv[1])); print(json.dumps({'span': r.span(), 'count': r.count()}))"
)


def _recording(gw: Gateway) -> dict:
    out = gw.run(sys.executable, "-c", READ, DB, check=False)
    assert out.returncode == 0, f"{out.stderr}\nthe agent's journal:\n{_journal(gw)}"
    return json.loads(out.stdout)


def _frames(gw: Gateway) -> int:
    """Frames recorded so far; 0 while the recording does not exist yet."""
    if gw.run("test", "-e", DB, check=False).returncode != 0:
        return 0
    return int(_recording(gw)["count"])


def _main_pid(gw: Gateway) -> int:
    return int(gw.show(UNIT, "MainPID")["MainPID"])


def _journal(gw: Gateway) -> str:
    return gw.run("journalctl", "--no-pager", "-o", "cat", "-u", UNIT).stdout


@pytest.fixture(scope="module")
def agent(gateway: Gateway) -> Iterator[Gateway]:
    gateway.install_unit(UNIT, SHIPPED.read_text())
    lines = ["[Service]", "ExecStart=", f"ExecStart={sys.executable} -m mbtop agent --interval 1"]
    if str(REPO).startswith("/tmp/") or sys.executable.startswith("/tmp/"):
        lines.append("PrivateTmp=false")
    gateway.run("mkdir", "-p", f"/etc/systemd/system/{UNIT}.d")
    gateway.run("tee", f"/etc/systemd/system/{UNIT}.d/test.conf", input="\n".join(lines) + "\n")
    gateway.run("systemctl", "daemon-reload")
    gateway.run("systemctl", "start", UNIT)
    try:
        yield gateway
    finally:
        gateway.run("systemctl", "stop", UNIT, check=False)


def test_the_unit_runs_the_agent_and_records(agent: Gateway) -> None:
    agent.wait("the agent active", lambda: agent.show(UNIT, "ActiveState")["ActiveState"] == "active")
    pid = _main_pid(agent)

    def cmdline() -> list[str]:  # '(python)' until systemd's child has exec'd
        return agent.run("cat", f"/proc/{pid}/cmdline", check=False).stdout.split("\0")

    agent.wait("the agent's command line", lambda: cmdline()[1:4] == ["-m", "mbtop", "agent"])
    agent.wait("three frames recorded", lambda: _frames(agent) >= 3, seconds=40)
    modes = agent.run("stat", "-c", "%a %U", "/var/lib/mbtop", DB).stdout.split("\n")
    assert modes[0] == "700 root" and modes[1] == "600 root", modes
    # The viewers' socket, under ProtectSystem=strict: the unit's RuntimeDirectory, root-only.
    serving = agent.run("stat", "-c", "%a %U %F", "/run/mbtop", "/run/mbtop/agent.sock").stdout.split("\n")
    assert serving[0] == "700 root directory" and serving[1] == "600 root socket", serving
    journal = _journal(agent)
    assert f"recording to {DB}" in journal and "started: a frame every 1 s" in journal, journal
    # journald stamps each line itself: the agent adds no timestamp of its own under systemd
    assert not any(line[:4].isdigit() and line[4] == "-" for line in journal.splitlines()), journal


def test_reload_is_sighup_and_keeps_the_process(agent: Gateway) -> None:
    agent.wait("the agent active", lambda: agent.show(UNIT, "ActiveState")["ActiveState"] == "active")
    pid = _main_pid(agent)
    agent.run("systemctl", "reload", UNIT)
    agent.wait("the reload logged", lambda: "config reloaded" in _journal(agent))
    assert _main_pid(agent) == pid


def test_kill_9_restarts_it_and_the_recording_survives(agent: Gateway) -> None:
    agent.wait("three frames recorded", lambda: _frames(agent) >= 3, seconds=40)
    before = _recording(agent)
    pid = _main_pid(agent)
    killed_at = time.time()
    agent.run("kill", "-9", str(pid))
    # Restart=on-failure, RestartSec=5: a new main pid within a few seconds more
    agent.wait("a new agent", lambda: _main_pid(agent) not in (0, pid), seconds=30)
    assert agent.show(UNIT, "NRestarts")["NRestarts"] != "0"
    agent.wait("recording again", lambda: _recording(agent)["span"][1] > killed_at + 1, seconds=40)
    after = _recording(agent)
    assert after["span"][0] == before["span"][0]  # nothing recorded before the kill was lost
    assert after["count"] > before["count"]


def test_stop_is_clean(agent: Gateway) -> None:
    agent.wait("the agent active", lambda: agent.show(UNIT, "ActiveState")["ActiveState"] == "active")
    agent.run("systemctl", "stop", UNIT)
    props = agent.show(UNIT, "ActiveState", "Result")
    assert props == {"ActiveState": "inactive", "Result": "success"}, props
    journal = _journal(agent)
    assert "recording closed:" in journal and "stopped" in journal, journal
    assert _recording(agent)["count"] >= 3
    agent.run("systemctl", "start", UNIT)  # for whatever runs after
