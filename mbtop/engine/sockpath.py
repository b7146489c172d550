"""The agent's socket file, made safely: a root-only directory, no symlink followed, one agent a socket.

``bind(path)`` creates the directory (0700) if it is missing and refuses one that is a symlink, not
a directory, or not this user's; it replaces the socket file of an agent that died (a connection
to it is refused) and refuses to start when one answers ("another agent runs"), when the path is
a symlink, or when it is some other file. The socket is created 0600 (``bind`` never follows a
symlink: it fails on any existing name). ``unlink(path, ino)`` removes it only while it is still
the one this agent made.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from pathlib import Path


class SocketPathError(Exception):
    """The agent cannot serve on this path; the message says why and what to do."""


def _directory(directory: Path) -> None:
    with contextlib.suppress(FileExistsError):
        os.mkdir(directory, 0o700)
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        why = "is a symlink" if os.path.islink(directory) else (exc.strerror or str(exc))
        raise SocketPathError(f"{directory}: {why}: refusing to serve there") from None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            raise SocketPathError(
                f"{directory} belongs to uid {st.st_uid}, not to this agent's: refusing to serve there"
            )
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.fchmod(fd, 0o700)  # ours, and no one else's business
    finally:
        os.close(fd)


def _answers(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    probe.settimeout(2.0)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError:
        return True  # it exists and did not refuse (a timeout: an agent too busy to accept)
    finally:
        probe.close()
    return True


def bind(path: Path, backlog: int = 16) -> tuple[socket.socket, int]:
    """A listening socket at ``path`` (0600, in a 0700 directory) and its inode."""
    _directory(path.parent)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if stat.S_ISLNK(st.st_mode):
            raise SocketPathError(f"{path} is a symlink: refusing to serve there (remove it if it is not yours)")
        if not stat.S_ISSOCK(st.st_mode):
            raise SocketPathError(f"{path} exists and is not a socket: refusing to replace it")
        if _answers(path):
            raise SocketPathError(f"another agent runs: {path} answers (stop it first, or give another --socket)")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # the socket of an agent that died
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    old = os.umask(0o177)  # created 0600 at once: never a moment when others could connect
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise SocketPathError(f"{path}: {exc.strerror or exc}") from None
    finally:
        os.umask(old)
    sock.listen(backlog)
    return sock, os.lstat(path).st_ino


def unlink(path: Path, ino: int) -> None:
    """Remove the socket file if it is still the one this agent made (another agent may have replaced it)."""
    with contextlib.suppress(OSError):
        if os.lstat(path).st_ino == ino:
            os.unlink(path)
