"""The flight recorder's store: frames in SQLite (WAL), compressed, as deltas, bounded.

A frame is a JSON-able dict. Every ``key_every``-th frame is stored whole (a key frame); the
others as a patch against the frame before them, so a frame is rebuilt from its key frame and
at most ``key_every - 1`` patches. Payloads are JSON, zlib-compressed (bz2 from 16 kB: a flood's
log events; the reader tells them apart by their first bytes). Each frame is its own
transaction in WAL mode with ``synchronous=FULL``: a ``kill -9`` or a power cut loses at most
the frame being written, and never leaves a file that does not open.

Bounded: ``max_size`` bytes (the database and its WAL together, within 5 %) and ``keep``
seconds; the oldest key-frame groups go first (a patch without its key frame is useless), and
``auto_vacuum=INCREMENTAL`` gives the freed pages back to the filesystem.

Safe as root: the directory is created 0700 and must be owned by this user and writable by no
one else; the file is created 0600 with ``O_EXCL | O_NOFOLLOW`` (never through a symlink), and
SQLite gives its WAL and shared-memory files the database's own mode. A file that is not a
recording, is damaged, truncated, or was written by a newer format raises ``RecordingError``
with a message for a person.
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import json
import os
import sqlite3
import stat
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FORMAT = 1
APPLICATION_ID = 0x6D62_7470  # "mbtp": marks the file as an mbtop recording
_DELETED = "\u0000-"  # patch keys: removed keys of a dict; real keys never hold NUL
_NESTED = "\u0000~"  # patch keys: per-key patches of nested dicts
_SET = "\u0000="  # patch keys: keys set to a new value


class RecordingError(Exception):
    """A recording that cannot be used: the message says why, for a person."""


class DiskFull(RecordingError):
    """The recording's filesystem is full: not the recording's fault; worth trying again later."""


Frame = dict[str, Any]


def diff(old: Frame, new: Frame) -> Frame | None:
    """A patch that turns ``old`` into ``new`` (None when they are equal); lists are replaced whole."""
    sets: Frame = {}
    nested: Frame = {}
    for key, value in new.items():
        if key not in old:
            sets[key] = value
            continue
        before = old[key]
        if before == value and type(before) is type(value):
            continue
        if isinstance(value, dict) and isinstance(before, dict):
            sub = diff(before, value)
            if sub is not None:
                nested[key] = sub
        else:
            sets[key] = value
    deleted = [key for key in old if key not in new]
    if not sets and not nested and not deleted:
        return None
    patch: Frame = {}
    if sets:
        patch[_SET] = sets
    if nested:
        patch[_NESTED] = nested
    if deleted:
        patch[_DELETED] = deleted
    return patch


def apply(frame: Frame, patch: Frame) -> Frame:
    """``frame`` with ``patch`` applied (a new dict; ``frame`` is not changed)."""
    out = dict(frame)
    for key in patch.get(_DELETED, ()):
        out.pop(key, None)
    out.update(patch.get(_SET, {}))
    for key, sub in patch.get(_NESTED, {}).items():
        base = out.get(key)
        out[key] = apply(base if isinstance(base, dict) else {}, sub)
    return out


BZ2_FROM = 16 << 10  # bytes of JSON from which a payload is compressed with bz2 instead of zlib


def _encode(obj: Frame) -> bytes:
    """zlib for the usual small frame; bz2 for a big one (a flood's log events, side by side in
    columns, take half the bytes with bz2: 22.9 kB -> 11.6 kB for 3,287 events, ~15 ms of CPU).

    bz2's level is its block size (100 kB a level) and nothing else: the smallest block that holds
    the payload compresses it to as many bytes as level 9 (measured: 79,483 -> 8,271 either way),
    whose 7.6 MB of work space a call would allocate and free again for a 20 kB frame (the heap
    keeps such holes: RSS, not output)."""
    raw = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
    if len(raw) < BZ2_FROM:
        return zlib.compress(raw, 6)
    return bz2.compress(raw, min(9, len(raw) // 100_000 + 1))


def _decode(blob: bytes) -> Frame:
    try:
        raw = bz2.decompress(blob) if blob[:3] == b"BZh" else zlib.decompress(blob)
    except (OSError, EOFError) as exc:  # bz2's "Invalid data stream", a cut stream
        raise zlib.error(str(exc)) from None
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("frame is not an object")
    return value


def parse_size(text: str | int) -> int:
    """Bytes from ``2M``, ``256MB``, ``1G``, ``500k`` or a plain number."""
    if isinstance(text, int):
        return text
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    try:
        value = float(t[:-1] if mult > 1 else t)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (e.g. 2M, 256M, 1G)") from None
    if value <= 0:
        raise ValueError(f"size must be positive: {text!r}")
    return int(value * mult)


def parse_duration(text: str | float) -> float:
    """Seconds from ``10m``, ``7d``, ``12h``, ``90s`` or a plain number of seconds."""
    if isinstance(text, int | float):
        return float(text)
    t = text.strip().lower()
    mult = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}.get(t[-1:], 1)
    try:
        value = float(t[:-1] if t[-1:].isalpha() else t)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (e.g. 90s, 10m, 12h, 7d)") from None
    if value <= 0:
        raise ValueError(f"duration must be positive: {text!r}")
    return value * mult


def _safe_dir(path: Path) -> None:
    """Create the recording directory 0700, or accept an existing one only if it is ours alone."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise RecordingError(f"{path}: cannot create the recording directory: {exc.strerror}") from None
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise RecordingError(f"{path}: not a directory (a symlink is never followed)")
    if st.st_uid != os.geteuid():
        raise RecordingError(f"{path}: owned by uid {st.st_uid}, not by this user: refusing to record there")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)  # ours: make it private (a fresh mkdir under a lax umask, or an old 0755)


