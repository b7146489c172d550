"""A viewer's frames from the agent (``sudo mbtop`` while ``mbtop agent`` runs): ``AttachSource``.

``connect`` says hello (``mbtop.engine.wire``) and raises ``NoAgent`` when no agent answers and
``wire.Refused`` when the agent refuses (another protocol, a peer that is not root), so the screen
can run its own engine instead and say why. Attached, a thread reads the agent's messages and
hands frames and log batches to the face; the machine is not sampled again here.

The source is ``live``: actions run in this process (plan → confirm → audit), and ``recheck``
verifies them against the machine with a one-off read of its own, not the agent's next frame. If
the agent goes away, ``fallback`` (an engine of this process) takes over and ``via`` says so.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import socket
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, overload

from mbtop.engine import codec, wire
from mbtop.engine.feeds import LogBatch
from mbtop.engine.frame import Frame
from mbtop.engine.history import HISTORY_MAX
from mbtop.engine.server import HISTORY_CHUNK
from mbtop.model.types import Snapshot

log = logging.getLogger(__name__)

FrameCallback = Callable[[Frame], None]
LogCallback = Callable[[LogBatch], None]


class NoAgent(Exception):
    """No agent answers on the socket (none runs, or its socket is gone)."""


class _Fallback(Protocol):
    def start(self, on_frame: FrameCallback, on_logs: LogCallback) -> None: ...
    def stop(self) -> None: ...
    def sample_now(self) -> None: ...
    def set_flood_visible(self, visible: bool) -> None: ...


def connect(path: Path, timeout: float = wire.HELLO_TIMEOUT) -> tuple[socket.socket, dict[str, Any]]:
    """A connection to the agent at ``path`` and its hello."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as exc:
        sock.close()
        raise NoAgent(f"no agent on {path} ({exc.strerror})") from None
    except OSError as exc:  # not root (EACCES), a timeout: the screen runs its own engine
        sock.close()
        raise NoAgent(f"cannot reach the agent on {path}: {exc.strerror or exc}") from None
    try:
        sock.sendall(wire.pack(wire.hello()))
        theirs = wire.receive(sock)
        if theirs.get("t") == "refused":
            raise wire.Refused(f"the agent refused: {theirs.get('why')}")
        why = wire.mismatch(theirs, "the agent")
        if why is not None:
            raise wire.Refused(why)
    except (OSError, wire.WireError) as exc:
        sock.close()
        if isinstance(exc, wire.Refused):
            raise
        raise NoAgent(f"the agent on {path} did not say hello: {exc}") from None
    return sock, theirs


class History(Sequence[Frame]):
    """The agent's history as it arrived: chunks of frames kept compressed, decoded when asked for.

    Decoding an hour of frames (hundreds, some ms each) at attach would take seconds of the
    screen's first moments for frames nobody may look at; kept as zlib'd JSON they are a few MB.
    The chunk last decoded is kept, so stepping through frames decodes each chunk once."""

    def __init__(self, chunks: Sequence[tuple[int, bytes]]) -> None:
        self._chunks = list(chunks)
        self._starts: list[int] = []
        n = 0
        for count, _ in self._chunks:
            self._starts.append(n)
            n += count
        self._len = n
        self._cached: tuple[int, list[Any]] | None = None
        self._frames: dict[int, Frame] = {}

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, i: int) -> Frame: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Frame]: ...
    def __getitem__(self, i: int | slice) -> Frame | Sequence[Frame]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self._len))]
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(i)
        frame = self._frames.get(i)
        if frame is None:
            c = bisect.bisect_right(self._starts, i) - 1
            if self._cached is None or self._cached[0] != c:
                self._cached = (c, wire.parse(zlib.decompress(self._chunks[c][1]))["frames"])
                self._frames = {}
            frame = codec.from_json(self._cached[1][i - self._starts[c]])
            self._frames[i] = frame
        return frame


