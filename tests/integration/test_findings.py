"""Each finding code, from a real situation: real processes, real sockets, in a private namespace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.netns import REPO, Holder, Netns, parse_ss_xlp, write_config

NO_SOCKETS = "".join(f"[sockets.{i}]\ndisabled = true\n" for i in ("php-fpm", "mb-rpcd", "clamd", "redis"))


def _port(snap: dict, number: int) -> dict:
    return next(p for p in snap["ports"] if p["port"] == number)


def _codes(entry: dict) -> list[str]:
    return sorted(f["code"] for f in entry["findings"])


@pytest.fixture
def sockdir() -> Iterator[Path]:
    """A world-traversable directory for socket files (an unprivileged run must reach it)."""
    d = Path(tempfile.mkdtemp(prefix="mbtop-sock-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _socket_config(
    tmp: Path, path: Path, owner: str = "root", group: str = "root", mode: str = "0660", required: bool = True
) -> Path:
    text = "".join(f"[sockets.{i}]\ndisabled = true\n" for i in ("php-fpm", "clamd", "redis"))
    text += (
        f'[sockets.mb-rpcd]\npath = "{path}"\nowner = "{owner}"\ngroup = "{group}"\nmode = "{mode}"\n'
        f"required = {'true' if required else 'false'}\n"
    )
    return write_config(tmp / "c.toml", text)


def _rpcd(snap: dict) -> dict:
    return next(s for s in snap["sockets"] if s["id"] == "mb-rpcd")


def test_foreign_process_holding_6379_is_unexpected_owner(ns: Netns, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.toml", NO_SOCKETS)
    with Holder(ns.argv(), {"name": "python3", "listen": [["127.0.0.1", 6379]]}) as squatter:
        snap = ns.snapshot("--config", str(cfg))
    port = _port(snap, 6379)
    assert _codes(port) == ["unexpected-owner"]
    f = port["findings"][0]
    assert f["severity"] == "critical"
    assert f"pid {squatter.pid}" in f["message"] and "python3" in f["message"]
    assert port["listeners"][0]["pid"] == squatter.pid and port["listeners"][0]["expected"] is False
    assert any(g["code"] == "unexpected-owner" and g["port"] == 6379 for g in snap["findings"])


def test_loopback_service_on_wildcard_is_exposed(ns: Netns, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.toml", NO_SOCKETS)
    with Holder(ns.argv(), {"name": "redis-server", "listen": [["0.0.0.0", 6379], ["::", 6379]]}):
        snap = ns.snapshot("--config", str(cfg))
    port = _port(snap, 6379)
    assert _codes(port) == ["exposed-bind"]
    assert "0.0.0.0" in port["findings"][0]["message"] and "::" in port["findings"][0]["message"]
    # The same daemon on 127.0.0.1 is fine: the finding is about the bind, nothing else.
    with Holder(ns.argv(), {"name": "redis-server", "listen": [["127.0.0.1", 6379]]}):
        assert _codes(_port(ns.snapshot("--config", str(cfg)), 6379)) == []


def test_socket_with_wrong_owner_and_mode(ns: Netns, tmp_path: Path, sockdir: Path) -> None:
    path = sockdir / "rpcd.sock"
    cfg = _socket_config(tmp_path, path, owner="nobody", group="nogroup", mode="0660")
    with Holder(ns.argv(), {"name": "mb-rpcd", "unix": [[str(path), "listen", "0600"]]}):
        snap = ns.snapshot("--config", str(cfg))
    s = _rpcd(snap)
    assert s["exists"] and s["is_socket"] and s["accepting"]
    assert s["owner"] == "root" and s["group"] == "root" and s["mode"] == "0600"
    assert _codes(s) == ["socket-mode", "socket-owner"]
    assert all(f["severity"] == "critical" for f in s["findings"])  # 0600 lacks the group bits


def test_more_permissive_mode_is_a_warning(ns: Netns, tmp_path: Path, sockdir: Path) -> None:
    path = sockdir / "rpcd.sock"
    cfg = _socket_config(tmp_path, path, mode="0660")
    with Holder(ns.argv(), {"name": "mb-rpcd", "unix": [[str(path), "listen", "0666"]]}):
        s = _rpcd(ns.snapshot("--config", str(cfg)))
    assert _codes(s) == ["socket-mode"] and s["findings"][0]["severity"] == "warning"


def test_regular_file_and_symlink_at_socket_path(ns: Netns, tmp_path: Path, sockdir: Path) -> None:
    path = sockdir / "rpcd.sock"
    cfg = _socket_config(tmp_path, path)
    path.write_text("not a socket")
    s = _rpcd(ns.snapshot("--config", str(cfg)))
    assert _codes(s) == ["not-a-socket"] and "regular file" in s["findings"][0]["message"]
    assert s["exists"] and not s["is_socket"]
    path.unlink()
    target = sockdir / "victim"
    target.write_text("x")
    os.chmod(target, 0o600)
    path.symlink_to(target)
    s = _rpcd(ns.snapshot("--config", str(cfg)))
    assert _codes(s) == ["not-a-socket"] and "symlink" in s["findings"][0]["message"]
    assert s["kind"] == "symlink" and s["link_target"] == str(target)
    assert s["mode"] == "0777"  # lstat of the link itself, never the target's 0600
    assert (target.stat().st_mode & 0o777) == 0o600


def test_missing_socket_required_and_optional(ns: Netns, tmp_path: Path, sockdir: Path) -> None:
    path = sockdir / "rpcd.sock"
    s = _rpcd(ns.snapshot("--config", str(_socket_config(tmp_path, path))))
    assert _codes(s) == ["socket-missing"] and s["findings"][0]["severity"] == "critical"
    s = _rpcd(ns.snapshot("--config", str(_socket_config(tmp_path, path, required=False))))
    assert _codes(s) == [] and s["status"] == "ok" and not s["exists"]


def test_bound_socket_nobody_accepts_on(ns: Netns, tmp_path: Path, sockdir: Path) -> None:
    path = sockdir / "rpcd.sock"
    cfg = _socket_config(tmp_path, path, mode="0755")
    with Holder(ns.argv(), {"name": "mb-rpcd", "unix": [[str(path), "bind", "0755"]]}):
        s = _rpcd(ns.snapshot("--config", str(cfg)))
    assert _codes(s) == ["socket-not-accepting"] and not s["accepting"]


def test_stale_socket_file_left_by_a_dead_daemon(ns: Netns, tmp_path: Path, sockdir: Path) -> None:
    path = sockdir / "rpcd.sock"
    cfg = _socket_config(tmp_path, path, mode="0755")
    with Holder(ns.argv(), {"name": "mb-rpcd", "unix": [[str(path), "listen", "0755"]]}):
        assert _codes(_rpcd(ns.snapshot("--config", str(cfg)))) == []
    assert path.is_socket()  # the process exited without unlinking: the file is stale
    assert _codes(_rpcd(ns.snapshot("--config", str(cfg)))) == ["socket-not-accepting"]


def test_accepting_socket_clients_and_owner_equal_ss(ns: Netns, tmp_path: Path, sockdir: Path) -> None:
    path = sockdir / "rpcd.sock"
    cfg = _socket_config(tmp_path, path, mode="0755")
    spec = {"name": "mb-rpcd", "unix": [[str(path), "listen", "0755"]], "unix_clients": [[str(path), 3]]}
    with Holder(ns.argv(), spec) as holder:
        s = _rpcd(ns.snapshot("--config", str(cfg)))
        ss = [r for r in parse_ss_xlp(ns.run("ss", "-xlpH").stdout) if r["path"] == str(path)]
        ss_conn = ns.run("ss", "-xH", "state", "connected").stdout
    assert s["accepting"] and _codes(s) == []
    assert [lst["pid"] for lst in s["listeners"]] == ss[0]["pids"] == [holder.pid]
    assert [lst["inode"] for lst in s["listeners"]] == [ss[0]["inode"]]
    server_side = sum(1 for line in ss_conn.splitlines() if f" {path} " in f" {line} ")
    assert s["clients"] == server_side == 3


def test_unprivileged_user_sees_everything_but_other_users_owners(ns: Netns, tmp_path: Path, sockdir: Path) -> None:
    """A real run as `nobody`: listeners and states are shown, owners are unknown with the reason, once."""
    pkg = sockdir / "pkg"
    shutil.copytree(REPO / "mbtop", pkg / "mbtop", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["chmod", "-R", "a+rX", str(sockdir)], check=True)
    path = sockdir / "rpcd.sock"
    cfg = sockdir / "c.toml"
    cfg.write_text(_socket_config(tmp_path, path, mode="0755").read_text())
    os.chmod(cfg, 0o644)
    spec = {
        "name": "redis-server",
        "listen": [["127.0.0.1", 6379]],
        "connect": [["127.0.0.7", "127.0.0.1", 6379, 2]],
        "unix": [[str(path), "listen", "0755"]],
    }
    with Holder(ns.argv(), spec):
        as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "env", f"PYTHONPATH={pkg}"]
        mbtop = ["/usr/bin/python3", "-m", "mbtop", "snapshot", "--no-health", "--config", str(cfg)]
        out = ns.run(*as_nobody, *mbtop, "--json", check=False)
        text = ns.run(*as_nobody, *mbtop, check=False)
    assert out.returncode == 0, out.stderr
    snap = json.loads(out.stdout)
    assert snap["root"] is False
    port = _port(snap, 6379)
    assert port["listening"] and port["connections"]["by_state"] == {"ESTABLISHED": 2}
    assert [(lst["address"], lst["pid"], lst["process"]) for lst in port["listeners"]] == [("127.0.0.1", None, None)]
    assert _codes(port) == []  # an unknown owner is not a squatter
    s = _rpcd(snap)
    assert s["accepting"] and s["owner"] == "root"
    root_notes = [n for n in snap["notes"] if "root" in n and "owners" in n]
    assert len(root_notes) == 1
    # The firewall needs root too: said once, and its verdicts are unknown rather than guessed.
    assert [n for n in snap["notes"] if n.startswith("firewall: not root")]
    assert port["firewall"]["verdict"] == "unknown" and "not root" in port["firewall"]["reason"]
    assert text.returncode == 0 and text.stdout.count("not root") >= 1


def test_config_writable_by_others_is_refused_as_root(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the refusal applies when running as root")
    cfg = tmp_path / "c.toml"
    cfg.write_text("read_only = true\n")
    os.chmod(cfg, 0o666)
    out = subprocess.run([sys.executable, "-m", "mbtop", "check", "--config", str(cfg)], capture_output=True, text=True)
    assert out.returncode == 2 and "writable by group or others" in out.stderr
    os.chown(cfg, 65534, 65534)
    os.chmod(cfg, 0o644)
    out = subprocess.run([sys.executable, "-m", "mbtop", "check", "--config", str(cfg)], capture_output=True, text=True)
    assert out.returncode == 2 and "not root" in out.stderr