def _create_file(path: Path) -> None:
    """The database file, created 0600 and never through a symlink; an existing one must be ours."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        os.close(fd)
        return
    except FileExistsError:
        pass
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise RecordingError(f"{path}: cannot open: {exc.strerror} (a symlink is never followed)") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise RecordingError(f"{path}: not a regular file")
        if st.st_uid != os.geteuid():
            raise RecordingError(f"{path}: owned by uid {st.st_uid}, not by this user")
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _damaged(path: Path, exc: Exception) -> RecordingError:
    return RecordingError(f"{path}: not a readable mbtop recording ({exc}); it may be truncated or damaged")


def _check_format(db: sqlite3.Connection, path: Path, *, empty_ok: bool) -> None:
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables and empty_ok:
        return
    if app_id != APPLICATION_ID or not {"meta", "frames"} <= tables:
        raise RecordingError(f"{path}: not an mbtop recording")
    row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    fmt = int(row[0]) if row and str(row[0]).isdigit() else None
    if fmt is None:
        raise RecordingError(f"{path}: not an mbtop recording (no format)")
    if fmt > FORMAT:
        raise RecordingError(
            f"{path}: recorded in format {fmt} by a newer mbtop; this mbtop reads format {FORMAT} (upgrade mbtop)"
        )


class Store:
    """The writer: append frames; old ones are dropped to stay within ``max_size`` and ``keep``."""

    def __init__(self, path: Path, *, max_size: int = 256 << 20, keep: float = 7 * 86400.0, key_every: int = 60):
        self.path = path
        self.max_size = max_size
        self.keep = keep
        self.key_every = key_every
        self._last: Frame | None = None
        self._since_key = 0
        self._base = 0
        _safe_dir(path.parent)
        try:
            _create_file(path)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DiskFull(f"{path}: the filesystem is full") from None
            raise RecordingError(f"{path}: cannot create: {exc.strerror or exc}") from None
        try:
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._setup()
        except sqlite3.DatabaseError as exc:
            if "disk is full" in str(exc).lower():
                raise DiskFull(f"{path}: the filesystem is full ({exc})") from None
            raise _damaged(path, exc) from None

    def _setup(self) -> None:
        db = self.db
        _check_format(db, self.path, empty_ok=True)
        page = 4096
        # The WAL is checkpointed and cut back often enough that it stays a few % of the cap.
        wal_pages = max(16, min(1000, self.max_size // page // 50))
        if not db.execute("SELECT name FROM sqlite_master WHERE name = 'frames'").fetchone():
            db.execute(f"PRAGMA page_size = {page}")
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        # The writer appends and drops the oldest: a small page cache does (SQLite's default is 2 MB,
        # which a new recording fills in its first minutes: agent RSS that looks like growth).
        db.execute("PRAGMA cache_size = -512")
        db.execute(f"PRAGMA wal_autocheckpoint = {wal_pages}")
        db.execute(f"PRAGMA journal_size_limit = {wal_pages * page}")
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute(
            "CREATE TABLE IF NOT EXISTS frames (seq INTEGER PRIMARY KEY, ts REAL NOT NULL, base INTEGER NOT NULL,"
            " data BLOB NOT NULL)"
        )
        db.execute("CREATE INDEX IF NOT EXISTS frames_ts ON frames (ts)")
        db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (str(FORMAT),))
        db.execute("INSERT OR IGNORE INTO meta VALUES ('created', ?)", (str(time.time()),))

    def size(self) -> int:
        """Bytes on disk: the database file and its WAL."""
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += os.stat(str(self.path) + suffix).st_size
        return total

    def _used(self) -> int:
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * 4096)

    def append(self, ts: float, frame: Frame) -> int:
        """Store one frame; returns its sequence number."""
        key = self._last is None or self._since_key >= self.key_every
        patch = None if key else diff(self._last or {}, frame)
        blob = _encode(frame if key else (patch or {}))
        try:
            # One transaction (the connection is in autocommit mode, where ``with db:`` opens none):
            # a writer killed between the two statements left a key frame whose base was never set.
            self.db.execute("BEGIN IMMEDIATE")
            try:
                cur = self.db.execute(
                    "INSERT INTO frames (ts, base, data) VALUES (?, ?, ?)", (ts, self._base if not key else -1, blob)
                )
                seq = int(cur.lastrowid or 0)
                if key:
                    self.db.execute("UPDATE frames SET base = seq WHERE seq = ?", (seq,))
                self.db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.DatabaseError):
                    self.db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise RecordingError(f"{self.path}: cannot write: {exc}") from None
        if key:
            self._base = seq
        self._since_key = 1 if key else self._since_key + 1
        self._last = frame
        self._trim(ts)
        return seq

    def _trim(self, now: float) -> None:
        """Drop the oldest key-frame groups while over the size cap or older than ``keep``."""
        db = self.db
        budget = int(self.max_size * 0.9) - self._wal_allowance()
        dropped = False
        while True:
            first = db.execute("SELECT base FROM frames ORDER BY seq LIMIT 1").fetchone()
            if first is None or first[0] == self._base:
                break  # never the group being written
            newest = db.execute("SELECT MAX(ts) FROM frames WHERE base = ?", (first[0],)).fetchone()[0]
            if self._used() <= budget and newest is not None and newest >= now - self.keep:
                break
            with db:
                db.execute("DELETE FROM frames WHERE base = ?", (first[0],))
            dropped = True
        if dropped:
            db.execute("PRAGMA incremental_vacuum")

    def _wal_allowance(self) -> int:
        return int(self.db.execute("PRAGMA journal_size_limit").fetchone()[0])

    def close(self) -> None:
        with contextlib.suppress(sqlite3.DatabaseError):
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()


class Recording:
    """The reader: frames by time, while the writer may still be appending."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            st = os.stat(path)
        except OSError as exc:
            raise RecordingError(f"{path}: {exc.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise RecordingError(f"{path}: not a regular file")
        with open(path, "rb") as fh:
            head = fh.read(100)
        if len(head) < 100 or not head.startswith(b"SQLite format 3\x00"):
            raise RecordingError(
                f"{path}: not an mbtop recording" + (" (empty or truncated)" if len(head) < 100 else "")
            )
        try:
            self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            _check_format(self.db, path, empty_ok=False)
            self.db.execute("SELECT COUNT(*) FROM frames").fetchone()
        except sqlite3.DatabaseError as exc:
            raise _damaged(path, exc) from None
        self._cache: tuple[int, Frame] | None = None

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise _damaged(self.path, exc) from None

    def span(self) -> tuple[float, float] | None:
        """First and last frame times, or None when the recording holds none."""
        row = self._query("SELECT MIN(ts), MAX(ts) FROM frames")[0]
        return None if row[0] is None else (float(row[0]), float(row[1]))

    def count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM frames")[0][0])

    def seq_at(self, ts: float) -> int | None:
        """The last frame at or before ``ts``."""
        rows = self._query("SELECT seq FROM frames WHERE ts <= ? ORDER BY ts DESC, seq DESC LIMIT 1", (ts,))
        return int(rows[0][0]) if rows else None

    def neighbour(self, seq: int, step: int) -> int | None:
        """The frame ``step`` frames after (or before, negative) ``seq``; None past either end."""
        if step >= 0:
            rows = self._query("SELECT seq FROM frames WHERE seq > ? ORDER BY seq LIMIT 1 OFFSET ?", (seq, step - 1))
        else:
            rows = self._query(
                "SELECT seq FROM frames WHERE seq < ? ORDER BY seq DESC LIMIT 1 OFFSET ?", (seq, -step - 1)
            )
        return int(rows[0][0]) if rows and step else (seq if not step else None)

    def frame(self, seq: int) -> tuple[float, Frame]:
        """One frame, rebuilt from its key frame and the patches after it."""
        rows = self._query("SELECT base FROM frames WHERE seq = ?", (seq,))
        if not rows:
            raise RecordingError(f"{self.path}: frame {seq} is no longer in the recording")
        base = int(rows[0][0])
        if base < 0:  # a key frame whose base was never set (an older writer killed mid-write)
            base = seq
        start, frame = base, None
        if self._cache is not None and base <= self._cache[0] <= seq:
            start, frame = self._cache[0] + 1, self._cache[1]  # walking forward: reuse the last frame
        ts = 0.0
        for s, t, data in self._query(
            "SELECT seq, ts, data FROM frames WHERE (base = ? OR seq = ?) AND seq >= ? AND seq <= ? ORDER BY seq",
            (base, base, start, seq),
        ):
            try:
                payload = _decode(data)
            except (zlib.error, ValueError) as exc:
                raise _damaged(self.path, exc) from None
            frame = payload if s == base else apply(frame or {}, payload)
            ts = float(t)
        if frame is None:
            raise RecordingError(f"{self.path}: frame {seq} cannot be rebuilt (its key frame is missing)")
        if ts == 0.0:
            ts = float(self._query("SELECT ts FROM frames WHERE seq = ?", (seq,))[0][0])
        self._cache = (seq, frame)
        return ts, frame

    def at(self, ts: float) -> tuple[float, Frame] | None:
        seq = self.seq_at(ts)
        return None if seq is None else self.frame(seq)

    def between(self, start: float, end: float) -> Iterator[tuple[float, Frame]]:
        """Every frame with ``start <= ts <= end``, in order."""
        for (seq,) in self._query("SELECT seq FROM frames WHERE ts >= ? AND ts <= ? ORDER BY seq", (start, end)):
            yield self.frame(int(seq))

    def close(self) -> None:
        self.db.close()
