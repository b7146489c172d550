"""Follow a log file across rotation without losing, duplicating or garbling a line.

``Follower`` is the synchronous core: call ``poll()`` whenever the file may have
changed and it returns the complete lines appended since the last call.  It
survives rename rotation (logrotate ``create``, ``postfix logrotate``),
``copytruncate``, delete-and-recreate and a file that appears only later; it
holds a partial last line until its newline, replaces invalid UTF-8, cuts
lines over 64 KiB with a marker, and keeps memory bounded.  ``follow()`` is the
asyncio driver: it wakes on inotify events for the file's directory (and on a
slow timer as a safety net) and yields batches of lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import os
import stat
import struct
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

MAX_LINE = 64 * 1024
CHUNK = 64 * 1024
CUT_MARKER = " …[line cut at 64 KiB]"
FINGERPRINT = 64  # bytes compared at the start of the file to notice a truncate-and-refill
RETIRED_GRACE = 2.0  # seconds a rotated-away file is still drained (writers reopen late)


class LogUnavailable(OSError):
    """The path exists but cannot be followed (not a regular file, permission denied); str() says why."""


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    line_no: int  # 1-based, counted over everything this follower has returned
    truncated: bool = False


class _Reader:
    """One open file: its fd, position and the bytes of a line not yet complete."""

    def __init__(self, fd: int, pos: int) -> None:
        self.fd = fd
        st = os.fstat(fd)
        self.ino, self.dev = st.st_ino, st.st_dev
        self.pos = pos
        self.partial = bytearray()
        self.skipping = False  # inside a line longer than MAX_LINE: drop until its newline
        self.fingerprint = os.pread(fd, FINGERPRINT, 0)
        self.retired_at: float | None = None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class Follower:
    def __init__(self, path: str, backfill: int = 200, from_start: bool = False) -> None:
        self.path = path
        self.backfill = backfill
        self.from_start = from_start
        self._cur: _Reader | None = None
        self._retired: list[_Reader] = []
        self._count = 0
        self.status = "not opened"
        self.error: str | None = None
        self.rotations = 0
        self._opened_once = False
        self.history_lines = 0  # lines returned by the initial backfill: the past, not new activity
        self._first_poll = True

    # -- opening ----------------------------------------------------------------------------
    def _open(self, first: bool) -> _Reader | None:
        flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
        unsafe = untrusted_directory(self.path)
        if unsafe:
            flags |= os.O_NOFOLLOW  # whoever can write the directory could point the log at /etc/shadow
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:
            self.status = "waiting for the file to appear"
            return None
        except OSError as exc:
            if unsafe and exc.errno == errno.ELOOP:
                self.status = f"refused: {self.path} is a symbolic link and {unsafe}: not following it"
                self.error = self.status
                return None
            self.status = f"cannot open: {exc.strerror}"
            self.error = self.status
            return None
        self.error = None
        if not _is_regular(fd):
            os.close(fd)
            self.status = "not a regular file"
            self.error = self.status
            return None
        pos = 0
        if first and not self.from_start:
            pos = _backfill_start(fd, self.backfill)
        self._opened_once = True
        self.status = "following"
        return _Reader(fd, pos)

    # -- reading ----------------------------------------------------------------------------
    def _drain(self, r: _Reader, out: list[Line], final: bool = False) -> int:
        """Read everything from r's position; complete lines go to ``out``. Returns bytes read."""
        total = 0
        while True:
            try:
                data = os.pread(r.fd, CHUNK, r.pos)
            except OSError:
                break
            if not data:
                break
            r.pos += len(data)
            total += len(data)
            self._split(r, data, out)
        if final and r.partial and not r.skipping:
            # The file is gone for good: a last line without its newline is still a line.
            self._emit(bytes(r.partial), out, False)
            r.partial.clear()
        return total

    def _split(self, r: _Reader, data: bytes, out: list[Line]) -> None:
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                piece = data[start:]
                if r.skipping:
                    return
                room = MAX_LINE - len(r.partial)
                if len(piece) > room:
                    r.partial += piece[:room]
                    self._emit(bytes(r.partial), out, True)
                    r.partial.clear()
                    r.skipping = True
                else:
                    r.partial += piece
                return
            piece = data[start:nl]
            start = nl + 1
            if r.skipping:
                r.skipping = False
                continue
            if r.partial:
                piece = bytes(r.partial) + piece
                r.partial.clear()
            if len(piece) > MAX_LINE:
                self._emit(piece[:MAX_LINE], out, True)
            else:
                self._emit(piece, out, False)

    def _emit(self, raw: bytes, out: list[Line], cut: bool) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        text = raw.decode("utf-8", "replace")
        if cut:
            text += CUT_MARKER
        self._count += 1
        out.append(Line(text, self._count, cut))

    def poll(self) -> list[Line]:
        out: list[Line] = []
        now = time.monotonic()
        # Files rotated away are drained first: their lines are older than the new file's.
        for r in list(self._retired):
            got = self._drain(r, out)
            if not got and now - (r.retired_at or now) > RETIRED_GRACE:
                self._drain(r, out, final=True)
                r.close()
                self._retired.remove(r)
        if self._cur is None:
            # Backfill only a file that was there when we started; one that appears later is all news.
            first, self._first_poll = self._first_poll, False
            self._cur = self._open(first=first)
            if self._cur is not None:
                self._drain(self._cur, out)
                if first and not self.from_start and out:
                    self.history_lines = out[-1].line_no  # already in the file: the past, not new activity
            return out
        cur = self._cur
        # Truncation first: after a copytruncate our offset points into different data.
        if self._truncated(cur):
            self.rotations += 1
            self._recover_from_copy(cur, out)
            cur.pos = 0
            cur.partial.clear()
            cur.skipping = False
            cur.fingerprint = os.pread(cur.fd, FINGERPRINT, 0)
        self._drain(cur, out)
        if len(cur.fingerprint) < FINGERPRINT:
            cur.fingerprint = os.pread(cur.fd, FINGERPRINT, 0)
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.status = "file removed; waiting for a new one"
            return out
        except OSError as exc:
            self.status = f"cannot stat: {exc.strerror}"
            return out
        if (st.st_ino, st.st_dev) != (cur.ino, cur.dev):
            # Renamed away (or deleted and recreated): keep draining the old one for a while.
            self.rotations += 1
            cur.retired_at = now
            self._retired.append(cur)
            self._cur = self._open(first=False)
            if self._cur is not None:
                self._drain(self._cur, out)
            return out
        self.status = "following"
        return out

    @staticmethod
    def _truncated(cur: _Reader) -> bool:
        try:
            size = os.fstat(cur.fd).st_size
            head = os.pread(cur.fd, len(cur.fingerprint), 0) if cur.fingerprint else b""
        except OSError:
            return False
        return size < cur.pos or head != cur.fingerprint

    def _recover_from_copy(self, cur: _Reader, out: list[Line]) -> None:
        directory = os.path.dirname(os.path.abspath(self.path)) or "."
        base = os.path.basename(self.path)
        try:
            names = [n for n in os.listdir(directory) if n.startswith(base) and n != base and not n.endswith(".gz")]
        except OSError:
            return
        candidates = []
        for name in names:
            full = os.path.join(directory, name)
            try:
                st = os.lstat(full)  # a rotated copy is a plain file, never a link to one
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_size >= cur.pos:
                candidates.append((st.st_mtime, full))
        for _mtime, full in sorted(candidates, reverse=True):
            try:
                fd = os.open(full, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                if os.pread(fd, len(cur.fingerprint), 0) != cur.fingerprint or not cur.fingerprint:
                    continue
                copy = _Reader(fd, cur.pos)
                copy.partial, copy.skipping = cur.partial, cur.skipping
                self._drain(copy, out, final=True)
                cur.partial = bytearray()
                return
            finally:
                os.close(fd)

    def read_all(self) -> Iterator[list[Line]]:
        """The whole file from its start, in batches of at most one chunk's lines (a one-shot read)."""
        r = self._open(first=False)
        if r is None:
            if self.error is None:
                raise FileNotFoundError(self.status)
            raise LogUnavailable(self.error)
        try:
            while True:
                out: list[Line] = []
                try:
                    data = os.pread(r.fd, CHUNK * 16, r.pos)
                except OSError as exc:
                    raise OSError(exc.errno, f"{self.path}: {exc.strerror}") from None
                if not data:
                    break
                r.pos += len(data)
                self._split(r, data, out)
                if out:
                    yield out
            tail: list[Line] = []
            self._drain(r, tail, final=True)
            if tail:
                yield tail
        finally:
            r.close()

    def close(self) -> None:
        for r in self._retired:
            r.close()
        self._retired.clear()
        if self._cur is not None:
            self._cur.close()
            self._cur = None


def untrusted_directory(path: str) -> str | None:
    """Why the directory holding ``path`` (as written or resolved) is not root's alone, or None.

    Its owner, or a group or anyone else who can write it, can replace the log with a symbolic link;
    an ancestor is a risk only when it can be written without the sticky bit or is someone else's.
    """
    parent = os.path.dirname(os.path.abspath(path)) or "/"
    for directory in dict.fromkeys((parent, os.path.realpath(parent))):
        current = directory
        immediate = True
        while True:
            try:
                st = os.stat(current)
            except OSError:
                return None  # nothing to open there anyway; the open says why
            writable = stat.S_IMODE(st.st_mode) & (stat.S_IWGRP | stat.S_IWOTH)
            sticky = st.st_mode & stat.S_ISVTX
            if st.st_uid != 0:
                return f"{current} is owned by uid {st.st_uid}"
            if writable and (immediate or not sticky):
                return f"{current} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
            if current == "/":
                break
            current, immediate = os.path.dirname(current), False
    return None


def _is_regular(fd: int) -> bool:
    return stat.S_ISREG(os.fstat(fd).st_mode)


def _backfill_start(fd: int, lines: int) -> int:
    """Offset of the start of the last ``lines`` complete lines (reading at most 4 MiB back)."""
    size = os.fstat(fd).st_size
    if lines <= 0 or size == 0:
        return size
    # Ignore a partial last line when counting; it will be read (and held) from its start anyway.
    tail = os.pread(fd, 1, size - 1)
    need = lines + (1 if tail == b"\n" else 0)
    pos = size
    limit = max(0, size - 4 * 1024 * 1024)
    found = 0
    while pos > limit:
        step = min(CHUNK, pos - limit)
        pos -= step
        block = os.pread(fd, step, pos)
        idx = len(block)
        while True:
            idx = block.rfind(b"\n", 0, idx)
            if idx < 0:
                break
            found += 1
            if found == need:
                return pos + idx + 1
    if limit == 0:
        return 0
    # Fewer lines than asked for in the window: start at the first whole line in it.
    block = os.pread(fd, CHUNK, limit)
    idx = block.find(b"\n")
    return limit + idx + 1 if idx >= 0 else size


# -- inotify -------------------------------------------------------------------------------

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_Q_OVERFLOW = 0x4000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_MASK = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name)


