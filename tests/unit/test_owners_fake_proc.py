"""OwnerMap on a fake /proc tree (a directory of symlinks; no real process is read).

The fd scan is mbtop's own; the processes' details come from psutil, pointed at the same tree
with its documented ``psutil.PROCFS_PATH``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psutil
import pytest

from mbtop.probes.owners import OwnerMap


def _proc(root: Path, pid: int, name: str, fds: dict[int, int], ppid: int = 1, start: int = 1000) -> None:
    d = root / str(pid)
    (d / "fd").mkdir(parents=True)
    # comm may hold spaces and ')': the parser must take the last ')'.
    tail = " 0" * 30  # psutil reads the whole line (52 fields)
    (d / "stat").write_text(f"{pid} ({name}) S {ppid} 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 {start}{tail}\n")
    (d / "status").write_text(f"Name:\t{name}\nPPid:\t{ppid}\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n")
    (d / "cmdline").write_bytes(name.encode() + b"\0--flag\0")
    for fd, inode in fds.items():
        os.symlink(f"socket:[{inode}]", d / "fd" / str(fd))
    os.symlink("/dev/null", d / "fd" / "0")


def test_owner_map_tracks_start_exit_and_reuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "PROCFS_PATH", str(tmp_path))
    (tmp_path / "stat").write_text("cpu 0\nbtime 1700000000\n")
    _proc(tmp_path, 100, "master", {12: 555})
    _proc(tmp_path, 101, "smtpd) evil (x", {12: 555, 13: 600}, ppid=100)
    om = OwnerMap(tmp_path)
    got = om.refresh([555, 600])
    assert sorted(p.pid for p in got.by_inode[555]) == [100, 101]
    assert [p.name for p in got.by_inode[600]] == ["smtpd) evil (x"]
    assert got.by_inode[555][0].cmdline == ("master", "--flag")
    assert got.by_inode[555][0].started == 1700000000 + 1000 / os.sysconf("SC_CLK_TCK")
    # 101 exits; 102 appears with the same socket (fork of master).
    shutil.rmtree(tmp_path / "101")
    _proc(tmp_path, 102, "smtpd", {12: 555}, ppid=100)
    got = om.refresh([555, 600])
    assert sorted(p.pid for p in got.by_inode[555]) == [100, 102]
    assert got.by_inode[600] == ()
    # pid 100 is reused by another program that holds another socket: the stale fd is noticed.
    shutil.rmtree(tmp_path / "100")
    _proc(tmp_path, 100, "squatter", {12: 777}, start=5000)
    got = om.refresh([555, 777])
    assert [p.pid for p in got.by_inode[555]] == [102]
    assert [(p.pid, p.name) for p in got.by_inode[777]] == [(100, "squatter")]
    full = OwnerMap(tmp_path).refresh([555, 777])
    assert {i: [p.pid for p in v] for i, v in full.by_inode.items()} == {
        i: [p.pid for p in v] for i, v in got.by_inode.items()
    }
