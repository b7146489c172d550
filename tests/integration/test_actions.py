"""Actions on the real stack and in private namespaces: each changes the real thing, is checked
against the system (ss, stat, a real connection) and leaves one audit line."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mbtop.actions.safety import Refused, fix_socket, signal_process, start_ticks, wait_exit
from tests.conftest import require_root_netns
from tests.support import stack as st
from tests.support.fwlab import OUT4, OUT4B, SRV4, Lab, fw_lab
from tests.support.netns import REPO, Holder, Netns, parse_ss_tanp

RPCD = "/var/run/mailborder/mb-rpcd.sock"


@pytest.fixture
def root_dir() -> Iterator[Path]:
    """A directory only root can write (audit logs are written only where no one else can swap them)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="mbtop-audit-", dir="/run"))
    os.chmod(path, 0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def audit(root_dir: Path) -> Iterator[tuple[Path, Path]]:
    """A config whose audit log is a fresh file: (config, log)."""
    log = root_dir / "audit" / "actions.log"
    cfg = root_dir / "mbtop.toml"
    cfg.write_text(f'audit_log = "{log}"\n')
    os.chmod(cfg, 0o644)
    yield cfg, log


def mbtop(*args: str, config: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "mbtop", *args] + (["--config", str(config)] if config else [])
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO, stdin=subprocess.DEVNULL)


def audit_lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def ended(log: Path) -> list[dict]:
    """The last line of each action: its result. Every action that ran also has a "started" line
    before it, with the same id."""
    lines = audit_lines(log)
    started = {x["id"]: x for x in lines if x["result"] == "started"}
    out = [x for x in lines if x["result"] != "started"]
    for x in out:
        if x["result"] != "refused":
            first = started.pop(x["id"])
            assert lines.index(first) < lines.index(x) and first["argv"] == x["argv"], (first, x)
    assert not started, f"actions that never ended: {started}"
    return out


def listen_pids(port: int) -> set[int]:
    rows = parse_ss_tanp(subprocess.run(["ss", "-tlnpH", f"sport = :{port}"], capture_output=True, text=True).stdout)
    return {pid for r in rows for pid in r["pids"]}


@pytest.fixture
def stack() -> None:
    st.require_stack()


@pytest.mark.parametrize(("service", "port"), [("nginx", 443), ("redis", 6379)])
def test_restart_gives_a_new_pid_and_the_port_back(
    stack: None, audit: tuple[Path, Path], service: str, port: int
) -> None:
    cfg, log = audit
    before = listen_pids(port)
    assert before
    out = mbtop("restart", service, "--yes", config=cfg)
    assert out.returncode == 0, out.stdout + out.stderr
    after = listen_pids(port)
    assert after and not (after & before), (before, after)
    # (the lab binds 443 to loopback: a warning, not a failure)
    assert f"now: port {port}: OK" in out.stdout or f"now: port {port}: WARNING — public port" in out.stdout
    [line] = ended(log)
    assert line["action"] == "restart" and line["target"] == service and line["result"] == "done"
    assert line["argv"][0] in (["service", "nginx", "restart"], ["service", "redis-server", "restart"])
    assert line["user"]


def test_fix_perms_fixes_real_sockets(stack: None, audit: tuple[Path, Path]) -> None:
    cfg, log = audit
    with st.socket_perms(RPCD, "root", 0o666):
        os.chown("/var/run/clamav/clamd.sock", 0, 0)
        dry = mbtop("fix-perms", "--dry-run", config=cfg)
        assert dry.returncode == 0 and "chown mailborder:mailborder and chmod 0660" in dry.stdout
        assert stat.S_IMODE(os.stat(RPCD).st_mode) == 0o666 and not log.exists()  # a dry run changes nothing
        out = mbtop("fix-perms", "--yes", config=cfg)
        assert out.returncode == 0, out.stdout + out.stderr
        s = os.stat(RPCD)
        assert (s.st_uid, s.st_gid, stat.S_IMODE(s.st_mode)) == (
            shutil._get_uid("mailborder"),  # type: ignore[attr-defined]
            shutil._get_gid("mailborder"),  # type: ignore[attr-defined]
            0o660,
        )
        c = os.stat("/var/run/clamav/clamd.sock")
        assert (c.st_uid, c.st_gid) == (shutil._get_uid("clamav"), shutil._get_gid("clamav"))  # type: ignore[attr-defined]
        assert "LocalSocketMode" in out.stdout  # the fix for good, not only the chmod
    assert [(x["target"], x["result"]) for x in ended(log)] == [
        (RPCD, "done"),
        ("/var/run/clamav/clamd.sock", "done"),
    ]