class Inotify:
    """The directory's inotify fd, or None where inotify cannot be had (then the timer alone wakes us)."""

    def __init__(self, directory: str) -> None:
        self.fd: int | None = None
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name, use_errno=True)
            fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
            if fd < 0:
                return
            if libc.inotify_add_watch(fd, directory.encode(), _MASK) < 0:
                os.close(fd)
                return
            self.fd = fd
        except (OSError, AttributeError):
            self.fd = None

    def drain(self, name: bytes | None = None) -> bool:
        """Read every pending event; True when one was about ``name`` (any, when None), or events were lost.

        /var/log is busy (syslog, auth, the other logs): a follower wakes only for its own file.
        """
        if self.fd is None:
            return False
        seen = False
        with contextlib.suppress(BlockingIOError, OSError):
            while buf := os.read(self.fd, 65536):
                if seen:
                    continue
                off = 0
                while off + _EVENT.size <= len(buf):
                    _wd, mask, _cookie, size = _EVENT.unpack_from(buf, off)
                    off += _EVENT.size
                    event_name = buf[off : off + size].rstrip(b"\0")
                    off += size
                    if name is None or mask & IN_Q_OVERFLOW or event_name == name:
                        seen = True
                        break
        return seen

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


COALESCE = 0.1  # s: a burst of writes (a flood logs thousands of lines a second) becomes one batch


