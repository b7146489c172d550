"""The agent's viewers: its engine's frames and log batches served on a root-only Unix socket.

One engine per host, any number of viewers (``sudo mbtop`` attaches: ``mbtop.engine.attach``). The
engine's callbacks only put the frame or batch in a bounded inbox; one thread encodes each once
(only while someone watches) and offers the bytes to every viewer. Each viewer has a bounded
queue and a thread of its own that writes it: a viewer that falls behind loses the oldest items
of its queue, is told how many (``dropped``), and always gets the newest frame; nothing a viewer
does can hold up the engine or another viewer. The protocol is ``mbtop.engine.wire``.

Peers are checked with SO_PEERCRED: root (or the agent's own user) only, though the socket's mode
(0600 in a 0700 directory, ``mbtop.engine.sockpath``) already keeps others out.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mbtop import __version__
from mbtop.engine import codec, sockpath, wire
from mbtop.engine.engine import Engine, name_thread
from mbtop.engine.feeds import LogBatch
from mbtop.engine.frame import FORMAT, Frame
from mbtop.engine.history import Packed

log = logging.getLogger("mbtop.agent")

QUEUE = 32  # messages waiting for one viewer (frames and log batches): then the oldest go
INBOX = 256  # frames and batches waiting to be encoded (the encoder fell behind a flood: the oldest go)
PAST_EVENTS = 2_000  # recent log events of each kind sent to a new viewer (what its log pane keeps)
HISTORY_CHUNK = 50  # history frames a message


def _frame_json(kept: Packed | Frame) -> bytes:
    return kept.json() if isinstance(kept, Packed) else wire.pack(codec.to_json(kept))[4:]


SEND_TIMEOUT = 30.0  # seconds one message may take to a viewer before it is given up
_UCRED = struct.Struct("3i")


class Viewer:
    """One attached screen: its queue and the thread that writes it."""

    def __init__(self, server: AgentServer, conn: socket.socket, pid: int, uid: int) -> None:
        self.server = server
        self.conn = conn
        self.pid, self.uid = pid, uid
        self.queue: deque[tuple[str, bytes]] = deque()
        self.cond = threading.Condition()
        self.dropped = {"frame": 0, "logs": 0}
        self.flood_visible = False
        self.closed = False
        self.last_seq = 0

    def offer(self, kind: str, data: bytes) -> None:
        """From the encoder: never blocks; when the queue is full its oldest message goes."""
        with self.cond:
            if self.closed:
                return
            if len(self.queue) >= QUEUE:
                old, _ = self.queue.popleft()
                self.dropped[old] += 1
            self.queue.append((kind, data))
            self.cond.notify()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify()
        with contextlib.suppress(OSError):
            self.conn.shutdown(socket.SHUT_RDWR)

    def _next(self) -> tuple[str, bytes] | None:
        with self.cond:
            while not self.queue and not self.closed:
                self.cond.wait()
            if self.closed:
                return None
            dropped = {k: v for k, v in self.dropped.items() if v}
            if dropped:
                self.dropped = {"frame": 0, "logs": 0}
                return "dropped", wire.pack(
                    {"t": "dropped", "frames": dropped.get("frame", 0), "logs": dropped.get("logs", 0)}
                )
            return self.queue.popleft()

    def serve(self) -> None:
        """The viewer's thread: hello, the past, then whatever the encoder offers."""
        name_thread("mbtop-viewer")  # what serving costs, per thread, in /proc (bench/attach_cpu.py)
        try:
            self._serve()
        except (OSError, wire.WireError) as exc:
            if not self.closed:
                log.info("viewer pid %d: %s", self.pid, exc)
        finally:
            self.server.forget(self)
            self.close()
            self.conn.close()

    def _serve(self) -> None:
        conn = self.conn
        conn.settimeout(wire.HELLO_TIMEOUT)
        theirs = wire.receive(conn)
        why = wire.mismatch(theirs, "the viewer")
        if why is not None:
            log.warning("viewer pid %d refused: %s", self.pid, why)
            conn.sendall(wire.pack({"t": "refused", "why": why, "protocol": wire.PROTOCOL, "version": __version__}))
            return
        conn.settimeout(SEND_TIMEOUT)
        engine = self.server.engine
        interval = engine.interval if engine is not None else 0.0
        conn.sendall(wire.pack(wire.hello(pid=os.getpid(), interval=interval, format=FORMAT)))
        for data in self.server.past_logs():
            conn.sendall(data)
        self.server.join(self)  # from here on every frame is offered; the newest is sent first
        newest = self.server.newest()
        if newest is not None:
            conn.sendall(newest)
        threading.Thread(target=self._commands, name="mbtop-viewer-in", daemon=True).start()
        for chunk in self.server.history_chunks():
            conn.sendall(chunk)
            self._flush()
        while (item := self._next()) is not None:
            conn.sendall(item[1])

    def _flush(self) -> None:
        """Live messages that came while the history was sent (between its chunks)."""
        while True:
            with self.cond:
                if not self.queue or self.closed:
                    return
            item = self._next()
            if item is None:
                return
            self.conn.sendall(item[1])

    def _commands(self) -> None:
        """What the viewer asks: a sample now (the `r` key), fail2ban more often (its Flood tab)."""
        self.conn.settimeout(None)
        try:
            while not self.closed:
                message = wire.receive(self.conn)
                self.server.command(self, message)
        except (OSError, wire.WireError):
            self.close()


