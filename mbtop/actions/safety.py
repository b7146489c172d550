"""The operations mbtop does itself because a command could not do them safely as root.

* ``fix_socket``: change a socket file's owner, group and mode through a
  descriptor opened with ``O_PATH | O_NOFOLLOW`` (a symlink is never
  followed; the object changed is the one checked), refusing symlinks, non
  sockets, hard-linked files, a file that is not the one planned, and a path
  whose directories someone untrusted could change.
* ``signal_process``: signal a process through a pidfd after checking its
  start time, so a pid reused by another process is never signalled.
* ``ssh_client_addresses``: the address the operator is connected from, so
  "block" never locks them out.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import select
import signal
import stat
import time
from pathlib import Path


class Refused(Exception):
    """The operation must not be done; the message says why, for a person."""


def trusted_ids(owner: str, group: str) -> tuple[set[int], set[int]]:
    """Users and groups allowed to own a directory on a documented socket's path.

    root, the socket's documented owner, and the account named like its group:
    on a stock Debian the socket directories belong to the daemon's account
    (/run/php is www-data's, /run/redis redis's).  Anyone else who can write a
    directory on the path could swap the socket for something else.
    """
    uids, gids = {0}, {0}
    for name in (owner, group):
        with contextlib.suppress(KeyError):
            uids.add(pwd.getpwnam(name).pw_uid)
    with contextlib.suppress(KeyError):
        gids.add(grp.getgrnam(group).gr_gid)
    return uids, gids


def check_directories(path: str, uids: set[int], gids: set[int]) -> None:
    """Every directory from / to the socket's real parent is owned and writable only by trusted ids."""
    parent = os.path.realpath(os.path.dirname(path))
    current = "/"
    parts = [p for p in parent.split("/") if p]
    for i in range(len(parts) + 1):
        if i:
            current = os.path.join(current, parts[i - 1])
        try:
            st = os.lstat(current)
        except OSError as exc:
            raise Refused(f"cannot inspect {current}: {exc.strerror}") from None
        if not stat.S_ISDIR(st.st_mode):
            raise Refused(f"{current} is not a directory")
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid not in uids:
            raise Refused(f"{current} is owned by uid {st.st_uid}, who could replace the socket: not changing it")
        if mode & stat.S_IWOTH:
            raise Refused(f"{current} is writable by everyone (mode {mode:04o}): not changing anything under it")
        if mode & stat.S_IWGRP and st.st_gid not in gids:
            raise Refused(
                f"{current} is writable by group {st.st_gid} (mode {mode:04o}): not changing anything under it"
            )


def fix_socket(path: str, uid: int, gid: int, mode: int, owner: str, group: str, inode: int = 0) -> str:
    """Set owner, group and mode of the socket at ``path``; returns what was done."""
    check_directories(path, *trusted_ids(owner, group))
    parent = os.path.realpath(os.path.dirname(path))
    dirfd = os.open(parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fd = os.open(os.path.basename(path), os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
        except FileNotFoundError:
            raise Refused(f"{path} does not exist") from None
    finally:
        os.close(dirfd)
    try:
        st = os.fstat(fd)
        if stat.S_ISLNK(st.st_mode):
            raise Refused(f"{path} is a symlink: mbtop never follows it (remove it, then restart the service)")
        if not stat.S_ISSOCK(st.st_mode):
            raise Refused(f"{path} is not a socket: not changing it")
        if st.st_nlink != 1:
            raise Refused(f"{path} has {st.st_nlink} hard links: it may be another file too; not changing it")
        if inode and st.st_ino != inode:
            raise Refused(f"{path} was replaced since the plan was made (inode {inode} → {st.st_ino}); look again")
        before = f"{st.st_uid}:{st.st_gid} {stat.S_IMODE(st.st_mode):04o}"
        # /proc/self/fd/N names the opened inode itself: no path is resolved again.
        magic = f"/proc/self/fd/{fd}"
        os.chown(magic, uid, gid)
        os.chmod(magic, mode)
        after = os.fstat(fd)
        if (after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)) != (uid, gid, mode):
            raise Refused(f"{path}: the change did not hold (now {after.st_uid}:{after.st_gid})")
        return f"{path}: {before} → {uid}:{gid} {mode:04o}"
    finally:
        os.close(fd)


def start_ticks(pid: int, proc: Path = Path("/proc")) -> int | None:
    try:
        raw = (proc / str(pid) / "stat").read_bytes()
        return int(raw[raw.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def signal_process(pid: int, ticks: int, sig: int) -> str:
    """Signal ``pid`` only if it is still the process planned (same start time). 'sent', 'gone' or refused.

    A plan that does not know the start time (``ticks`` 0) cannot tell the process it saw from one
    that reused its pid since: it is refused, never sent on trust.
    """
    if ticks <= 0:
        raise Refused(f"the start time of pid {pid} was not known when planned: cannot confirm it is the same process")
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return "gone"
    try:
        now = start_ticks(pid)
        if now is None:
            return "gone"
        if now != ticks:
            raise Refused(f"pid {pid} now belongs to another process (started later): not signalling it")
        try:
            signal.pidfd_send_signal(pidfd, sig)
        except ProcessLookupError:
            return "gone"
        return "sent"
    finally:
        os.close(pidfd)


def wait_exit(pid: int, ticks: int, seconds: float) -> bool:
    """True when the planned process has exited within ``seconds``."""
    if ticks <= 0:
        raise Refused(f"the start time of pid {pid} was not known when planned: cannot tell whether it exited")
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if start_ticks(pid) not in (ticks, None):
            return True  # the planned process is gone; its pid is someone else's now
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if poller.poll(max(0, int(left * 1000))):
                return True
            # PID 1 on some machines reaps late: an exited process lingers as a zombie.
            if _zombie(pid):
                return True
            if left <= 0:
                return False
    finally:
        os.close(pidfd)


def _zombie(pid: int) -> bool:
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
        return raw[raw.rindex(b")") + 2 : raw.rindex(b")") + 3] == b"Z"
    except (OSError, ValueError):
        return True


def ssh_client_addresses(pid: int | None = None, depth: int = 16) -> set[str]:
    """Where the operator's SSH session comes from: SSH_CONNECTION/SSH_CLIENT of mbtop or its ancestors.

    sudo drops those variables from mbtop's own environment; the shell that ran sudo still has them.
    """
    found: set[str] = set()
    for key in ("SSH_CONNECTION", "SSH_CLIENT"):
        env = os.environ.get(key, "").split()
        if env:
            found.add(env[0])
    current = pid if pid is not None else os.getpid()
    for _ in range(depth):
        try:
            environ = Path(f"/proc/{current}/environ").read_bytes()
            raw = Path(f"/proc/{current}/stat").read_bytes()
            parent = int(raw[raw.rindex(b")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            break
        for entry in environ.split(b"\0"):
            if entry.startswith((b"SSH_CONNECTION=", b"SSH_CLIENT=")):
                value = entry.split(b"=", 1)[1].decode("utf-8", "replace").split()
                if value:
                    found.add(value[0])
        if parent <= 1:
            break
        current = parent
    return found