async def follow(follower: Follower, safety_interval: float = 1.0) -> AsyncIterator[list[Line]]:
    """Yield batches of new lines: on each inotify event for the directory, and at least every second;
    an empty batch when only the follower's status changed."""
    loop = asyncio.get_running_loop()
    watch = Inotify(os.path.dirname(os.path.abspath(follower.path)) or ".")
    wake = asyncio.Event()
    fd = watch.fd

    def readable() -> None:
        # epoll is level-triggered and the events stay queued until drained: unregister at once, or
        # the loop spins on a readable inotify descriptor while the batch coalesces (a flood writes
        # thousands of lines a second; that spin took a tenth of a core and the GIL from the screen).
        if fd is not None:
            loop.remove_reader(fd)
        wake.set()

    name = os.path.basename(follower.path).encode()
    last_status = None
    try:
        while True:
            lines = follower.poll()
            if lines or follower.status != last_status:
                last_status = follower.status
                yield lines  # an empty batch tells a new status (waiting, removed, following)
            deadline = loop.time() + safety_interval
            while (left := deadline - loop.time()) > 0:
                wake.clear()
                if fd is not None:
                    loop.add_reader(fd, readable)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=left)
                if fd is not None:
                    loop.remove_reader(fd)
                if watch.drain(name):
                    await asyncio.sleep(COALESCE)
                    watch.drain()
                    break
    finally:
        if fd is not None:
            loop.remove_reader(fd)
        watch.close()
        follower.close()