class AgentServer:
    """Serves the frames of ``engine`` (``attach`` a new one after a reload) on ``path``."""

    def __init__(self, path: Path, allowed_uids: frozenset[int] | None = None) -> None:
        self.path = path
        self.allowed = allowed_uids if allowed_uids is not None else frozenset({0, os.geteuid()})
        self.sock, self._ino = sockpath.bind(path)  # SocketPathError: refused, and why
        self.engine: Engine | None = None
        self._unsubscribe: list[Any] = []
        self._lock = threading.Lock()
        self._viewers: list[Viewer] = []
        self._inbox: deque[Frame | LogBatch] = deque(maxlen=INBOX)
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._latest: Frame | None = None
        self._latest_bytes: tuple[int, bytes] | None = None
        self._encoding = threading.RLock()  # newest() holds it around _frame_bytes
        self._past: dict[str, deque[LogBatch]] = {"mail": deque(), "web": deque()}
        self._past_count = {"mail": 0, "web": 0}
        self._status: dict[str, LogBatch] = {}  # path → the latest batch (its status) of each log
        self.frames_in = 0  # frames the engine published while this server ran
        self.frames_encoded = 0
        self.refused = 0
        self._threads = [
            threading.Thread(target=self._accept, name="mbtop-serve", daemon=True),
            threading.Thread(target=self._encode, name="mbtop-encode", daemon=True),
        ]

    def start(self) -> AgentServer:
        for t in self._threads:
            t.start()
        return self

    def attach(self, engine: Engine) -> None:
        """Serve this engine's frames (the agent's engine, or its new one after a reload)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self.engine = engine
        self._unsubscribe = [engine.subscribe(self._put), engine.subscribe_logs(self._put)]
        engine.set_flood_visible(any(v.flood_visible for v in self.viewers()))

    def close(self) -> None:
        """Tell every viewer the agent stops, hang up, remove the socket file."""
        self._stopped.set()
        self._wake.set()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        sockpath.unlink(self.path, self._ino)
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        bye = wire.pack({"t": "bye", "why": "the agent stopped"})
        for viewer in self.viewers():
            with contextlib.suppress(OSError):
                viewer.conn.settimeout(1.0)
                viewer.conn.sendall(bye)
            viewer.close()
        for t in self._threads:
            t.join(5.0)

    def viewers(self) -> list[Viewer]:
        with self._lock:
            return list(self._viewers)

    # --- from the engine's threads: never blocks --------------------------------------------------

    def _put(self, item: Frame | LogBatch) -> None:
        self._inbox.append(item)
        self._wake.set()

    # --- the encoder -------------------------------------------------------------------------------

    def _encode(self) -> None:
        name_thread("mbtop-encode")
        while not self._stopped.is_set():
            self._wake.wait()
            self._wake.clear()
            while self._inbox and not self._stopped.is_set():
                item = self._inbox.popleft()
                try:
                    self._handle(item)
                except Exception:  # one frame that cannot be encoded never ends the serving
                    log.exception("encoding for viewers failed")

    def _handle(self, item: Frame | LogBatch) -> None:
        if isinstance(item, LogBatch):
            self._remember_logs(item)
            viewers = self.viewers()
            if viewers:
                data = wire.pack({"t": "logs", "batch": codec.batch_to_json(item)})
                for v in viewers:
                    v.offer("logs", data)
            return
        self.frames_in += 1
        self._latest = item
        viewers = self.viewers()
        if viewers:  # nobody watching: nothing encoded
            data = self._frame_bytes(item)
            for v in viewers:
                v.offer("frame", data)

    def _frame_bytes(self, frame: Frame) -> bytes:
        with self._encoding:  # the encoder and a viewer at hello may want the same frame: encoded once
            cached = self._latest_bytes
            if cached is not None and cached[0] == frame.seq:
                return cached[1]
            data = wire.pack({"t": "frame", "frame": codec.to_json(codec.compact(frame))})
            self._latest_bytes = (frame.seq, data)
            self.frames_encoded += 1
            return data

    def newest(self) -> bytes | None:
        # The newest frame read under the encoder's lock: read before it, a frame the engine
        # replaced meanwhile was encoded a second time (the cache holds only the newest).
        with self._encoding:
            frame = self._latest
            return self._frame_bytes(frame) if frame is not None else None

    def _remember_logs(self, batch: LogBatch) -> None:
        self._status[batch.path] = LogBatch(batch.which, batch.path, (), batch.status, batch.history)
        if not batch.events:
            return
        past = self._past[batch.which]
        past.append(batch)
        self._past_count[batch.which] += len(batch.events)
        while len(past) > 1 and self._past_count[batch.which] - len(past[0].events) >= PAST_EVENTS:
            self._past_count[batch.which] -= len(past.popleft().events)

    def past_logs(self) -> list[bytes]:
        """The recent log events and every log's status, for a viewer's log pane (sent at hello)."""
        batches = [*self._status.values(), *self._past["mail"], *self._past["web"]]
        return [wire.pack({"t": "logs", "batch": codec.batch_to_json(b), "past": True}) for b in batches]

    def history_chunks(self) -> Iterator[bytes]:
        """The engine's history (trimmed frames of the last hour) for a viewer's hello, a message
        of HISTORY_CHUNK frames at a time: the packed frames' JSON as the engine keeps it, the last
        minute's encoded now. Nothing is cached, and only one chunk's JSON exists at a time (a cache
        of every frame's JSON held ~40 MB of the agent's memory from one viewer's hello on; the
        whole hour built at once raised the agent's RSS by ~15 MB for good)."""
        engine = self.engine
        kept = engine.past.kept() if engine is not None else []
        for i in range(0, len(kept), HISTORY_CHUNK):
            items = [_frame_json(k) for k in kept[i : i + HISTORY_CHUNK]]
            body = wire.history_body(items)
            yield struct.pack(">I", len(body)) + body

    # --- viewers -----------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                if self._stopped.is_set():
                    return
                continue
            pid, uid, _gid = _UCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
            if uid not in self.allowed:
                self.refused += 1
                log.warning("refused a viewer of uid %d (pid %d): only root may attach", uid, pid)
                with contextlib.suppress(OSError):
                    conn.settimeout(1.0)
                    why = f"only root may attach to the agent (you are uid {uid})"
                    conn.sendall(
                        wire.pack({"t": "refused", "why": why, "protocol": wire.PROTOCOL, "version": __version__})
                    )
                conn.close()
                continue
            viewer = Viewer(self, conn, pid, uid)
            threading.Thread(target=viewer.serve, name="mbtop-viewer", daemon=True).start()

    def join(self, viewer: Viewer) -> None:
        with self._lock:
            self._viewers.append(viewer)
            n = len(self._viewers)
        log.info("viewer attached (pid %d, uid %d): %d attached", viewer.pid, viewer.uid, n)

    def forget(self, viewer: Viewer) -> None:
        with self._lock:
            if viewer not in self._viewers:
                return
            self._viewers.remove(viewer)
            n = len(self._viewers)
        log.info("viewer left (pid %d): %d attached", viewer.pid, n)
        self._flood_visible()

    def command(self, viewer: Viewer, message: dict[str, Any]) -> None:
        engine = self.engine
        if engine is None:
            return
        kind = message.get("t")
        if kind == "sample_now":
            engine.sample_now()
        elif kind == "refresh_gateway":
            engine.refresh_gateway()
        elif kind == "flood_visible":
            viewer.flood_visible = bool(message.get("on"))
            self._flood_visible()

    def _flood_visible(self) -> None:
        if self.engine is not None:
            self.engine.set_flood_visible(any(v.flood_visible for v in self.viewers()))