def test_fix_perms_refuses_a_symlink_and_leaves_its_target_alone(
    stack: None, audit: tuple[Path, Path], tmp_path: Path
) -> None:
    cfg, log = audit
    target = tmp_path / "secret"
    target.write_text("root only\n")
    os.chmod(target, 0o600)
    st.kill_standin("mb-rpcd")
    Path(RPCD).unlink(missing_ok=True)
    os.symlink(target, RPCD)
    try:
        out = mbtop("fix-perms", RPCD, "--yes", config=cfg)
        assert out.returncode == 1
        assert "is a symlink" in out.stdout and "never follows it" in out.stdout
        t = os.stat(target)
        assert (t.st_uid, t.st_gid, stat.S_IMODE(t.st_mode)) == (0, 0, 0o600)
        assert os.path.islink(RPCD)
        [line] = audit_lines(log)  # refused: it never started
        assert line["result"] == "refused" and "symlink" in line["detail"]
    finally:
        Path(RPCD).unlink(missing_ok=True)
        st.restore()


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """A directory only root can write, like /run/php (not under /tmp, which everyone can write)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="mbtop-test-", dir="/run"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_fix_socket_rechecks_at_run_time(run_dir: Path) -> None:
    """The plan saw a socket; by run time it is a symlink, or another socket: both refused, nothing changed."""
    tmp_path = run_dir
    os.chmod(tmp_path, 0o755)
    path = tmp_path / "s.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(path))
    planned = os.stat(path).st_ino
    victim = tmp_path / "victim"
    victim.write_text("x")
    os.chmod(victim, 0o600)
    path.unlink()
    os.symlink(victim, path)
    with pytest.raises(Refused, match="symlink"):
        fix_socket(str(path), 65534, 65534, 0o666, "root", "root", planned)
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o600 and os.stat(victim).st_uid == 0
    path.unlink()
    other = socket.socket(socket.AF_UNIX)
    other.bind(str(path))
    with pytest.raises(Refused, match="replaced since the plan"):
        fix_socket(str(path), 65534, 65534, 0o666, "root", "root", planned)
    hard = tmp_path / "hard.sock"
    os.link(path, hard)
    with pytest.raises(Refused, match="hard links"):
        fix_socket(str(path), 65534, 65534, 0o666, "root", "root")
    os.chmod(tmp_path, 0o777)
    with pytest.raises(Refused, match="writable by everyone"):
        fix_socket(str(hard), 65534, 65534, 0o666, "root", "root")
    srv.close()
    other.close()


def test_a_reused_pid_is_never_signalled() -> None:
    proc = subprocess.Popen(["sleep", "30"])
    try:
        ticks = start_ticks(proc.pid)
        assert ticks is not None
        with pytest.raises(Refused, match="another process"):
            signal_process(proc.pid, ticks + 1, 15)  # as if the planned process had been replaced
        time.sleep(0.2)
        assert proc.poll() is None
        assert signal_process(proc.pid, ticks, 15) == "sent"
        assert proc.wait(5) == -15
    finally:
        proc.kill()


def test_free_port_stops_the_squatter_and_the_daemon_takes_the_port(stack: None, audit: tuple[Path, Path]) -> None:
    cfg, log = audit
    with st.squatter_on(6379, "redis-server") as squatter:
        assert listen_pids(6379) == {squatter.pid}
        refused = mbtop("free-port", "25", "--yes", config=cfg)  # held by postfix: the right one
        assert refused.returncode == 1 and "documented service" in refused.stderr
        out = mbtop("free-port", "6379", "--start", "--yes", config=cfg)
        assert out.returncode == 0, out.stdout + out.stderr
        assert squatter.proc.wait(5) is not None
        pids = listen_pids(6379)
        names = {Path(f"/proc/{p}/comm").read_text().strip() for p in pids}
        assert names == {"redis-server"}
        assert "now: port 6379: OK" in out.stdout
    assert [(x["action"], x["target"], x["result"]) for x in ended(log)] == [
        ("free-port", "25", "refused"),
        ("free-port", "6379", "done"),
    ]


def test_read_only_and_not_root_are_refused_and_audited(
    stack: None, audit: tuple[Path, Path], root_dir: Path, run_dir: Path
) -> None:
    cfg, log = audit
    out = mbtop("--read-only", "restart", "nginx", "--yes", config=cfg)
    assert out.returncode == 1 and "read-only" in out.stderr
    ro_cfg = root_dir / "ro.toml"
    ro_cfg.write_text(f'read_only = true\naudit_log = "{log}"\n')
    out = mbtop("block", "203.0.113.9", "--yes", config=ro_cfg)
    assert out.returncode == 1 and "read-only" in out.stderr
    no_tty = mbtop("restart", "nginx", config=cfg)  # no --yes and nobody at a terminal
    assert no_tty.returncode == 1 and "--yes" in no_tty.stderr
    # Not root: a real run as nobody, with an audit log it can write.
    os.chmod(run_dir, 0o755)
    user_dir = run_dir / "nobody"
    user_dir.mkdir()
    user_cfg = user_dir / "c.toml"
    user_cfg.write_text(f'audit_log = "{user_dir}/actions.log"\n')
    pkg = run_dir / "pkg"
    shutil.copytree(REPO / "mbtop", pkg / "mbtop", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["chmod", "-R", "a+rX", str(run_dir)], check=True)
    shutil.chown(user_dir, "nobody", "nogroup")
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "env", f"PYTHONPATH={pkg}"]
    done = subprocess.run(
        [*as_nobody, "/usr/bin/python3", "-m", "mbtop", "restart", "nginx", "--yes", "--config", str(user_cfg)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and "needs root" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    [line] = audit_lines(user_dir / "actions.log")
    assert line["result"] == "refused" and line["user"] == "nobody"
    assert [x["result"] for x in audit_lines(log)] == ["refused"] * 3


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_root_netns()
    with fw_lab() as lab_:
        yield lab_


@pytest.mark.parametrize("backend", ["nftables", "ufw", "iptables"])
def test_block_and_unblock_with_a_real_connection(lab: Lab, backend: str, root_dir: Path) -> None:
    if backend == "ufw":
        lab.srv_sh("ufw --force reset >/dev/null; ufw default deny incoming; ufw allow 80/tcp; ufw --force enable")
    elif backend == "iptables":
        lab.srv_sh("iptables -A INPUT -p tcp --dport 80 -j ACCEPT; iptables -A INPUT -p tcp --dport 25 -j ACCEPT")
    log = root_dir / "log" / "actions.log"
    cfg = root_dir / "c.toml"
    cfg.write_text(f'audit_log = "{log}"\n')
    with Holder(lab.srv_argv(), {"name": "nginx", "listen": [["0.0.0.0", 80]]}):
        assert lab.connect([(OUT4, SRV4, 80), (OUT4B, SRV4, 80)]) == ["open", "open"]
        out = lab.mbtop("block", OUT4, "--yes", "--config", str(cfg))
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"with {backend}" in out.stdout
        assert "now: port 80: new connections from 10.77.0.2/32 are dropped" in out.stdout
        assert lab.connect([(OUT4, SRV4, 80), (OUT4B, SRV4, 80)]) == ["timeout", "open"]
        again = lab.mbtop("firewall", "--json")
        port80 = next(p for p in json.loads(again.stdout)["ports"] if p["port"] == 80)
        assert OUT4 in port80["except"]
        out = lab.mbtop("unblock", OUT4, "--yes", "--config", str(cfg))
        assert out.returncode == 0, out.stdout + out.stderr
        assert lab.connect([(OUT4, SRV4, 80), (OUT4B, SRV4, 80)]) == ["open", "open"]
        refused = lab.mbtop("block", "127.0.0.1", "--yes", "--config", str(cfg))
        assert refused.returncode == 1 and "loopback" in refused.stderr
    assert [(x["action"], x["result"]) for x in ended(log)] == [
        ("block", "done"),
        ("unblock", "done"),
        ("block", "refused"),
    ]


def test_block_refuses_the_operators_own_ssh_address(lab: Lab, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'audit_log = "{tmp_path}/a.log"\n')
    out = lab.srv_sh(
        f"cd {REPO} && SSH_CONNECTION='{OUT4} 50000 {SRV4} 22' {sys.executable} -m mbtop block {OUT4}/24 --yes "
        f"--config {cfg}",
        check=False,
    )
    assert out.returncode == 1 and "your SSH session" in out.stderr


def test_a_process_whose_start_time_is_unknown_is_never_signalled() -> None:
    proc = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(Refused, match=r"start time of pid \d+ was not known"):
            signal_process(proc.pid, 0, 15)
        with pytest.raises(Refused, match="start time"):
            wait_exit(proc.pid, 0, 0.1)
        time.sleep(0.2)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


SQUATTER = """
import ctypes, signal, socket, sys
ctypes.CDLL(None).prctl(15, b"squatter", 0, 0, 0)
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # holds on until SIGKILL
s = socket.socket()
s.bind(("127.0.0.1", 6379))
s.listen()
print("ready", flush=True)
sys.stdin.read()
"""


def test_the_start_line_is_in_the_audit_log_before_anything_runs(ns: Netns, root_dir: Path) -> None:
    """A killed mbtop (here in the middle of free-port's grace period) leaves the start line."""
    log = root_dir / "actions.log"
    cfg = root_dir / "c.toml"
    cfg.write_text(f'audit_log = "{log}"\n')
    squatter = subprocess.Popen(
        ns.argv(sys.executable, "-c", SQUATTER), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert squatter.stdout is not None and squatter.stdout.readline().strip() == "ready"
        argv = ["free-port", "6379", "--grace", "60", "--yes", "--no-firewall", "--no-health", "--config", str(cfg)]
        action = subprocess.Popen(ns.argv(sys.executable, "-m", "mbtop", *argv), cwd=REPO, stdout=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while not audit_lines(log) and time.monotonic() < deadline and action.poll() is None:
            time.sleep(0.05)
        time.sleep(0.3)  # SIGTERM sent and ignored: mbtop is waiting out the grace period
        assert action.poll() is None, "mbtop ended before it could be killed"
        action.kill()
        action.wait(10)
        [line] = audit_lines(log)
        assert line["result"] == "started" and line["action"] == "free-port" and line["target"] == "6379"
        assert line["user"] and line["id"]
        assert any(a[:2] == ["(signal)", f"send SIGTERM to squatter (pid {squatter.pid})"] for a in line["argv"])
        assert "SIGKILL" in line["detail"]  # the whole plan, as previewed
    finally:
        squatter.kill()
        squatter.wait()


def test_the_audit_log_is_written_only_where_no_one_but_root_can_change_its_path(root_dir: Path) -> None:
    require_root_netns()
    from mbtop.actions import audit
    from mbtop.actions.plan import Plan

    plan = Plan("restart", "nginx", "restart nginx")
    good = root_dir / "ok" / "actions.log"
    assert audit.write(plan, "refused", "test", good) is None and audit_lines(good)
    shared = root_dir / "shared"
    shared.mkdir(mode=0o775)
    os.chmod(shared, 0o775)  # group-writable: a member could swap the log for a link
    deeper = shared / "mbtop" / "actions.log"
    problem = audit.write(plan, "refused", "test", deeper)
    assert problem is not None and "writable by group or others" in problem and not deeper.parent.exists()
    os.chmod(shared, 0o755)
    os.chown(shared, 65534, 65534)  # someone else's directory
    problem = audit.write(plan, "refused", "test", shared / "actions.log")
    assert problem is not None and "owned by uid 65534" in problem
    assert not (shared / "actions.log").exists()
    tmp_log = Path(tempfile.mkdtemp(prefix="mbtop-audit-")) / "actions.log"  # under /tmp (1777)
    try:
        os.chmod(tmp_log.parent, 0o700)
        problem = audit.write(plan, "refused", "test", tmp_log)
        assert problem is not None and "/tmp is writable by group or others" in problem and not tmp_log.exists()
    finally:
        shutil.rmtree(tmp_log.parent)
    link = root_dir / "link"
    link.symlink_to(shared)  # the resolved chain is checked too
    problem = audit.write(plan, "refused", "test", link / "actions.log")
    assert problem is not None and "owned by uid 65534" in problem
