"""Documented socket paths as the filesystem has them, with ``lstat`` only."""

from __future__ import annotations

import grp
import os
import pwd
import stat
from functools import lru_cache

from mbtop.probes.types import ParentDir, SocketFile


@lru_cache(maxsize=256)
def user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


@lru_cache(maxsize=256)
def group_name(gid: int) -> str | None:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


def _kind(mode: int) -> str:
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    return "other"


def _parents(path: str) -> tuple[tuple[ParentDir, ...], str | None]:
    """Each ancestor directory from / down; the first one that cannot be read is the error.

    A directory that is a symlink (Debian's /var/run -> /run) is resolved for the
    rest of the walk, so the directories recorded are the ones really traversed.
    """
    out: list[ParentDir] = []
    cur = "/"
    for part in [p for p in os.path.dirname(path).split("/") if p]:
        cur = os.path.join(cur, part)
        try:
            st = os.lstat(cur)
            if stat.S_ISLNK(st.st_mode):
                cur = os.path.realpath(cur)
                st = os.lstat(cur)
        except FileNotFoundError:
            return tuple(out), f"directory {cur} does not exist"
        except OSError as exc:
            return tuple(out), f"cannot read {cur}: {exc.strerror}"
        out.append(ParentDir(path=cur, uid=st.st_uid, gid=st.st_gid, mode=stat.S_IMODE(st.st_mode)))
    return tuple(out), None


def probe(path: str) -> SocketFile:
    """``lstat`` the path (never following a final symlink) and its parents."""
    parents, perr = _parents(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return SocketFile(path=path, exists=False, kind=None, parents=parents, error=perr)
    except PermissionError:
        return SocketFile(
            path=path, exists=False, kind=None, parents=parents, error=perr or f"permission denied reading {path}"
        )
    except OSError as exc:
        return SocketFile(path=path, exists=False, kind=None, parents=parents, error=f"{path}: {exc.strerror}")
    kind = _kind(st.st_mode)
    target = None
    if kind == "symlink":
        try:
            target = os.readlink(path)
        except OSError:
            target = None
    return SocketFile(
        path=path,
        exists=True,
        kind=kind,
        uid=st.st_uid,
        gid=st.st_gid,
        owner=user_name(st.st_uid),
        group=group_name(st.st_gid),
        mode=stat.S_IMODE(st.st_mode),
        inode=st.st_ino,
        dev=st.st_dev,
        link_target=target,
        parents=parents,
        error=None,
    )