class AttachSource:
    """Frames from the agent at ``path``; ``fallback`` makes this process's own engine if it goes."""

    def __init__(
        self,
        path: Path,
        recheck: Callable[[bool], Snapshot],
        fallback: Callable[[], _Fallback] | None = None,
    ) -> None:
        self.path = path
        self._recheck = recheck
        self._fallback_factory = fallback
        self.sock, self.agent = connect(path)  # NoAgent, wire.Refused
        self.dropped_frames = 0
        self.dropped_logs = 0
        self.frames = 0
        self.lost: str | None = None  # why the agent went away (None: attached)
        self._lost_at = ""
        self.fallback: _Fallback | None = None
        self._history: deque[tuple[int, bytes]] = deque(maxlen=2 * HISTORY_MAX // HISTORY_CHUNK + 1)
        self._last_seq = 0
        self._flood_visible = False
        self._send_lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_frame: FrameCallback | None = None
        self._on_logs: LogCallback | None = None

    @property
    def live(self) -> bool:
        return True

    @property
    def via(self) -> str:
        """What the header says about where the frames come from."""
        if self.lost is not None:
            return f"own engine, agent gone {self._lost_at}"
        if self.dropped_frames:
            return f"via agent ({self.dropped_frames} frames dropped)"
        return "via agent"

    def start(self, on_frame: FrameCallback, on_logs: LogCallback) -> None:
        self._on_frame, self._on_logs = on_frame, on_logs
        self.sock.settimeout(None)
        self._thread = threading.Thread(target=self._read, name="mbtop-attach", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5.0)
        self.sock.close()
        if self.fallback is not None:
            self.fallback.stop()

    def _read(self) -> None:
        why = "the agent went away"
        try:
            while not self._stopped.is_set():
                body = wire.receive_bytes(self.sock)
                if body.startswith(wire.HISTORY_HEAD):  # kept as it came, compressed; decoded when asked
                    self._history.append((wire.history_count(body), zlib.compress(body, 1)))
                    continue
                if not self._handle(wire.parse(body)):
                    why = "the agent stopped"
                    break
        except (OSError, wire.WireError, codec.CodecError) as exc:
            why = f"the agent went away ({exc})"
        if not self._stopped.is_set():
            self._lose(why)

    def _handle(self, message: dict[str, Any]) -> bool:
        kind = message["t"]
        if kind == "frame":
            frame = codec.from_json(message["frame"])
            if frame.seq > self._last_seq:  # the newest one may come twice at hello
                self._last_seq = frame.seq
                self.frames += 1
                if self._on_frame is not None:
                    self._on_frame(frame)
        elif kind == "logs":
            batch = codec.batch_from_json(message["batch"])
            if self._on_logs is not None:
                self._on_logs(batch)
        elif kind == "dropped":
            self.dropped_frames += int(message.get("frames") or 0)
            self.dropped_logs += int(message.get("logs") or 0)
        elif kind == "bye":
            return False
        return True  # a message of a later minor change: ignored

    @property
    def note(self) -> str:
        """Why the frames are no longer the agent's (the screen says it once, whole)."""
        return f"{self.lost}: this screen runs its own engine now" if self.lost else ""

    def _lose(self, why: str) -> None:
        self._lost_at = time.strftime("%H:%M:%S")
        self.lost = f"{why} at {self._lost_at}"
        log.warning("%s: running an engine of this process", self.lost)
        with contextlib.suppress(OSError):
            self.sock.close()
        if self._fallback_factory is None or self._on_frame is None or self._on_logs is None:
            return
        fallback = self._fallback_factory()
        self.fallback = fallback
        fallback.set_flood_visible(self._flood_visible)
        fallback.start(self._on_frame, self._on_logs)

    def _send(self, message: dict[str, Any]) -> None:
        if self.lost is not None:
            return
        with self._send_lock, contextlib.suppress(OSError):
            self.sock.sendall(wire.pack(message))

    def sample_now(self) -> None:
        if self.fallback is not None:
            self.fallback.sample_now()
        else:
            self._send({"t": "sample_now"})

    def recheck(self, firewall: bool = False) -> Snapshot | None:
        """The machine now, read by this process: an action is verified against it, not the agent."""
        return self._recheck(firewall)

    def refresh_gateway(self) -> None:
        """After a queue action: the agent reads the queue now (the next frame has it)."""
        if self.fallback is not None:
            refresh = getattr(self.fallback, "refresh_gateway", None)
            if callable(refresh):
                refresh()
        else:
            self._send({"t": "refresh_gateway"})

    def set_flood_visible(self, visible: bool) -> None:
        self._flood_visible = visible
        if self.fallback is not None:
            self.fallback.set_flood_visible(visible)
        else:
            self._send({"t": "flood_visible", "on": visible})

    def history(self) -> Sequence[Frame]:
        """The agent's history (trimmed frames of the last hour) as far as it has arrived, oldest first;
        each frame decoded when it is read."""
        return History(list(self._history))
