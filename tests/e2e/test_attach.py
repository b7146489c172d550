"""One engine per host: a real ``mbtop agent`` on the lab stack and real screens in tmux attached to
it (run under the stack lock). An engine is seen by its thread, which the kernel shows as
``mbtop-engine`` (/proc/PID/task/*/comm): the agent has one, an attached screen none."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mbtop.engine import wire
from tests.support import stack as st
from tests.support.netns import REPO
from tests.support.tmux import Tmux, mbtop_bin

CLOCK = re.compile(r"warning\s+(\d\d:\d\d:\d\d)")


@pytest.fixture(autouse=True)
def _stack() -> None:
    st.require_stack()


@contextlib.contextmanager
def agent(sock: Path, log: Path, *extra: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mbtop", "agent", "--no-record", "--socket", str(sock), "--no-health", *extra],
            cwd=REPO,
            stderr=err,
        )
    try:
        st.wait_until(lambda: "started" in log.read_text(), 30, 0.05, what="the agent started")
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(15)


def threads(pid: int) -> list[str]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out.append((task / "comm").read_text().strip())
    return out


def screen_pid(t: Tmux) -> int:
    """The mbtop process of the pane (the pane's shell may have run it as a child)."""
    todo = [t.pane_pid()]
    while todo:
        pid = todo.pop()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"mbtop" in cmd and b"python" in Path(f"/proc/{pid}/exe").resolve().name.encode():
            return pid
        for task in Path(f"/proc/{pid}/task").iterdir():
            todo += [int(c) for c in (task / "children").read_text().split()]
    raise AssertionError("no mbtop process in the pane")


def viewer(sock: Path, *extra: str) -> Tmux:
    return Tmux([mbtop_bin(), "--agent-socket", str(sock), "--interval", "1", "--no-health", *extra], 160, 40)


def test_two_screens_attached_to_one_agent_show_its_frames_and_sample_nothing(tmp_path: Path) -> None:
    sock, log = tmp_path / "run" / "agent.sock", tmp_path / "agent.log"
    with agent(sock, log) as proc, viewer(sock) as a, viewer(sock) as b, viewer(sock, "--no-attach") as own:
        for t in (a, b):
            t.wait_for("via agent", timeout=30)
        own.wait_for(CLOCK, timeout=30)
        st.wait_until(lambda: "2 attached" in log.read_text(), 10, 0.05, what="the agent counting two viewers")
        assert "mbtop-engine" in threads(proc.pid)
        assert "mbtop-engine" in threads(screen_pid(own)), "a screen with --no-attach runs its own engine"
        assert "via agent" not in own.screen()
        for t in (a, b):
            names = threads(screen_pid(t))
            assert "mbtop-attach" not in names  # a Python thread name: not the kernel's
            assert "mbtop-engine" not in names, f"an attached screen runs an engine: {names}"
        # Both show the frames the agent took: the same sample time, read while neither changes.
        for _ in range(50):
            ca, cb = CLOCK.search(a.screen()), CLOCK.search(b.screen())
            if ca and cb and ca.group(1) == cb.group(1):
                break
        else:
            raise AssertionError("the two screens never showed the same frame")


def test_agent_killed_under_a_screen_the_screen_says_so_and_samples_itself(tmp_path: Path) -> None:
    sock, log = tmp_path / "run" / "agent.sock", tmp_path / "agent.log"
    with agent(sock, log) as proc, viewer(sock) as t:
        t.wait_for("via agent", timeout=30)
        pid = screen_pid(t)
        assert "mbtop-engine" not in threads(pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        t.wait_for("own engine, agent gone", timeout=15)
        t.wait_for("the agent went away", timeout=5)  # the notification, whole
        first = CLOCK.search(t.screen())
        assert first is not None
        t.wait_for(lambda s: (c := CLOCK.search(s)) is not None and c.group(1) != first.group(1), timeout=15)
        assert not t.pane_dead()
        assert "mbtop-engine" in threads(pid)


def _fake_agent(path: Path, protocol: int) -> socket.socket:
    """An agent of another protocol: it answers every hello with its own (and nothing else)."""
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(4)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                with conn:
                    wire.receive(conn)
                    conn.sendall(wire.pack(wire.hello(protocol=protocol, version="9.9.9")))

    threading.Thread(target=serve, daemon=True).start()
    return server


def test_another_protocol_is_refused_both_ways_and_the_screen_runs_its_own_engine(tmp_path: Path) -> None:
    sock, log = tmp_path / "run" / "agent.sock", tmp_path / "agent.log"
    with agent(sock, log), socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(sock))
        s.sendall(wire.pack(wire.hello(protocol=wire.PROTOCOL + 1, version="9.9.9")))
        answer = wire.receive(s)
        assert answer["t"] == "refused"
        assert f"protocol {wire.PROTOCOL + 1}" in answer["why"] and f"speaks protocol {wire.PROTOCOL}" in answer["why"]
    fake = _fake_agent(tmp_path / "old.sock", wire.PROTOCOL + 1)
    try:
        with viewer(tmp_path / "old.sock") as t:
            screen = t.wait_for(f"speaks protocol {wire.PROTOCOL + 1}", timeout=30)
            assert "not attached to the agent" in screen
            t.wait_for(CLOCK, timeout=30)
            assert "via agent" not in t.screen()
            assert "mbtop-engine" in threads(screen_pid(t))
    finally:
        fake.close()


NOBODY_CLIENT = """
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
except OSError as exc:
    print("connect:", exc.strerror)
    sys.exit(0)
body = json.dumps({"t": "hello", "protocol": 1, "version": "x"}).encode()
try:
    s.sendall(struct.pack(">I", len(body)) + body)
except (BrokenPipeError, ConnectionResetError):
    pass  # the agent may refuse and close before our hello: its answer is still to be read
n = struct.unpack(">I", s.recv(4))[0]
print(s.recv(n).decode())
"""


def _as_nobody(sock: Path) -> str:
    out = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-I", "-c",
         NOBODY_CLIENT, str(sock)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return out.stdout


def test_a_viewer_that_is_not_root_is_refused() -> None:
    base = Path(tempfile.mkdtemp(prefix="mbtop-attach-", dir="/tmp"))  # reachable by nobody (tmp_path is not)
    try:
        os.chmod(base, 0o711)
        sock = base / "run" / "agent.sock"
        with agent(sock, base / "agent.log"):
            assert "connect: Permission denied" in _as_nobody(sock)  # the modes keep others out
            os.chmod(sock.parent, 0o711)  # and when they do not, the agent still asks who it is
            os.chmod(sock, 0o666)
            answer = _as_nobody(sock)
            assert '"t":"refused"' in answer
            assert "only root may attach" in answer
            # the agent logs the refusal after sending it: wait for the line, do not race it
            st.wait_until(lambda: "refused a viewer of uid" in (base / "agent.log").read_text(), 10, 0.05,
                          what="the refusal in the agent's log")  # fmt: skip
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_the_agent_refuses_a_symlink_and_a_second_agent(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    (run / "agent.sock").symlink_to(target / "agent.sock")
    out = subprocess.run(
        [sys.executable, "-m", "mbtop", "agent", "--no-record", "--socket", str(run / "agent.sock")],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1
    assert "is a symlink: refusing" in out.stderr
    assert list(target.iterdir()) == []
    (run / "agent.sock").unlink()
    with agent(run / "agent.sock", tmp_path / "agent.log"):
        second = subprocess.run(
            [sys.executable, "-m", "mbtop", "agent", "--no-record", "--socket", str(run / "agent.sock")],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert second.returncode == 1
        assert "another agent runs" in second.stderr


def test_an_action_from_an_attached_screen_runs_there_and_is_verified_against_the_machine(tmp_path: Path) -> None:
    """The agent samples every 60 s here: the screen's "now: … OK" can only come from its own read."""
    import json
    import shutil
    import stat

    root_only = Path(tempfile.mkdtemp(prefix="mbtop-audit-", dir="/run"))  # as in test_tui: root-only
    os.chmod(root_only, 0o700)
    audit = root_only / "audit" / "actions.log"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'audit_log = "{audit}"\n')
    path = "/var/run/mailborder/mb-rpcd.sock"
    sock, log = tmp_path / "run" / "agent.sock", tmp_path / "agent.log"
    try:
        with (
            st.socket_perms(path, "root", 0o666),
            agent(sock, log, "--interval", "60"),
            Tmux([mbtop_bin(), "--config", str(cfg), "--agent-socket", str(sock)], 120, 34) as t,
        ):
            t.wait_for("via agent", timeout=30)
            t.wait_for(re.compile(r"mb-rpcd\.sock.*0666"), timeout=20)
            t.send("2")
            t.wait_for(re.compile(r"Owner:group"), timeout=10)
            t.send("Down")  # php-fpm, then mb-rpcd
            t.send("F")
            t.wait_for("Cancel", timeout=10)
            t.send("Tab", "Enter")  # to Run
            t.wait_for(re.compile(r"now: /var/run/mailborder/mb-rpcd\.sock: OK"), timeout=15)
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
            started, done = [json.loads(x) for x in audit.read_text().splitlines()]
            assert started["result"] == "started" and done["action"] == "fix-perms" and done["result"] == "done"
            assert "via agent" in t.screen()
    finally:
        shutil.rmtree(root_only, ignore_errors=True)
