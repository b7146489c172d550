"""Postfix's mail queue as Postfix reports it: ``postqueue -j`` (one JSON object a message) and the
``corrupt`` directory of the spool, which showq does not list.

Commands run from a fixed system PATH with a minimal environment, as argv lists, each within a
deadline (the process is killed when it passes). A failure is a reason, never an exception.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from mbtop import syscmd
from mbtop.syscmd import which

__all__ = ["Corrupt", "Message", "Reader", "corrupt", "postconf", "queue_directory", "which"]

QUEUE_TIMEOUT = 30.0  # seconds postqueue -j may take (100,000 messages take a few)
SHORT_TIMEOUT = 5.0  # seconds for postconf
MAX_LINE = 1 << 20  # a longer line (a message with thousands of recipients) is cut and skipped


@dataclass(frozen=True, slots=True)
class Message:
    queue: str  # maildrop, incoming, active, deferred, hold
    queue_id: str
    arrival: float  # seconds since the epoch
    size: int
    sender: str  # "" for the null sender
    recipients: tuple[tuple[str, str | None], ...]  # (address, delay reason)


@dataclass(frozen=True, slots=True)
class Corrupt:
    count: int = 0
    size: int = 0
    oldest: float | None = None  # mtime of the oldest file
    error: str | None = None


def postconf(*names: str, config_dir: str | None = None) -> dict[str, str]:
    """``postconf NAME…`` as {name: value}; names Postfix does not know are left out."""
    out: dict[str, str] = {}
    argv = ["postconf", *(["-c", config_dir] if config_dir else []), *names]
    try:
        done = syscmd.run(argv, timeout=SHORT_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition(" = ")
        if sep:
            out[key.strip()] = value.strip()
    return out


def queue_directory(config_dir: str | None = None) -> str:
    return postconf("queue_directory", config_dir=config_dir).get("queue_directory") or "/var/spool/postfix"


def _message(obj: object) -> Message | None:
    if not isinstance(obj, dict):
        return None
    queue, qid = obj.get("queue_name"), obj.get("queue_id")
    if not isinstance(queue, str) or not isinstance(qid, str):
        return None
    arrival = obj.get("arrival_time")
    size = obj.get("message_size")
    sender = obj.get("sender")
    rcpts: list[tuple[str, str | None]] = []
    raw = obj.get("recipients")
    if isinstance(raw, list):
        for r in raw:
            if isinstance(r, dict) and isinstance(r.get("address"), str):
                reason = r.get("delay_reason")
                rcpts.append((r["address"], reason if isinstance(reason, str) else None))
    return Message(
        queue=queue,
        queue_id=qid,
        arrival=float(arrival) if isinstance(arrival, int | float) and not isinstance(arrival, bool) else 0.0,
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else 0,
        sender=sender if isinstance(sender, str) else "",
        recipients=tuple(rcpts),
    )


class Reader:
    """Iterate the queue's messages from ``postqueue -j``; afterwards ``error`` says what went wrong.

    The process is killed at the deadline, so a hung showq never holds a worker for long.
    """

    def __init__(self, config_dir: str | None = None, timeout: float = QUEUE_TIMEOUT) -> None:
        self.config_dir = config_dir
        self.timeout = timeout
        self.error: str | None = None
        self.skipped = 0  # lines that were not a message (cut, not JSON)
        self.seconds = 0.0

    def __iter__(self) -> Iterator[Message]:
        argv = ["postqueue", *(["-c", self.config_dir] if self.config_dir else []), "-j"]
        start = time.monotonic()
        try:
            proc = syscmd.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except FileNotFoundError:
            self.error = f"Postfix is not installed (no postqueue on {syscmd.SYSTEM_PATH})"
            return
        except OSError as exc:
            self.error = f"postqueue -j: {exc.strerror or exc}"
            return
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            proc.kill()

        timer = threading.Timer(self.timeout, kill)
        timer.daemon = True
        timer.start()
        if proc.stdout is None or proc.stderr is None:  # not with PIPE; for the type checker
            raise RuntimeError("postqueue: no pipes")
        try:
            loads = json.loads
            for raw in proc.stdout:
                if len(raw) > MAX_LINE:
                    self.skipped += 1
                    continue
                try:
                    msg = _message(loads(raw))
                except ValueError:
                    msg = None
                if msg is None:
                    self.skipped += 1
                    continue
                yield msg
        finally:
            if proc.poll() is None and not killed.is_set():
                # The consumer stopped early: the rest is not wanted.
                proc.kill()
            err = proc.stderr.read(4096).decode("utf-8", "replace").strip()
            rc = proc.wait()
            timer.cancel()
            proc.stdout.close()
            proc.stderr.close()
            self.seconds = time.monotonic() - start
            if killed.is_set():
                self.error = f"postqueue -j did not finish in {self.timeout:g} s"
            elif rc != 0 and self.error is None:
                last = err.splitlines()[-1] if err else ""
                self.error = f"postqueue -j: exit status {rc}" + (f": {last[:200]}" if last else "")


def corrupt(queue_dir: str) -> Corrupt:
    """The files in the spool's ``corrupt`` directory (root or postfix can read it; lstat only)."""
    path = os.path.join(queue_dir, "corrupt")
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return Corrupt()
    except OSError as exc:
        return Corrupt(error=f"{path}: {exc.strerror or exc}")
    count = size = 0
    oldest: float | None = None
    for name in names[:1_000_000]:
        try:
            st = os.lstat(os.path.join(path, name))
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        count += 1
        size += st.st_size
        oldest = st.st_mtime if oldest is None else min(oldest, st.st_mtime)
    return Corrupt(count, size, oldest)
