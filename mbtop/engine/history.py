"""The engine's in-memory past: what a viewer attaching to the agent starts with.

The last minute's frames are kept as they are (trimmed: listeners and counts, not every connection
or log line); before that, one frame in ten seconds for the hour, packed (its JSON, zlib'd).
Written from the engine's thread only; read by viewers' hellos from theirs.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import zlib
from collections import deque
from dataclasses import dataclass

from mbtop.engine import codec
from mbtop.engine.frame import Frame, LogLines
from mbtop.probes.sample import LISTEN_STATE
from mbtop.probes.types import InetTable, UnixTable

HISTORY_SECONDS = 3600.0  # the in-memory history a late face starts with
RECENT_SECONDS = 60.0  # of which every frame is kept, as it is, for the last minute,
HISTORY_STEP = 10.0  # and one frame every ten seconds before that, packed (``Packed``)
HISTORY_MAX = 2_000  # frames in each part, whatever the interval (0.2 s x 60 s = 300)


def trimmed(frame: Frame) -> Frame:
    """``frame`` as history keeps it: listeners, counts and states, not every connection or log line.

    The snapshot is counts already (by state, top remotes); the sample keeps its listening sockets
    only, the rates their per-port figures (not every connection's first sighting), the logs their
    status. One is still 50–170 kB of Python objects (the lab stack; the snapshot's ports and
    firewall are most of it), which is why only the last minute is kept so (see ``Packed``).
    """
    s = frame.sample
    tcp = InetTable(
        tuple(x for x in s.tcp.sockets if x.state == LISTEN_STATE), s.tcp.source, s.tcp.error, s.tcp.why_proc
    )
    unix = UnixTable(tuple(x for x in s.unix.sockets if x.listening), s.unix.source, s.unix.error, s.unix.why_proc)
    sample = dataclasses.replace(s, tcp=tcp, unix=unix)
    rates = dataclasses.replace(frame.rates, first_seen={})
    logs = LogLines(status=frame.logs.status, backfill=frame.logs.backfill)
    return dataclasses.replace(frame, sample=sample, rates=rates, logs=logs)


@dataclass(frozen=True, slots=True)
class Packed:
    """A history frame older than a minute: its JSON (``codec.to_json``), zlib'd.

    As objects, the hour of history (one frame in ten seconds) was the agent's growing memory:
    ~57 kB a frame on the soak's stack, 20 MB for the hour, and more than the soak's 10 % budget of
    growth after warm-up. Packed, a frame is ~10 kB (64 kB of JSON; 3.3 ms to encode and 0.4 ms to
    compress, once in ten seconds), the hour about 3.5 MB; a viewer's hello sends the JSON as it is.
    """

    seq: int
    time: float
    data: bytes

    @classmethod
    def of(cls, frame: Frame) -> Packed:
        raw = json.dumps(codec.to_json(frame), separators=(",", ":"), allow_nan=False).encode()
        return cls(frame.seq, frame.time, zlib.compress(raw, 1))

    def json(self) -> bytes:
        return zlib.decompress(self.data)

    def frame(self) -> Frame:
        return codec.from_json(json.loads(self.json()))


class History:
    """The last ``seconds`` of frames: every one of the last RECENT_SECONDS, then one per
    HISTORY_STEP, packed (0 seconds: only the newest, for an engine nobody attaches to)."""

    def __init__(self, seconds: float = HISTORY_SECONDS) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._recent: deque[Frame] = deque(maxlen=HISTORY_MAX)  # every frame of the last RECENT_SECONDS
        self._older: deque[Packed] = deque(maxlen=HISTORY_MAX)  # one per HISTORY_STEP before that

    def remember(self, frame: Frame) -> None:
        """A new frame (trimmed already; from one thread only): older frames are packed outside the
        lock, so a viewer's hello never waits for that."""
        recent, older = self._recent, self._older
        with self._lock:
            recent.append(frame)
        recent_from = frame.time - min(RECENT_SECONDS, self.seconds)
        kept_from = frame.time - self.seconds
        while True:
            with self._lock:
                if not recent or recent[0].time >= recent_from:
                    break
                old = recent[0]
                keep = old.time >= kept_from and (not older or old.time >= older[-1].time + HISTORY_STEP)
            packed = Packed.of(old) if keep else None
            with self._lock:
                recent.popleft()
                if packed is not None:
                    older.append(packed)
        with self._lock:
            while older and older[0].time < kept_from:
                older.popleft()

    def frames(self) -> list[Frame]:
        """Oldest first; the packed ones decoded (some ms each: a viewer's hello uses ``json``)."""
        with self._lock:
            older, recent = list(self._older), list(self._recent)
        return [*(p.frame() for p in older), *recent]

    def kept(self) -> list[Packed | Frame]:
        """What is kept, oldest first, as it is kept: a viewer's hello unpacks or encodes a chunk
        at a time (the hour's JSON at once is ~20 MB, a high-water mark the agent's RSS keeps)."""
        with self._lock:
            return [*self._older, *self._recent]
